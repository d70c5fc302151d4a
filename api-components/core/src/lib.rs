//! `platform-core`: what the REST components and the terminal-bridge must agree on. A plain
//! library without spin-sdk, built for `wasm32-wasip2` (the components) and natively (the
//! bridge, the tests), and unit-tested natively.
//!
//! - [`error`]: [`ApiError`], one enum for every error answer: status, stable `code`, headers
//!   (`WWW-Authenticate`, `Allow`, `Retry-After`) and the one body shape
//!   `{"error": {"code": "...", "message": "..."}}`.
//! - [`token`]: bearer tokens (`cep_` + 43 base64url characters), their SHA-256 (the only form
//!   stored), `Authorization` header parsing, and [`token::VERIFY_TOKEN_SQL`].
//! - [`password`]: argon2id hashing and verification (PHC strings), with the chosen parameters
//!   and why.
//! - [`validate`]: usernames, e-mail addresses, passwords and workspace paths.
//! - [`cors`]: which browser origins may call the API (the `cors_origins` variable) and the
//!   CORS headers of preflights and answers.
//! - `component` (feature `component`): database, authentication, body and reply helpers
//!   shared by the Spin components.
//! - [`models`]: request and response bodies, with OpenAPI schemas (`utoipa::ToSchema`).
//! - [`openapi`]: the OpenAPI 3.1 document of the REST API, generated from the models and
//!   one description per operation.
//!
//! # How a token is verified, on either side
//!
//! Login stores `token_sha256(token)` in `auth_tokens` with an expiry; logout sets
//! `revoked_at`. Whoever receives a token (the `Authorization: Bearer` header of a REST call, or
//! whatever the WebSocket handshake of the bridge carries) does exactly this:
//!
//! 1. Refuse it unless [`token::is_well_formed`] (no database round trip for garbage).
//!    For headers, [`token::bearer_token`] does the parsing and this check.
//! 2. Run [`token::VERIFY_TOKEN_SQL`] with one parameter, the 32 bytes of
//!    [`token::token_sha256`] as `bytea`.
//! 3. No row: answer 401 ([`token::invalid_token`]): unknown, expired and revoked look alike.
//!    One row: columns `user_id bigint`, `username text`, `token_id bigint`,
//!    `expires_at timestamptz`; the request acts as that user.
//!
//! In the terminal-bridge (tokio-postgres), that is:
//!
//! ```ignore
//! use platform_core::token::{VERIFY_TOKEN_SQL, is_well_formed, token_sha256};
//!
//! if !is_well_formed(token) { return Err(Unauthorized) }
//! let hash = token_sha256(token);
//! let row = client.query_opt(VERIFY_TOKEN_SQL, &[&hash.as_slice()]).await?;
//! let Some(row) = row else { return Err(Unauthorized) };
//! let (user_id, username): (i64, String) = (row.get(0), row.get(1));
//! let expires_at: chrono::DateTime<chrono::Utc> = row.get(3); // close the socket then
//! ```
//!
//! and in a Spin component, `Connection::query(VERIFY_TOKEN_SQL,
//! [ParameterValue::Binary(hash.to_vec())])`. `api-components/tests/tests/users.rs` checks that
//! both paths name the same user for a token issued by `POST /api/users/login`.
//!
//! A long-lived connection (a WebSocket) is checked when it opens; it should be closed at
//! `expires_at`, and may re-run the statement now and then to notice a revocation.

#[cfg(feature = "component")]
pub mod component;
pub mod cors;
pub mod error;
pub mod models;
pub mod openapi;
pub mod password;
pub mod token;
pub mod validate;

pub use error::ApiError;
