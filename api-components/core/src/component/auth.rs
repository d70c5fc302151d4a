//! Authentication of a request by its bearer token, with the shared
//! [`crate::token::VERIFY_TOKEN_SQL`] (the terminal-bridge runs the same statement).

use super::db;
use crate::ApiError;
use crate::token::{VERIFY_TOKEN_SQL, bearer_token, invalid_token, token_sha256};
use http::HeaderMap;
use spin_sdk::pg::{Connection, ParameterValue};

/// The user a valid token belongs to.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
}

/// The token of the `Authorization` header, checked for shape only (no database yet).
///
/// # Errors
/// 401 (with `WWW-Authenticate: Bearer`) when it is missing or malformed.
pub fn presented_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = match headers.get(http::header::AUTHORIZATION) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| invalid_token())?),
    };
    bearer_token(value)
}

/// Checks the request's bearer token against the database.
///
/// # Errors
/// 401 when it is missing, malformed, unknown, expired or revoked.
pub async fn authenticate(db: &Connection, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let token = presented_token(headers)?;
    let hash = token_sha256(token);
    let rows = db::rows(
        db,
        VERIFY_TOKEN_SQL,
        vec![ParameterValue::Binary(hash.to_vec())],
    )
    .await?;
    let row = rows.first().ok_or_else(invalid_token)?;
    Ok(Principal {
        user_id: db::column(row, "user_id")?,
    })
}

/// Authenticates the request and applies the original service's `user_id` query
/// parameter, which is accepted only as a cross-check of the token; returns the user id.
///
/// # Errors
/// 401 without a valid bearer token; 400 when `user_id` is not an integer; 403 when it is not
/// the token's user.
pub async fn caller(db: &Connection, parts: &http::request::Parts) -> Result<i64, ApiError> {
    let principal = authenticate(db, &parts.headers).await?;
    if let Some(raw) = super::query::param(parts.uri.query(), "user_id") {
        let claimed: i64 = raw
            .parse()
            .map_err(|_| ApiError::BadRequest("user_id must be an integer".into()))?;
        if claimed != principal.user_id {
            return Err(ApiError::Forbidden(
                "user_id does not match the user of the bearer token".into(),
            ));
        }
    }
    Ok(principal.user_id)
}
