//! `PUT /api/sessions/{uuid}/members/{username}` with `{"role": "viewer"|"editor"}`: shares
//! the session, or changes the member's role; `200` with the member. Owner only (403 for
//! members); 404 for an unknown user; 400 for the owner themself (the owner is never a
//! member). The same statement notifies the membership channel.

use crate::access::{self, Ctx};
use crate::members::{self, user_named};
use crate::reply::{self, Reply};
use crate::{body, db};
use http::HeaderMap;
use platform_contract::notify_member;
use platform_core::ApiError;
use platform_core::models::{PutMemberRequest, SessionRole};
use spin_sdk::pg::ParameterValue;
use spin_sdk::wasip3::http_compat::IncomingRequestBody;

/// Makes user `$3` a member of session `$1` with role `$4` if user `$2` owns the session
/// (insert or role change), and notifies.
const PUT_MEMBER_SQL: &str = concat!(
    "with target as (select id from code_sessions where id = $1::uuid and owner_id = $2::bigint), ",
    "upserted as (insert into session_members (session_id, user_id, role) ",
    "select target.id, $3::bigint, $4::text from target ",
    "on conflict (session_id, user_id) do update set role = excluded.role ",
    "returning session_id, user_id, role, created_at), ",
    "notified as (select ",
    notify_member!("session_id", "user_id", "role"),
    " from upserted) ",
    "select up.user_id, u.username, up.role, up.created_at at time zone 'utc' as created_at, ",
    "(select count(*) from notified) as notified ",
    "from upserted up join users u on u.id = up.user_id"
);

pub async fn handle(
    ctx: &Ctx,
    id: &str,
    name: &str,
    headers: &HeaderMap,
    body: IncomingRequestBody,
) -> Result<Reply, ApiError> {
    let session = access::with_role(ctx, id, &[SessionRole::Owner], "share a session").await?;
    let input: PutMemberRequest = body::json(headers, body).await?;
    let (user_id, _) = user_named(ctx, name).await?;
    if user_id == session.owner_id {
        return Err(ApiError::BadRequest(
            "the owner cannot be added as a member".into(),
        ));
    }
    let rows = db::rows(
        &ctx.db,
        PUT_MEMBER_SQL,
        vec![
            ParameterValue::Uuid(id.to_owned()),
            ParameterValue::Int64(ctx.caller),
            ParameterValue::Int64(user_id),
            ParameterValue::Str(input.role.as_str().to_owned()),
        ],
    )
    .await?;
    // No row: deleted since the check (or the user was, which the join hides).
    let row = rows.first().ok_or_else(|| access::no_session(id))?;
    Ok(reply::json(200, &members::member(row)?))
}
