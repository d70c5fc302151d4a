//! Who is connecting, and what they may do in a session.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use platform_contract::token::{VERIFY_TOKEN_SQL, is_well_formed, token_sha256};
use uuid::Uuid;

/// Looks up whether a user may use a session: `$1` session id, `$2` user id. One row when
/// the session exists: whether the user owns it, and their member role if any.
const ACCESS_SQL: &str = "\
select s.owner_id = $2 as owner, m.role
from code_sessions s
left join session_members m on m.session_id = s.id and m.user_id = $2
where s.id = $1";

/// What a user may do in a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    Editor,
    /// Sees output and file events; may not type, resize or close.
    Viewer,
}

impl Role {
    pub fn can_write(self) -> bool {
        !matches!(self, Role::Viewer)
    }
}

/// Why authentication or an access check failed. Clients see it as a
/// [`ClientError`](super::ClientError) (`unauthorized`, `not_found` or `unavailable`).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "authentication required: send the token as `Authorization: Bearer`, `?token=` or a first message {{\"type\":\"auth\",\"token\":...}}"
    )]
    Missing,
    #[error("invalid, expired or revoked token")]
    Invalid,
    #[error("the session does not exist or is not shared with you")]
    NoSession,
    #[error("database unavailable: {0}")]
    Database(String),
}

impl AuthError {
    /// The `reason` label of `bridge_auth_failures_total`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Invalid => "invalid",
            AuthError::NoSession => "no_session",
            AuthError::Database(_) => "database",
        }
    }

    /// A database failure: logged here, where its details are known; clients only hear that
    /// the database is unavailable.
    fn database(err: impl std::fmt::Display) -> AuthError {
        let detail = err.to_string();
        tracing::warn!(error = %detail, "authentication: the database failed");
        AuthError::Database(detail)
    }
}

/// The token from `Authorization: Bearer` or else `?token=`.
pub fn presented_token(headers: &HeaderMap, query_token: Option<&str>) -> Option<String> {
    let header = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
    header.or_else(|| query_token.map(str::to_owned))
}

/// The user id of a valid token.
pub async fn verify(pool: &deadpool_postgres::Pool, token: &str) -> Result<i64, AuthError> {
    if !is_well_formed(token) {
        return Err(AuthError::Invalid);
    }
    let client = pool.get().await.map_err(AuthError::database)?;
    let hash = token_sha256(token);
    let row = client
        .query_opt(VERIFY_TOKEN_SQL, &[&hash.as_slice()])
        .await
        .map_err(AuthError::database)?;
    row.map(|row| row.get::<_, i64>(0))
        .ok_or(AuthError::Invalid)
}

/// The user's role in a session; a session that does not exist and one the user may not see
/// are the same error, so ids of other users' sessions cannot be probed.
pub async fn access(
    pool: &deadpool_postgres::Pool,
    user: i64,
    session: Uuid,
) -> Result<Role, AuthError> {
    let client = pool.get().await.map_err(AuthError::database)?;
    let row = client
        .query_opt(ACCESS_SQL, &[&session, &user])
        .await
        .map_err(AuthError::database)?
        .ok_or(AuthError::NoSession)?;
    let owner: bool = row.get(0);
    let role: Option<String> = row.get(1);
    match (owner, role.as_deref()) {
        (true, _) => Ok(Role::Owner),
        (false, Some("editor")) => Ok(Role::Editor),
        (false, Some("viewer")) => Ok(Role::Viewer),
        _ => Err(AuthError::NoSession),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_wins_over_query() {
        let mut headers = HeaderMap::new();
        assert_eq!(presented_token(&headers, Some("q")), Some("q".into()));
        headers.insert(AUTHORIZATION, "Bearer  abc ".parse().unwrap());
        assert_eq!(presented_token(&headers, Some("q")), Some("abc".into()));
        headers.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(presented_token(&headers, None), None);
    }
}
