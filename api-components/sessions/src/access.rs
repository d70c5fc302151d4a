//! Who is calling and what they may do with a session.

use crate::db;
use crate::session::{self, role_column, session_columns};
use platform_core::ApiError;
use platform_core::models::{Session, SessionRole};
use spin_sdk::pg::{Connection, ParameterValue};

/// What every handler gets: the connection, the authenticated caller and the query string.
pub struct Ctx {
    pub db: Connection,
    /// The token's user.
    pub caller: i64,
    /// The raw query string, for `limit` / `offset`.
    pub query: Option<String>,
}

/// The session `$1` with the role of user `$2`, if that user may see it (owner or member).
const VISIBLE_SESSION_SQL: &str = concat!(
    "select ",
    session_columns!(),
    ", ",
    role_column!("$2"),
    " from code_sessions s join users o on o.id = s.owner_id ",
    "left join session_members m on m.session_id = s.id and m.user_id = $2::bigint ",
    "where s.id = $1::uuid and (s.owner_id = $2::bigint or m.user_id is not null)"
);

/// The 404 for a session that does not exist or that the caller may not see: the two look
/// alike, so ids of other users' sessions cannot be probed.
pub fn no_session(id: &str) -> ApiError {
    ApiError::NotFound(format!("no session {id}"))
}

/// Session `id` as the caller sees it.
///
/// # Errors
/// 404 when it does not exist or the caller is neither its owner nor a member.
pub async fn visible(ctx: &Ctx, id: &str) -> Result<Session, ApiError> {
    let rows = db::rows(
        &ctx.db,
        VISIBLE_SESSION_SQL,
        vec![
            ParameterValue::Uuid(id.to_owned()),
            ParameterValue::Int64(ctx.caller),
        ],
    )
    .await?;
    let row = rows.first().ok_or_else(|| no_session(id))?;
    session::from_row(row)
}

/// Session `id`, if the caller's role is one of `allowed`.
///
/// # Errors
/// 404 as [`visible`]; 403 when the caller may see it but not do `action`.
pub async fn with_role(
    ctx: &Ctx,
    id: &str,
    allowed: &[SessionRole],
    action: &str,
) -> Result<Session, ApiError> {
    let session = visible(ctx, id).await?;
    if allowed.contains(&session.role) {
        Ok(session)
    } else {
        let who: Vec<&str> = allowed
            .iter()
            .map(|r| match r {
                SessionRole::Owner => "the owner",
                SessionRole::Editor => "an editor",
                SessionRole::Viewer => "a viewer",
            })
            .collect();
        Err(ApiError::Forbidden(format!(
            "only {} may {action}",
            who.join(" or ")
        )))
    }
}
