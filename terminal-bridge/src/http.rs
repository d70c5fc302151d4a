//! The HTTP API: liveness and readiness probes.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::db::Db;

/// `/readyz` answers 503 when the database has not answered `select 1` within this time.
pub const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The database, pinged by `/readyz`.
    pub db: Arc<Db>,
}

impl AppState {
    pub fn new(db: Db) -> AppState {
        AppState { db: Arc::new(db) }
    }
}

/// All routes of the bridge.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// Liveness: 200 `{"status":"ok","version":...}` while the process serves HTTP at all.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "version": crate::VERSION }))
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
