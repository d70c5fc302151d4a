//! `DELETE /api/workspace/{uuid}/file/{path}`: removes a file (204), or a folder and
//! everything under it when `?recursive=true` (else 409). Owner or editor; `If-Match`
//! honoured (412 when stale). Every removed row is announced with `deleted: true`.

use crate::access::Ctx;
use crate::db;
use crate::item;
use crate::notify::notify_item;
use crate::reply::{self, Reply};
use platform_core::ApiError;
use platform_core::validate::WorkspacePath;
use spin_sdk::pg::ParameterValue;

/// Kind and version of item `$2` of session `$1`.
const TARGET_SQL: &str =
    "select kind, version from workspace_items where session_id = $1::uuid and path = $2::text";

/// Deletes item `$2` of session `$1` (a folder only when `$3`, then with everything under it),
/// if its version is `$4` (any when null), and notifies.
const DELETE_SQL: &str = concat!(
    "with d as (delete from workspace_items w where w.session_id = $1::uuid and (",
    "(w.path = $2::text and ($4::bigint is null or w.version = $4::bigint) ",
    "and (w.kind = 'file' or $3::boolean)) ",
    "or ($3::boolean and starts_with(w.path, $2::text || '/') and exists (",
    "select 1 from workspace_items t where t.session_id = $1::uuid and t.path = $2::text ",
    "and t.kind = 'folder' and ($4::bigint is null or t.version = $4::bigint)))) ",
    "returning session_id, path, version, kind), ",
    "notified as (select ",
    notify_item!("true"),
    " from d) ",
    "select count(*) filter (where path = $2::text) as target, ",
    "(select count(*) from notified) as notified from d"
);

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
