//! The state of one authenticated `/ws` socket and its loop: client messages, terminal
//! output, workspace events, pings and the shutdown signal.

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::ws::{Message, WebSocket};
use bytes::Bytes;
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, warn};
use uuid::Uuid;

use crate::http::AppState;
use crate::terminals::{Attachment, HubError, TermEvent};
use crate::ws::auth::{self, Role};
use crate::ws::error::{ClientError, close_with};
use crate::ws::limits::{TokenBucket, Utf8Stream, liveness_deadline, oversized};
use crate::ws::protocol::{
    ClientMessage, DEFAULT_TERMINAL, Encoding, ServerMessage, valid_terminal_id,
};
use crate::ws::send;

/// One attached terminal of this connection.
pub(super) struct Terminal {
    pub(super) attachment: Attachment,
    pub(super) tag: u64,
    pub(super) encoding: Encoding,
    pub(super) text: Utf8Stream,
}

/// A terminal being opened (the sandbox may take a while to start); the socket keeps serving
/// its other terminals meanwhile.
pub(super) struct Pending {
    pub(super) tag: u64,
    pub(super) encoding: Encoding,
    /// Input typed before the terminal was open, sent once it is.
    pub(super) input: Vec<Bytes>,
    /// The latest size asked for before the terminal was open.
    pub(super) resize: Option<(u16, u16)>,
    /// Events that overtook the open's result (the scrollback, typically), forwarded after
    /// `opened`. Bounded by the credit window: nothing is credited before they are sent.
    pub(super) early: Vec<TermEvent>,
}

/// Identifies a terminal: session and terminal id.
pub(super) type Key = (Uuid, String);

/// The result of an open started by [`Connection::start_open`].
pub(super) type Opening = (Key, u64, Result<Attachment, HubError>);

/// The state of one authenticated socket.
pub(super) struct Connection {
    pub(super) state: AppState,
    pub(super) user: i64,
    /// The user's role in each session this socket used, checked once per socket.
    pub(super) roles: HashMap<Uuid, Role>,
    pub(super) terminals: HashMap<Key, Terminal>,
    pub(super) pending: HashMap<Key, Pending>,
    /// Where open tasks report; the loop reads the other end.
    pub(super) openings: mpsc::UnboundedSender<Opening>,
    /// Attachment tags (as the hub reports them) to terminals.
    pub(super) tags: HashMap<u64, Key>,
    pub(super) next_tag: u64,
    pub(super) events: mpsc::UnboundedSender<(u64, TermEvent)>,
    pub(super) input: TokenBucket,
}

/// What the loop does after handling something.
pub(super) enum Flow {
    Continue,
    Stop,
}

impl Connection {
    pub(super) async fn serve(
        mut self,
        mut socket: WebSocket,
        mut events: mpsc::UnboundedReceiver<(u64, TermEvent)>,
        mut openings: mpsc::UnboundedReceiver<Opening>,
    ) {
        let stopping = self.state.shutdown.stopping();
        tokio::pin!(stopping);
        let mut workspace_events = self.state.workspaces.subscribe();
        let mut workspace_events_open = true;
        let mut ping = tokio::time::interval(self.state.ws.ping_interval);
        ping.tick().await;
        let mut last_seen = Instant::now();
        let deadline = liveness_deadline(self.state.ws.ping_interval);
        loop {
            let flow = tokio::select! {
                () = &mut stopping => {
                    let reconnect = ServerMessage::Reconnect {
                        reason: "the server is restarting; connect again".into(),
                    };
                    let _ = self.send(&mut socket, reconnect).await;
                    close_with(&mut socket, &self.state.metrics, &ClientError::ShuttingDown).await;
                    Flow::Stop
                }
                received = socket.recv() => {
                    last_seen = Instant::now();
                    self.received(&mut socket, received).await
                }
                Some(opening) = openings.recv() => self.opened(&mut socket, opening).await,
                Some((tag, event)) = events.recv() => self.event(&mut socket, tag, event).await,
                event = workspace_events.recv(), if workspace_events_open => match event {
                    Ok(event) if self.roles.contains_key(&event.session()) => {
                        self.send(&mut socket, event.into()).await
                    }
                    Ok(_) => Flow::Continue,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        warn!(missed, "a WebSocket missed workspace events");
                        Flow::Continue
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        workspace_events_open = false;
                        Flow::Continue
                    }
                },
                _ = ping.tick() => {
                    if last_seen.elapsed() > deadline {
                        close_with(&mut socket, &self.state.metrics, &ClientError::PingTimeout).await;
                        Flow::Stop
                    } else if !send(&mut socket, Message::Ping(Bytes::new()), deadline).await {
                        Flow::Stop
                    } else {
                        Flow::Continue
                    }
                }
            };
            if let Flow::Stop = flow {
                break;
            }
        }
        // Dropping the attachments detaches them; the shells keep running.
    }

    /// Sends one message; records errors (see [`ClientError::record`]).
    pub(super) async fn send(&self, socket: &mut WebSocket, message: ServerMessage) -> Flow {
        if let Some(error) = message.error() {
            error.record(&self.state.metrics);
        }
        let limit = liveness_deadline(self.state.ws.ping_interval);
        match send(socket, Message::Text(message.to_json().into()), limit).await {
            true => Flow::Continue,
            false => Flow::Stop,
        }
    }

    async fn received(
        &mut self,
        socket: &mut WebSocket,
        received: Option<Result<Message, axum::Error>>,
    ) -> Flow {
        match received {
            Some(Ok(Message::Text(text))) => {
                for reply in self.handle(&text).await {
                    if let Flow::Stop = self.send(socket, reply).await {
                        return Flow::Stop;
                    }
                }
                Flow::Continue
            }
            Some(Ok(Message::Binary(_))) => {
                let error = ClientError::BadRequest(
                    "send JSON text messages on /ws (raw bytes go to /ws/sessions/{id}/terminals/{id})"
                        .into(),
                );
                self.send(socket, error.into()).await
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => Flow::Continue,
            Some(Ok(Message::Close(_))) | None => Flow::Stop,
            Some(Err(err)) => {
                match oversized(&err, self.state.ws.max_message_bytes) {
                    Some(limit) => close_with(socket, &self.state.metrics, &limit.into()).await,
                    None => debug!(error = %err, "WebSocket read failed"),
                }
                Flow::Stop
            }
        }
    }

    /// Handles one client message; the replies, in order.
    async fn handle(&mut self, text: &str) -> Vec<ServerMessage> {
        let message: ClientMessage = match serde_json::from_str(text) {
            Ok(message) => message,
            Err(err) => return vec![ClientError::from(err).into()],
        };
        match message {
            ClientMessage::Auth { .. } => {
                vec![ClientError::BadRequest("already authenticated".into()).into()]
            }
            ClientMessage::Ping {} => vec![ServerMessage::Pong {}],
            ClientMessage::Open {
                session_id,
                terminal_id,
                cols,
                rows,
                encoding,
            } => {
                let terminal = terminal_id.as_deref();
                let result = self
                    .open(
                        &session_id,
                        terminal,
                        cols,
                        rows,
                        encoding.unwrap_or_default(),
                    )
                    .await;
                match result {
                    Ok(reply) => reply.into_iter().collect(),
                    Err(error) => vec![about(error, &session_id, terminal)],
                }
            }
            ClientMessage::TerminalInput {
                session_id,
                terminal_id,
                input,
                data,
            } => {
                let terminal = terminal_id.as_deref();
                match self.input(&session_id, terminal, input, data).await {
                    Ok(()) => vec![],
                    Err(error) => vec![about(error, &session_id, terminal)],
                }
            }
            ClientMessage::Resize {
                session_id,
                terminal_id,
                cols,
                rows,
            } => {
                let terminal = terminal_id.as_deref();
                let result = self.resize(&session_id, terminal, cols, rows).await;
                match result {
                    Ok(()) => vec![],
                    Err(error) => vec![about(error, &session_id, terminal)],
                }
            }
            ClientMessage::Close {
                session_id,
                terminal_id,
            } => {
                let terminal = terminal_id.as_deref();
                one(
                    self.close_terminal(&session_id, terminal).await,
                    &session_id,
                    terminal,
                )
            }
            ClientMessage::Detach {
                session_id,
                terminal_id,
            } => {
                let terminal = terminal_id.as_deref();
                one(
                    self.detach(&session_id, terminal).await,
                    &session_id,
                    terminal,
                )
            }
        }
    }

    /// The session, terminal id and the user's role, or the error to send.
    pub(super) async fn resolve(
        &mut self,
        session: &str,
        terminal: Option<&str>,
    ) -> Result<(Key, Role), ClientError> {
        let session = Uuid::parse_str(session).map_err(|_| {
            ClientError::NotFound(format!(
                "no session {session:?}, or it is not shared with you"
            ))
        })?;
        let terminal = terminal.unwrap_or(DEFAULT_TERMINAL);
        if !valid_terminal_id(terminal) {
            return Err(ClientError::BadRequest(
                "terminalId must be 1 to 64 characters of A-Z a-z 0-9 _ . -".into(),
            ));
        }
        let role = match self.roles.get(&session) {
            Some(role) => *role,
            None => {
                let role = auth::access(&self.state.pool, self.user, session).await?;
                self.roles.insert(session, role);
                role
            }
        };
        Ok(((session, terminal.to_owned()), role))
    }
}

/// A single reply, naming the session and terminal if it is an error.
fn one(
    result: Result<ServerMessage, ClientError>,
    session: &str,
    terminal: Option<&str>,
) -> Vec<ServerMessage> {
    vec![result.unwrap_or_else(|error| about(error, session, terminal))]
}

/// The `error` message of `error`, naming the session and terminal it concerns.
pub(super) fn about(error: ClientError, session: &str, terminal: Option<&str>) -> ServerMessage {
    ServerMessage::from(error).about(session, terminal)
}
