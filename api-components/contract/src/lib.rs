//! `platform-contract`: what the REST components and the terminal-bridge must agree on, in one
//! place, typed. Both sides (and the tests and benchmarks) use these items; nothing here is
//! written twice anywhere else. A plain library, built for `wasm32-wasip2` (the components)
//! and natively (the bridge), with no REST or Spin machinery (that is `platform-core`).
//!
//! - [`token`]: bearer tokens (`cep_` + 43 base64url characters), their SHA-256 (the only
//!   form stored), `Authorization` header parsing, and [`token::VERIFY_TOKEN_SQL`].
//! - [`path`]: the rules of a path inside a session's workspace.
//! - [`state`]: [`state::DesiredState`] and [`state::ObservedState`], the two state columns of
//!   `code_sessions` (their check constraints are tested against these enums).
//! - [`notify`]: the notification channels, their typed payloads (one decoder each) and the
//!   SQL that sends them (one encoder each).
//! - [`sql`]: the statements more than one side runs (the workspace file upsert).
//!
//! Statements are `const` strings built with `concat!` from exported fragment macros (e.g.
//! [`notify_item_changed!`]), so a component can splice a fragment into its own `const`
//! statement and the fragment still has one home.
//!
//! # How a token is verified, on either side
//!
//! Login stores `token_sha256(token)` in `auth_tokens` with an expiry; logout sets
//! `revoked_at`. Whoever receives a token (the `Authorization: Bearer` header of a REST call,
//! or the WebSocket handshake of the bridge) does exactly this:
//!
//! 1. Refuse it unless [`token::is_well_formed`] (no database round trip for garbage).
//! 2. Run [`token::VERIFY_TOKEN_SQL`] with one parameter, the 32 bytes of
//!    [`token::token_sha256`] as `bytea`.
//! 3. No row: 401 (unknown, expired and revoked look alike). One row: columns
//!    `user_id bigint`, `username text`, `token_id bigint`, `expires_at timestamp` (UTC); the
//!    request acts as that user.
//!
//! In the terminal-bridge (tokio-postgres):
//!
//! ```ignore
//! use platform_contract::token::{VERIFY_TOKEN_SQL, is_well_formed, token_sha256};
//!
//! if !is_well_formed(token) { return Err(Unauthorized) }
//! let hash = token_sha256(token);
//! let row = client.query_opt(VERIFY_TOKEN_SQL, &[&hash.as_slice()]).await?;
//! let Some(row) = row else { return Err(Unauthorized) };
//! let (user_id, username): (i64, String) = (row.get(0), row.get(1));
//! let expires_at: chrono::NaiveDateTime = row.get(3); // UTC; close the socket then
//! ```
//!
//! and in a Spin component, `Connection::query(VERIFY_TOKEN_SQL,
//! [ParameterValue::Binary(hash.to_vec())])`. `api-components/tests/tests/users.rs` checks
//! that both paths name the same user for a token issued by `POST /api/users/login`.

pub mod notify;
pub mod path;
pub mod sql;
pub mod state;
pub mod token;
