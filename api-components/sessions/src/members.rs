//! `GET /api/sessions/{uuid}/members`: the owner and the members (owner, editors and viewers
//! may look). Also the user look-up the member routes share.

use crate::access::{self, Ctx};
use crate::db;
use crate::reply::{self, Reply};
use platform_core::models::{Member, MemberList, MemberRole};
use platform_core::{ApiError, validate};
use spin_sdk::pg::{ParameterValue, Row};

/// The members of session `$1`, in the order they were added.
const MEMBERS_SQL: &str = "\
select m.user_id, u.username, m.role, m.created_at at time zone 'utc' as created_at
from session_members m join users u on u.id = m.user_id
where m.session_id = $1::uuid
order by m.created_at, m.user_id";

/// The user named `$1` in any letter case (uses `users_username_lower_key`).
const USER_BY_NAME_SQL: &str = "select id, username from users where lower(username) = lower($1)";

pub async fn handle(ctx: &Ctx, id: &str) -> Result<Reply, ApiError> {
    let session = access::visible(ctx, id).await?;
    let rows = db::rows(
        &ctx.db,
        MEMBERS_SQL,
        vec![ParameterValue::Uuid(id.to_owned())],
    )
    .await?;
    let members = rows.iter().map(member).collect::<Result<Vec<_>, _>>()?;
    Ok(reply::json(
        200,
        &MemberList {
            session_id: session.id,
            owner_id: session.owner_id,
            owner_username: session.owner_username,
            members,
        },
    ))
}

/// A [`Member`] from a row with `user_id`, `username`, `role`, `created_at`.
pub fn member(row: &Row) -> Result<Member, ApiError> {
    Ok(Member {
        user_id: db::column(row, "user_id")?,
        username: db::column(row, "username")?,
        role: member_role(&db::column::<String>(row, "role")?)?,
        created_at: db::timestamp(row, "created_at")?,
    })
}

fn member_role(text: &str) -> Result<MemberRole, ApiError> {
    match text {
        "editor" => Ok(MemberRole::Editor),
        "viewer" => Ok(MemberRole::Viewer),
        other => Err(ApiError::Internal(format!("unknown member role {other:?}"))),
    }
}

/// The id and stored username of the user called `name` (any letter case).
///
/// # Errors
/// 404 when there is none (also for names no user can have).
pub async fn user_named(ctx: &Ctx, name: &str) -> Result<(i64, String), ApiError> {
    let unknown = || ApiError::NotFound(format!("no user named {name:?}"));
    if validate::username(name).is_err() {
        return Err(unknown());
    }
    let rows = db::rows(
        &ctx.db,
        USER_BY_NAME_SQL,
        vec![ParameterValue::Str(name.to_owned())],
    )
    .await?;
    let row = rows.first().ok_or_else(unknown)?;
    Ok((db::column(row, "id")?, db::column(row, "username")?))
}
