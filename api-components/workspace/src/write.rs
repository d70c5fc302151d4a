//! `PUT` / `POST /api/workspace/{uuid}/file/{path}`: creates or replaces a file. Owner or
//! editor. Without `If-Match` one upsert creates the file (201) or replaces it (200), inserting
//! folder rows for missing ancestors in the same statement. With `If-Match: <version>` one
//! `UPDATE ... where version = <version>` replaces it, so of concurrent writers holding the
//! same version exactly one wins and the others get 412 (no lost update). A file where a
//! folder is, or under a file, is 409. Every row written is announced with `pg_notify`.
//! The write runs in a transaction holding the workspace lock and is refused (413) when it
//! would pass `max_workspace_files` or `max_workspace_bytes` (`caps.rs`). [`put`] is the
//! write itself, shared by `upload.rs` and `defaults.rs`.

use crate::access::Ctx;
use crate::caps::{self, Limits};
use crate::content;
use crate::db;
use crate::item;
use crate::reply::Reply;
use platform_contract::notify_item_changed;
use platform_contract::sql::FILE_UPSERT_SQL as UPSERT_SQL;
use platform_core::ApiError;
use platform_core::validate::WorkspacePath;
use serde::Serialize;
use spin_sdk::pg::ParameterValue;
use spin_sdk::wasip3::http_compat::IncomingRequestBody;

/// Replaces file `$2` of session `$1` with content `$3` (SHA-256 `$4`) if its version is
/// still `$5`; the version check is in this statement's WHERE, so it holds under concurrency.
const UPDATE_SQL: &str = concat!(
    "with f as (update workspace_items set content = $3::bytea, size = octet_length($3::bytea), ",
    "sha256 = $4::bytea where session_id = $1::uuid and path = $2::text and kind = 'file' ",
    "and version = $5::bigint returning session_id, path, version, kind), ",
    "notified as (select ",
    notify_item_changed!("false"),
    " from f) ",
    "select version, (select count(*) from notified) as notified from f"
);

/// Item `$2` of session `$1` and its ancestors, to explain a write that changed nothing.
const DIAGNOSE_SQL: &str = concat!(
    "select path, kind, version from workspace_items where session_id = $1::uuid ",
    "and (path = $2::text or starts_with($2::text, path || '/'))"
);

pub async fn handle(
    ctx: &Ctx,
    path: &WorkspacePath,
    headers: &http::HeaderMap,
    body: IncomingRequestBody,
) -> Result<Reply, ApiError> {
    ctx.require_write()?;
    let expected = item::if_match(headers)?;
    let limits = Limits::load().await;
    let bytes = content::read(headers, body, limits.file_size()).await?;
    let written =
        caps::guarded(ctx, &limits, async || put(ctx, path, bytes, expected).await).await?;
    let status = if written.created { 201 } else { 200 };
    Ok(item::json(
        status,
        &[("etag", item::etag(written.version))],
        &written,
    ))
}

/// A file as written.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    pub path: String,
    pub version: i64,
    /// Lowercase hex.
    pub sha256: String,
    pub size: usize,
    /// Whether the file is new (version 1 of a write without `If-Match`).
    #[serde(skip)]
    pub created: bool,
}

/// Writes file `path` with `bytes` (only over version `expected` when given), creating
/// missing parent folders; notifies. Runs inside the caller's transaction, if any.
///
/// # Errors
/// 409 for a folder at `path` or a file among its parents; 412 when `expected` is stale.
pub async fn put(
    ctx: &Ctx,
    path: &WorkspacePath,
    bytes: Vec<u8>,
    expected: Option<i64>,
) -> Result<Written, ApiError> {
    let sha = item::sha256(&bytes);
    let size = bytes.len();
    let mut params = vec![
        ParameterValue::Uuid(ctx.session.clone()),
        ParameterValue::Str(path.path.clone()),
        ParameterValue::Binary(bytes),
        ParameterValue::Binary(sha.clone()),
    ];
    let sql = match expected {
        Some(v) => {
            params.push(ParameterValue::Int64(v));
            UPDATE_SQL
        }
        None => UPSERT_SQL,
    };
    let rows = db::rows(&ctx.db, sql, params).await?;
    let Some(row) = rows.first() else {
        return Err(diagnose(ctx, path, expected).await);
    };
    let version: i64 = db::column(row, "version")?;
    Ok(Written {
        path: path.path.clone(),
        version,
        sha256: item::hex(&sha),
        size,
        created: expected.is_none() && version == 1,
    })
}

/// Why a write changed nothing.
async fn diagnose(ctx: &Ctx, path: &WorkspacePath, expected: Option<i64>) -> ApiError {
    let rows = match db::rows(
        &ctx.db,
        DIAGNOSE_SQL,
        vec![
            ParameterValue::Uuid(ctx.session.clone()),
            ParameterValue::Str(path.path.clone()),
        ],
    )
    .await
    {
        Ok(rows) => rows,
        Err(e) => return e,
    };
    let mut target = None;
    for row in &rows {
        let (Ok(p), Ok(kind), Ok(version)) = (
            db::column::<String>(row, "path"),
            db::column::<String>(row, "kind"),
            db::column::<i64>(row, "version"),
        ) else {
            return ApiError::Internal("diagnose: unexpected columns".into());
        };
        if p == path.path {
            if kind == "folder" {
                return ApiError::Conflict(format!("{} is a folder", path.path));
            }
            target = Some(version);
        } else if kind == "file" {
            return ApiError::Conflict(format!("{p} is a file, not a folder"));
        }
    }
    match (expected, target) {
        (Some(want), Some(have)) => {
            ApiError::PreconditionFailed(format!("{} is at version {have}, not {want}", path.path))
        }
        (Some(want), None) => {
            ApiError::PreconditionFailed(format!("{} does not exist (If-Match: {want})", path.path))
        }
        (None, _) => ApiError::Conflict(format!("{} changed concurrently; try again", path.path)),
    }
}
