//! `POST /api/workspace/{uuid}/move` with `{"from": "<path>", "to": "<path>", "overwrite"?:
//! bool}`: moves or renames a file, or a folder with everything under it, in one
//! transaction. Owner or editor.
//!
//! - `404` when `from` does not exist; `400` when `to` is `from` or lies under it (a folder
//!   into itself); `412` when `If-Match` (optional) is not `from`'s version.
//! - `409` when `to` (or anything under it) exists, except that a file may replace a file
//!   with `"overwrite": true`; `409` when a file is among `to`'s parents. Missing parents of
//!   `to` are created.
//! - Every moved row gets a new version (the trigger bumps it). Each is announced twice on
//!   `workspace_item_changed`, in the same transaction: its old path with `deleted: true` and
//!   its last version there, and its new path with its new version; a replaced file is
//!   announced deleted, created parents as new.
//! - `200` `{from, to, kind, version, moved}`: `version` is the moved item's new one,
//!   `moved` the number of rows moved.

use crate::access::Ctx;
use crate::body;
use crate::caps::{self, Limits};
use crate::db;
use crate::folder;
use crate::item;
use crate::reply::Reply;
use platform_contract::{notify_item, notify_item_changed};
use platform_core::ApiError;
use platform_core::validate::{self, WorkspacePath};
use serde::Deserialize;
use serde_json::json;
use spin_sdk::pg::ParameterValue;
use spin_sdk::wasip3::http_compat::IncomingRequestBody;

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveBody {
    from: String,
    to: String,
    #[serde(default)]
    overwrite: bool,
}

/// Kind and version of item `$2` of session `$1`.
const SOURCE_SQL: &str =
    "select kind, version from workspace_items where session_id = $1::uuid and path = $2::text";

/// Items at or under `$3` of session `$1` that are not at or under `$2` (they would clash).
const CLASH_SQL: &str = concat!(
    "select path, kind, version from workspace_items where session_id = $1::uuid ",
    "and (path = $3::text or starts_with(path, $3::text || '/')) ",
    "and not (path = $2::text or starts_with(path, $2::text || '/')) order by path limit 2"
);

/// Deletes file `$2` of session `$1` (the replaced destination) and notifies.
const REPLACE_SQL: &str = concat!(
    "with d as (delete from workspace_items where session_id = $1::uuid and path = $2::text ",
    "and kind = 'file' returning session_id, path, version, kind), ",
    "notified as (select ",
    notify_item_changed!("true"),
    " from d) select (select count(*) from notified) as notified"
);

/// Moves item `$2` of session `$1` and everything under it to `$3`, and notifies each row's
/// old path (deleted, version before the move) and new path (new version).
const MOVE_SQL: &str = concat!(
    "with moved as (update workspace_items w ",
    "set path = $3::text || substr(w.path, char_length($2::text) + 1), ",
    "parent_path = nullif(regexp_replace($3::text || substr(w.path, char_length($2::text) + 1), ",
    "'/?[^/]*$', ''), '') ",
    "where w.session_id = $1::uuid and (w.path = $2::text or starts_with(w.path, $2::text || '/')) ",
    "returning w.session_id, w.path, w.version, w.kind), ",
    "gone as (select ",
    notify_item!(
        "session_id",
        "$2::text || substr(path, char_length($3::text) + 1)",
        "version - 1",
        "kind",
        "true"
    ),
    " from moved), ",
    "came as (select ",
    notify_item_changed!("false"),
    " from moved) ",
    "select (select count(*) from moved) as moved, ",
    "(select version from moved where path = $3::text) as version, ",
    "(select count(*) from gone) + (select count(*) from came) as notified"
);

pub async fn handle(
    ctx: &Ctx,
    headers: &http::HeaderMap,
    body: IncomingRequestBody,
) -> Result<Reply, ApiError> {
    ctx.require_write()?;
    let expected = item::if_match(headers)?;
    let input: MoveBody = body::json(headers, body).await?;
    let from = validate::workspace_path(&input.from)?;
    let to = validate::workspace_path(&input.to)?;
    if from.path == to.path {
        return Err(ApiError::BadRequest("from and to are the same path".into()));
    }
    if to.path.starts_with(&format!("{}/", from.path)) {
        return Err(ApiError::BadRequest(format!(
            "cannot move {} into itself ({})",
            from.path, to.path
        )));
    }
    let limits = Limits::load().await;
    let (kind, version, moved) = caps::guarded(ctx, &limits, async || {
        relocate(ctx, &from, &to, input.overwrite, expected).await
    })
    .await?;
    Ok(item::json(
        200,
        &[("etag", item::etag(version))],
        &json!({
            "from": from.path,
            "to": to.path,
            "kind": kind,
            "version": version,
            "moved": moved,
        }),
    ))
}

/// The move itself, inside the caller's transaction: `(kind, new version, rows moved)`.
async fn relocate(
    ctx: &Ctx,
    from: &WorkspacePath,
    to: &WorkspacePath,
    overwrite: bool,
    expected: Option<i64>,
) -> Result<(String, i64, i64), ApiError> {
    let session = || ParameterValue::Uuid(ctx.session.clone());
    let rows = db::rows(
        &ctx.db,
        SOURCE_SQL,
        vec![session(), ParameterValue::Str(from.path.clone())],
    )
    .await?;
    let source = rows
        .first()
        .ok_or_else(|| ApiError::NotFound(format!("no file or folder {}", from.path)))?;
    let kind: String = db::column(source, "kind")?;
    let version: i64 = db::column(source, "version")?;
    if let Some(want) = expected.filter(|want| *want != version) {
        return Err(ApiError::PreconditionFailed(format!(
            "{} is at version {version}, not {want}",
            from.path
        )));
    }

    let clashes = db::rows(
        &ctx.db,
        CLASH_SQL,
        vec![
            session(),
            ParameterValue::Str(from.path.clone()),
            ParameterValue::Str(to.path.clone()),
        ],
    )
    .await?;
    if let Some(clash) = clashes.first() {
        let path: String = db::column(clash, "path")?;
        let clash_kind: String = db::column(clash, "kind")?;
        let replaceable = overwrite
            && clashes.len() == 1
            && path == to.path
            && clash_kind == "file"
            && kind == "file";
        if !replaceable {
            return Err(ApiError::Conflict(if path == to.path {
                let hint = if kind == "file" && clash_kind == "file" {
                    "; send \"overwrite\": true to replace it"
                } else {
                    ""
                };
                format!("{} already exists ({clash_kind}){hint}", to.path)
            } else {
                format!("{} already exists under {}", path, to.path)
            }));
        }
        db::rows(
            &ctx.db,
            REPLACE_SQL,
            vec![session(), ParameterValue::Str(to.path.clone())],
        )
        .await?;
    }

    if let Some(parent) = &to.parent {
        folder::ensure(ctx, parent).await?;
    }
    let rows = db::rows(
        &ctx.db,
        MOVE_SQL,
        vec![
            session(),
            ParameterValue::Str(from.path.clone()),
            ParameterValue::Str(to.path.clone()),
        ],
    )
    .await?;
    let row = rows
        .first()
        .ok_or_else(|| ApiError::Internal("move: no row".into()))?;
    let moved: i64 = db::column(row, "moved")?;
    let version = db::column::<Option<i64>>(row, "version")?
        .ok_or_else(|| ApiError::NotFound(format!("no file or folder {}", from.path)))?;
    Ok((kind, version, moved))
}
