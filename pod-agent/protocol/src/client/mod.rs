//! The one client of the agent protocol (feature `client`): a connection over any
//! `AsyncRead + AsyncWrite` byte stream, used by every part of the bridge that talks to an agent.
//!
//! [`Client::connect`] says hello (refusing an agent that answers with a version this crate does
//! not speak), then starts two tasks: a reader that routes the agent's frames, and a writer that
//! batches the client's frames onto the stream. On top of that:
//!
//! - requests ([`Client::request`] and the typed calls in [`files`]) get a fresh `req` and a
//!   oneshot waiter; the reader completes the waiter with the answer carrying that `req`;
//! - terminal streams ([`Client::open`], [`Stream`]) deliver their output and end to a sink
//!   given by the caller, under the output credit the caller grants;
//! - file events (after `Watch`) go to a bounded queue, [`Events`].
//!
//! Request ids and stream numbers come from one counter, so an `Error{req}` is never ambiguous.
//!
//! # Failure
//!
//! When the stream ends (cleanly or in the middle of a frame), fails, or the agent breaks the
//! protocol, the connection is *closed* with a [`Closed`] reason, once: every waiter gets
//! [`ClientError::Closed`], every open stream gets [`StreamEvent::Lost`], the event queue ends,
//! the hooks of [`Client::on_close`] run, and later calls fail at once. Nothing waits for an
//! answer that cannot come. A request future that is dropped (a caller's timeout) removes its
//! waiter.
//!
//! # Memory against a hostile agent
//!
//! The agent runs inside an untrusted sandbox, so nothing it sends may grow the client's memory
//! beyond a bound: frames are at most [`MAX_FRAME_LEN`](crate::MAX_FRAME_LEN) (the decoder
//! refuses longer ones before reading them); answers only complete waiters that exist, and
//! answers to unknown ids are dropped without touching any map; a stream's output beyond the
//! credit granted closes the connection; a stream gets at most one `Error` per frame sent on it
//! that can draw one; file events are capped in count and bytes (then one
//! [`FileEvent::Overflow`]); and at most a few `Pong`s wait for a stalled writer.
//!
//! Modules: [`files`] (typed file and terminal requests), [`stream`] (terminal streams and
//! credit), [`events`] (the bounded file-event queue), `state` (the shared maps and the routing
//! of incoming frames), `tasks` (the reader and writer tasks) and, with feature `test-util`,
//! [`fake`] (a scripted fake agent for tests).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::{EncodeError, ErrorCode, Frame, FrameReader, FrameWriter, HandshakeError};
use state::Shared;

pub mod events;
#[cfg(any(test, feature = "test-util"))]
pub mod fake;
pub mod files;
mod state;
pub mod stream;
mod tasks;
#[cfg(test)]
mod tests;

pub use events::{Events, FileEvent, MAX_QUEUED_BYTES, MAX_QUEUED_EVENTS};
pub use files::Activity;
pub use stream::{Opened, Stream, StreamEvent};

/// Why the connection closed. Cloned to every waiter, stream and hook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Closed {
    /// The agent ended the stream between two frames.
    #[error("the agent closed the connection")]
    Eof,
    /// The agent sent a connection-level `Error` (`req` 0) and then closed: its message.
    #[error("the agent closed the connection: {0}")]
    Refused(String),
    /// Reading or writing the stream failed, or it ended in the middle of a frame.
    #[error("the connection to the agent failed: {0}")]
    Io(String),
    /// The agent sent a malformed frame, or more output than its credit allowed.
    #[error("the agent broke the protocol: {0}")]
    Protocol(String),
    /// This side shut the connection down ([`Client::shutdown`], or the client was dropped).
    #[error("the connection was shut down")]
    Shutdown,
}

/// Why a request or a stream operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The agent answered with `Error`.
    #[error("{message}")]
    Remote { code: ErrorCode, message: String },
    /// The connection is closed (before or while waiting for the answer).
    #[error(transparent)]
    Closed(Closed),
    /// The request cannot be put on the wire (larger than a frame may be); nothing was sent.
    #[error("cannot send the request: {0}")]
    Encode(#[from] EncodeError),
    /// The agent answered with a frame of the wrong type (its type byte).
    #[error("unexpected answer from the agent: frame type 0x{0:02x}")]
    Unexpected(u8),
}

/// See the module documentation. Dropping the client closes the connection at once; use
/// [`Client::shutdown`] to let queued frames reach the agent first.
pub struct Client {
    shared: Arc<Shared>,
    /// The protocol version agreed in the hello (2 brings conditional writes and `MakeDir`).
    version: u16,
    /// The agent's software string from its hello, for logs.
    agent: String,
    /// The writer task, then the reader task; taken by `shutdown`, aborted on drop.
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Client {
    /// Says hello over `stream`, naming this side `software`, and starts the reader and writer
    /// tasks. The [`Events`] receive file events once [`Client::watch`] was called; drop them
    /// if the connection will not watch (events are then discarded on arrival).
    pub async fn connect<S>(stream: S, software: &str) -> Result<(Client, Events), HandshakeError>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read, write) = tokio::io::split(stream);
        let mut reader = FrameReader::new(read);
        let mut writer = FrameWriter::new(write);
        let (version, agent) = crate::client_handshake(&mut reader, &mut writer, software).await?;
        let (out, out_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::new(out));
        let (queue, events) = events::channel();
        let write_task = tokio::spawn(tasks::write_loop(
            writer.into_inner(),
            out_rx,
            Arc::clone(&shared),
        ));
        let read_task = tokio::spawn(tasks::read_loop(reader, Arc::clone(&shared), queue));
        let client = Client {
            shared,
            version,
            agent,
            tasks: Mutex::new(vec![write_task, read_task]),
        };
        Ok((client, events))
    }

    /// The protocol version agreed in the hello.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// The agent's software string, from its hello.
    pub fn agent_software(&self) -> &str {
        &self.agent
    }

    /// True once the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed.is_some()
    }

    /// Why the connection closed, once it has.
    pub fn closed(&self) -> Option<Closed> {
        self.shared.lock().closed.clone()
    }

    /// Runs `hook` once with the reason when the connection closes (at once if it already
    /// has). It runs on whichever task noticed the end, so it must not block.
    pub fn on_close(&self, hook: impl FnOnce(&Closed) + Send + 'static) {
        let mut state = self.shared.lock();
        match state.closed.clone() {
            Some(why) => {
                drop(state);
                hook(&why);
            }
            None => state.on_close.push(Box::new(hook)),
        }
    }

    /// Sends the request `make(req)` and waits for the agent's answer to it: the answering
    /// frame (`Ok`, `Content`, `Listing`, `Activity`), or [`ClientError::Remote`] for `Error`.
    /// Dropping the future forgets the request.
    pub async fn request(&self, make: impl FnOnce(u32) -> Frame) -> Result<Frame, ClientError> {
        let (answer, answered) = oneshot::channel();
        let req = {
            let mut state = self.shared.lock();
            state.check_open()?;
            let req = state.reserve_id();
            state.requests.insert(req, answer);
            req
        };
        let _pending = Pending {
            shared: &self.shared,
            req,
        };
        self.shared.send(&make(req), None)?;
        match answered.await {
            Ok(answer) => answer,
            Err(_) => Err(self.shared.lock().closed_error()),
        }
    }

    /// [`Client::request`] for a request answered by `Ok`.
    pub async fn ok(&self, make: impl FnOnce(u32) -> Frame) -> Result<(), ClientError> {
        match self.request(make).await? {
            Frame::Ok { .. } => Ok(()),
            other => Err(ClientError::Unexpected(other.kind())),
        }
    }

    /// Closes the connection with [`Closed::Shutdown`], letting the writer put what is queued
    /// on the wire and end the stream's write side for up to `grace`. The agent detaches every
    /// stream of the connection; its terminals keep running.
    pub async fn shutdown(&self, grace: Duration) {
        self.shared.close(Closed::Shutdown);
        let tasks: Vec<_> = std::mem::take(&mut *state::lock(&self.tasks));
        let mut tasks = tasks.into_iter();
        if let Some(writer) = tasks.next() {
            let _ = tokio::time::timeout(grace, writer).await;
        }
        for task in tasks {
            task.abort();
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("version", &self.version)
            .field("agent", &self.agent)
            .field("closed", &self.closed())
            .finish_non_exhaustive()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shared.close(Closed::Shutdown);
        for task in state::lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

/// Forgets a request's waiter when its future ends, answered or not (a timeout drops it).
struct Pending<'a> {
    shared: &'a Shared,
    req: u32,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.shared.lock().requests.remove(&self.req);
    }
}
