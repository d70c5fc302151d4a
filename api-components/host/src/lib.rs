//! `api-host`: serves the HTTP components of a Spin manifest (`spin.toml`) with
//! wasmtime, providing the interfaces spin-sdk 7 components import.
//!
//! - `config`: command line and environment.
//! - `runtime_config`: the runtime configuration file, in Spin's format (`[[client_tls]]`).
//! - `manifest`: the Spin manifest (version 2).
//! - `variables`: application variables and `{{ name }}` templates.
//! - `routes`: Spin's route matching.
//! - `outbound`: `allowed_outbound_hosts`.
//! - `cache`: compiled components on disk.
//! - `app`: loading manifest + components into a servable application.
//! - `instances`: Spin's instance-reuse model and per-request limits.
//! - `state`: the store data of an instance (WASI, HTTP, PostgreSQL, variables).
//! - `postgres`, `spin_variables`: the `spin:postgres` and `spin:variables` interfaces.
//! - `server`: the HTTP listener.

pub mod app;
pub mod cache;
pub mod config;
pub mod instances;
pub mod manifest;
pub mod outbound;
pub mod postgres;
pub mod routes;
pub mod runtime_config;
pub mod server;
pub mod spin_variables;
pub mod state;
pub mod variables;

use anyhow::Result;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Loads the application of `config` and serves it until `shutdown` turns true.
pub async fn run(config: config::Config, shutdown: watch::Receiver<bool>) -> Result<()> {
    let app = app::App::load(&config, |k| std::env::var(k).ok())?;
    let listener = TcpListener::bind(config.listen).await?;
    tracing::info!(app = %app.name, "listening on http://{}", listener.local_addr()?);
    let limits = server::ServerLimits {
        max_body_bytes: config.max_body_bytes,
        request_timeout: config.request_timeout,
        max_concurrent_requests: config.max_concurrent_requests,
    };
    server::serve(listener, app, limits, shutdown).await
}
