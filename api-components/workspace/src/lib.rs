//! Spin component `workspace`: the files of a session's workspace.
//!
//! | route | handler | who may |
//! | --- | --- | --- |
//! | `GET /api/workspace/{uuid}/files` | `list.rs`: the whole tree, without content | owner, editor, viewer |
//! | `GET /api/workspace/{uuid}/file/{path}` | `read.rs`: one file, JSON or raw bytes | owner, editor, viewer |
//! | `PUT`, `POST /api/workspace/{uuid}/file/{path}` | `write.rs`: create (201) or replace (200) | owner, editor |
//! | `DELETE /api/workspace/{uuid}/file/{path}` | `delete.rs`: a file, or a folder with `?recursive=true` (204) | owner, editor |
//!
//! `/api/workspace/{uuid}/shutdown` is the `sessions` component's (an exact route, which wins
//! over this component's wildcard). `{path}` is percent-decoded and checked with
//! [`platform_core::validate::workspace_path`] (400 `invalid_path`).
//!
//! Order of checks: route (404), method (405 with `Allow`), session id (400 `invalid_uuid`),
//! token (401), item path (400), `user_id` cross-check (403, as in `sessions`), membership (404: a session that does not exist and one the
//! caller may not see look alike), role (403), then the handler.
//!
//! Every change is one statement whose data-modifying CTEs also call `pg_notify` on
//! `workspace_item_changed` (`notify.rs`, `migrations/README.md`).
//!
//! Beside the handlers: `access.rs` (the caller's role), `item.rs` (paths, `If-Match`, hashes,
//! answers), `content.rs` (write bodies, JSON or octet-stream).

mod access;
mod content;
mod delete;
mod item;
mod list;
mod notify;
mod read;
mod write;

pub(crate) use platform_core::component::{auth, db, reply};

use platform_core::{ApiError, validate};
use reply::Reply;
use spin_sdk::http::{Method, Request};
use spin_sdk::http_service;

/// The endpoints of this component; the id and the item path are still raw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    /// `/api/workspace/{id}/files`
    Files(String),
    /// `/api/workspace/{id}/file/{path}`
    File(String, String),
}

impl Route {
    fn of(path: &str) -> Option<Route> {
        let rest = path.strip_prefix("/api/workspace/")?;
        let (id, rest) = rest.split_once('/')?;
        if rest == "files" || rest == "files/" {
            return Some(Route::Files(id.to_owned()));
        }
        let item = rest.strip_prefix("file/")?;
        Some(Route::File(id.to_owned(), item.to_owned()))
    }

    fn methods(&self) -> &'static [Method] {
        match self {
            Route::Files(_) => &[Method::GET],
            Route::File(..) => &[Method::GET, Method::PUT, Method::POST, Method::DELETE],
        }
    }

    fn raw_id(&self) -> &str {
        match self {
            Route::Files(id) | Route::File(id, _) => id,
        }
    }
}

#[http_service]
async fn handle(req: Request) -> Reply {
    platform_core::component::serve("workspace", req, dispatch).await
}

async fn dispatch(req: Request) -> Result<Reply, ApiError> {
    let path = req.uri().path();
    let route = Route::of(path).ok_or_else(|| ApiError::NotFound(format!("no route {path}")))?;
    platform_core::component::method::check(req.method(), route.methods())?;
    let (parts, body) = req.into_parts();
    let session = validate::session_id(route.raw_id())?;
    auth::presented_token(&parts.headers)?;
    let item = match &route {
        Route::File(_, raw) => Some(item::path(raw)?),
        Route::Files(_) => None,
    };
    let db = db::open().await?;
    let ctx = access::Ctx::open(db, &parts, session).await?;
    match (item, &parts.method) {
        (None, _) => list::handle(&ctx).await,
        (Some(item), m) if *m == Method::GET => read::handle(&ctx, &item, &parts.headers).await,
        (Some(item), m) if *m == Method::DELETE => {
            delete::handle(&ctx, &item, &parts.headers, parts.uri.query()).await
        }
        (Some(item), _) => write::handle(&ctx, &item, &parts.headers, body).await,
    }
}
