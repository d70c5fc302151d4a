//! `pod-agent`: the process inside each sandbox. It owns the shells (PTYs that outlive any
//! connection, with scrollback replayed on re-attach), writes and watches the workspace files,
//! and speaks the agent protocol (crate `agent-protocol`) over a unix socket, or over stdio
//! through `pod-agent connect`.
//!
//! Modules:
//! - [`config`]: the documented CLI / environment options of `daemon` and `connect`.
//! - [`server`]: the shared [`server::Daemon`] state, the accept loop and shutdown.
//! - [`connection`]: one client connection: hello, frame dispatch, the writer task.
//! - [`requests`]: a connection's file requests, run in order.
//! - [`registry`]: terminals by client-chosen id; open-or-attach starts one shell per id.
//! - [`terminal`]: one shell on a PTY: pump, input writer, supervisor (exit, close, idle).
//! - [`pty`]: opening a PTY and spawning a session leader on it.
//! - [`scrollback`]: the ring buffer replayed on attach.
//! - [`fanout`]: per-attachment bounded output queues with credit and stall cut-off.
//! - [`reaper`]: reaps children (and orphans, when the agent is PID 1).
//! - [`workspace`]: path checks and `openat2(RESOLVE_BENEATH)` resolution.
//! - [`files`]: put / delete / move / read / list, and the record used to suppress echoes.
//! - [`watcher`]: inotify-driven, debounced change events.
//! - [`activity`]: last input time and running processes, for idle decisions.
//! - [`connect`]: the stdio <-> socket relay.

pub mod activity;
pub mod config;
pub mod connect;
pub mod connection;
pub mod fanout;
pub mod files;
pub mod pty;
pub mod reaper;
pub mod registry;
pub mod requests;
pub mod scrollback;
pub mod server;
pub mod terminal;
pub mod watcher;
pub mod workspace;

/// Logs to stderr (stdout belongs to `connect`'s relay), filtered by `RUST_LOG`.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
