//! `GET /api/workspace/{uuid}/files`: the whole tree, sorted by path. Viewer or better.

use crate::access::Ctx;
use crate::db;
use crate::reply::{self, Reply};
use platform_core::ApiError;
use serde_json::json;
use spin_sdk::pg::ParameterValue;

/// Every item of session `$1`, without content.
const LIST_SQL: &str = concat!(
    "select path, kind, size, version, encode(sha256, 'hex') as sha256, ",
    "updated_at at time zone 'utc' as updated_at ",
    "from workspace_items where session_id = $1::uuid order by path"
);

pub async fn handle(ctx: &Ctx) -> Result<Reply, ApiError> {
    let rows = db::rows(
        &ctx.db,
        LIST_SQL,
        vec![ParameterValue::Uuid(ctx.session.clone())],
    )
    .await?;
    let items = rows
        .iter()
        .map(|row| {
            Ok(json!({
                "path": db::column::<String>(row, "path")?,
                "kind": db::column::<String>(row, "kind")?,
                "size": db::column::<i64>(row, "size")?,
                "version": db::column::<i64>(row, "version")?,
                "sha256": db::column::<Option<String>>(row, "sha256")?,
                "updated_at": db::timestamp(row, "updated_at")?,
            }))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(reply::json(200, &items))
}
