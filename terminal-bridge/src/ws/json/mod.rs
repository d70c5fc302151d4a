//! `GET /ws`: the JSON terminal protocol. One task per socket runs `Connection::serve`, a
//! loop over the client's messages, the output of its attachments, workspace events, pings
//! and the shutdown signal.
//!
//! Files: this one holds the upgrade and the authentication; `connection` the socket's
//! state, its loop and the dispatch of client messages; `terminals` opening, feeding,
//! resizing and closing terminals, and forwarding what they send.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use tokio::sync::mpsc;

use super::auth::{self, AuthError};
use super::error::{ClientError, close_with, refuse};
use super::limits::TokenBucket;
use super::origin_allowed;
use super::protocol::{ClientMessage, ServerMessage};
use crate::http::AppState;
use crate::metrics::Metrics;

/// The upgrade: refuses foreign origins with 403, then hands the socket to [`run`].
pub async fn handler(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match accept_upgrade(&state, &headers, upgrade) {
        Ok(upgrade) => upgrade,
        Err(refusal) => return *refusal,
    };
    let token = auth::presented_token(&headers, query.get("token").map(String::as_str));
    upgrade
        .read_buffer_size(super::READ_BUFFER_BYTES)
        .max_message_size(state.ws.max_message_bytes)
        .max_frame_size(state.ws.max_message_bytes)
        .on_upgrade(move |socket| run(socket, state, token))
}

/// What both endpoints do before upgrading: check the origin and that the server is not
/// shutting down, then require a WebSocket handshake. `Err` is the answer to send instead.
pub fn accept_upgrade(
    state: &AppState,
    headers: &HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<WebSocketUpgrade, Box<Response>> {
    if let Some(refusal) = refuse_before_upgrade(state, headers) {
        return Err(Box::new(refusal));
    }
    upgrade.map_err(|rejection| Box::new(not_a_websocket(state, &rejection)))
}

/// The checks made before upgrading: the origin, and not shutting down.
fn refuse_before_upgrade(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let error = if !origin_allowed(headers, state.ws.allowed_origins.as_deref()) {
        ClientError::OriginNotAllowed
    } else if state.shutdown.is_stopping() {
        ClientError::ShuttingDown
    } else {
        return None;
    };
    Some(refuse(&state.metrics, error))
}

/// The answer to a plain HTTP request (or a broken handshake) on a WebSocket endpoint.
fn not_a_websocket(state: &AppState, rejection: &WebSocketUpgradeRejection) -> Response {
    let error = ClientError::WebSocketRequired {
        status: rejection.status(),
        detail: rejection.to_string(),
    };
    refuse(&state.metrics, error)
}

/// Counts an open WebSocket in the metrics while alive.
pub struct OpenSocket(Arc<Metrics>);

impl OpenSocket {
    pub fn new(metrics: &Arc<Metrics>) -> OpenSocket {
        metrics.ws_connections.fetch_add(1, Relaxed);
        metrics.ws_connections_total.fetch_add(1, Relaxed);
        OpenSocket(Arc::clone(metrics))
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.0.ws_connections.fetch_sub(1, Relaxed);
    }
}

async fn run(mut socket: WebSocket, state: AppState, token: Option<String>) {
    let _tracked = state.shutdown.track();
    let _open = OpenSocket::new(&state.metrics);
    let Some(user) = authenticate(&mut socket, &state, token).await else {
        return;
    };
    let (events, events_rx) = mpsc::unbounded_channel();
    let (openings, openings_rx) = mpsc::unbounded_channel();
    let connection = Connection {
        input: TokenBucket::new(state.ws.input_rate, state.ws.input_burst),
        state,
        user,
        roles: HashMap::new(),
        terminals: HashMap::new(),
        pending: HashMap::new(),
        openings,
        tags: HashMap::new(),
        next_tag: 1,
        events,
    };
    connection.serve(socket, events_rx, openings_rx).await;
}

/// The user id, or `None` after closing the socket with the error (`unauthorized`: 4401;
/// `unavailable`: 1011).
async fn authenticate(
    socket: &mut WebSocket,
    state: &AppState,
    token: Option<String>,
) -> Option<i64> {
    let token = match token {
        Some(token) => Some(token),
        None => tokio::time::timeout(state.ws.auth_timeout, auth_message(socket))
            .await
            .ok()
            .flatten(),
    };
    let result = match token {
        Some(token) => auth::verify(&state.pool, &token).await,
        None => Err(AuthError::Missing),
    };
    match result {
        Ok(user) => {
            let ready = ServerMessage::Ready { user_id: user };
            socket
                .send(Message::Text(ready.to_json().into()))
                .await
                .ok()?;
            Some(user)
        }
        Err(err) => {
            state.metrics.auth_failure(&err);
            close_with(socket, &state.metrics, &err.into()).await;
            None
        }
    }
}

/// The token of a first `{"type":"auth"}` message; `None` for anything else.
async fn auth_message(socket: &mut WebSocket) -> Option<String> {
    loop {
        match socket.recv().await? {
            Ok(Message::Text(text)) => {
                return match serde_json::from_str(&text) {
                    Ok(ClientMessage::Auth { token }) => Some(token),
                    _ => None,
                };
            }
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            _ => return None,
        }
    }
}

mod connection;
mod terminals;

use connection::Connection;
