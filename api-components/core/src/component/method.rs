//! The method check every route table makes before dispatching.

use crate::ApiError;
use http::Method;

/// `Ok` when `method` is one of `allowed`.
///
/// # Errors
/// 405 `method_not_allowed` with an `Allow` header listing `allowed`.
pub fn check(method: &Method, allowed: &[Method]) -> Result<(), ApiError> {
    if allowed.contains(method) {
        return Ok(());
    }
    let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    Err(ApiError::method_not_allowed(method.as_str(), &allow))
}
