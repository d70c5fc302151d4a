//! `GET /api/workspace/{uuid}/zip`: the whole workspace as one ZIP archive
//! (`application/zip`, `Content-Disposition: attachment; filename="workspace-<uuid>.zip"`):
//! every file with its bytes (deflated when that makes it smaller) and every folder as an
//! entry of its own (empty ones included), dated by `updated_at` (UTC). Viewer or better.
//!
//! The rows are read as a stream and appended one by one (`zipfile.rs`), so memory holds the
//! archive and one file, not the result set besides. The archive is built before the
//! answer starts, so an error is still a proper JSON error.

use crate::access::Ctx;
use crate::db;
use crate::item;
use crate::mime;
use crate::reply::Reply;
use crate::zipfile::{DosTime, ZipWriter};
use platform_core::ApiError;
use spin_sdk::pg::ParameterValue;

/// Every item of session `$1` with its MS-DOS modification date and time.
const ZIP_SQL: &str = concat!(
    "select path, kind, content, ",
    "((greatest(extract(year from t)::int, 1980) - 1980) * 512 + extract(month from t)::int * 32 ",
    "+ extract(day from t)::int) as dos_date, ",
    "(extract(hour from t)::int * 2048 + extract(minute from t)::int * 32 ",
    "+ floor(extract(second from t))::int / 2) as dos_time ",
    "from (select path, kind, content, updated_at at time zone 'UTC' as t ",
    "from workspace_items where session_id = $1::uuid) i order by path"
);

pub async fn handle(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut result = ctx
        .db
        .query(ZIP_SQL, vec![ParameterValue::Uuid(ctx.session.clone())])
        .await
        .map_err(|e| db::error(e, "zip"))?;
    let mut zip = ZipWriter::new();
    while let Some(row) = result.next().await {
        let path: String = db::column(&row, "path")?;
        let time = DosTime {
            date: dos_field(db::column(&row, "dos_date")?)?,
            time: dos_field(db::column(&row, "dos_time")?)?,
        };
        if db::column::<String>(&row, "kind")? == "folder" {
            zip.add_dir(&path, time)?;
        } else {
            let content: Vec<u8> = db::column(&row, "content")?;
            zip.add_file(&path, &content, time)?;
        }
    }
    result.result().await.map_err(|e| db::error(e, "zip"))?;
    let archive = zip.finish()?;
    let name = format!("workspace-{}.zip", ctx.session);
    Ok(item::raw(
        200,
        "application/zip",
        &[("content-disposition", mime::attachment(&name))],
        archive,
    ))
}

fn dos_field(value: i32) -> Result<u16, ApiError> {
    u16::try_from(value).map_err(|_| ApiError::Internal(format!("DOS time field {value}")))
}
