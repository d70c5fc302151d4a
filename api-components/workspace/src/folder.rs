//! `PUT` / `POST /api/workspace/{uuid}/folder/{path}`: creates a folder and any missing
//! parents: `201` when it is new, `200` when it already was a folder (nothing changes),
//! `409` when a file is at the path or among its parents. Owner or editor; within the
//! workspace caps (`caps.rs`); every folder created is announced.
//!
//! [`ensure`] is also how `relocate.rs` creates a destination's missing parents.

use crate::access::Ctx;
use crate::caps::{self, Limits};
use crate::db;
use crate::item;
use crate::reply::Reply;
use platform_contract::sql::FOLDER_ENSURE_SQL as ENSURE_SQL;
use platform_core::ApiError;
use platform_core::validate::WorkspacePath;
use serde_json::json;
use spin_sdk::pg::ParameterValue;

/// What [`ensure`] did.
#[derive(Debug, Clone, Copy)]
pub struct Ensured {
    /// Whether the folder itself is new.
    pub created: bool,
    /// Its version.
    pub version: i64,
}

pub async fn handle(ctx: &Ctx, path: &WorkspacePath) -> Result<Reply, ApiError> {
    ctx.require_write()?;
    let limits = Limits::load().await;
    let done = caps::guarded(ctx, &limits, async || ensure(ctx, &path.path).await).await?;
    Ok(item::json(
        if done.created { 201 } else { 200 },
        &[("etag", item::etag(done.version))],
        &json!({
            "path": path.path,
            "kind": "folder",
            "version": done.version,
            "created": done.created,
        }),
    ))
}

/// Makes sure folder `path` (already validated) and its parents exist; notifies what it
/// creates. Runs inside the caller's transaction.
///
/// # Errors
/// 409 when a file is at `path` or among its parents.
pub async fn ensure(ctx: &Ctx, path: &str) -> Result<Ensured, ApiError> {
    let rows = db::rows(
        &ctx.db,
        ENSURE_SQL,
        vec![
            ParameterValue::Uuid(ctx.session.clone()),
            ParameterValue::Str(path.to_owned()),
        ],
    )
    .await?;
    let row = rows
        .first()
        .ok_or_else(|| ApiError::Internal("ensure folder: no row".into()))?;
    if let Some(file) = db::column::<Option<String>>(row, "blocked")? {
        return Err(ApiError::Conflict(if file == path {
            format!("{file} is a file")
        } else {
            format!("{file} is a file, not a folder")
        }));
    }
    let version = db::column::<Option<i64>>(row, "version")?
        .ok_or_else(|| ApiError::Conflict(format!("{path} changed concurrently; try again")))?;
    Ok(Ensured {
        created: db::column(row, "created")?,
        version,
    })
}
