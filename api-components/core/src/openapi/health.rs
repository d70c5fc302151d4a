//! Operations of the `health` component.

use super::schemas::{HealthReport, Liveness};

/// Liveness
///
/// Answers while the component runs; checks nothing else.
#[utoipa::path(
    method(get, head),
    path = "/api/health",
    tag = "health",
    responses((status = 200, description = "The API is up", body = Liveness))
)]
pub fn liveness() {}

/// Dependency health
///
/// Checks PostgreSQL (a query, the applied migration) and the terminal-bridge (`/healthz`),
/// each within a deadline; answers within 2 s whatever hangs.
#[utoipa::path(
    method(get, head),
    path = "/api/health/detailed",
    tag = "health",
    responses(
        (status = 200, description = "Every check passed", body = HealthReport),
        (status = 503, description = "A check failed; `failing` names it", body = HealthReport),
    )
)]
pub fn detailed() {}
