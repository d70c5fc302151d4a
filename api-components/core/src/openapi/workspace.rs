//! Operations of the `workspace` component (files of a session). Every one needs a bearer
//! token, takes the `user_id` cross-check, and answers `404` for a session that does not exist
//! or that the caller may not see. `{path}` is relative and `/`-separated (slashes may be sent
//! as they are or as `%2F`); it is percent-decoded, then refused with `400 invalid_path` when
//! it has empty, `.` or `..` segments, NUL or control characters.

use super::schemas::{
    FileContent, RawBytes, Recursive, UserIdCheck, WorkspaceItem, WriteFileRequest, WriteResult,
};
use crate::error::ErrorBody;

/// List files
///
/// The whole tree without contents, sorted by path.
#[utoipa::path(
    get,
    path = "/api/workspace/{session_id}/files",
    tag = "workspace",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        UserIdCheck,
    ),
    responses(
        (status = 200, description = "Every file and folder", body = Vec<WorkspaceItem>),
        (status = 400, description = "`invalid_uuid` or `bad_request` (`user_id`)", body = ErrorBody),
        (status = 403, description = "`forbidden`: `user_id` is not the token's user", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub fn list_files() {}

/// Read a file
///
/// As JSON (`utf-8` when the bytes are valid UTF-8, else `base64`), or the raw bytes with
/// `Accept: application/octet-stream`.
#[utoipa::path(
    get,
    path = "/api/workspace/{session_id}/file/{path}",
    tag = "workspace",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        ("path" = String, Path, description = "The file's path, e.g. `src/main.py`"),
        UserIdCheck,
    ),
    responses(
        (status = 200, description = "The file",
            content((FileContent = "application/json"), (RawBytes = "application/octet-stream")),
            headers(("ETag" = String, description = "`\"<version>\"`, for `If-Match`"))),
        (status = 400, description = "`invalid_uuid`, `invalid_path` or `bad_request` (`user_id`)", body = ErrorBody),
        (status = 403, description = "`forbidden`: `user_id` is not the token's user", body = ErrorBody),
        (status = 404, description = "`not_found`: no such session or file", body = ErrorBody),
        (status = 409, description = "`conflict`: the path is a folder", body = ErrorBody),
    )
)]
pub fn read_file() {}

/// Create or replace a file
///
/// Missing parent folders are created. With `If-Match: <version>` the write happens only if
/// the file is still at that version. Owner or editor; the terminal-bridge is notified.
#[utoipa::path(
    put,
    path = "/api/workspace/{session_id}/file/{path}",
    tag = "workspace",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        ("path" = String, Path, description = "The file's path, e.g. `src/main.py`"),
        ("If-Match" = Option<String>, Header, description = "The version the write expects, e.g. `\"3\"`"),
        UserIdCheck,
    ),
    request_body(description = "JSON, or the raw bytes as `application/octet-stream`",
        content((WriteFileRequest = "application/json"), (RawBytes = "application/octet-stream"))),
    responses(
        (status = 200, description = "Replaced", body = WriteResult,
            headers(("ETag" = String, description = "The new version"))),
        (status = 201, description = "Created", body = WriteResult,
            headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "`invalid_json`, `bad_request` (bad base64 or `If-Match`), `invalid_uuid` or `invalid_path`", body = ErrorBody),
        (status = 403, description = "`forbidden`: a viewer", body = ErrorBody),
        (status = 404, description = "`not_found`: no such session", body = ErrorBody),
        (status = 409, description = "`conflict`: a folder is there, or a parent is a file", body = ErrorBody),
        (status = 412, description = "`precondition_failed`: `If-Match` is stale or the file is absent", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over `max_file_size` (default 1 MiB)", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: neither JSON nor octet-stream", body = ErrorBody),
    )
)]
pub fn put_file() {}

/// Create or replace a file (POST)
///
/// The same as `PUT`.
#[utoipa::path(
    post,
    path = "/api/workspace/{session_id}/file/{path}",
    tag = "workspace",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        ("path" = String, Path, description = "The file's path, e.g. `src/main.py`"),
        ("If-Match" = Option<String>, Header, description = "The version the write expects, e.g. `\"3\"`"),
        UserIdCheck,
    ),
    request_body(description = "JSON, or the raw bytes as `application/octet-stream`",
        content((WriteFileRequest = "application/json"), (RawBytes = "application/octet-stream"))),
    responses(
        (status = 200, description = "Replaced", body = WriteResult,
            headers(("ETag" = String, description = "The new version"))),
        (status = 201, description = "Created", body = WriteResult,
            headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "`invalid_json`, `bad_request` (bad base64 or `If-Match`), `invalid_uuid` or `invalid_path`", body = ErrorBody),
        (status = 403, description = "`forbidden`: a viewer", body = ErrorBody),
        (status = 404, description = "`not_found`: no such session", body = ErrorBody),
        (status = 409, description = "`conflict`: a folder is there, or a parent is a file", body = ErrorBody),
        (status = 412, description = "`precondition_failed`: `If-Match` is stale or the file is absent", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over `max_file_size` (default 1 MiB)", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: neither JSON nor octet-stream", body = ErrorBody),
    )
)]
pub fn post_file() {}

/// Delete a file or folder
///
/// A folder only with `?recursive=true`, then with everything under it. Owner or editor; the
/// terminal-bridge is notified.
#[utoipa::path(
    delete,
    path = "/api/workspace/{session_id}/file/{path}",
    tag = "workspace",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        ("path" = String, Path, description = "The file's or folder's path"),
        ("If-Match" = Option<String>, Header, description = "The version the delete expects"),
        Recursive,
        UserIdCheck,
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`invalid_uuid`, `invalid_path` or `bad_request` (`If-Match`, `user_id`)", body = ErrorBody),
        (status = 403, description = "`forbidden`: a viewer", body = ErrorBody),
        (status = 404, description = "`not_found`: no such session, file or folder", body = ErrorBody),
        (status = 409, description = "`conflict`: a folder without `?recursive=true`", body = ErrorBody),
        (status = 412, description = "`precondition_failed`: `If-Match` is stale", body = ErrorBody),
    )
)]
pub fn delete_file() {}
