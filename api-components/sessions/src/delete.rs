//! `DELETE /api/sessions/{uuid}`: owner only; deletes the session, and by the foreign keys'
//! `on delete cascade` its files (`workspace_items`) and memberships; `204`.
//!
//! The same statement notifies the desired-state channel with `desired_state: "stopped"` and
//! `deleted: true`: the row (and so its desired state) is gone once the statement commits,
//! and the notification is what asks the bridge to stop the sandbox (its periodic reconcile
//! also stops sandboxes whose session no longer exists). Since the notification is only
//! delivered at commit, the bridge never sees it for a delete that did not happen.

use crate::access::{self, Ctx};
use crate::db;
use crate::reply::{self, Reply};
use platform_contract::notify_desired_state;
use platform_core::ApiError;
use platform_core::models::SessionRole;
use spin_sdk::pg::ParameterValue;

/// Deletes session `$1` if user `$2` owns it, and notifies.
const DELETE_SQL: &str = concat!(
    "with doomed as (delete from code_sessions where id = $1::uuid and owner_id = $2::bigint ",
    "returning id), ",
    "notified as (select ",
    notify_desired_state!("id", "'stopped'", "true"),
    " from doomed) ",
    "select id::text as id, (select count(*) from notified) as notified from doomed"
);

pub async fn handle(ctx: &Ctx, id: &str) -> Result<Reply, ApiError> {
    access::with_role(ctx, id, &[SessionRole::Owner], "delete a session").await?;
    let rows = db::rows(
        &ctx.db,
        DELETE_SQL,
        vec![
            ParameterValue::Uuid(id.to_owned()),
            ParameterValue::Int64(ctx.caller),
        ],
    )
    .await?;
    if rows.is_empty() {
        // Deleted by a concurrent request since the check.
        return Err(access::no_session(id));
    }
    Ok(reply::no_content())
}
