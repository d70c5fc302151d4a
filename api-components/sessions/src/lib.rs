//! Spin component `sessions`: workspaces, their members and their shutdown.
//!
//! | route | handler | who may |
//! | --- | --- | --- |
//! | `GET /api/sessions/` | `list.rs`: own and shared sessions, newest first, paginated | anyone signed in |
//! | `POST /api/sessions/` | `create.rs`: a new session (201) | anyone signed in |
//! | `GET /api/sessions/{uuid}` | `show.rs`: one session with the caller's role | owner, editor, viewer |
//! | `PATCH /api/sessions/{uuid}` | `update.rs`: rename / change the language | owner |
//! | `DELETE /api/sessions/{uuid}` | `delete.rs`: the session and its files (204) | owner |
//! | `GET /api/sessions/{uuid}/members` | `members.rs`: who it is shared with | owner, editor, viewer |
//! | `PUT /api/sessions/{uuid}/members/{username}` | `member_put.rs`: share, or change a role | owner |
//! | `DELETE /api/sessions/{uuid}/members/{username}` | `member_delete.rs`: unshare (204) | owner, or the member leaving |
//! | `POST /api/workspace/{uuid}/shutdown`, `POST /workspace/{uuid}/shutdown` | `shutdown.rs`: desired state `stopped` (202) | owner, editor |
//!
//! Every route needs `Authorization: Bearer` (401). A `user_id` query parameter (of the
//! original service) is only a cross-check: it must be the token's user (else 403). A session
//! that does not exist and one the caller may not see both answer 404; a role too weak for a
//! change answers 403. Order of checks: route (404), method (405 with `Allow`), token (401),
//! `user_id` (403), session id (400 `invalid_uuid`), then the handler.
//!
//! Writes that the terminal-bridge must hear about (desired state, membership, deletion) are
//! single statements whose data-modifying CTEs also call `pg_notify`, so the notification is
//! sent if and only if the change commits (`spin:postgres` has no transactions across calls).
//! Channels and payloads: `platform_contract::notify` and `migrations/README.md`.
//!
//! Beside the handlers: `access.rs` (who is calling, what they may do), `session.rs` (rows of
//! `code_sessions` as [`platform_core::models::Session`]), `query.rs` (query parameters).
//! Database, authentication, bodies and replies come from `platform_core::component`.

mod access;
mod create;
mod delete;
mod list;
mod member_delete;
mod member_put;
mod members;
mod query;
mod session;
mod show;
mod shutdown;
mod update;

pub(crate) use platform_core::component::{auth, body, db, reply};

use platform_core::{ApiError, validate};
use reply::Reply;
use spin_sdk::http::{Method, Request};
use spin_sdk::http_service;

/// The endpoints of this component; ids and usernames are still raw path segments.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    /// `/api/sessions/`
    Sessions,
    /// `/api/sessions/{id}`
    Session(String),
    /// `/api/sessions/{id}/members`
    Members(String),
    /// `/api/sessions/{id}/members/{username}`
    Member(String, String),
    /// `/api/workspace/{id}/shutdown` and the original `/workspace/{id}/shutdown`
    Shutdown(String),
}

impl Route {
    fn of(path: &str) -> Option<Route> {
        let path = path.strip_suffix('/').unwrap_or(path);
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        let owned = |s: &str| s.to_owned();
        match segments.as_slice() {
            ["api", "sessions"] => Some(Route::Sessions),
            ["api", "sessions", id] => Some(Route::Session(owned(id))),
            ["api", "sessions", id, "members"] => Some(Route::Members(owned(id))),
            ["api", "sessions", id, "members", name] => Some(Route::Member(owned(id), owned(name))),
            ["api", "workspace", id, "shutdown"] | ["workspace", id, "shutdown"] => {
                Some(Route::Shutdown(owned(id)))
            }
            _ => None,
        }
    }

    /// The methods each route takes.
    fn methods(&self) -> &'static [Method] {
        match self {
            Route::Sessions => &[Method::GET, Method::POST],
            Route::Session(_) => &[Method::GET, Method::PATCH, Method::DELETE],
            Route::Members(_) => &[Method::GET],
            Route::Member(..) => &[Method::PUT, Method::DELETE],
            Route::Shutdown(_) => &[Method::POST],
        }
    }

    /// The raw session id segment, if the route has one.
    fn raw_id(&self) -> Option<&str> {
        match self {
            Route::Sessions => None,
            Route::Session(id)
            | Route::Members(id)
            | Route::Member(id, _)
            | Route::Shutdown(id) => Some(id),
        }
    }
}

#[http_service]
async fn handle(req: Request) -> Reply {
    platform_core::component::serve("sessions", req, dispatch).await
}

async fn dispatch(req: Request) -> Result<Reply, ApiError> {
    let path = req.uri().path();
    let route = Route::of(path).ok_or_else(|| ApiError::NotFound(format!("no route {path}")))?;
    platform_core::component::method::check(req.method(), route.methods())?;
    let (parts, body) = req.into_parts();
    let db = db::open().await?;
    let caller = auth::caller(&db, &parts).await?;
    let id = route.raw_id().map(validate::session_id).transpose()?;
    let ctx = access::Ctx {
        db,
        caller,
        query: parts.uri.query().map(str::to_owned),
    };
    let method = parts.method.clone();
    match (route, id) {
        (Route::Sessions, _) if method == Method::GET => list::handle(&ctx).await,
        (Route::Sessions, _) => create::handle(&ctx, &parts.headers, body).await,
        (Route::Session(_), Some(id)) if method == Method::GET => show::handle(&ctx, &id).await,
        (Route::Session(_), Some(id)) if method == Method::PATCH => {
            update::handle(&ctx, &id, &parts.headers, body).await
        }
        (Route::Session(_), Some(id)) => delete::handle(&ctx, &id).await,
        (Route::Members(_), Some(id)) => members::handle(&ctx, &id).await,
        (Route::Member(_, name), Some(id)) if method == Method::PUT => {
            member_put::handle(&ctx, &id, &name, &parts.headers, body).await
        }
        (Route::Member(_, name), Some(id)) => member_delete::handle(&ctx, &id, &name).await,
        (Route::Shutdown(_), Some(id)) => shutdown::handle(&ctx, &id).await,
        (route, None) => Err(ApiError::Internal(format!("route {route:?} without an id"))),
    }
}
