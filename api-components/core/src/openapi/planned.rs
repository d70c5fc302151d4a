//! Workspace operations being added by another change (folder, move, upload, download, zip,
//! status, ensure-default), documented with their planned shapes so the document is complete
//! when they land. Reconcile these with the component when it serves them: the API tests keep
//! them in a `PENDING` list and fail once one is served, as a reminder to check its shape here
//! and drop it from the list.

use super::schemas::{RawBytes, UserIdCheck, WorkspaceItem, WriteResult};
use crate::error::ErrorBody;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/workspace/{session_id}/move`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct MoveRequest {
    /// The file or folder to move.
    #[schema(example = "old/name.py")]
    pub from: String,
    /// Its new path.
    #[schema(example = "new/name.py")]
    pub to: String,
    /// Replace whatever is at `to` (default false: `409`).
    #[serde(default)]
    pub overwrite: Option<bool>,
}

/// The answer to a move.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct MoveResult {
    pub from: String,
    pub to: String,
    /// Items moved (a folder moves with everything under it).
    pub moved: i64,
}

/// The multipart form of an upload: one or more `file` parts, whose file names (with `/`)
/// are the paths, under the optional folder `path`.
#[derive(Debug, Clone, ToSchema)]
pub struct UploadForm {
    /// Folder to upload into (default: the workspace root).
    pub path: Option<String>,
    /// The files.
    #[schema(value_type = Vec<String>, format = Binary)]
    pub file: Vec<Vec<u8>>,
}

/// The answer to an upload.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct UploadResult {
    pub files: Vec<WriteResult>,
}

/// `GET /api/workspace/{session_id}/status`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct WorkspaceStatus {
    pub session_id: String,
    /// `running` or `stopped`.
    pub desired_state: String,
    /// What the terminal-bridge last saw.
    pub observed_state: String,
    /// Files in the workspace.
    pub file_count: i64,
    /// Their total size in bytes.
    pub total_size: i64,
}

/// `POST /api/workspace/{session_id}/ensure-default`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct EnsureDefaultResult {
    /// Paths of the default files created; empty when the workspace already had files.
    pub created: Vec<String>,
}

/// Create a folder (planned)
///
/// Missing parents are created too. Owner or editor.
#[utoipa::path(
    post,
    path = "/api/workspace/{session_id}/folder/{path}",
    tag = "workspace",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        ("path" = String, Path, description = "The folder's path"),
        UserIdCheck,
    ),
    responses(
        (status = 201, description = "Created", body = WorkspaceItem),
        (status = 400, description = "`invalid_uuid` or `invalid_path`", body = ErrorBody),
        (status = 403, description = "`forbidden`: a viewer", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: something is there, or a parent is a file", body = ErrorBody),
    )
)]
pub fn create_folder() {}

/// Move or rename a file or folder (planned)
#[utoipa::path(
    post,
    path = "/api/workspace/{session_id}/move",
    tag = "workspace",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        UserIdCheck,
    ),
    request_body = MoveRequest,
    responses(
        (status = 200, description = "Moved", body = MoveResult),
        (status = 400, description = "`invalid_json`, `invalid_uuid` or `invalid_path`", body = ErrorBody),
        (status = 403, description = "`forbidden`: a viewer", body = ErrorBody),
        (status = 404, description = "`not_found`: no such session or `from`", body = ErrorBody),
        (status = 409, description = "`conflict`: `to` exists (without `overwrite`) or is inside `from`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
    )
)]
pub fn move_item() {}

/// Upload files (planned)
#[utoipa::path(
    post,
    path = "/api/workspace/{session_id}/upload",
    tag = "workspace",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        UserIdCheck,
    ),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Written", body = UploadResult),
        (status = 400, description = "`bad_request` (malformed multipart), `invalid_uuid` or `invalid_path`", body = ErrorBody),
        (status = 403, description = "`forbidden`: a viewer", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: a folder where a file goes", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: a file over `max_file_size`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: not multipart/form-data", body = ErrorBody),
    )
)]
pub fn upload() {}

/// Download a file (planned)
///
/// The raw bytes as an attachment.
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
                ("Content-Disposition" = String, description = "`attachment; filename=\"...\"`"),
                ("ETag" = String, description = "`\"<version>\"`"),
            )),
        (status = 400, description = "`invalid_uuid` or `invalid_path`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: a folder", body = ErrorBody),
    )
)]
pub fn download() {}

/// Download the workspace as a zip archive (planned)
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
        (status = 200, description = "Every file, in a zip archive", body = RawBytes, content_type = "application/zip",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"<session>.zip\"`"))),
        (status = 400, description = "`invalid_uuid`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the workspace is too large to archive", body = ErrorBody),
    )
)]
pub fn zip() {}

/// Workspace status (planned)
#[utoipa::path(
    get,
    path = "/api/workspace/{session_id}/status",
    tag = "workspace",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        UserIdCheck,
    ),
    responses(
        (status = 200, description = "States and size", body = WorkspaceStatus),
        (status = 400, description = "`invalid_uuid`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub fn status() {}

/// Create the default files of an empty workspace (planned)
#[utoipa::path(
    post,
    path = "/api/workspace/{session_id}/ensure-default",
    tag = "workspace",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        UserIdCheck,
    ),
    responses(
        (status = 200, description = "Done (idempotent)", body = EnsureDefaultResult),
        (status = 400, description = "`invalid_uuid`", body = ErrorBody),
        (status = 403, description = "`forbidden`: a viewer", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub fn ensure_default() {}
