//! What the client's handles and its two tasks share: the waiters of requests, the open
//! streams, the writer's queue and, once it happened, why the connection closed. Also the
//! routing of the agent's frames (other than file events) to them, and the closing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::{Notify, mpsc, oneshot};
use tracing::{debug, warn};

use super::stream::{Opened, StreamEvent};
use super::{ClientError, Closed};
use crate::frame::kind;
use crate::{Frame, encode_to_vec};

/// `Pong`s queued for the writer beyond which further `Ping`s go unanswered: an agent that
/// pings without reading cannot grow the queue.
const MAX_QUEUED_PONGS: usize = 8;

/// One encoded frame for the writer.
pub(super) struct Outgoing {
    pub(super) bytes: Vec<u8>,
    /// A `Pong`: counted in [`Shared::pongs`] until the writer takes it.
    pub(super) pong: bool,
}

/// How a stream's owner hears about it; called with the client's lock held, so it must not
/// block or call back into the client.
pub(super) type Sink = Box<dyn FnMut(StreamEvent) + Send>;

/// One terminal stream of the connection, from `Open` until its end.
pub(super) struct StreamEntry {
    pub(super) sink: Sink,
    /// Present until the agent answered the `Open`.
    pub(super) opening: Option<oneshot::Sender<Result<Opened, ClientError>>>,
    /// Output bytes the agent may still send; `None` for a stream opened without flow control.
    pub(super) credit: Option<u64>,
    /// How many `Error`s the agent may still send on this stream: one per frame sent on it that
    /// can draw one (`Input`, `Resize`). Others are dropped, so they cannot pile up.
    pub(super) answerable: u64,
}

impl StreamEntry {
    /// Tells the stream's owner that the connection closed.
    fn lost(mut self, why: &Closed) {
        match self.opening.take() {
            Some(opening) => {
                let _ = opening.send(Err(ClientError::Closed(why.clone())));
            }
            None => (self.sink)(StreamEvent::Lost(why.clone())),
        }
    }

    /// Delivers the last event of a stream the agent ended (of frame type `kind`); an open
    /// still waiting for its answer fails instead.
    fn end(mut self, event: StreamEvent, kind: u8) {
        match self.opening.take() {
            Some(opening) => {
                let _ = opening.send(Err(ClientError::Unexpected(kind)));
            }
            None => (self.sink)(event),
        }
    }
}

type Hook = Box<dyn FnOnce(&Closed) + Send>;

/// Everything behind the lock.
pub(super) struct State {
    /// The writer's queue; dropped at the close, which lets the writer drain it and stop.
    out: Option<mpsc::UnboundedSender<Outgoing>>,
    /// The next request id or stream number to try (0 is never used: it means "the
    /// connection" in `Error`).
    next_id: u32,
    pub(super) requests: HashMap<u32, oneshot::Sender<Result<Frame, ClientError>>>,
    pub(super) streams: HashMap<u32, StreamEntry>,
    pub(super) closed: Option<Closed>,
    /// The message of the agent's connection-level `Error`, which comes just before it closes.
    last_words: Option<String>,
    pub(super) on_close: Vec<Hook>,
}

impl State {
    /// A fresh id, not in use by a pending request or an open stream even after the counter
    /// wrapped around.
    pub(super) fn reserve_id(&mut self) -> u32 {
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            if id != 0 && !self.requests.contains_key(&id) && !self.streams.contains_key(&id) {
                return id;
            }
        }
    }

    pub(super) fn closed_error(&self) -> ClientError {
        ClientError::Closed(self.closed.clone().unwrap_or(Closed::Shutdown))
    }

    /// `Err` once the connection is closed.
    pub(super) fn check_open(&self) -> Result<(), ClientError> {
        match self.closed {
            Some(_) => Err(self.closed_error()),
            None => Ok(()),
        }
    }

    fn queue(&self, outgoing: Outgoing) -> Result<(), ClientError> {
        match &self.out {
            Some(out) if out.send(outgoing).is_ok() => Ok(()),
            _ => Err(self.closed_error()),
        }
    }
}

/// See the module documentation.
pub(super) struct Shared {
    state: Mutex<State>,
    /// Wakes the reader when the connection is closed by anything else than the reader.
    pub(super) closing: Notify,
    /// `Pong`s queued and not yet taken by the writer.
    pub(super) pongs: AtomicUsize,
}

impl Shared {
    pub(super) fn new(out: mpsc::UnboundedSender<Outgoing>) -> Shared {
        Shared {
            state: Mutex::new(State {
                out: Some(out),
                next_id: 1,
                requests: HashMap::new(),
                streams: HashMap::new(),
                closed: None,
                last_words: None,
                on_close: Vec::new(),
            }),
            closing: Notify::new(),
            pongs: AtomicUsize::new(0),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Queues `frame` for the writer. With `on_stream`, the frame may draw an `Error` on that
    /// stream, which is then let through. Encoding happens outside the lock, so a large `Put`
    /// does not hold up the reader.
    pub(super) fn send(&self, frame: &Frame, on_stream: Option<u32>) -> Result<(), ClientError> {
        let bytes = encode_to_vec(frame)?;
        let mut state = self.lock();
        if let Some(entry) = on_stream.and_then(|id| state.streams.get_mut(&id)) {
            entry.answerable = entry.answerable.saturating_add(1);
        }
        state.queue(Outgoing { bytes, pong: false })
    }

    /// Closes the connection (only the first call counts): fails every waiter and stream,
    /// lets the writer drain and stop, stops the reader and runs the hooks.
    pub(super) fn close(&self, why: Closed) {
        let (why, requests, streams, hooks) = {
            let mut state = self.lock();
            if state.closed.is_some() {
                return;
            }
            // An agent that said why before it hung up: its words are the better reason.
            let why = match (why, state.last_words.take()) {
                (Closed::Eof | Closed::Io(_), Some(words)) => Closed::Refused(words),
                (why, _) => why,
            };
            debug!(reason = %why, "agent connection closed");
            state.closed = Some(why.clone());
            state.out = None;
            (
                why,
                std::mem::take(&mut state.requests),
                std::mem::take(&mut state.streams),
                std::mem::take(&mut state.on_close),
            )
        };
        self.closing.notify_one();
        for (_, waiter) in requests {
            let _ = waiter.send(Err(ClientError::Closed(why.clone())));
        }
        for (_, entry) in streams {
            entry.lost(&why);
        }
        for hook in hooks {
            hook(&why);
        }
    }

    /// Routes one frame from the agent (file events excepted) to its waiter or stream.
    /// `Err` is a protocol violation that must close the connection.
    pub(super) fn route(&self, frame: Frame) -> Result<(), Closed> {
        let mut state = self.lock();
        match frame {
            frame @ (Frame::Ok { req }
            | Frame::Content { req, .. }
            | Frame::Listing { req, .. }
            | Frame::Activity { req, .. }) => match state.requests.remove(&req) {
                Some(waiter) => {
                    let _ = waiter.send(Ok(frame));
                }
                None => debug!(req, kind = frame.kind(), "answer to no pending request"),
            },
            Frame::Error {
                req: 0, message, ..
            } => {
                warn!(%message, "the agent closes the connection");
                state.last_words = Some(message);
            }
            Frame::Error { req, code, message } => {
                if let Some(waiter) = state.requests.remove(&req) {
                    let _ = waiter.send(Err(ClientError::Remote { code, message }));
                } else if let Some(entry) = state.streams.get_mut(&req) {
                    if let Some(opening) = entry.opening.take() {
                        state.streams.remove(&req);
                        let _ = opening.send(Err(ClientError::Remote { code, message }));
                    } else if entry.answerable > 0 {
                        entry.answerable -= 1;
                        (entry.sink)(StreamEvent::Error { code, message });
                    } else {
                        debug!(
                            stream = req,
                            ?code,
                            message,
                            "unsolicited stream error dropped"
                        );
                    }
                } else {
                    debug!(req, ?code, message, "error for no pending request");
                }
            }
            Frame::Opened {
                stream,
                created,
                pid,
                replay,
            } => {
                let opening = state
                    .streams
                    .get_mut(&stream)
                    .and_then(|e| e.opening.take());
                if let Some(opening) = opening {
                    let _ = opening.send(Ok(Opened {
                        created,
                        pid,
                        replay,
                    }));
                }
            }
            Frame::Output { stream, data } => {
                if let Some(entry) = state.streams.get_mut(&stream) {
                    let len = data.len() as u64;
                    if let Some(credit) = &mut entry.credit {
                        *credit = credit.checked_sub(len).ok_or_else(|| {
                            Closed::Protocol(format!(
                                "{len} bytes of output on stream {stream}, beyond its credit"
                            ))
                        })?;
                    }
                    (entry.sink)(StreamEvent::Output(data));
                }
            }
            Frame::Exited { stream, status } => {
                if let Some(entry) = state.streams.remove(&stream) {
                    entry.end(StreamEvent::Exited(status), kind::EXITED);
                }
            }
            Frame::Detached { stream, reason } => {
                if let Some(entry) = state.streams.remove(&stream) {
                    entry.end(StreamEvent::Detached(reason), kind::DETACHED);
                }
            }
            Frame::Ping { nonce } => {
                drop(state);
                self.pong(nonce);
            }
            other => debug!(kind = other.kind(), "ignored agent frame"),
        }
        Ok(())
    }

    /// Answers a `Ping`, unless too many `Pong`s already wait for the writer.
    fn pong(&self, nonce: u64) {
        if self.pongs.fetch_add(1, Relaxed) >= MAX_QUEUED_PONGS {
            self.pongs.fetch_sub(1, Relaxed);
            debug!("ping left unanswered: the agent does not read its pongs");
            return;
        }
        let bytes = encode_to_vec(&Frame::Pong { nonce }).expect("a pong is small");
        if self.lock().queue(Outgoing { bytes, pong: true }).is_err() {
            self.pongs.fetch_sub(1, Relaxed);
        }
    }
}

/// Locks `mutex`, whether or not a panicking thread poisoned it (the state stays consistent:
/// every change under the lock is a single map operation).
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
