//! The entry point every component's `#[http_service]` function calls: CORS (preflights
//! answered before any route or method check, CORS headers on every answer, errors included)
//! around the component's own dispatch, and the one place where its [`ApiError`] becomes a
//! response.
//!
//! ```ignore
//! #[http_service]
//! async fn handle(req: Request) -> Reply {
//!     platform_core::component::serve("users", req, dispatch).await
//! }
//! ```

use super::reply::{self, Reply};
use crate::ApiError;
use crate::cors::{self, Origins};
use spin_sdk::http::Request;
use std::future::Future;
use std::sync::OnceLock;

/// The `cors_origins` variable, read once per instance: variables cannot change while an
/// instance lives, and this saves a host call per request.
static ORIGINS: OnceLock<Origins> = OnceLock::new();

/// Serves `req` with `dispatch`, adding CORS as configured by the `cors_origins` variable;
/// `component` names the component in the log lines of server errors.
pub async fn serve<F, Fut>(component: &str, req: Request, dispatch: F) -> Reply
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Result<Reply, ApiError>>,
{
    let origins = origins(component).await;
    let header = |name: http::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let origin = header(http::header::ORIGIN);
    let requested = header(http::header::ACCESS_CONTROL_REQUEST_METHOD);
    if origins.is_enabled()
        && cors::is_preflight(
            req.method().as_str(),
            origin.as_deref(),
            requested.as_deref(),
        )
    {
        let origin = origin.unwrap_or_default();
        return match origins.preflight_headers(&origin) {
            Some(headers) => with_headers(reply::no_content(), headers),
            None => with_headers(
                reply::error_of(
                    component,
                    &ApiError::Forbidden(format!("origin {origin:?} may not call this API")),
                ),
                origins.vary(),
            ),
        };
    }
    let answer = match dispatch(req).await {
        Ok(answer) => answer,
        Err(e) => reply::error_of(component, &e),
    };
    with_headers(answer, origins.response_headers(origin.as_deref()))
}

/// The allowed origins; CORS is off when the variable is missing or empty.
async fn origins(component: &str) -> &'static Origins {
    if let Some(origins) = ORIGINS.get() {
        return origins;
    }
    let origins = match spin_sdk::variables::get("cors_origins").await {
        Ok(text) => Origins::parse(&text),
        Err(e) => {
            eprintln!("{component}: variable cors_origins unavailable ({e}); CORS is off");
            Origins::default()
        }
    };
    ORIGINS.get_or_init(|| origins)
}

/// `answer` with `headers` appended (so a `Vary` the handler set is kept).
fn with_headers(mut answer: Reply, headers: Vec<cors::Header>) -> Reply {
    for (name, value) in headers {
        match http::HeaderValue::try_from(value) {
            Ok(value) => {
                answer.headers_mut().append(name, value);
            }
            // Only an `Origin` with bytes a header value cannot hold, which to_str() excluded.
            Err(e) => eprintln!("api: CORS header {name}: {e}"),
        }
    }
    answer
}
