//! Operations of the `workspace` component that move many bytes at once: a multipart upload
//! of several files, a file's download as an attachment, and the whole workspace as a ZIP
//! archive. Same conventions as [`super::workspace`].

use super::schemas::{RawBytes, UploadDir, UploadForm, UploadResult, UserIdCheck, ZipArchive};
use crate::error::ErrorBody;

/// Upload files
///
/// Several files in one `multipart/form-data` body, written all or nothing in one
/// transaction (missing folders are created). `201` when at least one file is new, else
/// `200`. Owner or editor; each write is announced to the terminal-bridge.
#[utoipa::path(
    post,
    path = "/api/workspace/{session_id}/upload",
    tag = "workspace",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        UploadDir,
        UserIdCheck,
    ),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Written; every file already existed", body = UploadResult),
        (status = 201, description = "Written; at least one file is new", body = UploadResult),
        (status = 400, description = "`bad_request` (malformed multipart, no file, a path twice, `dir` twice, `user_id`), `invalid_path` or `invalid_uuid`", body = ErrorBody),
        (status = 403, description = "`forbidden`: a viewer, or `user_id` is not the token's user", body = ErrorBody),
        (status = 404, description = "`not_found`: no such session", body = ErrorBody),
        (status = 409, description = "`conflict`: a folder where a file goes, or a file among a path's parents", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: a file over `max_file_size`, or the upload would pass `max_workspace_files` / `max_workspace_bytes`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: not `multipart/form-data`", body = ErrorBody),
    )
)]
pub fn upload() {}

/// Download a file
///
/// The raw bytes as an attachment. `Content-Type` is guessed from the file's extension
/// (e.g. `text/x-python; charset=utf-8`), else `text/plain; charset=utf-8` for UTF-8 bytes
/// and `application/octet-stream` for the rest. Viewer or better.
#[utoipa::path(
    get,
    path = "/api/workspace/{session_id}/download/{path}",
    tag = "workspace",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        ("path" = String, Path, description = "The file's path"),
        UserIdCheck,
    ),
    responses(
        (status = 200, description = "The file", body = RawBytes, content_type = "application/octet-stream",
            headers(
                ("Content-Disposition" = String, description = "`attachment; filename=\"<base name>\"; filename*=UTF-8''<percent-encoded base name>`"),
                ("ETag" = String, description = "`\"<version>\"`"),
                ("X-Content-Type-Options" = String, description = "`nosniff`"),
            )),
        (status = 400, description = "`invalid_uuid`, `invalid_path` or `bad_request` (`user_id`)", body = ErrorBody),
        (status = 403, description = "`forbidden`: `user_id` is not the token's user", body = ErrorBody),
        (status = 404, description = "`not_found`: no such session or file", body = ErrorBody),
        (status = 409, description = "`conflict`: a folder (download it in the zip)", body = ErrorBody),
    )
)]
pub fn download() {}

/// Download the workspace as a ZIP archive
///
/// Every file (deflated when that makes it smaller) and every folder (empty ones too),
/// dated by their last change. Viewer or better.
#[utoipa::path(
    get,
    path = "/api/workspace/{session_id}/zip",
    tag = "workspace",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        UserIdCheck,
    ),
    responses(
        (status = 200, description = "The archive", body = ZipArchive, content_type = "application/zip",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"workspace-<session_id>.zip\"; filename*=...`"))),
        (status = 400, description = "`invalid_uuid` or `bad_request` (`user_id`)", body = ErrorBody),
        (status = 403, description = "`forbidden`: `user_id` is not the token's user", body = ErrorBody),
        (status = 404, description = "`not_found`: no such session", body = ErrorBody),
    )
)]
pub fn zip() {}
