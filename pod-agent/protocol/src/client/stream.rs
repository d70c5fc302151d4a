//! Terminal streams: [`Client::open`] attaches to a terminal as one stream of the connection,
//! and the [`Stream`] handle sends its input, resizes, grants output credit and, when dropped,
//! detaches.
//!
//! The agent may send a stream's `Output` only within the credit granted: the window given to
//! `open` plus every [`Stream::credit`]. The client counts it too (its count is never below the
//! agent's, since credit is counted before it is sent), and output beyond it closes the
//! connection as a protocol violation. So a caller that grants credit only for output it has
//! taken holds at most one window per stream, whatever the agent sends.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::state::{Shared, StreamEntry};
use super::{Client, ClientError, Closed};
use crate::{ErrorCode, ExitStatus, Frame};

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

/// What a stream's sink hears, in the order the agent sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// Terminal output (the first [`Opened::replay`] bytes are scrollback).
    Output(Bytes),
    /// The shell ended; the stream is over.
    Exited(ExitStatus),
    /// The agent ended the stream (the client read too slowly, or asked); the shell runs on.
    Detached(String),
    /// The agent refused something sent on the stream (input queue full, resize failed).
    Error { code: ErrorCode, message: String },
    /// The connection closed; the stream is over.
    Lost(Closed),
}

impl Client {
    /// Opens or attaches terminal `terminal` at `cols` x `rows` as a new stream, with `window`
    /// bytes of output credit (`u32::MAX`: no flow control). Its events go to `sink`, which runs
    /// on the reader task with the client's lock held: it must not block or call back into the
    /// client (an unbounded channel's `send` is the usual sink). Output may reach the sink
    /// before this returns.
    pub async fn open(
        &self,
        terminal: &str,
        cols: u16,
        rows: u16,
        window: u32,
        sink: impl FnMut(StreamEvent) + Send + 'static,
    ) -> Result<(Stream, Opened), ClientError> {
        let (answer, answered) = oneshot::channel();
        let id = {
            let mut state = self.shared.lock();
            state.check_open()?;
            let id = state.reserve_id();
            let entry = StreamEntry {
                sink: Box::new(sink),
                opening: Some(answer),
                credit: (window != u32::MAX).then_some(u64::from(window)),
                answerable: 0,
            };
            state.streams.insert(id, entry);
            id
        };
        // From here on, dropping `stream` (an error, or the caller giving up) cleans up.
        let mut stream = Stream {
            shared: Arc::clone(&self.shared),
            id,
            detach: true,
        };
        let open = Frame::Open {
            stream: id,
            terminal: terminal.to_owned(),
            cols,
            rows,
            window,
        };
        if let Err(err) = self.shared.send(&open, None) {
            stream.detach = false;
            return Err(err);
        }
        match answered.await {
            Ok(Ok(opened)) => Ok((stream, opened)),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(self.shared.lock().closed_error()),
        }
    }
}

/// One open stream. Dropping it detaches from the terminal (the shell keeps running) unless
/// the stream already ended.
pub struct Stream {
    shared: Arc<Shared>,
    id: u32,
    /// Send `Detach` on drop if the stream is still open.
    detach: bool,
}

impl Stream {
    /// The stream number on the wire.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Sends input to the shell.
    pub fn input(&self, data: Bytes) -> Result<(), ClientError> {
        let frame = Frame::Input {
            stream: self.id,
            data,
        };
        self.shared.send(&frame, Some(self.id))
    }

    /// Changes the terminal's size (for everyone attached to it).
    pub fn resize(&self, cols: u16, rows: u16) -> Result<(), ClientError> {
        let frame = Frame::Resize {
            stream: self.id,
            cols,
            rows,
        };
        self.shared.send(&frame, Some(self.id))
    }

    /// Lets the agent send `bytes` more output on this stream; call it once that much output
    /// has been taken from the sink. Does nothing once the connection is closed.
    pub fn credit(&self, bytes: u32) {
        if bytes == 0 {
            return;
        }
        if let Some(entry) = self.shared.lock().streams.get_mut(&self.id)
            && let Some(credit) = &mut entry.credit
        {
            *credit = credit.saturating_add(u64::from(bytes));
        }
        let frame = Frame::Credit {
            stream: self.id,
            bytes,
        };
        let _ = self.shared.send(&frame, None);
    }

    /// Says the stream's owner saw its end (an exit, a detach, the loss of the connection):
    /// dropping it sends no `Detach`.
    pub fn ended(&mut self) {
        self.detach = false;
    }
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let open = self.shared.lock().streams.remove(&self.id).is_some();
        if open && self.detach {
            let _ = self.shared.send(&Frame::Detach { stream: self.id }, None);
        }
    }
}
