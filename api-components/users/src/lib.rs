//! Spin component `users`: accounts and bearer tokens under `/api/users/`.
//!
//! | route | handler |
//! | --- | --- |
//! | `POST /api/users/register` | `register.rs`: create an account (201) |
//! | `POST /api/users/login` | `login.rs`: check the password, issue a token (200) |
//! | `POST /api/users/logout` | `logout.rs`: revoke the presented token (204) |
//! | `GET /api/users/me` | `me.rs`: the token's user (200) |
//!
//! Other paths under `/api/users/` answer 404, other methods 405 with `Allow`; every error has
//! the shape `{"error": {"code", "message"}}` ([`platform_core::ApiError`]).
//!
//! Beside the handlers: `throttle.rs` limits failed logins, `client.rs` says who is calling,
//! `account.rs` maps user rows, `config.rs` reads the Spin variables. Reading bodies,
//! replies, bearer authentication and `spin:postgres` come from `platform_core::component`.
//! Rules, tokens, hashing and models live in `platform-core`, unit-tested natively.

mod account;
mod client;
mod config;
mod login;
mod logout;
mod me;
mod register;
mod throttle;

// Shared with the other components; `crate::db` etc. keep naming them.
pub(crate) use platform_core::component::{auth, body, db, reply};

use platform_core::ApiError;
use reply::Reply;
use spin_sdk::http::{Method, Request};
use spin_sdk::http_service;

/// The endpoints of this component.
#[derive(Clone, Copy)]
enum Route {
    Register,
    Login,
    Logout,
    Me,
}

impl Route {
    fn of(path: &str) -> Option<Route> {
        match path.strip_suffix('/').unwrap_or(path) {
            "/api/users/register" => Some(Route::Register),
            "/api/users/login" => Some(Route::Login),
            "/api/users/logout" => Some(Route::Logout),
            "/api/users/me" => Some(Route::Me),
            _ => None,
        }
    }

    /// The one method each route takes.
    fn method(self) -> Method {
        match self {
            Route::Register | Route::Login | Route::Logout => Method::POST,
            Route::Me => Method::GET,
        }
    }
}

#[http_service]
async fn handle(req: Request) -> Reply {
    platform_core::component::serve("users", req, dispatch).await
}

async fn dispatch(req: Request) -> Result<Reply, ApiError> {
    let path = req.uri().path();
    let route = Route::of(path).ok_or_else(|| ApiError::NotFound(format!("no route {path}")))?;
    platform_core::component::method::check(req.method(), &[route.method()])?;
    match route {
        Route::Register => register::handle(req).await,
        Route::Login => login::handle(req).await,
        Route::Logout => logout::handle(req).await,
        Route::Me => me::handle(req).await,
    }
}
