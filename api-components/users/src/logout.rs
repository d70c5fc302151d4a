//! `POST /api/users/logout`: revokes the presented bearer token; `204`.

use crate::auth;
use crate::db;
use crate::reply::{self, Reply};
use platform_core::ApiError;
use platform_core::token::{invalid_token, token_sha256};
use spin_sdk::http::Request;
use spin_sdk::pg::ParameterValue;

/// Revokes a token that is still valid; touching no row means it was not (401).
const REVOKE_TOKEN_SQL: &str = "\
update auth_tokens set revoked_at = now()
where token_sha256 = $1 and revoked_at is null and expires_at > now()";

pub async fn handle(req: Request) -> Result<Reply, ApiError> {
    let token = auth::presented_token(req.headers())?;
    let hash = token_sha256(token);
    let db = db::open().await?;
    let revoked = db::execute(
        &db,
        REVOKE_TOKEN_SQL,
        vec![ParameterValue::Binary(hash.to_vec())],
    )
    .await?;
    if revoked == 0 {
        return Err(invalid_token());
    }
    Ok(reply::no_content())
}
