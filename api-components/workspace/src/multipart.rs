//! A `multipart/form-data` parser (RFC 7578 on RFC 2046's framing), for `upload.rs`.
//!
//! Reads a complete body: the parts are ranges of it, so nothing is copied. Strict where
//! sloppiness would hide mistakes (CRLF line ends, a closing delimiter, a
//! `Content-Disposition: form-data` header with a `name` in every part); every violation is
//! a `400` naming it.

use platform_core::ApiError;
use std::ops::Range;

/// Most parts one body may have (a guard against a body of empty parts).
pub const MAX_PARTS: usize = 10_000;
/// Most bytes of one part's header block.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// One part: its form field name, its file name if any, and where its data is in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    /// `filename` (or RFC 5987 `filename*`) of the `Content-Disposition`; `None` for a plain
    /// field.
    pub filename: Option<String>,
    pub data: Range<usize>,
}

fn malformed(why: &str) -> ApiError {
    ApiError::BadRequest(format!("malformed multipart body: {why}"))
}

/// The `boundary` parameter of a `multipart/form-data` content type.
///
/// # Errors
/// 415 for another media type; 400 when the boundary is missing or not 1-70 characters.
pub fn boundary(content_type: &str) -> Result<String, ApiError> {
    let mut params = split_params(content_type).into_iter();
    let media = params.next().unwrap_or_default().to_ascii_lowercase();
    if media != "multipart/form-data" {
        return Err(ApiError::UnsupportedMediaType(format!(
            "expected Content-Type: multipart/form-data, got {media:?}"
        )));
    }
    let boundary = params
        .filter_map(|p| param(&p))
        .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v)
        .ok_or_else(|| malformed("the Content-Type has no boundary"))?;
    if boundary.is_empty() || boundary.len() > 70 {
        return Err(malformed("the boundary must be 1 to 70 characters"));
    }
    Ok(boundary)
}

/// The parts of `body`, delimited by `boundary`.
///
/// # Errors
/// 400 for anything that is not a well-formed `multipart/form-data` body.
pub fn parse(body: &[u8], boundary: &str) -> Result<Vec<Part>, ApiError> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    // The first delimiter: at the very start, or after a preamble ending in CRLF.
    let mut at = if body.starts_with(delimiter) {
        0
    } else {
        find(body, &[b"\r\n", delimiter].concat(), 0)
            .map(|i| i + 2)
            .ok_or_else(|| malformed("no boundary delimiter"))?
    };
    let next_delimiter = [b"\r\n", delimiter].concat();
    let mut parts = Vec::new();
    loop {
        at += delimiter.len();
        let rest = body.get(at..).unwrap_or_default();
        if rest.starts_with(b"--") {
            return if parts.is_empty() {
                Err(malformed("no parts"))
            } else {
                Ok(parts)
            };
        }
        while matches!(body.get(at), Some(b' ' | b'\t')) {
            at += 1;
        }
        if !body.get(at..).unwrap_or_default().starts_with(b"\r\n") {
            return Err(malformed("a delimiter line does not end in CRLF"));
        }
        at += 2;
        let rest = body.get(at..).unwrap_or_default();
        if rest.starts_with(b"\r\n") {
            return Err(malformed("a part has no Content-Disposition"));
        }
        let header_end = find(body, b"\r\n\r\n", at)
            .ok_or_else(|| malformed("a part's headers do not end with an empty line"))?;
        let headers = &body[at..header_end];
        if headers.len() > MAX_HEADER_BYTES {
            return Err(malformed("a part's headers are too long"));
        }
        let data_start = header_end + 4;
        let data_end = find(body, &next_delimiter, data_start)
            .ok_or_else(|| malformed("the closing delimiter is missing"))?;
        let (name, filename) = disposition(headers)?;
        parts.push(Part {
            name,
            filename,
            data: data_start..data_end,
        });
        if parts.len() > MAX_PARTS {
            return Err(malformed(&format!("more than {MAX_PARTS} parts")));
        }
        at = data_end + 2;
    }
}

/// `name` and `filename` of a part's `Content-Disposition: form-data` header.
fn disposition(headers: &[u8]) -> Result<(String, Option<String>), ApiError> {
    let text = std::str::from_utf8(headers).map_err(|_| malformed("part headers are not UTF-8"))?;
    let mut found = None;
    for line in text.split("\r\n") {
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| malformed("a part header line has no ':'"))?;
        if key.trim().eq_ignore_ascii_case("content-disposition") {
            found = Some(value.trim());
        }
    }
    let value = found.ok_or_else(|| malformed("a part has no Content-Disposition"))?;
    let mut params = split_params(value).into_iter();
    if !params
        .next()
        .is_some_and(|d| d.eq_ignore_ascii_case("form-data"))
    {
        return Err(malformed("a part's Content-Disposition is not form-data"));
    }
    let (mut name, mut filename, mut extended) = (None, None, None);
    for (key, value) in params.filter_map(|p| param(&p)) {
        match key.to_ascii_lowercase().as_str() {
            "name" => name = Some(value),
            // Not in RFC 7578, but some encoders (reqwest) use it for non-ASCII names.
            "name*" => name = Some(ext_value(&value)?),
            "filename" => filename = Some(value),
            "filename*" => extended = Some(ext_value(&value)?),
            _ => {}
        }
    }
    let name = name.ok_or_else(|| malformed("a part's Content-Disposition has no name"))?;
    Ok((name, extended.or(filename)))
}

/// An RFC 5987 `UTF-8''percent-encoded` value (of `filename*` or `name*`).
fn ext_value(value: &str) -> Result<String, ApiError> {
    let bad = || malformed("a filename* or name* is not UTF-8''<percent-encoded>");
    let mut pieces = value.splitn(3, '\'');
    let charset = pieces.next().ok_or_else(bad)?;
    let _language = pieces.next().ok_or_else(bad)?;
    let encoded = pieces.next().ok_or_else(bad)?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return Err(bad());
    }
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(bad)?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// `value` split at `;` outside quoted strings, each piece trimmed.
fn split_params(value: &str) -> Vec<String> {
    let mut pieces = vec![String::new()];
    let (mut quoted, mut escaped) = (false, false);
    for c in value.chars() {
        let current = pieces.last_mut().expect("never empty");
        match c {
            _ if escaped => {
                escaped = false;
                current.push(c);
            }
            '\\' if quoted => {
                escaped = true;
                current.push(c);
            }
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ';' if !quoted => pieces.push(String::new()),
            _ => current.push(c),
        }
    }
    pieces.into_iter().map(|p| p.trim().to_owned()).collect()
}

/// `key=value` or `key="quoted \" value"` as `(key, unquoted value)`.
fn param(piece: &str) -> Option<(String, String)> {
    let (key, value) = piece.split_once('=')?;
    let value = value.trim();
    let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => value.to_owned(),
    };
    Some((key.trim().to_owned(), value))
}

/// The first index at or after `from` where `needle` starts.
fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = from;
    while i + needle.len() <= haystack.len() {
        match haystack[i..=haystack.len() - needle.len()]
            .iter()
            .position(|b| *b == first)
        {
            None => return None,
            Some(offset) => {
                i += offset;
                if haystack[i..].starts_with(needle) {
                    return Some(i);
                }
                i += 1;
            }
        }
    }
    None
}
