//! Spin component `docs`: the API's description and two pages that show it, as FastAPI
//! serves them.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /api/openapi.json` | the OpenAPI 3.1 document, [`platform_core::openapi::json`] |
//! | `GET /docs` | Swagger UI (`pages.rs`) |
//! | `GET /redoc` | ReDoc (`pages.rs`) |
//!
//! The pages load their scripts from a CDN at pinned versions with Subresource Integrity, so
//! a changed file is refused by the browser. No database, no variables but `cors_origins`.

mod pages;

use bytes::Bytes;
use platform_core::ApiError;
use platform_core::component::reply::Reply;
use spin_sdk::http::{FullBody, Method, Request};
use spin_sdk::http_service;
use std::sync::OnceLock;

/// The document, generated once per instance.
static DOCUMENT: OnceLock<String> = OnceLock::new();

#[http_service]
async fn handle(req: Request) -> Reply {
    platform_core::component::serve("docs", req, dispatch).await
}

async fn dispatch(req: Request) -> Result<Reply, ApiError> {
    let path = req.uri().path();
    let (content_type, body) = match path.strip_suffix('/').unwrap_or(path) {
        "/api/openapi.json" => (
            "application/json",
            DOCUMENT.get_or_init(platform_core::openapi::json).clone(),
        ),
        "/docs" => ("text/html; charset=utf-8", pages::swagger_ui()),
        "/redoc" => ("text/html; charset=utf-8", pages::redoc()),
        _ => return Err(ApiError::NotFound(format!("no route {path}"))),
    };
    platform_core::component::method::check(req.method(), &[Method::GET, Method::HEAD])?;
    http::Response::builder()
        .status(200)
        .header("content-type", content_type)
        .header("cache-control", "no-cache")
        .body(FullBody::new(Bytes::from(body)))
        .map_err(|e| ApiError::Internal(format!("building the answer: {e}")))
}
