//! Operations of the `users` component.

use crate::error::ErrorBody;
use crate::models::{LoginRequest, LoginResponse, RegisterRequest, User};

/// Register
///
/// Creates an account. The password is stored as an argon2id hash and never returned.
#[utoipa::path(
    post,
    path = "/api/users/register",
    tag = "users",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 400, description = "`bad_request`: username not 3-64 characters of `[A-Za-z0-9_.-]`, \
            e-mail not `name@domain`, or password not 8-1024 bytes; `invalid_json`", body = ErrorBody),
        (status = 409, description = "`conflict`: the username is taken (in any letter case)", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: body over 64 KiB", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: not JSON", body = ErrorBody),
    )
)]
pub fn register() {}

/// Log in
///
/// Checks the password and issues a bearer token (`session_timeout` seconds).
#[utoipa::path(
    post,
    path = "/api/users/login",
    tag = "users",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 400, description = "`bad_request` or `invalid_json`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: unknown user or wrong password (same answer)", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 429, description = "`too_many_requests`: too many failures for this username or \
            client address; even the right password is refused until `Retry-After`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub fn login() {}

/// Log out
///
/// Revokes the presented token.
#[utoipa::path(
    post,
    path = "/api/users/logout",
    tag = "users",
    security(("bearer" = [])),
    responses((status = 204, description = "Revoked"))
)]
pub fn logout() {}

/// Current user
#[utoipa::path(
    get,
    path = "/api/users/me",
    tag = "users",
    security(("bearer" = [])),
    responses((status = 200, description = "The token's user", body = User))
)]
pub fn me() {}
