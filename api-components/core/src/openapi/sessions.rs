//! Operations of the `sessions` component. Every one needs a bearer token and takes the
//! original service's `user_id` cross-check; `{session_id}` must be a UUID (`400
//! invalid_uuid`). A session that does not exist and one the caller may not see both answer
//! `404`.

use super::schemas::{Pagination, UserIdCheck};
use crate::error::ErrorBody;
use crate::models::{
    CreateSessionRequest, CreateSessionResponse, Member, MemberList, PutMemberRequest, Session,
    SessionPage, ShutdownResponse, UpdateSessionRequest,
};

/// List sessions
///
/// The caller's own sessions and those shared with them, newest first, with the caller's role.
#[utoipa::path(
    get,
    path = "/api/sessions/",
    tag = "sessions",
    security(("bearer" = [])),
    params(Pagination, UserIdCheck),
    responses(
        (status = 200, description = "One page", body = SessionPage),
        (status = 400, description = "`bad_request`: `limit`, `offset` or `user_id` out of range", body = ErrorBody),
        (status = 403, description = "`forbidden`: `user_id` is not the token's user", body = ErrorBody),
    )
)]
pub fn list_sessions() {}

/// Create a session
///
/// Its desired state is `running`; the terminal-bridge is notified.
#[utoipa::path(
    post,
    path = "/api/sessions/",
    tag = "sessions",
    security(("bearer" = [])),
    params(UserIdCheck),
    request_body = CreateSessionRequest,
    responses(
        (status = 201, description = "Created", body = CreateSessionResponse),
        (status = 400, description = "`bad_request` (name or language breaks a rule) or `invalid_json`", body = ErrorBody),
        (status = 403, description = "`forbidden`: `user_id` is not the token's user", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
    )
)]
pub fn create_session() {}

/// Get a session
#[utoipa::path(
    get,
    path = "/api/sessions/{session_id}",
    tag = "sessions",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        UserIdCheck,
    ),
    responses(
        (status = 200, description = "The session, with the caller's role", body = Session),
        (status = 400, description = "`invalid_uuid` or `bad_request` (`user_id`)", body = ErrorBody),
        (status = 403, description = "`forbidden`: `user_id` is not the token's user", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub fn get_session() {}

/// Rename a session or change its language
///
/// At least one field; `language: ""` clears it. Owner only.
#[utoipa::path(
    patch,
    path = "/api/sessions/{session_id}",
    tag = "sessions",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        UserIdCheck,
    ),
    request_body = UpdateSessionRequest,
    responses(
        (status = 200, description = "The changed session", body = Session),
        (status = 400, description = "`bad_request` (no field, or a field breaks a rule), `invalid_json` or `invalid_uuid`", body = ErrorBody),
        (status = 403, description = "`forbidden`: not the owner", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
    )
)]
pub fn update_session() {}

/// Delete a session
///
/// With its files and memberships; the terminal-bridge is told to stop the sandbox. Owner only.
#[utoipa::path(
    delete,
    path = "/api/sessions/{session_id}",
    tag = "sessions",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        UserIdCheck,
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`invalid_uuid` or `bad_request` (`user_id`)", body = ErrorBody),
        (status = 403, description = "`forbidden`: not the owner", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub fn delete_session() {}

/// List members
///
/// Who the session is shared with (everyone but the owner).
#[utoipa::path(
    get,
    path = "/api/sessions/{session_id}/members",
    tag = "sessions",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        UserIdCheck,
    ),
    responses(
        (status = 200, description = "The members", body = MemberList),
        (status = 400, description = "`invalid_uuid` or `bad_request` (`user_id`)", body = ErrorBody),
        (status = 403, description = "`forbidden`: `user_id` is not the token's user", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub fn list_members() {}

/// Share a session, or change a member's role
///
/// Owner only; the terminal-bridge is notified.
#[utoipa::path(
    put,
    path = "/api/sessions/{session_id}/members/{username}",
    tag = "sessions",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        ("username" = String, Path, description = "The member's username"),
        UserIdCheck,
    ),
    request_body = PutMemberRequest,
    responses(
        (status = 200, description = "The member, added or changed", body = Member),
        (status = 400, description = "`bad_request` (the owner themself), `invalid_json` or `invalid_uuid`", body = ErrorBody),
        (status = 403, description = "`forbidden`: not the owner", body = ErrorBody),
        (status = 404, description = "`not_found`: no such session or user", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
    )
)]
pub fn put_member() {}

/// Unshare a session, or leave it
///
/// The owner removes anyone; a member may remove themself.
#[utoipa::path(
    delete,
    path = "/api/sessions/{session_id}/members/{username}",
    tag = "sessions",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        ("username" = String, Path, description = "The member's username"),
        UserIdCheck,
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "`invalid_uuid` or `bad_request` (`user_id`)", body = ErrorBody),
        (status = 403, description = "`forbidden`: a member removing someone else", body = ErrorBody),
        (status = 404, description = "`not_found`: no such session, user or membership", body = ErrorBody),
    )
)]
pub fn delete_member() {}

/// Shut the sandbox down
///
/// Sets the desired state to `stopped` and notifies the terminal-bridge, which stops the
/// sandbox after flushing file changes. Owner or editor.
#[utoipa::path(
    post,
    path = "/api/workspace/{session_id}/shutdown",
    tag = "sessions",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        UserIdCheck,
    ),
    responses(
        (status = 202, description = "Accepted; the sandbox stops shortly", body = ShutdownResponse),
        (status = 400, description = "`invalid_uuid` or `bad_request` (`user_id`)", body = ErrorBody),
        (status = 403, description = "`forbidden`: a viewer", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub fn shutdown() {}

/// Shut the sandbox down (original path)
///
/// The same as `POST /api/workspace/{session_id}/shutdown`, at the original service's path.
#[utoipa::path(
    post,
    path = "/workspace/{session_id}/shutdown",
    tag = "sessions",
    security(("bearer" = [])),
    params(
        ("session_id" = String, Path, format = "uuid", description = "The session id"),
        UserIdCheck,
    ),
    responses(
        (status = 202, description = "Accepted; the sandbox stops shortly", body = ShutdownResponse),
        (status = 400, description = "`invalid_uuid` or `bad_request` (`user_id`)", body = ErrorBody),
        (status = 403, description = "`forbidden`: a viewer", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub fn shutdown_original_path() {}
