//! Helpers every Spin component of the API uses (feature `component`, which pulls in
//! spin-sdk; the terminal-bridge and native tests build without it):
//!
//! - [`db`]: opening the `database_url` connection, running statements, mapping errors and
//!   columns to API terms.
//! - [`auth`]: the request's bearer token, checked with [`crate::token::VERIFY_TOKEN_SQL`].
//!   [`auth::caller`] adds the original service's `user_id` cross-check.
//! - [`method`]: the 405 check of a route table.
//! - [`query`]: query-string parameters.
//! - [`body`]: reading a JSON request body (content type, size limit, 400 on bad JSON).
//! - [`reply`]: JSON answers, `204`, and the one place where an [`crate::ApiError`] becomes
//!   a response.
//! - [`serve`]: the entry point of every component: CORS ([`crate::cors`]) around its
//!   dispatch function, errors turned into answers.

pub mod auth;
pub mod body;
pub mod db;
pub mod method;
pub mod query;
pub mod reply;
pub mod serve;

pub use serve::serve;
