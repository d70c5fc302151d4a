//! Spin component `health`: liveness (`/api/health`) and a detailed check of the
//! platform's dependencies (`/api/health/detailed`): PostgreSQL and the terminal-bridge.
//!
//! - `checks.rs`: one function per dependency, each bounded by a deadline.
//! - this file: the route table and the JSON answers.

mod checks;

use checks::{Check, Status};
use platform_core::ApiError;
use platform_core::component::reply::{self, Reply};
use serde::Serialize;
use spin_sdk::http::{Method, Request};
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

#[http_service]
async fn handle(req: Request) -> Reply {
    platform_core::component::serve("health", req, dispatch).await
}

async fn dispatch(req: Request) -> Result<Reply, ApiError> {
    let path = req.uri().path().trim_end_matches('/');
    let route = match path {
        "/api/health" => Route::Liveness,
        "/api/health/detailed" => Route::Detailed,
        _ => return Err(ApiError::NotFound(format!("no route {path}"))),
    };
    platform_core::component::method::check(req.method(), &[Method::GET, Method::HEAD])?;
    Ok(match route {
        Route::Liveness => reply::json(
            200,
            &Liveness {
                status: "healthy",
                version: VERSION,
            },
        ),
        Route::Detailed => detailed().await,
    })
}

enum Route {
    Liveness,
    Detailed,
}

async fn detailed() -> Reply {
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
        (200, Status::Healthy)
    } else {
        (503, Status::Unhealthy)
    };
    reply::json(
        code,
        &Detailed {
            status,
            version: VERSION,
            failing,
            checks,
        },
    )
}
