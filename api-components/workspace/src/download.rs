//! `GET /api/workspace/{uuid}/download/{path}`: one file as an attachment: its raw bytes,
//! a `Content-Type` guessed from its name (`mime.rs`), `Content-Disposition: attachment`
//! with its base name (RFC 6266, UTF-8 through `filename*`), `ETag: "<version>"` and
//! `X-Content-Type-Options: nosniff`. `404` when absent, `409` for a folder (download a
//! folder as part of `GET .../zip`). Viewer or better.

use crate::access::Ctx;
use crate::db;
use crate::item;
use crate::mime;
use crate::reply::Reply;
use platform_core::ApiError;
use platform_core::validate::WorkspacePath;
use spin_sdk::pg::ParameterValue;

/// Kind, content and version of item `$2` of session `$1`.
const DOWNLOAD_SQL: &str = concat!(
    "select kind, content, version from workspace_items ",
    "where session_id = $1::uuid and path = $2::text"
);

pub async fn handle(ctx: &Ctx, path: &WorkspacePath) -> Result<Reply, ApiError> {
    let rows = db::rows(
        &ctx.db,
        DOWNLOAD_SQL,
        vec![
            ParameterValue::Uuid(ctx.session.clone()),
            ParameterValue::Str(path.path.clone()),
        ],
    )
    .await?;
    let row = rows
        .first()
        .ok_or_else(|| ApiError::NotFound(format!("no file {}", path.path)))?;
    if db::column::<String>(row, "kind")? != "file" {
        return Err(ApiError::Conflict(format!(
            "{} is a folder; download the workspace as a zip instead",
            path.path
        )));
    }
    let version: i64 = db::column(row, "version")?;
    let bytes: Vec<u8> = db::column(row, "content")?;
    let name = path.path.rsplit('/').next().unwrap_or(&path.path);
    Ok(item::raw(
        200,
        mime::guess(name, &bytes),
        &[
            ("content-disposition", mime::attachment(name)),
            ("etag", item::etag(version)),
            ("x-content-type-options", "nosniff".to_owned()),
        ],
        bytes,
    ))
}
