//! One connection to one session's pod-agent, shared by every client of the session.
//!
//! Each client attachment to a terminal is its own agent stream, so the agent does the fan-out:
//! each attachment gets the scrollback replay on open, its own credit window and its own
//! bounded queue, and a stalled attachment is cut off by the agent without slowing the others
//! for more than the agent's stall timeout. A reader task routes the agent's frames to the
//! attachments; a writer task batches frames to the agent.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use agent_protocol::{ErrorCode, ExitStatus, Frame, FrameReader, FrameWriter, client_handshake};
use bytes::Bytes;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};
use uuid::Uuid;

use super::{DEFAULT_SIZE, HubError};
use crate::metrics::Metrics;
use crate::runtime::AgentStream;

/// How long the agent may take to answer the hello.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the agent may take to answer `Open` (it may have to start a shell).
const OPEN_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a `Close` may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Flush to the agent at least every this many buffered bytes.
const WRITE_BATCH: usize = 256 * 1024;

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

/// The agent's answer to `Open`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    /// True if this open started the shell.
    pub created: bool,
    /// The shell's process id inside the sandbox.
    pub pid: u32,
    /// Bytes of scrollback at the start of the output.
    pub replay: u32,
}

type Failure = (ErrorCode, String);

struct StreamEntry {
    tag: u64,
    events: EventSender,
    /// Present until the agent answered the `Open`.
    opening: Option<oneshot::Sender<Result<Opened, Failure>>>,
}

#[derive(Default)]
struct State {
    streams: HashMap<u32, StreamEntry>,
    /// The last size asked for per terminal, used by opens that name none (a viewer's, or an
    /// implicit one), so that they do not shrink the terminal everyone else sees.
    sizes: HashMap<String, (u16, u16)>,
    requests: HashMap<u32, oneshot::Sender<Result<(), Failure>>>,
    /// Why the connection is gone, once it is.
    lost: Option<String>,
}

/// See the module documentation.
pub struct AgentConn {
    session: Uuid,
    /// Frames for the writer task; `None` asks it to flush and stop. Unbounded: clients' input
    /// is rate-limited per connection and everything else is small control frames.
    out: mpsc::UnboundedSender<Option<Frame>>,
    state: Mutex<State>,
    /// Stream numbers and request ids come from one counter, so an `Error{req}` is never
    /// ambiguous between the two.
    next_id: AtomicU32,
    alive: AtomicBool,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    metrics: Arc<Metrics>,
}

impl AgentConn {
    /// Says hello over `stream` and starts the reader and writer tasks.
    pub async fn start(
        session: Uuid,
        stream: AgentStream,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<AgentConn>, HubError> {
        let (read, write) = tokio::io::split(stream);
        let mut reader = FrameReader::new(read);
        let mut writer = FrameWriter::new(write);
        let software = concat!("terminal-bridge/", env!("CARGO_PKG_VERSION"));
        match tokio::time::timeout(
            HANDSHAKE_TIMEOUT,
            client_handshake(&mut reader, &mut writer, software),
        )
        .await
        {
            Ok(Ok((version, agent))) => {
                debug!(%session, version, agent, "connected to the workspace agent")
            }
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
        }
        let (out, out_rx) = mpsc::unbounded_channel();
        let conn = Arc::new(AgentConn {
            session,
            out,
            state: Mutex::default(),
            next_id: AtomicU32::new(1),
            alive: AtomicBool::new(true),
            tasks: Mutex::default(),
            metrics,
        });
        conn.metrics.agent_connections.fetch_add(1, Relaxed);
        let read_task = tokio::spawn(read_loop(Arc::clone(&conn), reader));
        let write_task = tokio::spawn(write_loop(writer, out_rx));
        lock(&conn.tasks).extend([write_task, read_task]);
        Ok(conn)
    }

    /// False once the connection to the agent is gone; the hub then connects anew.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Relaxed)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn id(&self) -> u32 {
        self.next_id.fetch_add(1, Relaxed)
    }

    fn send(&self, frame: Frame) -> Result<(), HubError> {
        self.out
            .send(Some(frame))
            .map_err(|_| HubError::Unavailable("the connection to the workspace was lost".into()))
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
        let stream = self.id();
        let (answer, answered) = oneshot::channel();
        let (cols, rows) = {
            let mut state = self.state();
            if let Some(reason) = &state.lost {
                return Err(HubError::Unavailable(reason.clone()));
            }
            let size = match size {
                Some(size) => {
                    state.sizes.insert(terminal.to_owned(), size);
                    size
                }
                None => state.sizes.get(terminal).copied().unwrap_or(DEFAULT_SIZE),
            };
            state.streams.insert(
                stream,
                StreamEntry {
                    tag,
                    events,
                    opening: Some(answer),
                },
            );
            size
        };
        // From here on, dropping `attachment` (an error, or the caller giving up) cleans up.
        let mut attachment = Attachment {
            conn: Arc::clone(self),
            stream,
            terminal: terminal.to_owned(),
            opened: Opened {
                created: false,
                pid: 0,
                replay: 0,
            },
            ended: false,
            counted: false,
        };
        self.send(Frame::Open {
            stream,
            terminal: terminal.to_owned(),
            cols,
            rows,
            window,
        })?;
        match tokio::time::timeout(OPEN_TIMEOUT, answered).await {
            Ok(Ok(Ok(opened))) => {
                attachment.opened = opened;
                attachment.counted = true;
                self.metrics.terminals_attached.fetch_add(1, Relaxed);
                Ok(attachment)
            }
            Ok(Ok(Err((_, message)))) => {
                attachment.ended = true;
                // `lose` answers pending opens with its reason after marking us dead.
                Err(if self.is_alive() {
                    HubError::Agent(message)
                } else {
                    HubError::Unavailable(message)
                })
            }
            Ok(Err(_)) => {
                attachment.ended = true;
                Err(HubError::Unavailable(
                    "the connection to the workspace was lost".into(),
                ))
            }
            Err(_) => Err(HubError::Unavailable(
                "the terminal did not open in time".into(),
            )),
        }
    }

    /// Kills terminal `terminal` (its shell and jobs), attached or not.
    pub async fn close_terminal(&self, terminal: &str) -> Result<(), HubError> {
        let req = self.id();
        let (answer, answered) = oneshot::channel();
        {
            let mut state = self.state();
            if let Some(reason) = &state.lost {
                return Err(HubError::Unavailable(reason.clone()));
            }
            state.requests.insert(req, answer);
        }
        self.send(Frame::Close {
            req,
            terminal: terminal.to_owned(),
        })?;
        let result = tokio::time::timeout(REQUEST_TIMEOUT, answered).await;
        self.state().requests.remove(&req);
        match result {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err((ErrorCode::NotFound, _)))) => Err(HubError::NotFound),
            Ok(Ok(Err((_, message)))) => Err(HubError::Agent(message)),
            Ok(Err(_)) => Err(HubError::Unavailable(
                "the connection to the workspace was lost".into(),
            )),
            Err(_) => Err(HubError::Unavailable(
                "the workspace did not answer in time".into(),
            )),
        }
    }

    /// Flushes what is queued for the agent and closes the connection. The agent detaches
    /// every stream of the connection; the terminals keep running.
    pub async fn shutdown(&self) {
        let _ = self.out.send(None);
        let tasks: Vec<_> = lock(&self.tasks).drain(..).collect();
        let mut tasks = tasks.into_iter();
        if let Some(writer) = tasks.next() {
            let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
        }
        for task in tasks {
            task.abort();
        }
        self.lose("the bridge is shutting down".into());
    }

    /// Marks the connection lost and tells every attachment.
    fn lose(&self, reason: String) {
        if !self.alive.swap(false, Relaxed) {
            return;
        }
        self.metrics.agent_connections.fetch_sub(1, Relaxed);
        let mut state = self.state();
        state.lost = Some(reason.clone());
        for (_, entry) in state.streams.drain() {
            match entry.opening {
                Some(opening) => {
                    let _ = opening.send(Err((ErrorCode::Io, reason.clone())));
                }
                None => {
                    let _ = entry
                        .events
                        .send((entry.tag, TermEvent::AgentLost(reason.clone())));
                }
            }
        }
        for (_, request) in state.requests.drain() {
            let _ = request.send(Err((ErrorCode::Io, reason.clone())));
        }
    }

    /// Routes one frame from the agent.
    fn route(&self, frame: Frame) {
        let mut state = self.state();
        match frame {
            Frame::Opened {
                stream,
                created,
                pid,
                replay,
            } => {
                if let Some(opening) = state
                    .streams
                    .get_mut(&stream)
                    .and_then(|entry| entry.opening.take())
                {
                    let _ = opening.send(Ok(Opened {
                        created,
                        pid,
                        replay,
                    }));
                }
            }
            Frame::Output { stream, data } => {
                if let Some(entry) = state.streams.get(&stream) {
                    let _ = entry.events.send((entry.tag, TermEvent::Output(data)));
                }
            }
            Frame::Exited { stream, status } => {
                if let Some(entry) = state.streams.remove(&stream) {
                    let _ = entry.events.send((entry.tag, TermEvent::Exited(status)));
                }
            }
            Frame::Detached { stream, reason } => {
                if let Some(entry) = state.streams.remove(&stream) {
                    let _ = entry.events.send((entry.tag, TermEvent::Detached(reason)));
                }
            }
            Frame::Error { req, code, message } => {
                if let Some(request) = state.requests.remove(&req) {
                    let _ = request.send(Err((code, message)));
                } else if let Some(entry) = state.streams.get_mut(&req) {
                    if let Some(opening) = entry.opening.take() {
                        state.streams.remove(&req);
                        let _ = opening.send(Err((code, message)));
                    } else {
                        let _ = entry.events.send((entry.tag, TermEvent::Error(message)));
                    }
                } else {
                    debug!(session = %self.session, req, ?code, message, "agent error");
                }
            }
            Frame::Ok { req } => {
                if let Some(request) = state.requests.remove(&req) {
                    let _ = request.send(Ok(()));
                }
            }
            Frame::Ping { nonce } => {
                drop(state);
                let _ = self.send(Frame::Pong { nonce });
            }
            other => debug!(session = %self.session, kind = other.kind(), "ignored agent frame"),
        }
    }
}

/// One client's attachment to one terminal. Dropping it detaches (the shell keeps running).
pub struct Attachment {
    conn: Arc<AgentConn>,
    stream: u32,
    terminal: String,
    /// The agent's answer to the open.
    pub opened: Opened,
    /// The agent already ended the stream (exit, detach, lost): nothing to detach.
    ended: bool,
    /// Counted in `terminals_attached` (the open succeeded).
    counted: bool,
}

impl Attachment {
    /// Sends input to the shell.
    pub fn input(&self, data: Bytes) -> Result<(), HubError> {
        self.conn
            .metrics
            .terminal_bytes_in
            .fetch_add(u64::try_from(data.len()).unwrap_or(u64::MAX), Relaxed);
        self.conn.send(Frame::Input {
            stream: self.stream,
            data,
        })
    }

    /// Changes the terminal's size (for every client of the terminal).
    pub fn resize(&self, cols: u16, rows: u16) -> Result<(), HubError> {
        self.conn
            .state()
            .sizes
            .insert(self.terminal.clone(), (cols, rows));
        self.conn.send(Frame::Resize {
            stream: self.stream,
            cols,
            rows,
        })
    }

    /// Returns `bytes` of output credit, once the client has taken that much output.
    pub fn credit(&self, bytes: usize) {
        self.conn
            .metrics
            .terminal_bytes_out
            .fetch_add(u64::try_from(bytes).unwrap_or(u64::MAX), Relaxed);
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        if bytes > 0 {
            let _ = self.conn.send(Frame::Credit {
                stream: self.stream,
                bytes,
            });
        }
    }

    /// Drops the attachment without detaching: the agent already ended it.
    pub fn ended(mut self) {
        self.ended = true;
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        self.conn.state().streams.remove(&self.stream);
        if self.counted {
            self.conn.metrics.terminals_attached.fetch_sub(1, Relaxed);
        }
        if !self.ended && self.conn.is_alive() {
            let _ = self.conn.send(Frame::Detach {
                stream: self.stream,
            });
        }
    }
}

async fn read_loop(conn: Arc<AgentConn>, mut reader: FrameReader<ReadHalf<AgentStream>>) {
    let reason = loop {
        match reader.read_frame().await {
            Ok(Some(frame)) => conn.route(frame),
            Ok(None) => break "the workspace agent closed the connection".to_owned(),
            Err(err) => break format!("the connection to the workspace agent failed: {err}"),
        }
    };
    if conn.is_alive() {
        info!(session = %conn.session, reason, "lost the workspace agent");
    }
    conn.lose(reason);
}

async fn write_loop(
    mut writer: FrameWriter<WriteHalf<AgentStream>>,
    mut frames: mpsc::UnboundedReceiver<Option<Frame>>,
) {
    let feed = |writer: &mut FrameWriter<_>, frame: &Frame| {
        if let Err(err) = writer.feed(frame) {
            warn!(error = %err, "cannot encode a frame for the agent");
        }
    };
    while let Some(Some(frame)) = frames.recv().await {
        feed(&mut writer, &frame);
        let mut stop = false;
        while writer.buffered() < WRITE_BATCH {
            match frames.try_recv() {
                Ok(Some(frame)) => feed(&mut writer, &frame),
                Ok(None) => {
                    stop = true;
                    break;
                }
                Err(_) => break,
            }
        }
        if writer.flush().await.is_err() || stop {
            break;
        }
    }
    let _ = tokio::io::AsyncWriteExt::shutdown(writer.get_mut()).await;
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
