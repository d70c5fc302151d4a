//! Operations of the `workspace` component that shape the tree as a whole: folders, moves,
//! the starter project, and the workspace's status. Same conventions as [`super::workspace`]
//! (bearer token, `user_id` cross-check, `404` for a session the caller may not see). Every
//! writer here runs in one transaction holding the workspace lock and answers `413` when it
//! would pass `max_workspace_files` or `max_workspace_bytes`.

use super::schemas::{
    EnsureDefaultResult, FolderResult, MoveRequest, MoveResult, UserIdCheck, WorkspaceStatus,
};
use crate::error::ErrorBody;

/// Create a folder
///
/// Creates the folder and any missing parents: `201` when it is new, `200` when it already
/// was a folder (nothing changes). Owner or editor; the terminal-bridge is notified.
#[utoipa::path(
    put,
    path = "/api/workspace/{session_id}/folder/{path}",
    tag = "workspace",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        ("path" = String, Path, description = "The folder's path, e.g. `src/lib`"),
        UserIdCheck,
    ),
    responses(
        (status = 200, description = "Already there", body = FolderResult,
            headers(("ETag" = String, description = "`\"<version>\"`"))),
        (status = 201, description = "Created", body = FolderResult,
            headers(("ETag" = String, description = "`\"<version>\"`"))),
        (status = 400, description = "`invalid_uuid`, `invalid_path` or `bad_request` (`user_id`)", body = ErrorBody),
        (status = 403, description = "`forbidden`: a viewer, or `user_id` is not the token's user", body = ErrorBody),
        (status = 404, description = "`not_found`: no such session", body = ErrorBody),
        (status = 409, description = "`conflict`: a file is at the path or among its parents", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over `max_workspace_files`", body = ErrorBody),
    )
)]
pub fn put_folder() {}

/// Create a folder (POST)
///
/// The same as `PUT`.
#[utoipa::path(
    post,
    path = "/api/workspace/{session_id}/folder/{path}",
    tag = "workspace",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        ("path" = String, Path, description = "The folder's path, e.g. `src/lib`"),
        UserIdCheck,
    ),
    responses(
        (status = 200, description = "Already there", body = FolderResult,
            headers(("ETag" = String, description = "`\"<version>\"`"))),
        (status = 201, description = "Created", body = FolderResult,
            headers(("ETag" = String, description = "`\"<version>\"`"))),
        (status = 400, description = "`invalid_uuid`, `invalid_path` or `bad_request` (`user_id`)", body = ErrorBody),
        (status = 403, description = "`forbidden`: a viewer, or `user_id` is not the token's user", body = ErrorBody),
        (status = 404, description = "`not_found`: no such session", body = ErrorBody),
        (status = 409, description = "`conflict`: a file is at the path or among its parents", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over `max_workspace_files`", body = ErrorBody),
    )
)]
pub fn post_folder() {}

/// Move or rename a file or folder
///
/// A folder moves with everything under it, in one transaction; missing parents of `to` are
/// created; every moved item gets a new version. With `If-Match: <version>` the move happens
/// only if `from` is still at that version. Owner or editor; the terminal-bridge is told of
/// the old paths (deleted) and the new ones.
#[utoipa::path(
    post,
    path = "/api/workspace/{session_id}/move",
    tag = "workspace",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        ("If-Match" = Option<String>, Header, description = "The version of `from` the move expects, e.g. `\"3\"`"),
        UserIdCheck,
    ),
    request_body = MoveRequest,
    responses(
        (status = 200, description = "Moved", body = MoveResult,
            headers(("ETag" = String, description = "The moved item's new version"))),
        (status = 400, description = "`invalid_json`, `invalid_path`, `invalid_uuid`, or `bad_request` (`to` is `from` or inside it, a malformed `If-Match`, `user_id`)", body = ErrorBody),
        (status = 403, description = "`forbidden`: a viewer, or `user_id` is not the token's user", body = ErrorBody),
        (status = 404, description = "`not_found`: no such session, or nothing at `from`", body = ErrorBody),
        (status = 409, description = "`conflict`: something is at `to` (a file replaces a file only with `overwrite`), or a file is among `to`'s parents", body = ErrorBody),
        (status = 412, description = "`precondition_failed`: `If-Match` is not `from`'s version", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: a body over 64 KiB, or over `max_workspace_files` (created parents)", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: not JSON", body = ErrorBody),
    )
)]
pub fn move_item() {}

/// Create the starter project of an empty workspace
///
/// Writes `README.md` and `main.py` when the workspace has no item (`201`), else changes
/// nothing (`200`). Of concurrent calls exactly one creates them. Owner or editor.
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
        (status = 200, description = "The workspace already had items", body = EnsureDefaultResult),
        (status = 201, description = "The starter project was written", body = EnsureDefaultResult),
        (status = 400, description = "`invalid_uuid` or `bad_request` (`user_id`)", body = ErrorBody),
        (status = 403, description = "`forbidden`: a viewer, or `user_id` is not the token's user", body = ErrorBody),
        (status = 404, description = "`not_found`: no such session", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the project would pass a workspace cap", body = ErrorBody),
    )
)]
pub fn ensure_default() {}

/// Workspace status
///
/// What the workspace holds (files, folders, bytes), its limits, and the sandbox's desired
/// and observed states. Viewer or better.
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
        (status = 200, description = "Counts, states and limits", body = WorkspaceStatus),
        (status = 400, description = "`invalid_uuid` or `bad_request` (`user_id`)", body = ErrorBody),
        (status = 403, description = "`forbidden`: `user_id` is not the token's user", body = ErrorBody),
        (status = 404, description = "`not_found`: no such session", body = ErrorBody),
    )
)]
pub fn status() {}
