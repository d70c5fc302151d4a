//! Pieces shared by the handlers: the item path of the URL, `If-Match`, hashes, the size
//! limit, and answers with raw bytes or extra headers.

use crate::reply::Reply;
use bytes::Bytes;
use platform_core::ApiError;
use platform_core::validate::{self, WorkspacePath};
use sha2::{Digest, Sha256};
use spin_sdk::http::FullBody;

/// The item path from the raw (percent-encoded) URL remainder after `file/`.
///
/// # Errors
/// 400 `invalid_path` for a bad escape, bytes that are not UTF-8, or a path that breaks the
/// workspace path rules.
pub fn path(raw: &str) -> Result<WorkspacePath, ApiError> {
    let invalid = |why: &str| ApiError::InvalidPath(format!("invalid path: {why}"));
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| invalid("bad percent escape"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let decoded = String::from_utf8(out).map_err(|_| invalid("not UTF-8"))?;
    validate::workspace_path(&decoded)
}

/// The version an `If-Match` header asks for: `5` or `"5"` (our ETags) or `W/"5"`.
///
/// # Errors
/// 400 when present but not such a version.
pub fn if_match(headers: &http::HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(http::header::IF_MATCH) else {
        return Ok(None);
    };
    let bad = || ApiError::BadRequest("If-Match must be a version number, like \"3\"".into());
    let text = value.to_str().map_err(|_| bad())?.trim();
    let text = text.strip_prefix("W/").unwrap_or(text);
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    text.parse::<i64>()
        .ok()
        .filter(|v| *v >= 1)
        .map(Some)
        .ok_or_else(bad)
}

/// SHA-256 of `content`.
pub fn sha256(content: &[u8]) -> Vec<u8> {
    Sha256::digest(content).to_vec()
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The ETag of `version`.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// An answer with `content_type`, extra `headers` and `body`.
pub fn raw(status: u16, content_type: &str, headers: &[(&str, String)], body: Vec<u8>) -> Reply {
    let mut builder = http::Response::builder()
        .status(status)
        .header("cache-control", "no-store")
        .header("content-type", content_type);
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    builder
        .body(FullBody::new(Bytes::from(body)))
        .unwrap_or_else(|e| {
            crate::reply::error(&ApiError::Internal(format!("building an answer: {e}")))
        })
}

/// `value` as JSON with extra `headers`.
pub fn json<T: serde::Serialize>(status: u16, headers: &[(&str, String)], value: &T) -> Reply {
    match serde_json::to_vec(value) {
        Ok(body) => raw(status, "application/json", headers, body),
        Err(e) => crate::reply::error(&ApiError::Internal(format!("serializing: {e}"))),
    }
}

/// Whether the client asked for the raw bytes (`Accept: application/octet-stream`).
pub fn wants_octets(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            t.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/octet-stream"))
        })
}
