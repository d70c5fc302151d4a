//! `DELETE /api/workspace/{uuid}/file/{path}`: removes a file (204), or a folder and
//! everything under it when `?recursive=true` (else 409). Owner or editor; `If-Match`
//! honoured (412 when stale). Every removed row is announced with `deleted: true`.

use crate::access::Ctx;
use crate::db;
use crate::item;
use crate::reply::{self, Reply};
use platform_contract::sql::ITEM_DELETE_SQL as DELETE_SQL;
use platform_core::ApiError;
use platform_core::validate::WorkspacePath;
use spin_sdk::pg::ParameterValue;

/// Kind and version of item `$2` of session `$1`.
const TARGET_SQL: &str =
    "select kind, version from workspace_items where session_id = $1::uuid and path = $2::text";

pub async fn handle(
    ctx: &Ctx,
    path: &WorkspacePath,
    headers: &http::HeaderMap,
    query: Option<&str>,
) -> Result<Reply, ApiError> {
    ctx.require_write()?;
    let expected = item::if_match(headers)?;
    let recursive = query
        .unwrap_or("")
        .split('&')
        .any(|kv| kv == "recursive=true" || kv == "recursive=1");
    let key = || {
        vec![
            ParameterValue::Uuid(ctx.session.clone()),
            ParameterValue::Str(path.path.clone()),
        ]
    };
    let rows = db::rows(&ctx.db, TARGET_SQL, key()).await?;
    let row = rows
        .first()
        .ok_or_else(|| ApiError::NotFound(format!("no file or folder {}", path.path)))?;
    let kind: String = db::column(row, "kind")?;
    let version: i64 = db::column(row, "version")?;
    if kind == "folder" && !recursive {
        return Err(ApiError::Conflict(format!(
            "{} is a folder; delete it with ?recursive=true",
            path.path
        )));
    }
    if let Some(want) = expected.filter(|want| *want != version) {
        return Err(ApiError::PreconditionFailed(format!(
            "{} is at version {version}, not {want}",
            path.path
        )));
    }
    let mut params = key();
    params.push(ParameterValue::Boolean(recursive));
    params.push(expected.map_or(ParameterValue::DbNull, ParameterValue::Int64));
    let rows = db::rows(&ctx.db, DELETE_SQL, params).await?;
    let deleted: i64 = rows
        .first()
        .map(|row| db::column(row, "target"))
        .transpose()?
        .unwrap_or(0);
    if deleted == 0 {
        return Err(match expected {
            Some(want) => ApiError::PreconditionFailed(format!(
                "{} changed concurrently (If-Match: {want})",
                path.path
            )),
            None => ApiError::NotFound(format!("no file or folder {}", path.path)),
        });
    }
    Ok(reply::no_content())
}
