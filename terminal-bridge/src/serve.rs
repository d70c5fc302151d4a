//! The `serve` command: migrate the database, then serve HTTP until told to stop.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tracing::info;

use crate::config::ServeArgs;
use crate::db::{self, Db, Retry};
use crate::http::{AppState, router};
use crate::metrics::Metrics;
use crate::migrate;
use crate::workspaces::Workspaces;

/// Connects (retrying while the database starts), applies pending migrations, binds the listen
/// address and serves until SIGTERM or Ctrl-C, then says goodbye to the WebSocket clients.
pub async fn run(database: db::Database, args: ServeArgs) -> anyhow::Result<()> {
    let listen = args.listen;
    let mut client = db::connect_with_retry(&database, Retry::default()).await?;
    let report = migrate::run(&mut client).await?;
    match &report.current {
        Some(current) => info!(applied = report.applied.len(), %current, "database schema ready"),
        None => info!("no migrations to apply"),
    }
    let pool = database.pool(args.db_pool_size)?;
    let runtime = crate::runtime::config::build(&args.runtime)?;
    info!(runtime = runtime.name(), "sandbox runtime ready");
    let workspaces = Workspaces::new(runtime, database.clone(), pool.clone(), args.sync.clone());
    let background = tokio::spawn(workspaces.clone().run(crate::shutdown::signal()));
    let state = AppState::new(
        Db::with_client(database, client),
        pool,
        workspaces,
        args.ws.config(),
        Arc::new(Metrics::default()),
    );
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    info!(address = %listener.local_addr()?, "terminal-bridge listening");
    serve_state(listener, state, crate::shutdown::signal()).await?;
    // The session layer saves the shells' last edits before the process ends.
    if let Err(err) = background.await {
        tracing::warn!(error = %err, "the session layer ended abnormally");
    }
    info!("terminal-bridge stopped");
    Ok(())
}

/// Serves `app` on `listener` until `shutdown` completes, then waits for open requests.
/// Nagle's algorithm is off on every connection: terminal echo is a few bytes that must leave
/// at once, and with it on, an echo sent while the previous one is unacknowledged waits for
/// the client's delayed ACK (about 40 ms; seen at p99 of two keys typed back to back).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!("setting TCP_NODELAY: {err}");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves the bridge's router on `listener` until `shutdown` completes; then tells every
/// WebSocket client to reconnect (close code 1012), waits for them at most the configured
/// grace, and closes the agent connections. Sandboxes and shells keep running, so a new bridge
/// process re-attaches to them.
pub async fn serve_state(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stopping = state.shutdown.clone();
    let signal = async move {
        shutdown.await;
        stopping.trigger();
    };
    let result = serve(listener, router(state.clone()), signal).await;
    state.shutdown.trigger();
    if !state.shutdown.wait_idle(state.ws.shutdown_grace).await {
        tracing::warn!(
            open = state.shutdown.active(),
            "WebSockets still open after the shutdown grace period"
        );
    }
    state.hub.shutdown().await;
    result
}
