//! Building answers: JSON bodies, `204`, and the one place where an [`ApiError`] becomes a
//! response (status, its headers, the `{"error": ...}` body; 5xx details go to the log only).

use crate::ApiError;
use bytes::Bytes;
use serde::Serialize;
use spin_sdk::http::FullBody;

/// Every answer of this component.
pub type Reply = http::Response<FullBody<Bytes>>;

/// Answers about credentials must not be cached by browsers or proxies (RFC 6749 5.1).
const CACHE_CONTROL: &str = "no-store";

fn build(status: u16, headers: &[(&'static str, String)], body: Option<Vec<u8>>) -> Reply {
    let mut builder = http::Response::builder()
        .status(status)
        .header("cache-control", CACHE_CONTROL);
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    let body = FullBody::new(Bytes::from(body.unwrap_or_default()));
    builder.body(body).unwrap_or_else(|e| {
        // Only reachable through an invalid header value, which none of ours is.
        eprintln!("api: building a {status} answer failed: {e}");
        let mut fallback = http::Response::new(FullBody::new(Bytes::new()));
        *fallback.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        fallback
    })
}

/// `status` with `value` as JSON.
pub fn json<T: Serialize>(status: u16, value: &T) -> Reply {
    match serde_json::to_vec(value) {
        Ok(body) => build(status, &[], Some(body)),
        Err(e) => error(&ApiError::Internal(format!("serializing the answer: {e}"))),
    }
}

/// `204 No Content`.
pub fn no_content() -> Reply {
    build(204, &[], None)
}

/// The answer for `err`. Server errors are logged (stderr, which Spin hosts collect) with
/// their details, prefixed `api:`; the client only sees the fixed public message.
pub fn error(err: &ApiError) -> Reply {
    error_of("api", err)
}

/// As [`error`], with the log line prefixed by the component's name (`users: ...`), so the
/// host's log says which component failed.
pub fn error_of(component: &str, err: &ApiError) -> Reply {
    if err.is_server_error() {
        eprintln!("{component}: {err}");
    }
    build(err.status(), &err.headers(), Some(err.body_json()))
}
