//! `POST /api/workspace/{uuid}/upload`: several files in one `multipart/form-data` body,
//! all or nothing. Owner or editor.
//!
//! - Each part is a file; its path is the part's `filename` (or `filename*`), else its field
//!   name. A part named `dir` without a filename is not a file but a folder prefix for all
//!   the others, as is the query parameter `?dir=<percent-encoded path>` (give one of them).
//! - Every path must follow the path rules (`400 invalid_path`) and appear once (`400`);
//!   every file must be at most `max_file_size` (`413` naming it); a body that is not
//!   well-formed multipart is `400`, another content type `415`.
//! - The files are written in one transaction holding the workspace lock (`caps.rs`): a
//!   conflict (`409`, e.g. a file where a folder is) or passing `max_workspace_files` /
//!   `max_workspace_bytes` (`413`) writes none of them. Each write is announced as a single
//!   file write is.
//! - `201` when at least one file is new, else `200`: `{"items": [{path, version, sha256,
//!   size, created}]}` in the order of the parts.

use crate::access::Ctx;
use crate::caps::{self, Limits};
use crate::content;
use crate::item;
use crate::multipart;
use crate::query;
use crate::reply::{self, Reply};
use crate::write;
use platform_core::ApiError;
use platform_core::validate::{self, WorkspacePath};
use serde_json::json;
use spin_sdk::wasip3::http_compat::IncomingRequestBody;
use std::collections::HashSet;

/// Room for part headers and delimiters beyond the file bytes themselves.
const OVERHEAD_BYTES: u64 = 1024 * 1024;

pub async fn handle(
    ctx: &Ctx,
    headers: &http::HeaderMap,
    query_string: Option<&str>,
    body: IncomingRequestBody,
) -> Result<Reply, ApiError> {
    ctx.require_write()?;
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or(""))
        .unwrap_or("");
    let boundary = multipart::boundary(content_type)?;
    let limits = Limits::load().await;
    let max_body = limits
        .max_workspace_bytes
        .saturating_add(OVERHEAD_BYTES)
        .min(usize::MAX as u64) as usize;
    let bytes = content::collect(headers, body, max_body)
        .await
        .map_err(|e| {
            e.unwrap_or_else(|| {
                ApiError::PayloadTooLarge(format!(
                    "an upload may be at most {max_body} bytes (max_workspace_bytes)"
                ))
            })
        })?;
    let parts = multipart::parse(&bytes, &boundary)?;
    let files = plan(&bytes, &parts, query_string, &limits)?;

    let written = caps::guarded(ctx, &limits, async || {
        let mut written = Vec::with_capacity(files.len());
        for (path, range) in &files {
            written.push(write::put(ctx, path, bytes[range.clone()].to_vec(), None).await?);
        }
        Ok(written)
    })
    .await?;
    let status = if written.iter().any(|w| w.created) {
        201
    } else {
        200
    };
    let items: Vec<_> = written
        .iter()
        .map(|w| {
            json!({
                "path": w.path,
                "version": w.version,
                "sha256": w.sha256,
                "size": w.size,
                "created": w.created,
            })
        })
        .collect();
    Ok(reply::json(status, &json!({ "items": items })))
}

/// The files to write: each part's path (under the `dir` prefix), checked, with its data.
fn plan(
    body: &[u8],
    parts: &[multipart::Part],
    query_string: Option<&str>,
    limits: &Limits,
) -> Result<Vec<(WorkspacePath, std::ops::Range<usize>)>, ApiError> {
    let field_dir = parts
        .iter()
        .filter(|p| p.name == "dir" && p.filename.is_none())
        .map(|p| {
            std::str::from_utf8(&body[p.data.clone()])
                .map_err(|_| ApiError::InvalidPath("invalid path: dir is not UTF-8".into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let query_dir = query::param(query_string, "dir");
    let dir = match (query_dir, field_dir.as_slice()) {
        (None, []) => None,
        (Some(raw), []) => Some(item::path(raw)?.path),
        (None, [one]) => Some(validate::workspace_path(one)?.path),
        _ => {
            return Err(ApiError::BadRequest(
                "give the dir prefix once, as ?dir= or as one dir field".into(),
            ));
        }
    };
    let mut seen = HashSet::new();
    let mut files = Vec::new();
    for part in parts {
        if part.name == "dir" && part.filename.is_none() {
            continue;
        }
        let name = part
            .filename
            .as_deref()
            .filter(|f| !f.is_empty())
            .unwrap_or(&part.name);
        let joined = match &dir {
            Some(dir) => format!("{dir}/{name}"),
            None => name.to_owned(),
        };
        let path = validate::workspace_path(&joined)?;
        limits.check_file(&path.path, part.data.len())?;
        if !seen.insert(path.path.clone()) {
            return Err(ApiError::BadRequest(format!(
                "{} appears more than once in the upload",
                path.path
            )));
        }
        files.push((path, part.data.clone()));
    }
    if files.is_empty() {
        return Err(ApiError::BadRequest("the upload holds no files".into()));
    }
    Ok(files)
}
