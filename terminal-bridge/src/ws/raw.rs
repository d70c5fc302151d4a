//! `GET /ws/sessions/{uuid}/terminals/{id}`: one terminal as raw bytes. Binary and text
//! messages from the client are input; output is sent as binary messages, scrollback first.
//! Authentication and access are checked before the upgrade, so failures are plain HTTP
//! errors (`websocat` prints them). `?cols=&rows=` sets the size at connect. After the
//! upgrade, every error ends the socket with its close frame (see [`ClientError`]).

use std::collections::HashMap;
use std::time::Instant;

use agent_protocol::ExitStatus;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::auth::{self, AuthError, Role};
use super::error::{ClientError, close_with, refuse};
use super::json::{OpenSocket, accept_upgrade};
use super::limits::{TokenBucket, liveness_deadline, oversized};
use super::protocol::valid_terminal_id;
use super::{close, send};
use crate::http::AppState;
use crate::terminals::TermEvent;

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
        state.metrics.auth_failure(&AuthError::Missing);
        // Not AuthError::Missing's text: this endpoint takes no `auth` message.
        let missing = ClientError::Unauthorized(
            "send the token as `Authorization: Bearer` or `?token=`".into(),
        );
        return refuse(&state.metrics, missing);
    };
    let user = match auth::verify(&state.pool, &token).await {
        Ok(user) => user,
        Err(err) => return refused(&state, err),
    };
    let Ok(session) = Uuid::parse_str(&session) else {
        return refuse(&state.metrics, AuthError::NoSession.into());
    };
    if !valid_terminal_id(&terminal) {
        let bad_id = "terminal ids are 1 to 64 characters of A-Z a-z 0-9 _ . -";
        return refuse(&state.metrics, ClientError::BadRequest(bad_id.into()));
    }
    let role = match auth::access(&state.pool, user, session).await {
        Ok(role) => role,
        // Not an authentication failure: the token was fine.
        Err(AuthError::NoSession) => return refuse(&state.metrics, AuthError::NoSession.into()),
        Err(err) => return refused(&state, err),
    };
    let size = match size_of(&query) {
        // A viewer's size would change the terminal for everyone: it gets the current one.
        Ok(size) => size.filter(|_| role.can_write()),
        Err(error) => return refuse(&state.metrics, error),
    };
    upgrade
        .read_buffer_size(super::READ_BUFFER_BYTES)
        .max_message_size(state.ws.max_message_bytes)
        .max_frame_size(state.ws.max_message_bytes)
        .on_upgrade(move |socket| run(socket, state, session, terminal, role, size))
}

/// `?cols=&rows=`: both or neither.
fn size_of(query: &HashMap<String, String>) -> Result<Option<(u16, u16)>, ClientError> {
    match (query.get("cols"), query.get("rows")) {
        (None, None) => Ok(None),
        (Some(cols), Some(rows)) => match (cols.parse::<u16>(), rows.parse::<u16>()) {
            (Ok(cols), Ok(rows)) if cols > 0 && rows > 0 => Ok(Some((cols, rows))),
            _ => Err(ClientError::BadRequest(
                "cols and rows must be integers from 1 to 65535".into(),
            )),
        },
        _ => Err(ClientError::BadRequest(
            "give both cols and rows, or neither".into(),
        )),
    }
}

/// A failed authentication: counted as one, and answered as the client error it is.
fn refused(state: &AppState, err: AuthError) -> Response {
    state.metrics.auth_failure(&err);
    refuse(&state.metrics, err.into())
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
            close_with(&mut socket, &state.metrics, &err.into()).await;
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
                close_with(&mut socket, &state.metrics, &ClientError::ShuttingDown).await;
                break;
            }
            received = socket.recv() => {
                last_seen = Instant::now();
                let data = match received {
                    Some(Ok(Message::Binary(data))) => data,
                    Some(Ok(Message::Text(text))) => Bytes::from(text.as_str().to_owned()),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Err(err)) => {
                        if let Some(limit) = oversized(&err, state.ws.max_message_bytes) {
                            close_with(&mut socket, &state.metrics, &limit.into()).await;
                        }
                        break;
                    }
                    _ => break,
                };
                let admitted = if role.can_write() {
                    input.admit(data.len()).map_err(ClientError::from)
                } else {
                    Err(ClientError::Forbidden("viewers cannot type in this session".into()))
                };
                let sent = admitted.and_then(|()| attachment.input(data).map_err(ClientError::from));
                if let Err(error) = sent {
                    close_with(&mut socket, &state.metrics, &error).await;
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
                    close_with(&mut socket, &state.metrics, &ClientError::Detached(reason)).await;
                    attachment.ended();
                    return;
                }
                TermEvent::Error(_) => {}
                TermEvent::AgentLost(reason) => {
                    close_with(&mut socket, &state.metrics, &ClientError::Unavailable(reason)).await;
                    attachment.ended();
                    return;
                }
            },
            _ = ping.tick() => {
                if last_seen.elapsed() > deadline {
                    close_with(&mut socket, &state.metrics, &ClientError::PingTimeout).await;
                    break;
                }
                if !send(&mut socket, Message::Ping(Bytes::new()), deadline).await {
                    break;
                }
            }
        }
    }
}
