//! `POST /api/workspace/{uuid}/shutdown` and the original `POST /workspace/{uuid}/shutdown`:
//! sets the desired state to `stopped` and notifies the bridge in the same statement; `202`
//! (the sandbox stops when the bridge has reconciled). Owner or editor; idempotent (a session
//! already stopped is notified again, which costs the bridge one look).

use crate::access::{self, Ctx};
use crate::db;
use crate::reply::{self, Reply};
use platform_contract::notify_desired_state;
use platform_contract::state::DesiredState;
use platform_core::ApiError;
use platform_core::models::{SessionRole, ShutdownResponse};
use spin_sdk::pg::ParameterValue;

/// Sets session `$1` to stopped if user `$2` owns it or is an editor of it, and notifies.
const SHUTDOWN_SQL: &str = concat!(
    "with changed as (update code_sessions s set desired_state = 'stopped' ",
    "where s.id = $1::uuid and (s.owner_id = $2::bigint or exists (",
    "select 1 from session_members m where m.session_id = s.id and m.user_id = $2::bigint ",
    "and m.role = 'editor')) returning s.id, s.desired_state), ",
    "notified as (select ",
    notify_desired_state!("id", "desired_state", "false"),
    " from changed) ",
    "select id::text as id, (select count(*) from notified) as notified from changed"
);

pub async fn handle(ctx: &Ctx, id: &str) -> Result<Reply, ApiError> {
    access::with_role(
        ctx,
        id,
        &[SessionRole::Owner, SessionRole::Editor],
        "shut a workspace down",
    )
    .await?;
    let rows = db::rows(
        &ctx.db,
        SHUTDOWN_SQL,
        vec![
            ParameterValue::Uuid(id.to_owned()),
            ParameterValue::Int64(ctx.caller),
        ],
    )
    .await?;
    if rows.is_empty() {
        // Deleted, or the caller's role taken away, since the check.
        return Err(access::no_session(id));
    }
    Ok(reply::json(
        202,
        &ShutdownResponse {
            session_id: id.to_owned(),
            desired_state: DesiredState::Stopped,
        },
    ))
}
