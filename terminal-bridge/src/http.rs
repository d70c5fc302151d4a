//! The HTTP API: liveness and readiness probes, Prometheus metrics and the WebSockets
//! (`/ws`, `/ws/sessions/{uuid}/terminals/{id}`; see [`crate::ws`]).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::db::Db;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::terminals::Hub;
use crate::workspaces::Workspaces;
use crate::ws::{self, WsConfig};

/// `/readyz` answers 503 when the database has not answered `select 1` within this time.
pub const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The database, pinged by `/readyz`.
    pub db: Arc<Db>,
    /// Connections for request handlers (token checks, session access).
    pub pool: deadpool_postgres::Pool,
    /// The sandboxes and their events.
    pub workspaces: Arc<Workspaces>,
    /// Agent connections and terminal attachments.
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    /// WebSocket limits and timeouts.
    pub ws: Arc<WsConfig>,
    /// Tells WebSockets that the server is stopping.
    pub shutdown: Shutdown,
}

impl AppState {
    pub fn new(
        db: Db,
        pool: deadpool_postgres::Pool,
        workspaces: Arc<Workspaces>,
        ws: WsConfig,
        metrics: Arc<Metrics>,
    ) -> AppState {
        let hub = Hub::new(
            Arc::clone(&workspaces),
            Arc::clone(&metrics),
            ws.output_window,
        );
        AppState {
            db: Arc::new(db),
            pool,
            workspaces,
            hub,
            metrics,
            ws: Arc::new(ws),
            shutdown: Shutdown::default(),
        }
    }
}

/// All routes of the bridge.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/ws", get(ws::json::handler))
        .route(
            "/ws/sessions/{session}/terminals/{terminal}",
            get(ws::raw::handler),
        )
        .with_state(state)
}

/// Liveness: 200 `{"status":"ok","version":...}` while the process serves HTTP at all.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "version": crate::VERSION }))
}

/// Prometheus metrics in the text exposition format.
async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render() + &state.workspaces.render_metrics(),
    )
        .into_response()
}

/// Readiness: 200 when the database answers within [`READY_TIMEOUT`], else 503 naming it.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.db.ping(READY_TIMEOUT).await {
        Ok(()) => Json(json!({ "status": "ready" })).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed: database");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "unavailable",
                    "failing": "database",
                    "error": err.to_string(),
                })),
            )
                .into_response()
        }
    }
}
