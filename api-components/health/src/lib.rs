//! Spin component `health`: liveness (`/api/health`) and a detailed check of the
//! platform's dependencies (`/api/health/detailed`): PostgreSQL and the terminal-bridge.
//!
//! - `checks.rs`: one function per dependency, each bounded by a deadline.
//! - this file: the route table and the JSON answers.

mod checks;

use checks::{Check, Status};
use serde::Serialize;
use spin_sdk::http::{IntoResponse, Json, Method, Request, StatusCode};
use spin_sdk::http_service;
use std::time::Duration;

/// The version reported by both endpoints: the workspace's package version.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The whole detailed check answers within this budget, whatever hangs.
const DETAILED_BUDGET: Duration = Duration::from_millis(1500);

#[derive(Serialize)]
struct Liveness {
    status: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct Detailed {
    status: Status,
    version: &'static str,
    /// Names of the checks that did not pass, so a 503 says what is wrong.
    failing: Vec<&'static str>,
    checks: Vec<Check>,
}

#[derive(Serialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize)]
struct ErrorDetail {
    code: &'static str,
    message: String,
}

fn error(status: StatusCode, code: &'static str, message: String) -> impl IntoResponse {
    (
        status,
        Json(ErrorBody {
            error: ErrorDetail { code, message },
        }),
    )
}

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    let path = req.uri().path().trim_end_matches('/');
    let route = match path {
        "/api/health" => Route::Liveness,
        "/api/health/detailed" => Route::Detailed,
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no route {path}"),
            )
            .into_response();
        }
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{} is not allowed here; use GET", req.method()),
        )
        .into_response();
    }
    match route {
        Route::Liveness => Json(Liveness {
            status: "healthy",
            version: VERSION,
        })
        .into_response(),
        Route::Detailed => detailed().await.into_response(),
    }
}

enum Route {
    Liveness,
    Detailed,
}

async fn detailed() -> impl IntoResponse {
    let (database, bridge) = futures::join!(
        checks::database(DETAILED_BUDGET),
        checks::terminal_bridge(DETAILED_BUDGET)
    );
    let checks = vec![database, bridge];
    let failing: Vec<&'static str> = checks
        .iter()
        .filter(|c| c.status != Status::Healthy)
        .map(|c| c.name)
        .collect();
    let (code, status) = if failing.is_empty() {
        (StatusCode::OK, Status::Healthy)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Status::Unhealthy)
    };
    (
        code,
        Json(Detailed {
            status,
            version: VERSION,
            failing,
            checks,
        }),
    )
}
