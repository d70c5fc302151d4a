//! Query parameters: `user_id` (the original service's cross-check), `limit` and `offset`.
//! Their values are plain integers, so no percent-decoding is needed; a value that is not one
//! is a 400.

use platform_core::ApiError;

pub use platform_core::component::query::param;

/// `name` as an integer within `min..=max`, or `default` when absent.
///
/// # Errors
/// 400 `bad_request` when present but not such an integer.
pub fn int(
    query: Option<&str>,
    name: &str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ApiError> {
    let Some(raw) = param(query, name) else {
        return Ok(default);
    };
    match raw.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::BadRequest(format!(
            "{name} must be an integer from {min} to {max}"
        ))),
    }
}
