//! Bearer tokens in REST terms: the contract's token rules ([`platform_contract::token`],
//! re-exported here) with their failures turned into [`ApiError`] answers.

use crate::error::ApiError;
pub use platform_contract::token::{
    BearerError, TOKEN_LEN, TOKEN_PREFIX, TOKEN_RANDOM_BYTES, TOKEN_TYPE, VERIFY_TOKEN_SQL,
    is_well_formed, token_sha256,
};

/// A new random token.
///
/// # Errors
/// 500 when the platform's random source fails (`wasi:random` in a component).
pub fn generate() -> Result<String, ApiError> {
    platform_contract::token::generate()
        .map_err(|e| ApiError::Internal(format!("random source failed: {e}")))
}

/// The token of an `Authorization: Bearer <token>` header value (`None`: no header).
///
/// # Errors
/// 401 when the header is missing, uses another scheme, or carries something that is not a
/// well-formed token.
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, ApiError> {
    platform_contract::token::bearer_token(authorization).map_err(|e| match e {
        BearerError::Malformed => invalid_token(),
        other => ApiError::Unauthorized(other.to_string()),
    })
}

/// The 401 for a token that is unknown, expired or revoked. One message for all three, so a
/// client learns nothing about which.
pub fn invalid_token() -> ApiError {
    ApiError::Unauthorized("invalid, expired or revoked token".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_failures_are_401() {
        let t = generate().unwrap();
        assert_eq!(bearer_token(Some(&format!("Bearer {t}"))).unwrap(), t);
        for bad in [None, Some("Basic dXNlcjpwYXNz"), Some("Bearer not-a-token")] {
            assert_eq!(bearer_token(bad).unwrap_err().status(), 401, "{bad:?}");
        }
    }
}
