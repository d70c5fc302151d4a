//! `DELETE /api/sessions/{uuid}/members/{username}`: unshares; `204`. The owner may remove
//! anyone; a member may remove only themself (leave). 404 for an unknown user or one who is
//! not a member. The same statement notifies the membership channel (`role: null`).

use crate::access::{self, Ctx};
use crate::db;
use crate::members::user_named;
use crate::reply::{self, Reply};
use platform_contract::notify_member;
use platform_core::ApiError;
use platform_core::models::SessionRole;
use spin_sdk::pg::ParameterValue;

/// Removes user `$3` from session `$1` if user `$2` owns the session or is `$3`, and notifies.
const DELETE_MEMBER_SQL: &str = concat!(
    "with target as (select id from code_sessions where id = $1::uuid ",
    "and (owner_id = $2::bigint or $3::bigint = $2::bigint)), ",
    "removed as (delete from session_members m using target ",
    "where m.session_id = target.id and m.user_id = $3::bigint returning m.session_id, m.user_id), ",
    "notified as (select ",
    notify_member!("session_id", "user_id", "null::text"),
    " from removed) ",
    "select user_id, (select count(*) from notified) as notified from removed"
);

pub async fn handle(ctx: &Ctx, id: &str, name: &str) -> Result<Reply, ApiError> {
    let session = access::visible(ctx, id).await?;
    let (user_id, username) = user_named(ctx, name).await?;
    if session.role != SessionRole::Owner && user_id != ctx.caller {
        return Err(ApiError::Forbidden(
            "only the owner may remove other members".into(),
        ));
    }
    let rows = db::rows(
        &ctx.db,
        DELETE_MEMBER_SQL,
        vec![
            ParameterValue::Uuid(id.to_owned()),
            ParameterValue::Int64(ctx.caller),
            ParameterValue::Int64(user_id),
        ],
    )
    .await?;
    if rows.is_empty() {
        return Err(ApiError::NotFound(format!(
            "{username} is not a member of session {id}"
        )));
    }
    Ok(reply::no_content())
}
