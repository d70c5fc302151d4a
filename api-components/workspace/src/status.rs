//! `GET /api/workspace/{uuid}/status`: what the workspace holds and how its sandbox is
//! doing. Viewer or better. `200`:
//!
//! `{session_id, initialized, files, folders, bytes, desired_state, observed_state,
//! observed_at, last_activity_at, limits: {max_file_size, max_workspace_files,
//! max_workspace_bytes}}`
//!
//! `initialized` is whether the workspace has any item (a default project or anything
//! else); `bytes` is the sum of file sizes; the states are the `code_sessions` columns
//! (`desired_state` written by the API, `observed_state` / `observed_at` by the bridge).

use crate::access::Ctx;
use crate::caps::Limits;
use crate::db;
use crate::reply::{self, Reply};
use chrono::NaiveDateTime;
use platform_core::ApiError;
use serde_json::json;
use spin_sdk::pg::ParameterValue;

/// Session `$1`'s states and the totals of its items.
const STATUS_SQL: &str = concat!(
    "select s.desired_state, s.observed_state, s.observed_at at time zone 'utc' as observed_at, ",
    "s.last_activity_at at time zone 'utc' as last_activity_at, ",
    "count(w.id) filter (where w.kind = 'file') as files, ",
    "count(w.id) filter (where w.kind = 'folder') as folders, ",
    "coalesce(sum(w.size), 0)::bigint as bytes ",
    "from code_sessions s left join workspace_items w on w.session_id = s.id ",
    "where s.id = $1::uuid group by s.id"
);

pub async fn handle(ctx: &Ctx) -> Result<Reply, ApiError> {
    let rows = db::rows(
        &ctx.db,
        STATUS_SQL,
        vec![ParameterValue::Uuid(ctx.session.clone())],
    )
    .await?;
    let row = rows
        .first()
        .ok_or_else(|| ApiError::NotFound(format!("no session {}", ctx.session)))?;
    let files: i64 = db::column(row, "files")?;
    let folders: i64 = db::column(row, "folders")?;
    let utc =
        |name: &str| db::column::<Option<NaiveDateTime>>(row, name).map(|t| t.map(|t| t.and_utc()));
    Ok(reply::json(
        200,
        &json!({
            "session_id": ctx.session,
            "initialized": files + folders > 0,
            "files": files,
            "folders": folders,
            "bytes": db::column::<i64>(row, "bytes")?,
            "desired_state": db::column::<String>(row, "desired_state")?,
            "observed_state": db::column::<String>(row, "observed_state")?,
            "observed_at": utc("observed_at")?,
            "last_activity_at": utc("last_activity_at")?,
            "limits": Limits::load().await,
        }),
    ))
}
