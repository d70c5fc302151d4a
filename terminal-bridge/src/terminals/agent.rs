//! One connection to one session's pod-agent, shared by every client of the session: a thin
//! layer over the protocol's [`Client`] that adds what the bridge wants of terminals (the last
//! size asked for per terminal, metrics, the error codes clients see).
//!
//! Each client attachment to a terminal is its own agent stream, so the agent does the fan-out:
//! each attachment gets the scrollback replay on open, its own credit window and its own
//! bounded queue, and a stalled attachment is cut off by the agent without slowing the others
//! for more than the agent's stall timeout. The client's reader task routes the agent's frames
//! to the attachments; its writer task batches frames to the agent.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use agent_protocol::client::{Stream, StreamEvent};
use agent_protocol::{Client, ClientError, Closed, ErrorCode, ExitStatus};
use bytes::Bytes;
use tokio::sync::mpsc;
use tracing::{debug, info};
use uuid::Uuid;

pub use agent_protocol::client::Opened;

use super::{DEFAULT_SIZE, HubError};
use crate::metrics::Metrics;
use crate::runtime::AgentStream;

/// How long the agent may take to answer the hello.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the agent may take to answer `Open` (it may have to start a shell).
const OPEN_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a `Close` may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a shutdown waits for queued frames to reach the agent.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What an attachment's client hears, tagged with the client's own attachment number.
#[derive(Debug)]
pub enum TermEvent {
    /// Terminal output (the first `Opened::replay` bytes are scrollback).
    Output(Bytes),
    /// The shell ended; the attachment is over.
    Exited(ExitStatus),
    /// The agent ended the attachment (e.g. the client read too slowly); the shell runs on.
    Detached(String),
    /// The agent refused something on this attachment (input queue full, resize failed).
    Error(String),
    /// The connection to the agent was lost; the attachment is over.
    AgentLost(String),
}

/// The events channel of one client: `(client tag, event)`. Unbounded on purpose: output is
/// limited by the credit window of each attachment, so the channel holds at most one window
/// per attachment plus a few control events, and the agent's reader never waits for a client.
pub type EventSender = mpsc::UnboundedSender<(u64, TermEvent)>;

/// See the module documentation.
pub struct AgentConn {
    session: Uuid,
    client: Client,
    /// The last size asked for per terminal, used by opens that name none (a viewer's, or an
    /// implicit one), so that they do not shrink the terminal everyone else sees.
    sizes: Mutex<HashMap<String, (u16, u16)>>,
    metrics: Arc<Metrics>,
}

impl AgentConn {
    /// Says hello over `stream` and starts the client's reader and writer tasks.
    pub async fn start(
        session: Uuid,
        stream: AgentStream,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<AgentConn>, HubError> {
        let software = concat!("terminal-bridge/", env!("CARGO_PKG_VERSION"));
        // Terminal connections never watch: their file events are dropped on arrival.
        let client = match tokio::time::timeout(
            HANDSHAKE_TIMEOUT,
            Client::connect(stream, software),
        )
        .await
        {
            Ok(Ok((client, _events))) => client,
            Ok(Err(err)) => {
                return Err(HubError::Unavailable(format!(
                    "the workspace agent refused the connection: {err}"
                )));
            }
            Err(_) => {
                return Err(HubError::Unavailable(
                    "the workspace agent did not answer in time".into(),
                ));
            }
        };
        debug!(%session, version = client.version(), agent = client.agent_software(),
            "connected to the workspace agent");
        metrics.agent_connections.fetch_add(1, Relaxed);
        let gauge = Arc::clone(&metrics);
        client.on_close(move |why| {
            gauge.agent_connections.fetch_sub(1, Relaxed);
            if *why != Closed::Shutdown {
                info!(%session, reason = lost_reason(why), "lost the workspace agent");
            }
        });
        Ok(Arc::new(AgentConn {
            session,
            client,
            sizes: Mutex::default(),
            metrics,
        }))
    }

    /// False once the connection to the agent is gone; the hub then connects anew.
    pub fn is_alive(&self) -> bool {
        !self.client.is_closed()
    }

    fn sizes(&self) -> MutexGuard<'_, HashMap<String, (u16, u16)>> {
        self.sizes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens or attaches terminal `terminal` for one client, at `size` (or else the last size
    /// asked for, or [`DEFAULT_SIZE`]). Output and the end of the attachment arrive on
    /// `events` tagged with `tag`.
    pub async fn open(
        self: &Arc<Self>,
        terminal: &str,
        size: Option<(u16, u16)>,
        window: u32,
        tag: u64,
        events: EventSender,
    ) -> Result<Attachment, HubError> {
        if let Some(why) = self.client.closed() {
            return Err(HubError::Unavailable(lost_reason(&why)));
        }
        let (cols, rows) = {
            let mut sizes = self.sizes();
            match size {
                Some(size) => {
                    sizes.insert(terminal.to_owned(), size);
                    size
                }
                None => sizes.get(terminal).copied().unwrap_or(DEFAULT_SIZE),
            }
        };
        let sink = move |event| {
            let _ = events.send((tag, term_event(event)));
        };
        let opening = self.client.open(terminal, cols, rows, window, sink);
        match tokio::time::timeout(OPEN_TIMEOUT, opening).await {
            Ok(Ok((stream, opened))) => {
                self.metrics.terminals_attached.fetch_add(1, Relaxed);
                Ok(Attachment {
                    conn: Arc::clone(self),
                    stream,
                    terminal: terminal.to_owned(),
                    opened,
                })
            }
            Ok(Err(ClientError::Closed(why))) => Err(HubError::Unavailable(lost_reason(&why))),
            Ok(Err(err)) => Err(HubError::Agent(err.to_string())),
            Err(_) => Err(HubError::Unavailable(
                "the terminal did not open in time".into(),
            )),
        }
    }

    /// Kills terminal `terminal` (its shell and jobs), attached or not.
    pub async fn close_terminal(&self, terminal: &str) -> Result<(), HubError> {
        match tokio::time::timeout(REQUEST_TIMEOUT, self.client.close_terminal(terminal)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(ClientError::Remote {
                code: ErrorCode::NotFound,
                ..
            })) => Err(HubError::NotFound),
            Ok(Err(ClientError::Closed(why))) => Err(HubError::Unavailable(lost_reason(&why))),
            Ok(Err(err)) => Err(HubError::Agent(err.to_string())),
            Err(_) => Err(HubError::Unavailable(
                "the workspace did not answer in time".into(),
            )),
        }
    }

    /// Flushes what is queued for the agent and closes the connection. The agent detaches
    /// every stream of the connection; the terminals keep running.
    pub async fn shutdown(&self) {
        debug!(session = %self.session, "closing the workspace agent connection");
        self.client.shutdown(SHUTDOWN_GRACE).await;
    }
}

/// What clients are told when the connection to the agent is gone.
fn lost_reason(why: &Closed) -> String {
    match why {
        Closed::Eof => "the workspace agent closed the connection".into(),
        Closed::Shutdown => "the bridge is shutting down".into(),
        Closed::Refused(message) => {
            format!("the workspace agent closed the connection: {message}")
        }
        Closed::Io(err) | Closed::Protocol(err) => {
            format!("the connection to the workspace agent failed: {err}")
        }
    }
}

fn term_event(event: StreamEvent) -> TermEvent {
    match event {
        StreamEvent::Output(data) => TermEvent::Output(data),
        StreamEvent::Exited(status) => TermEvent::Exited(status),
        StreamEvent::Detached(reason) => TermEvent::Detached(reason),
        StreamEvent::Error { message, .. } => TermEvent::Error(message),
        StreamEvent::Lost(why) => TermEvent::AgentLost(lost_reason(&why)),
    }
}

/// One client's attachment to one terminal. Dropping it detaches (the shell keeps running).
pub struct Attachment {
    conn: Arc<AgentConn>,
    stream: Stream,
    terminal: String,
    /// The agent's answer to the open.
    pub opened: Opened,
}

impl Attachment {
    /// Sends input to the shell.
    pub fn input(&self, data: Bytes) -> Result<(), HubError> {
        self.conn
            .metrics
            .terminal_bytes_in
            .fetch_add(u64::try_from(data.len()).unwrap_or(u64::MAX), Relaxed);
        self.stream.input(data).map_err(lost)
    }

    /// Changes the terminal's size (for every client of the terminal).
    pub fn resize(&self, cols: u16, rows: u16) -> Result<(), HubError> {
        self.conn
            .sizes()
            .insert(self.terminal.clone(), (cols, rows));
        self.stream.resize(cols, rows).map_err(lost)
    }

    /// Returns `bytes` of output credit, once the client has taken that much output.
    pub fn credit(&self, bytes: usize) {
        self.conn
            .metrics
            .terminal_bytes_out
            .fetch_add(u64::try_from(bytes).unwrap_or(u64::MAX), Relaxed);
        self.stream.credit(u32::try_from(bytes).unwrap_or(u32::MAX));
    }

    /// Drops the attachment without detaching: the agent already ended it.
    pub fn ended(mut self) {
        self.stream.ended();
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        self.conn.metrics.terminals_attached.fetch_sub(1, Relaxed);
    }
}

/// Why a frame for the agent could not be sent.
fn lost(err: ClientError) -> HubError {
    match err {
        ClientError::Closed(_) => {
            HubError::Unavailable("the connection to the workspace was lost".into())
        }
        other => HubError::Agent(other.to_string()),
    }
}
