//! The terminal-bridge: owns the database schema, holds the browsers' WebSockets and connects
//! them to the shells in the sandboxes (see `docs/ARCHITECTURE.md`; the WebSocket protocol,
//! session lifecycle and file sync are specified in `terminal-bridge/PROTOCOL.md`).
//!
//! Modules:
//! - [`config`]: the command line (`migrate`, `serve`), with environment fallbacks.
//! - [`db`]: connecting to PostgreSQL (with retries at start-up) and a self-healing connection
//!   for probes.
//! - [`migrate`]: the SQL migrations of `../migrations`, embedded at build time, and applying them.
//! - [`http`]: the HTTP API: [`router`] with `GET /healthz`, `GET /readyz`, `GET /metrics`
//!   and the WebSockets.
//! - [`metrics`]: the Prometheus counters and gauges, and labelled counters counted by an
//!   error's `metric_label()`.
//! - [`terminals`]: the hub: one agent connection per session, terminal attachments. Both it
//!   and [`workspaces`] reach agents through `agent_protocol::Client`, the protocol's one client.
//! - [`ws`]: the WebSocket endpoints: authentication, the JSON protocol, the raw endpoint,
//!   limits, and [`ws::ClientError`], everything the bridge tells clients when something
//!   fails (`ws/error.rs`).
//! - [`runtime`]: the [`runtime::Runtime`] trait and its implementations (where sandboxes run).
//! - [`serve`]: the `serve` command: migrate, bind, serve until shut down.
//! - [`workspaces`]: sandboxes per session: activation, file sync, desired state, idle stop;
//!   their failures ([`workspaces::ReconcileError`], [`workspaces::SyncError`]) are counted by
//!   reason.
//! - [`shutdown`]: waiting for SIGTERM or Ctrl-C, and telling WebSockets about it.
//!
//! `main.rs` only parses the command line, sets up logging and calls into these.

pub mod config;
pub mod db;
pub mod http;
pub mod metrics;
pub mod migrate;
pub mod runtime;
pub mod serve;
pub mod shutdown;
pub mod terminals;
pub mod workspaces;
pub mod ws;

pub use http::{AppState, router};

/// This build's version, reported by `/healthz`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
