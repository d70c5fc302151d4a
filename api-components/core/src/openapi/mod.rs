//! The OpenAPI 3.1 description of the REST API, generated from code with utoipa: the models
//! ([`crate::models`], [`crate::error::ErrorBody`], [`schemas`]) and one `#[utoipa::path]`
//! per operation. The handlers live in separate wasm crates, so the operations are described
//! here, beside the models, by empty functions named after them; the API tests keep the two
//! honest (every route and method served is documented, every documented operation is served,
//! every status seen is documented).
//!
//! - [`health`], [`users`], [`sessions`]: the operations of each component.
//! - [`workspace`] (files), [`tree`] (folders, move, starter project, status) and
//!   [`transfer`] (upload, download, zip): the operations of the `workspace` component.
//! - [`lint`]: structural checks of a document (3.1, `$ref`s, parameters, error shapes).
//! - [`schemas`]: answers the components build without a shared type, and query parameters.
//!
//! [`document`] applies the conventions every operation shares (the bearer scheme, `401` with
//! `WWW-Authenticate` where a token is needed, `500` and `503` everywhere) so the operations
//! list only their own answers. The `docs` component serves [`json`] at `/api/openapi.json`.

pub mod health;
pub mod lint;
pub mod schemas;
pub mod sessions;
pub mod transfer;
pub mod tree;
pub mod users;
pub mod workspace;

use crate::error::{ErrorBody, ErrorDetail};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr};
use utoipa::{Modify, OpenApi};

/// The name of the bearer security scheme the operations refer to.
pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "code-exec-platform REST API",
        description = "Accounts, sessions (workspaces), sharing and workspace files of the \
            code-execution platform. Terminals are on the terminal-bridge's WebSocket `/ws`, \
            not described here.\n\nEvery error answers `{\"error\": {\"code\", \"message\"}}` \
            (`ErrorBody`); `code` is the contract, `message` is for people. A method a path \
            does not take answers `405 method_not_allowed` with `Allow`."
    ),
    paths(
        health::liveness,
        health::detailed,
        users::register,
        users::login,
        users::logout,
        users::me,
        sessions::list_sessions,
        sessions::create_session,
        sessions::get_session,
        sessions::update_session,
        sessions::delete_session,
        sessions::list_members,
        sessions::put_member,
        sessions::delete_member,
        sessions::shutdown,
        sessions::shutdown_original_path,
        workspace::list_files,
        workspace::read_file,
        workspace::put_file,
        workspace::post_file,
        workspace::delete_file,
        tree::put_folder,
        tree::post_folder,
        tree::move_item,
        transfer::upload,
        transfer::download,
        transfer::zip,
        tree::status,
        tree::ensure_default,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&Conventions),
    tags(
        (name = "health", description = "Liveness and dependency health"),
        (name = "users", description = "Accounts and bearer tokens"),
        (name = "sessions", description = "Sessions (workspaces), sharing and shutdown"),
        (name = "workspace", description = "Files of a session's workspace"),
    )
)]
struct ApiDoc;

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as JSON, as served at `/api/openapi.json`.
pub fn json() -> String {
    // Serializing these types cannot fail (string keys, no non-finite floats).
    serde_json::to_string(&document()).unwrap_or_else(|e| {
        format!(r#"{{"error":{{"code":"internal","message":"openapi: {e}"}}}}"#)
    })
}

/// What every operation has in common.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("cep_ followed by 43 base64url characters")
                    .description(Some("From `POST /api/users/login`"))
                    .build(),
            ),
        );
        for item in openapi.paths.paths.values_mut() {
            // `method(get, head)` gives both the same id; operation ids must be unique.
            if let Some(id) = item.head.as_mut().and_then(|h| h.operation_id.as_mut()) {
                id.push_str("_head");
            }
            for op in operations(item) {
                let needs_token = op.security.as_ref().is_some_and(|s| !s.is_empty());
                if needs_token {
                    add_error(
                        op,
                        401,
                        "`unauthorized`: the bearer token is missing, malformed, unknown, \
                         expired or revoked",
                        Some(("WWW-Authenticate", "`Bearer`")),
                    );
                }
                add_error(
                    op,
                    500,
                    "`internal`: an unexpected failure (details only in the log)",
                    None,
                );
                add_error(
                    op,
                    503,
                    "`service_unavailable`: the database cannot be reached; try again",
                    None,
                );
            }
        }
    }
}

/// Every operation of `item`.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.head,
        &mut item.post,
        &mut item.put,
        &mut item.patch,
        &mut item.delete,
        &mut item.options,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// Adds an error answer with the [`ErrorBody`] shape unless the operation already describes
/// `status`.
fn add_error(op: &mut Operation, status: u16, description: &str, header: Option<(&str, &str)>) {
    let key = status.to_string();
    if op.responses.responses.contains_key(&key) {
        return;
    }
    let body = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build();
    let mut response = ResponseBuilder::new()
        .description(description)
        .content("application/json", body);
    if let Some((name, text)) = header {
        response = response.header(
            name,
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .description(Some(text))
                .build(),
        );
    }
    let response: Response = response.build();
    op.responses.responses.insert(key, RefOr::T(response));
}

#[cfg(test)]
mod tests;
