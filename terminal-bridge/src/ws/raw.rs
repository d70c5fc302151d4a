//! `GET /ws/sessions/{uuid}/terminals/{id}`: one terminal as raw bytes. Binary and text
//! messages from the client are input; output is sent as binary messages, scrollback first.
//! Authentication and access are checked before the upgrade, so failures are plain HTTP
//! errors (`websocat` prints them). `?cols=&rows=` sets the size at connect.

use std::collections::HashMap;
use std::time::Instant;

use agent_protocol::ExitStatus;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::auth::{self, AuthError, Role};
use super::json::{OpenSocket, accept_upgrade};
use super::limits::{TokenBucket, liveness_deadline};
use super::protocol::valid_terminal_id;
use super::{
    CLOSE_FORBIDDEN, CLOSE_PING_TIMEOUT, CLOSE_RATE_LIMITED, CLOSE_RESTART, CLOSE_TOO_BIG, close,
    http_error, send,
};
use crate::http::AppState;
use crate::terminals::TermEvent;

/// Close code: the agent ended the attachment (e.g. the client read too slowly).
pub const CLOSE_DETACHED: u16 = 4000;

pub async fn handler(
    State(state): State<AppState>,
    Path((session, terminal)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match accept_upgrade(&state, &headers, upgrade) {
        Ok(upgrade) => upgrade,
        Err(refusal) => return *refusal,
    };
    let Some(token) = auth::presented_token(&headers, query.get("token").map(String::as_str))
    else {
        state.metrics.auth_failure("missing");
        return http_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the token as `Authorization: Bearer` or `?token=`",
        );
    };
    let user = match auth::verify(&state.pool, &token).await {
        Ok(user) => user,
        Err(err) => return refused(&state, err),
    };
    let not_found = || {
        http_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "the session does not exist or is not shared with you",
        )
    };
    let Ok(session) = Uuid::parse_str(&session) else {
        return not_found();
    };
    if !valid_terminal_id(&terminal) {
        return http_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "terminal ids are 1 to 64 characters of A-Z a-z 0-9 _ . -",
        );
    }
    let role = match auth::access(&state.pool, user, session).await {
        Ok(role) => role,
        Err(AuthError::NoSession) => return not_found(),
        Err(err) => return refused(&state, err),
    };
    let size = match (query.get("cols"), query.get("rows")) {
        (None, None) => None,
        (Some(cols), Some(rows)) => match (cols.parse::<u16>(), rows.parse::<u16>()) {
            // A viewer's size would change the terminal for everyone: it gets the current one.
            (Ok(cols), Ok(rows)) if cols > 0 && rows > 0 => {
                Some((cols, rows)).filter(|_| role.can_write())
            }
            _ => {
                return http_error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "cols and rows must be integers from 1 to 65535",
                );
            }
        },
        _ => {
            return http_error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "give both cols and rows, or neither",
            );
        }
    };
    upgrade
        .read_buffer_size(super::READ_BUFFER_BYTES)
        .max_message_size(state.ws.max_message_bytes)
        .max_frame_size(state.ws.max_message_bytes)
        .on_upgrade(move |socket| run(socket, state, session, terminal, role, size))
}

fn refused(state: &AppState, err: AuthError) -> Response {
    state.metrics.auth_failure(err.reason());
    match err {
        AuthError::Database(_) => http_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the database is unavailable; try again",
        ),
        err => http_error(StatusCode::UNAUTHORIZED, "unauthorized", &err.to_string()),
    }
}

async fn run(
    mut socket: WebSocket,
    state: AppState,
    session: Uuid,
    terminal: String,
    role: Role,
    size: Option<(u16, u16)>,
) {
    let _tracked = state.shutdown.track();
    let _open = OpenSocket::new(&state.metrics);
    let (events, mut events_rx) = mpsc::unbounded_channel();
    let attachment = match state.hub.open(session, &terminal, size, 0, events).await {
        Ok(attachment) => attachment,
        Err(err) => {
            state.metrics.error(err.code());
            close(&mut socket, 1011, &err.to_string()).await;
            return;
        }
    };
    let mut input = TokenBucket::new(state.ws.input_rate, state.ws.input_burst);
    let stopping = state.shutdown.stopping();
    tokio::pin!(stopping);
    let mut ping = tokio::time::interval(state.ws.ping_interval);
    ping.tick().await;
    let mut last_seen = Instant::now();
    let deadline = liveness_deadline(state.ws.ping_interval);
    loop {
        tokio::select! {
            () = &mut stopping => {
                close(&mut socket, CLOSE_RESTART, "server restarting; connect again").await;
                break;
            }
            received = socket.recv() => {
                last_seen = Instant::now();
                let data = match received {
                    Some(Ok(Message::Binary(data))) => data,
                    Some(Ok(Message::Text(text))) => Bytes::from(text.as_str().to_owned()),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Err(err)) if err.to_string().contains("too long") => {
                        state.metrics.error("too_large");
                        let reason = format!("message larger than {} bytes", state.ws.max_message_bytes);
                        close(&mut socket, CLOSE_TOO_BIG, &reason).await;
                        break;
                    }
                    _ => break,
                };
                if !role.can_write() {
                    state.metrics.error("forbidden");
                    close(&mut socket, CLOSE_FORBIDDEN, "forbidden: viewers cannot type in this session").await;
                    break;
                }
                if !input.take(data.len()) {
                    state.metrics.error("rate_limited");
                    let reason = format!("rate_limited: input faster than {} bytes/s", state.ws.input_rate);
                    close(&mut socket, CLOSE_RATE_LIMITED, &reason).await;
                    break;
                }
                if let Err(err) = attachment.input(data) {
                    close(&mut socket, 1011, &err.to_string()).await;
                    break;
                }
                state.workspaces.touch(session);
            }
            Some((_, event)) = events_rx.recv() => match event {
                TermEvent::Output(data) => {
                    let len = data.len();
                    if !send(&mut socket, Message::Binary(data), deadline).await {
                        break;
                    }
                    attachment.credit(len);
                }
                TermEvent::Exited(status) => {
                    let reason = match status {
                        ExitStatus::Code(code) => format!("the shell exited with code {code}"),
                        ExitStatus::Signal(signal) => format!("the shell was killed by signal {signal}"),
                    };
                    close(&mut socket, 1000, &reason).await;
                    attachment.ended();
                    return;
                }
                TermEvent::Detached(reason) => {
                    state.metrics.error("detached");
                    close(&mut socket, CLOSE_DETACHED, &format!("detached: {reason}")).await;
                    attachment.ended();
                    return;
                }
                TermEvent::Error(_) => {}
                TermEvent::AgentLost(reason) => {
                    state.metrics.error("unavailable");
                    close(&mut socket, 1011, &reason).await;
                    attachment.ended();
                    return;
                }
            },
            _ = ping.tick() => {
                if last_seen.elapsed() > deadline {
                    state.metrics.error("ping_timeout");
                    close(&mut socket, CLOSE_PING_TIMEOUT, "no answer to pings").await;
                    break;
                }
                if !send(&mut socket, Message::Ping(Bytes::new()), deadline).await {
                    break;
                }
            }
        }
    }
}
