//! The content of a write: JSON `{"content": "...", "encoding": "utf-8"|"base64"}` or the raw
//! body with `Content-Type: application/octet-stream`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http_body_util::BodyExt;
use platform_core::ApiError;
use serde::Deserialize;
use spin_sdk::wasip3::http_compat::IncomingRequestBody;

/// How `content` of a JSON body (and of a JSON answer) is encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum Encoding {
    /// The text itself.
    #[default]
    #[serde(rename = "utf-8")]
    Utf8,
    /// Standard base64 with padding.
    #[serde(rename = "base64")]
    Base64,
}

/// A JSON write body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteBody {
    content: String,
    #[serde(default)]
    encoding: Encoding,
}

/// The file bytes of a write request, at most `max` of them.
///
/// # Errors
/// 413 over `max`; 415 for a content type other than JSON or octet-stream; 400 for bad JSON or
/// bad base64.
pub async fn read(
    headers: &http::HeaderMap,
    body: IncomingRequestBody,
    max: usize,
) -> Result<Vec<u8>, ApiError> {
    let media_type = headers
        .get(http::header::CONTENT_TYPE)
        .map(|v| {
            v.to_str()
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let too_large = || ApiError::PayloadTooLarge(format!("a file may be at most {max} bytes"));
    if media_type == "application/octet-stream" {
        return collect(headers, body, max)
            .await
            .map_err(|e| e.unwrap_or_else(too_large));
    }
    if !(media_type.is_empty() || media_type == "application/json" || media_type.ends_with("+json"))
    {
        return Err(ApiError::UnsupportedMediaType(format!(
            "expected application/json or application/octet-stream, got {media_type:?}"
        )));
    }
    // base64 takes 4 bytes per 3, JSON escapes may take 6 per character: leave room.
    let json_max = max.saturating_mul(6).saturating_add(4096);
    let bytes = collect(headers, body, json_max)
        .await
        .map_err(|e| e.unwrap_or_else(too_large))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::InvalidJson(
            "the body is empty; expected a JSON object".into(),
        ));
    }
    let input: WriteBody = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::InvalidJson(format!("invalid JSON: {e}")))?;
    let content = match input.encoding {
        Encoding::Utf8 => input.content.into_bytes(),
        Encoding::Base64 => STANDARD
            .decode(input.content.as_bytes())
            .map_err(|e| ApiError::BadRequest(format!("content is not valid base64: {e}")))?,
    };
    if content.len() > max {
        return Err(too_large());
    }
    Ok(content)
}

/// The whole body, or `Err(None)` when it is longer than `max`.
pub async fn collect(
    headers: &http::HeaderMap,
    mut body: IncomingRequestBody,
    max: usize,
) -> Result<Vec<u8>, Option<ApiError>> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(None);
    }
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            Some(ApiError::BadRequest(format!(
                "the body could not be read: {e:?}"
            )))
        })?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > max {
                return Err(None);
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

/// `content` as JSON text: itself when UTF-8, else base64.
pub fn encode(content: Vec<u8>) -> (Encoding, String) {
    match String::from_utf8(content) {
        Ok(text) => (Encoding::Utf8, text),
        Err(e) => (Encoding::Base64, STANDARD.encode(e.as_bytes())),
    }
}
