//! Spin component `workspace`: the files of a session's workspace.
//!
//! | route | handler | who may |
//! | --- | --- | --- |
//! | `GET /api/workspace/{uuid}/files` | `list.rs`: the whole tree, without content | owner, editor, viewer |
//! | `GET /api/workspace/{uuid}/file/{path}` | `read.rs`: one file, JSON or raw bytes | owner, editor, viewer |
//! | `PUT`, `POST /api/workspace/{uuid}/file/{path}` | `write.rs`: create (201) or replace (200) | owner, editor |
//! | `DELETE /api/workspace/{uuid}/file/{path}` | `delete.rs`: a file, or a folder with `?recursive=true` (204) | owner, editor |
//! | `PUT`, `POST /api/workspace/{uuid}/folder/{path}` | `folder.rs`: create a folder and its parents (201), or find it there (200) | owner, editor |
//! | `POST /api/workspace/{uuid}/move` | `relocate.rs`: move or rename a file or a whole folder, `{from, to, overwrite?}` | owner, editor |
//! | `POST /api/workspace/{uuid}/upload` | `upload.rs`: several files in one `multipart/form-data` body, all or nothing | owner, editor |
//! | `GET /api/workspace/{uuid}/download/{path}` | `download.rs`: one file as an attachment | owner, editor, viewer |
//! | `GET /api/workspace/{uuid}/zip` | `archive.rs`: the whole workspace as a ZIP archive | owner, editor, viewer |
//! | `GET /api/workspace/{uuid}/status` | `status.rs`: counts, bytes, sandbox states, limits | owner, editor, viewer |
//! | `POST /api/workspace/{uuid}/ensure-default` | `defaults.rs`: a starter project in an empty workspace, once (201, else 200) | owner, editor |
//!
//! `/api/workspace/{uuid}/shutdown` is the `sessions` component's (an exact route, which wins
//! over this component's wildcard). `{path}` is percent-decoded and checked with
//! [`platform_core::validate::workspace_path`] (400 `invalid_path`); so are the paths of
//! JSON bodies and multipart parts (not percent-decoded).
//!
//! Order of checks: route (404), method (405 with `Allow`), session id (400 `invalid_uuid`),
//! token (401), item path (400), `user_id` cross-check (403, as in `sessions`), membership (404: a session that does not exist and one the
//! caller may not see look alike), role (403), then the handler.
//!
//! Every change is made in statements whose data-modifying CTEs also call `pg_notify` on
//! `workspace_item_changed` (`platform_contract::notify`, `migrations/README.md`). Every writer (file,
//! folder, move, upload, default project) runs in one transaction (`tx.rs`) that holds the
//! workspace lock and enforces the per-workspace caps `max_workspace_files` and
//! `max_workspace_bytes` (`caps.rs`, 413); a delete is one statement.
//!
//! Beside the handlers: `access.rs` (the caller's role), `item.rs` (paths, `If-Match`, hashes,
//! answers), `content.rs` (write bodies, JSON or octet-stream), `multipart.rs` (the
//! `multipart/form-data` parser), `mime.rs` (download content types and
//! `Content-Disposition`), `zipfile.rs` (the ZIP writer).

mod access;
mod archive;
mod caps;
mod content;
mod defaults;
mod delete;
mod download;
mod folder;
mod item;
mod list;
mod mime;
mod multipart;
mod read;
mod relocate;
mod status;
mod tx;
mod upload;
mod write;
mod zipfile;

pub(crate) use platform_core::component::{auth, body, db, query, reply};

use platform_core::{ApiError, validate};
use reply::Reply;
use spin_sdk::http::{Method, Request};
use spin_sdk::http_service;

/// The endpoints of this component under `/api/workspace/{id}/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// `files`
    Files,
    /// `file/{path}`
    File,
    /// `folder/{path}`
    Folder,
    /// `move`
    Move,
    /// `upload`
    Upload,
    /// `download/{path}`
    Download,
    /// `zip`
    Zip,
    /// `status`
    Status,
    /// `ensure-default`
    EnsureDefault,
}

/// A matched route; the id and the item path are still raw.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Route {
    endpoint: Endpoint,
    id: String,
    /// The percent-encoded item path of `file/`, `folder/` and `download/`.
    item: Option<String>,
}

impl Route {
    fn of(path: &str) -> Option<Route> {
        let rest = path.strip_prefix("/api/workspace/")?;
        let (id, rest) = rest.split_once('/')?;
        let route = |endpoint, item: Option<&str>| {
            Some(Route {
                endpoint,
                id: id.to_owned(),
                item: item.map(str::to_owned),
            })
        };
        for (prefix, endpoint) in [
            ("file/", Endpoint::File),
            ("folder/", Endpoint::Folder),
            ("download/", Endpoint::Download),
        ] {
            if let Some(item) = rest.strip_prefix(prefix) {
                return route(endpoint, Some(item));
            }
        }
        let endpoint = match rest.strip_suffix('/').unwrap_or(rest) {
            "files" => Endpoint::Files,
            "move" => Endpoint::Move,
            "upload" => Endpoint::Upload,
            "zip" => Endpoint::Zip,
            "status" => Endpoint::Status,
            "ensure-default" => Endpoint::EnsureDefault,
            _ => return None,
        };
        route(endpoint, None)
    }

    fn methods(&self) -> &'static [Method] {
        match self.endpoint {
            Endpoint::Files | Endpoint::Download | Endpoint::Zip | Endpoint::Status => {
                &[Method::GET]
            }
            Endpoint::File => &[Method::GET, Method::PUT, Method::POST, Method::DELETE],
            Endpoint::Folder => &[Method::PUT, Method::POST],
            Endpoint::Move | Endpoint::Upload | Endpoint::EnsureDefault => &[Method::POST],
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
    let session = validate::session_id(&route.id)?;
    auth::presented_token(&parts.headers)?;
    let item = route.item.as_deref().map(item::path).transpose()?;
    let db = db::open().await?;
    let ctx = access::Ctx::open(db, &parts, session).await?;
    let headers = &parts.headers;
    let query = parts.uri.query();
    match (route.endpoint, item) {
        (Endpoint::Files, _) => list::handle(&ctx).await,
        (Endpoint::File, Some(item)) => match parts.method {
            Method::GET => read::handle(&ctx, &item, headers).await,
            Method::DELETE => delete::handle(&ctx, &item, headers, query).await,
            _ => write::handle(&ctx, &item, headers, body).await,
        },
        (Endpoint::Folder, Some(item)) => folder::handle(&ctx, &item).await,
        (Endpoint::Download, Some(item)) => download::handle(&ctx, &item).await,
        (Endpoint::Move, _) => relocate::handle(&ctx, headers, body).await,
        (Endpoint::Upload, _) => upload::handle(&ctx, headers, query, body).await,
        (Endpoint::Zip, _) => archive::handle(&ctx).await,
        (Endpoint::Status, _) => status::handle(&ctx).await,
        (Endpoint::EnsureDefault, _) => defaults::handle(&ctx).await,
        (endpoint, None) => Err(ApiError::Internal(format!("{endpoint:?} without a path"))),
    }
}
