//! `GET /ws`: the JSON terminal protocol. One task per socket runs [`Connection::serve`], a
//! loop over the client's messages, the output of its attachments, workspace events, pings
//! and the shutdown signal.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use agent_protocol::ExitStatus;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, warn};
use uuid::Uuid;

use super::auth::{self, AuthError, CLOSE_UNAUTHORIZED, Role};
use super::limits::{TokenBucket, Utf8Stream, liveness_deadline};
use super::protocol::{
    ClientMessage, DEFAULT_TERMINAL, Encoding, ServerMessage, valid_terminal_id,
};
use super::{
    CLOSE_PING_TIMEOUT, CLOSE_RESTART, CLOSE_TOO_BIG, close, http_error, origin_allowed, send,
};
use crate::http::AppState;
use crate::metrics::Metrics;
use crate::terminals::{Attachment, HubError, TermEvent};

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
    upgrade.map_err(|rejection| Box::new(not_a_websocket(&rejection)))
}

/// The checks made before upgrading: the origin, and not shutting down.
fn refuse_before_upgrade(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    if !origin_allowed(headers, state.ws.allowed_origins.as_deref()) {
        state.metrics.error("origin_not_allowed");
        return Some(http_error(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this Origin may not open WebSockets here (see CORS_ORIGINS)",
        ));
    }
    if state.shutdown.is_stopping() {
        return Some(http_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is restarting; connect again",
        ));
    }
    None
}

/// The answer to a plain HTTP request (or a broken handshake) on a WebSocket endpoint.
fn not_a_websocket(rejection: &WebSocketUpgradeRejection) -> Response {
    http_error(
        rejection.status(),
        "websocket_required",
        &format!("this endpoint speaks WebSocket only: {rejection}"),
    )
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

/// The user id, or `None` after closing the socket with [`CLOSE_UNAUTHORIZED`].
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
            state.metrics.auth_failure(err.reason());
            let code = match err {
                AuthError::Database(_) => 1011,
                _ => CLOSE_UNAUTHORIZED,
            };
            debug!(error = %err, "WebSocket authentication failed");
            close(socket, code, &err.to_string()).await;
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

/// One attached terminal of this connection.
struct Terminal {
    attachment: Attachment,
    tag: u64,
    encoding: Encoding,
    text: Utf8Stream,
}

/// A terminal being opened (the sandbox may take a while to start); the socket keeps serving
/// its other terminals meanwhile.
struct Pending {
    tag: u64,
    encoding: Encoding,
    /// Input typed before the terminal was open, sent once it is.
    input: Vec<Bytes>,
    /// The latest size asked for before the terminal was open.
    resize: Option<(u16, u16)>,
    /// Events that overtook the open's result (the scrollback, typically), forwarded after
    /// `opened`. Bounded by the credit window: nothing is credited before they are sent.
    early: Vec<TermEvent>,
}

/// Identifies a terminal: session and terminal id.
type Key = (Uuid, String);

/// The result of an open started by [`Connection::start_open`].
type Opening = (Key, u64, Result<Attachment, HubError>);

/// The state of one authenticated socket.
struct Connection {
    state: AppState,
    user: i64,
    /// The user's role in each session this socket used, checked once per socket.
    roles: HashMap<Uuid, Role>,
    terminals: HashMap<Key, Terminal>,
    pending: HashMap<Key, Pending>,
    /// Where open tasks report; the loop reads the other end.
    openings: mpsc::UnboundedSender<Opening>,
    /// Attachment tags (as the hub reports them) to terminals.
    tags: HashMap<u64, Key>,
    next_tag: u64,
    events: mpsc::UnboundedSender<(u64, TermEvent)>,
    input: TokenBucket,
}

/// What the loop does after handling something.
enum Flow {
    Continue,
    Stop,
}

impl Connection {
    async fn serve(
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
                    close(&mut socket, CLOSE_RESTART, "server restarting").await;
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
                        self.state.metrics.error("ping_timeout");
                        close(&mut socket, CLOSE_PING_TIMEOUT, "no answer to pings").await;
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

    /// Sends one message; counts errors.
    async fn send(&self, socket: &mut WebSocket, message: ServerMessage) -> Flow {
        if let Some(code) = message.error_code() {
            self.state.metrics.error(code);
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
                let error = ServerMessage::error(
                    "bad_request",
                    "send JSON text messages on /ws (raw bytes go to /ws/sessions/{id}/terminals/{id})",
                );
                self.send(socket, error).await
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => Flow::Continue,
            Some(Ok(Message::Close(_))) | None => Flow::Stop,
            Some(Err(err)) => {
                let text = err.to_string();
                if text.contains("too long") || text.contains("Space limit") {
                    self.state.metrics.error("too_large");
                    let message = format!(
                        "message larger than {} bytes",
                        self.state.ws.max_message_bytes
                    );
                    close(socket, CLOSE_TOO_BIG, &message).await;
                } else {
                    debug!(error = %text, "WebSocket read failed");
                }
                Flow::Stop
            }
        }
    }

    /// Handles one client message; the replies, in order.
    async fn handle(&mut self, text: &str) -> Vec<ServerMessage> {
        let message: ClientMessage = match serde_json::from_str(text) {
            Ok(message) => message,
            Err(err) => {
                return vec![ServerMessage::error(
                    "bad_request",
                    format!("not a valid message: {err}"),
                )];
            }
        };
        match message {
            ClientMessage::Auth { .. } => {
                vec![ServerMessage::error("bad_request", "already authenticated")]
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
                    Err(error) => vec![error.about(&session_id, terminal)],
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
                    Err(error) => vec![error.about(&session_id, terminal)],
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
                    Err(error) => vec![error.about(&session_id, terminal)],
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
    async fn resolve(
        &mut self,
        session: &str,
        terminal: Option<&str>,
    ) -> Result<(Key, Role), ServerMessage> {
        let not_found = || {
            ServerMessage::error(
                "not_found",
                format!("no session {session:?}, or it is not shared with you"),
            )
        };
        let session = Uuid::parse_str(session).map_err(|_| not_found())?;
        let terminal = terminal.unwrap_or(DEFAULT_TERMINAL);
        if !valid_terminal_id(terminal) {
            return Err(ServerMessage::error(
                "bad_request",
                "terminalId must be 1 to 64 characters of A-Z a-z 0-9 _ . -",
            ));
        }
        let role = match self.roles.get(&session) {
            Some(role) => *role,
            None => match auth::access(&self.state.pool, self.user, session).await {
                Ok(role) => {
                    self.roles.insert(session, role);
                    role
                }
                Err(AuthError::Database(message)) => {
                    warn!(error = %message, "session access check failed");
                    return Err(ServerMessage::error(
                        "unavailable",
                        "the database is unavailable; try again",
                    ));
                }
                Err(_) => return Err(not_found()),
            },
        };
        Ok(((session, terminal.to_owned()), role))
    }

    async fn open(
        &mut self,
        session: &str,
        terminal: Option<&str>,
        cols: Option<u16>,
        rows: Option<u16>,
        encoding: Encoding,
    ) -> Result<Option<ServerMessage>, ServerMessage> {
        let (key, role) = self.resolve(session, terminal).await?;
        let size = match (cols, rows) {
            (Some(0), _) | (_, Some(0)) => {
                return Err(ServerMessage::error(
                    "bad_request",
                    "cols and rows must be at least 1",
                ));
            }
            (Some(cols), Some(rows)) => Some((cols, rows)),
            (None, None) => None,
            _ => {
                return Err(ServerMessage::error(
                    "bad_request",
                    "give both cols and rows, or neither",
                ));
            }
        };
        if let Some(attached) = self.terminals.get_mut(&key) {
            attached.encoding = encoding;
            if let (Some((cols, rows)), true) = (size, role.can_write()) {
                let _ = attached.attachment.resize(cols, rows);
            }
            return Ok(Some(ServerMessage::Opened {
                session_id: key.0,
                terminal_id: key.1,
                created: false,
                replayed: 0,
            }));
        }
        if let Some(pending) = self.pending.get_mut(&key) {
            pending.encoding = encoding;
            if role.can_write() && size.is_some() {
                pending.resize = size;
            }
            return Ok(None);
        }
        // A viewer's size would change the terminal for everyone: it gets the current one.
        let size = size.filter(|_| role.can_write());
        self.start_open(key, size, encoding);
        Ok(None)
    }

    /// Starts attaching a terminal this connection has neither attached nor pending; the
    /// result arrives as an [`Opening`].
    fn start_open(&mut self, key: Key, size: Option<(u16, u16)>, encoding: Encoding) {
        let tag = self.next_tag;
        self.next_tag += 1;
        self.tags.insert(tag, key.clone());
        self.pending.insert(
            key.clone(),
            Pending {
                tag,
                encoding,
                input: Vec::new(),
                resize: None,
                early: Vec::new(),
            },
        );
        let hub = Arc::clone(&self.state.hub);
        let events = self.events.clone();
        let openings = self.openings.clone();
        tokio::spawn(async move {
            let result = hub.open(key.0, &key.1, size, tag, events).await;
            // If the socket is gone, dropping the attachment detaches it.
            let _ = openings.send((key, tag, result));
        });
    }

    /// An open finished: `opened` (then what arrived meanwhile), or the error.
    async fn opened(&mut self, socket: &mut WebSocket, (key, tag, result): Opening) -> Flow {
        if self
            .pending
            .get(&key)
            .is_none_or(|pending| pending.tag != tag)
        {
            // Detached while opening: dropping the attachment detaches it.
            return Flow::Continue;
        }
        let Some(pending) = self.pending.remove(&key) else {
            return Flow::Continue;
        };
        let attachment = match result {
            Ok(attachment) => attachment,
            Err(err) => {
                self.tags.remove(&tag);
                let error = ServerMessage::error(err.code(), err.to_string())
                    .about(&key.0.to_string(), Some(&key.1));
                return self.send(socket, error).await;
            }
        };
        if let Some((cols, rows)) = pending.resize {
            let _ = attachment.resize(cols, rows);
        }
        for input in pending.input {
            let _ = attachment.input(input);
        }
        let opened = ServerMessage::Opened {
            session_id: key.0,
            terminal_id: key.1.clone(),
            created: attachment.opened.created,
            replayed: attachment.opened.replay,
        };
        self.terminals.insert(
            key,
            Terminal {
                attachment,
                tag,
                encoding: pending.encoding,
                text: Utf8Stream::default(),
            },
        );
        if let Flow::Stop = self.send(socket, opened).await {
            return Flow::Stop;
        }
        for event in pending.early {
            if let Flow::Stop = self.event(socket, tag, event).await {
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    async fn input(
        &mut self,
        session: &str,
        terminal: Option<&str>,
        input: Option<String>,
        data: Option<String>,
    ) -> Result<(), ServerMessage> {
        let (key, role) = self.resolve(session, terminal).await?;
        if !role.can_write() {
            return Err(ServerMessage::error(
                "forbidden",
                "you may watch this session but not type in it (viewer)",
            ));
        }
        let bytes = match (input, data) {
            (Some(text), None) => Bytes::from(text),
            (None, Some(encoded)) => BASE64
                .decode(encoded)
                .map(Bytes::from)
                .map_err(|_| ServerMessage::error("bad_request", "data must be standard base64"))?,
            _ => {
                return Err(ServerMessage::error(
                    "bad_request",
                    "give exactly one of input (text) or data (base64)",
                ));
            }
        };
        if !self.input.take(bytes.len()) {
            return Err(ServerMessage::error(
                "rate_limited",
                format!(
                    "input faster than {} bytes/s; this input was dropped",
                    self.state.ws.input_rate
                ),
            ));
        }
        self.state.workspaces.touch(key.0);
        if let Some(attached) = self.terminals.get(&key) {
            return attached
                .attachment
                .input(bytes)
                .map_err(|err| ServerMessage::error(err.code(), err.to_string()));
        }
        if !self.pending.contains_key(&key) {
            self.start_open(key.clone(), None, Encoding::Utf8);
        }
        if let Some(pending) = self.pending.get_mut(&key) {
            pending.input.push(bytes);
        }
        Ok(())
    }

    async fn resize(
        &mut self,
        session: &str,
        terminal: Option<&str>,
        cols: u16,
        rows: u16,
    ) -> Result<(), ServerMessage> {
        let (key, role) = self.resolve(session, terminal).await?;
        if !role.can_write() {
            return Err(ServerMessage::error(
                "forbidden",
                "viewers cannot resize terminals",
            ));
        }
        if cols == 0 || rows == 0 {
            return Err(ServerMessage::error(
                "bad_request",
                "cols and rows must be at least 1",
            ));
        }
        if let Some(pending) = self.pending.get_mut(&key) {
            pending.resize = Some((cols, rows));
            return Ok(());
        }
        match self.terminals.get(&key) {
            Some(attached) => attached
                .attachment
                .resize(cols, rows)
                .map_err(|err| ServerMessage::error(err.code(), err.to_string())),
            None => {
                self.start_open(key, Some((cols, rows)), Encoding::Utf8);
                Ok(())
            }
        }
    }

    async fn close_terminal(
        &mut self,
        session: &str,
        terminal: Option<&str>,
    ) -> Result<ServerMessage, ServerMessage> {
        let (key, role) = self.resolve(session, terminal).await?;
        if !role.can_write() {
            return Err(ServerMessage::error(
                "forbidden",
                "viewers cannot close terminals",
            ));
        }
        self.state
            .hub
            .close_terminal(key.0, &key.1)
            .await
            .map_err(|err| ServerMessage::error(err.code(), err.to_string()))?;
        Ok(ServerMessage::Closed {
            session_id: key.0,
            terminal_id: key.1,
        })
    }

    async fn detach(
        &mut self,
        session: &str,
        terminal: Option<&str>,
    ) -> Result<ServerMessage, ServerMessage> {
        let (key, _) = self.resolve(session, terminal).await?;
        if let Some(pending) = self.pending.remove(&key) {
            self.tags.remove(&pending.tag);
        } else {
            let attached = self.terminals.remove(&key).ok_or_else(not_open)?;
            self.tags.remove(&attached.tag);
        }
        Ok(ServerMessage::Detached {
            session_id: key.0,
            terminal_id: key.1,
            reason: "detached by the client".into(),
        })
    }

    /// Forwards one attachment event to the client.
    async fn event(&mut self, socket: &mut WebSocket, tag: u64, event: TermEvent) -> Flow {
        let Some(key) = self.tags.get(&tag).cloned() else {
            return Flow::Continue;
        };
        if let Some(pending) = self.pending.get_mut(&key) {
            pending.early.push(event);
            return Flow::Continue;
        }
        let (session_id, terminal_id) = key.clone();
        let message = match event {
            TermEvent::Output(data) => {
                let Some(attached) = self.terminals.get_mut(&key) else {
                    return Flow::Continue;
                };
                let message = match attached.encoding {
                    Encoding::Base64 => Some((None, Some(BASE64.encode(&data)))),
                    Encoding::Utf8 => {
                        let text = attached.text.push(&data);
                        (!text.is_empty()).then_some((Some(text), None))
                    }
                };
                let flow = match message {
                    Some((output, data)) => {
                        let message = ServerMessage::TerminalOutput {
                            session_id,
                            terminal_id,
                            output,
                            data,
                        };
                        self.send(socket, message).await
                    }
                    None => Flow::Continue,
                };
                // Credit only what the client has taken: a slow client slows only itself.
                if let Some(attached) = self.terminals.get(&key) {
                    attached.attachment.credit(data.len());
                }
                return flow;
            }
            TermEvent::Exited(status) => {
                self.end(&key, tag);
                let (code, signal) = match status {
                    ExitStatus::Code(code) => (Some(code), None),
                    ExitStatus::Signal(signal) => (None, Some(signal)),
                };
                ServerMessage::Exit {
                    session_id,
                    terminal_id,
                    code,
                    signal,
                }
            }
            TermEvent::Detached(reason) => {
                self.end(&key, tag);
                ServerMessage::Detached {
                    session_id,
                    terminal_id,
                    reason,
                }
            }
            TermEvent::Error(message) => ServerMessage::error("terminal_error", message)
                .about(&session_id.to_string(), Some(&terminal_id)),
            TermEvent::AgentLost(reason) => {
                self.end(&key, tag);
                ServerMessage::error(
                    "unavailable",
                    format!("{reason}; open the terminal again to reconnect"),
                )
                .about(&session_id.to_string(), Some(&terminal_id))
            }
        };
        self.send(socket, message).await
    }

    /// Forgets a terminal whose attachment the agent ended.
    fn end(&mut self, key: &Key, tag: u64) {
        self.tags.remove(&tag);
        if let Some(attached) = self.terminals.remove(key) {
            attached.attachment.ended();
        }
    }
}

fn not_open() -> ServerMessage {
    ServerMessage::error(
        "not_found",
        "the terminal is not open on this connection; send open first",
    )
}

/// A single reply, naming the session and terminal if it is an error.
fn one(
    result: Result<ServerMessage, ServerMessage>,
    session: &str,
    terminal: Option<&str>,
) -> Vec<ServerMessage> {
    vec![result.unwrap_or_else(|error| error.about(session, terminal))]
}
