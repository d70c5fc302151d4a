//! The `serve` command: migrate the database, then serve HTTP until told to stop.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use tracing::info;

use crate::db::{self, Db, Retry};
use crate::http::{AppState, router};
use crate::migrate;

/// Connects (retrying while the database starts), applies pending migrations, binds `listen` and
/// serves until SIGTERM or Ctrl-C, then finishes the requests in flight.
pub async fn run(database: tokio_postgres::Config, listen: SocketAddr) -> anyhow::Result<()> {
    let mut client = db::connect_with_retry(&database, Retry::default()).await?;
    let report = migrate::run(&mut client).await?;
    match &report.current {
        Some(current) => info!(applied = report.applied.len(), %current, "database schema ready"),
        None => info!("no migrations to apply"),
    }
    let state = AppState::new(Db::with_client(database, client));
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    info!(address = %listener.local_addr()?, "terminal-bridge listening");
    serve(listener, router(state), crate::shutdown::signal()).await?;
    info!("terminal-bridge stopped");
    Ok(())
}

/// Serves `app` on `listener` until `shutdown` completes, then waits for open requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
