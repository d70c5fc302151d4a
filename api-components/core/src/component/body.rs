//! Reading a JSON request body: content type, a size limit, and parse errors that become 400s
//! with the usual error shape (never a 500).

use crate::ApiError;
use http::HeaderMap;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use spin_sdk::wasip3::http_compat::IncomingRequestBody;

/// The largest JSON body these endpoints read. Their bodies are a few hundred bytes; anything
/// near this is not a legitimate request.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

/// Reads `body` as JSON of type `T`.
///
/// A missing `Content-Type` is tolerated (some clients omit it); a present one must be
/// `application/json` or a `+json` type.
///
/// # Errors
/// 415 for another content type, 413 over [`MAX_JSON_BYTES`], 400 `invalid_json` when the body
/// is not the JSON `T` takes, 400 `bad_request` when it cannot be read.
pub async fn json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: IncomingRequestBody,
) -> Result<T, ApiError> {
    check_content_type(headers)?;
    let too_large =
        || ApiError::PayloadTooLarge(format!("the body must be at most {MAX_JSON_BYTES} bytes"));
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_JSON_BYTES as u64) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| ApiError::BadRequest(format!("the body could not be read: {e:?}")))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > MAX_JSON_BYTES {
                return Err(too_large());
            }
            bytes.extend_from_slice(&data);
        }
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::InvalidJson(
            "the body is empty; expected a JSON object".into(),
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::InvalidJson(format!("invalid JSON: {e}")))
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(http::header::CONTENT_TYPE) else {
        return Ok(());
    };
    let media_type = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media_type == "application/json" || media_type.ends_with("+json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "expected Content-Type: application/json, got {media_type:?}"
        )))
    }
}
