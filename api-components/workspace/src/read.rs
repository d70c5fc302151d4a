//! `GET /api/workspace/{uuid}/file/{path}`: one file, as JSON (`utf-8` when the bytes are
//! UTF-8, else `base64`) or, with `Accept: application/octet-stream`, as raw bytes. Both carry
//! `ETag: "<version>"`. Viewer or better.

use crate::access::Ctx;
use crate::content;
use crate::db;
use crate::item;
use crate::reply::Reply;
use platform_contract::sql::ITEM_READ_SQL as READ_SQL;
use platform_core::ApiError;
use platform_core::validate::WorkspacePath;
use serde_json::json;
use spin_sdk::pg::ParameterValue;

pub async fn handle(
    ctx: &Ctx,
    path: &WorkspacePath,
    headers: &http::HeaderMap,
) -> Result<Reply, ApiError> {
    let rows = db::rows(
        &ctx.db,
        READ_SQL,
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
        return Err(ApiError::Conflict(format!("{} is a folder", path.path)));
    }
    let version: i64 = db::column(row, "version")?;
    let bytes: Vec<u8> = db::column(row, "content")?;
    let etag = [("etag", item::etag(version))];
    if item::wants_octets(headers) {
        return Ok(item::raw(200, "application/octet-stream", &etag, bytes));
    }
    let size: i64 = db::column(row, "size")?;
    let (encoding, text) = content::encode(bytes);
    Ok(item::json(
        200,
        &etag,
        &json!({
            "path": path.path,
            "version": version,
            "sha256": db::column::<String>(row, "sha256")?,
            "size": size,
            "encoding": encoding,
            "content": text,
        }),
    ))
}
