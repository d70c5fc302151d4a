//! The bridge's file-sync connection to one sandbox's `pod-agent`: requests answered by `req`
//! (put, conditional put and delete, delete, make a directory, read, list, watch, flush,
//! activity) and the
//! stream of change events.
//!
//! One task reads the connection. It completes each request's waiter and queues change events
//! for the session's sync task, in the order the frames arrived, so after a `Flush` has been
//! answered every event reported before it is already queued. The event queue is bounded in
//! bytes and count: past the bound events are dropped and one [`AgentEvent::Overflow`] is
//! queued instead, exactly as the agent itself does for a slow reader (the sync task then
//! reconciles with a full listing).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_protocol::{
    ErrorCode, Frame, FrameReader, FrameWriter, ListEntry, Sha256, client_handshake,
};
use bytes::Bytes;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::runtime::AgentStream;

/// How long one request may take (a listing of a large workspace included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Events queued before further ones are dropped for an overflow.
const MAX_QUEUED_EVENTS: usize = 10_000;
/// Content bytes queued before further events are dropped for an overflow.
const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;

/// A change inside the sandbox, as reported by the agent's watcher.
#[derive(Debug)]
pub enum AgentEvent {
    Written {
        path: String,
        size: u64,
        sha256: Sha256,
        content: Option<Bytes>,
        /// When the bridge received it (the start of the sync lag).
        at: Instant,
    },
    Deleted {
        path: String,
        at: Instant,
    },
    /// Events were lost: reconcile with a listing.
    Overflow,
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("the connection to the workspace agent is closed")]
    Closed,
    #[error("the workspace agent did not answer in time")]
    Timeout,
    #[error("{message}")]
    Remote { code: ErrorCode, message: String },
    #[error("cannot talk to the workspace agent: {0}")]
    Io(String),
    #[error("unexpected answer from the workspace agent: {0}")]
    Unexpected(String),
}

/// What `QueryActivity` reports.
#[derive(Debug, Clone, Copy)]
pub struct Activity {
    pub last_input_ago: Option<Duration>,
    pub busy: bool,
    pub processes: u32,
    pub attachments: u32,
}

type Waiters = Arc<Mutex<HashMap<u32, oneshot::Sender<Frame>>>>;

/// The receiving end of a connection's change events.
pub struct Events {
    rx: mpsc::UnboundedReceiver<AgentEvent>,
    queued: Arc<Queued>,
}

#[derive(Default)]
struct Queued {
    count: AtomicUsize,
    bytes: AtomicUsize,
    /// Set while events are being dropped; cleared when the reader takes the overflow.
    overflowed: AtomicBool,
}

fn event_bytes(event: &AgentEvent) -> usize {
    match event {
        AgentEvent::Written { content, path, .. } => {
            content.as_ref().map_or(0, Bytes::len) + path.len()
        }
        AgentEvent::Deleted { path, .. } => path.len(),
        AgentEvent::Overflow => 0,
    }
}

impl Events {
    fn taken(&self, event: &AgentEvent) {
        self.queued.count.fetch_sub(1, Ordering::Relaxed);
        self.queued
            .bytes
            .fetch_sub(event_bytes(event), Ordering::Relaxed);
        if matches!(event, AgentEvent::Overflow) {
            self.queued.overflowed.store(false, Ordering::Relaxed);
        }
    }

    /// The next event; `None` once the connection is closed and the queue is empty.
    pub async fn recv(&mut self) -> Option<AgentEvent> {
        let event = self.rx.recv().await?;
        self.taken(&event);
        Some(event)
    }

    /// The next event if one is queued.
    pub fn try_recv(&mut self) -> Option<AgentEvent> {
        let event = self.rx.try_recv().ok()?;
        self.taken(&event);
        Some(event)
    }
}

/// See the module documentation.
pub struct AgentClient {
    writer: tokio::sync::Mutex<FrameWriter<WriteHalf<AgentStream>>>,
    waiters: Waiters,
    next_req: AtomicU32,
    reader: JoinHandle<()>,
    /// The protocol version agreed in the hello (2 brings conditional writes).
    version: u16,
}

impl Drop for AgentClient {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl AgentClient {
    /// Says hello on `stream` and starts reading it.
    pub async fn connect(stream: AgentStream) -> Result<(AgentClient, Events), AgentError> {
        let (r, w) = tokio::io::split(stream);
        let mut reader = FrameReader::new(r);
        let mut writer = FrameWriter::new(w);
        let software = format!("terminal-bridge/{}", crate::VERSION);
        let (version, _) = tokio::time::timeout(
            REQUEST_TIMEOUT,
            client_handshake(&mut reader, &mut writer, &software),
        )
        .await
        .map_err(|_| AgentError::Timeout)?
        .map_err(|e| AgentError::Io(e.to_string()))?;
        let waiters = Waiters::default();
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(Queued::default());
        let task = tokio::spawn(read_loop(reader, waiters.clone(), tx, queued.clone()));
        Ok((
            AgentClient {
                writer: tokio::sync::Mutex::new(writer),
                waiters,
                next_req: AtomicU32::new(1),
                reader: task,
                version,
            },
            Events { rx, queued },
        ))
    }

    /// True once the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.reader.is_finished()
    }

    async fn request(&self, make: impl FnOnce(u32) -> Frame) -> Result<Frame, AgentError> {
        let req = self.next_req.fetch_add(1, Ordering::Relaxed).max(1);
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().unwrap().insert(req, tx);
        let frame = make(req);
        let sent = self.writer.lock().await.send(&frame).await;
        if let Err(e) = sent {
            self.waiters.lock().unwrap().remove(&req);
            return Err(AgentError::Io(e.to_string()));
        }
        match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
            Ok(Ok(Frame::Error { code, message, .. })) => Err(AgentError::Remote { code, message }),
            Ok(Ok(frame)) => Ok(frame),
            Ok(Err(_)) => Err(AgentError::Closed),
            Err(_) => {
                self.waiters.lock().unwrap().remove(&req);
                Err(AgentError::Timeout)
            }
        }
    }

    async fn ok(&self, make: impl FnOnce(u32) -> Frame) -> Result<(), AgentError> {
        match self.request(make).await? {
            Frame::Ok { .. } => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Writes `path` (creating parents); the agent remembers the hash, so no echo follows.
    pub async fn put(&self, path: &str, data: Bytes) -> Result<(), AgentError> {
        let path = path.to_owned();
        self.ok(|req| Frame::Put { req, path, data }).await
    }

    /// Writes `path` only if it holds what `expect` says (the file with that hash, or nothing):
    /// else [`AgentError::Remote`] with [`ErrorCode::Changed`]. An agent that speaks only
    /// protocol version 1 gets a plain `Put`.
    pub async fn put_if(
        &self,
        path: &str,
        expect: Option<Sha256>,
        data: Bytes,
    ) -> Result<(), AgentError> {
        let path = path.to_owned();
        if self.version < 2 {
            return self.ok(|req| Frame::Put { req, path, data }).await;
        }
        self.ok(|req| Frame::PutIf {
            req,
            path,
            expect,
            data,
        })
        .await
    }

    /// Deletes the file `path` only if its content hashes to `expect`, else
    /// [`ErrorCode::Changed`]; a missing file is not an error. Protocol version 1: a plain
    /// `Delete`.
    pub async fn delete_if(&self, path: &str, expect: Sha256) -> Result<(), AgentError> {
        let path = path.to_owned();
        let result = if self.version < 2 {
            self.ok(|req| Frame::Delete { req, path }).await
        } else {
            self.ok(|req| Frame::DeleteIf { req, path, expect }).await
        };
        match result {
            Err(AgentError::Remote {
                code: ErrorCode::NotFound,
                ..
            }) => Ok(()),
            other => other,
        }
    }

    /// Creates the directory `path` and its parents. An agent that speaks only protocol
    /// version 1 cannot; nothing is done there (its folders appear with their first file).
    pub async fn make_dir(&self, path: &str) -> Result<(), AgentError> {
        if self.version < 2 {
            return Ok(());
        }
        let path = path.to_owned();
        self.ok(|req| Frame::MakeDir { req, path }).await
    }

    /// Deletes `path` (a file or a directory tree); a missing path is not an error.
    pub async fn delete(&self, path: &str) -> Result<(), AgentError> {
        let path = path.to_owned();
        match self.ok(|req| Frame::Delete { req, path }).await {
            Err(AgentError::Remote {
                code: ErrorCode::NotFound,
                ..
            }) => Ok(()),
            other => other,
        }
    }

    /// The content and hash of `path`.
    pub async fn read(&self, path: &str) -> Result<(Sha256, Bytes), AgentError> {
        let path = path.to_owned();
        match self.request(|req| Frame::Read { req, path }).await? {
            Frame::Content { sha256, data, .. } => Ok((sha256, data)),
            other => Err(unexpected(&other)),
        }
    }

    /// Every regular file of the workspace.
    pub async fn list(&self) -> Result<Vec<ListEntry>, AgentError> {
        match self.request(|req| Frame::List { req }).await? {
            Frame::Listing { entries, .. } => Ok(entries),
            other => Err(unexpected(&other)),
        }
    }

    /// Starts the change events.
    pub async fn watch(&self) -> Result<(), AgentError> {
        self.ok(|req| Frame::Watch { req }).await
    }

    /// Returns once every change made before the call has been queued as an event.
    pub async fn flush(&self) -> Result<(), AgentError> {
        self.ok(|req| Frame::Flush { req }).await
    }

    /// Terminal input, running processes and attachments, for the idle decision.
    pub async fn activity(&self) -> Result<Activity, AgentError> {
        match self.request(|req| Frame::QueryActivity { req }).await? {
            Frame::Activity {
                last_input_ago_ms,
                busy,
                processes,
                attachments,
                ..
            } => Ok(Activity {
                last_input_ago: last_input_ago_ms.map(Duration::from_millis),
                busy,
                processes,
                attachments,
            }),
            other => Err(unexpected(&other)),
        }
    }
}

fn unexpected(frame: &Frame) -> AgentError {
    AgentError::Unexpected(format!("frame type 0x{:02x}", frame.kind()))
}

async fn read_loop(
    mut reader: FrameReader<ReadHalf<AgentStream>>,
    waiters: Waiters,
    events: mpsc::UnboundedSender<AgentEvent>,
    queued: Arc<Queued>,
) {
    let push = |event: AgentEvent| {
        let size = event_bytes(&event);
        if queued.overflowed.load(Ordering::Relaxed) {
            return;
        }
        let event = if queued.count.load(Ordering::Relaxed) >= MAX_QUEUED_EVENTS
            || queued.bytes.load(Ordering::Relaxed) + size > MAX_QUEUED_BYTES
        {
            queued.overflowed.store(true, Ordering::Relaxed);
            AgentEvent::Overflow
        } else {
            event
        };
        queued.count.fetch_add(1, Ordering::Relaxed);
        queued
            .bytes
            .fetch_add(event_bytes(&event), Ordering::Relaxed);
        let _ = events.send(event);
    };
    loop {
        let frame = match reader.read_frame().await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(error = %e, "agent connection failed");
                break;
            }
        };
        match frame {
            Frame::FileWritten {
                path,
                size,
                sha256,
                content,
            } => push(AgentEvent::Written {
                path,
                size,
                sha256,
                content,
                at: Instant::now(),
            }),
            Frame::FileDeleted { path } => push(AgentEvent::Deleted {
                path,
                at: Instant::now(),
            }),
            Frame::WatchOverflow => push(AgentEvent::Overflow),
            Frame::Error {
                req: 0, message, ..
            } => {
                tracing::warn!(%message, "the agent closes the connection");
            }
            frame @ (Frame::Ok { req }
            | Frame::Error { req, .. }
            | Frame::Content { req, .. }
            | Frame::Listing { req, .. }
            | Frame::Activity { req, .. }) => {
                if let Some(waiter) = waiters.lock().unwrap().remove(&req) {
                    let _ = waiter.send(frame);
                }
            }
            other => tracing::debug!(kind = other.kind(), "ignoring an agent frame"),
        }
    }
    // Dropping the waiters fails every request in flight with `Closed`.
    waiters.lock().unwrap().clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scripted agent on the other end of an in-memory stream: answers the hello with
    /// protocol `version`, then runs `script` with its reader and writer.
    async fn with_fake_agent<F, Fut>(
        version: u16,
        script: F,
    ) -> (AgentClient, Events, JoinHandle<()>)
    where
        F: FnOnce(
                FrameReader<ReadHalf<tokio::io::DuplexStream>>,
                FrameWriter<WriteHalf<tokio::io::DuplexStream>>,
            ) -> Fut
            + Send
            + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let agent = tokio::spawn(async move {
            let (r, w) = tokio::io::split(theirs);
            let (mut r, mut w) = (FrameReader::new(r), FrameWriter::new(w));
            let Ok(Some(Frame::Hello { .. })) = r.read_frame().await else {
                panic!("no hello")
            };
            w.send(&Frame::Hello {
                min_version: version,
                max_version: version,
                software: "fake".into(),
            })
            .await
            .unwrap();
            script(r, w).await;
        });
        let (client, events) = AgentClient::connect(Box::pin(ours)).await.unwrap();
        (client, events, agent)
    }

    #[tokio::test]
    async fn answers_reach_their_requests_and_errors_map() {
        let (client, _events, _agent) = with_fake_agent(1, |mut r, mut w| async move {
            while let Ok(Some(frame)) = r.read_frame().await {
                let answer = match frame {
                    Frame::Read { req, path } if path == "a" => Frame::Content {
                        req,
                        sha256: [7; 32],
                        data: Bytes::from_static(b"A"),
                    },
                    Frame::Read { req, .. } | Frame::Delete { req, .. } => Frame::Error {
                        req,
                        code: ErrorCode::NotFound,
                        message: "gone".into(),
                    },
                    other => panic!("unexpected {other:?}"),
                };
                w.send(&answer).await.unwrap();
            }
        })
        .await;
        let (sha, data) = client.read("a").await.unwrap();
        assert_eq!((sha, &data[..]), ([7; 32], &b"A"[..]));
        let err = client.read("b").await.unwrap_err();
        assert!(
            matches!(
                err,
                AgentError::Remote {
                    code: ErrorCode::NotFound,
                    ..
                }
            ),
            "{err}"
        );
        // Deleting what is not there is fine.
        client.delete("b").await.unwrap();
    }

    /// Conditional writes go out as `PutIf` / `DeleteIf` to an agent that speaks version 2,
    /// and as plain `Put` / `Delete` to one that speaks only version 1.
    #[tokio::test]
    async fn conditional_writes_follow_the_negotiated_version() {
        for version in [1, 2] {
            let (seen_tx, mut seen) = mpsc::unbounded_channel();
            let (client, _events, _agent) =
                with_fake_agent(version, move |mut r, mut w| async move {
                    while let Ok(Some(frame)) = r.read_frame().await {
                        let req = match &frame {
                            Frame::Put { req, .. }
                            | Frame::PutIf { req, .. }
                            | Frame::Delete { req, .. }
                            | Frame::DeleteIf { req, .. } => *req,
                            other => panic!("unexpected {other:?}"),
                        };
                        seen_tx.send(frame).unwrap();
                        w.send(&Frame::Ok { req }).await.unwrap();
                    }
                })
                .await;
            client
                .put_if("a", Some([3; 32]), Bytes::from_static(b"x"))
                .await
                .unwrap();
            client.delete_if("a", [4; 32]).await.unwrap();
            let put = seen.recv().await.unwrap();
            let delete = seen.recv().await.unwrap();
            match version {
                1 => {
                    assert!(matches!(put, Frame::Put { .. }), "{put:?}");
                    assert!(matches!(delete, Frame::Delete { .. }), "{delete:?}");
                }
                _ => {
                    assert!(
                        matches!(put, Frame::PutIf { expect: Some(e), .. } if e == [3; 32]),
                        "{put:?}"
                    );
                    assert!(
                        matches!(delete, Frame::DeleteIf { expect, .. } if expect == [4; 32]),
                        "{delete:?}"
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn a_closed_connection_fails_requests_in_flight() {
        let (client, mut events, _agent) = with_fake_agent(1, |mut r, _w| async move {
            let _ = r.read_frame().await; // the request, then hang up
        })
        .await;
        let err = client.list().await.unwrap_err();
        assert!(matches!(err, AgentError::Closed), "{err}");
        assert!(events.recv().await.is_none());
    }

    #[tokio::test]
    async fn a_flood_of_events_becomes_one_overflow() {
        let extra = 50;
        let (_client, mut events, agent) = with_fake_agent(1, move |_r, mut w| async move {
            for i in 0..MAX_QUEUED_EVENTS + extra {
                w.feed(&Frame::FileDeleted {
                    path: format!("f{i}"),
                })
                .unwrap();
            }
            w.flush().await.unwrap();
            std::future::pending::<()>().await;
        })
        .await;
        // Nothing is taken until the reader has queued all it will queue.
        let deadline = Instant::now() + Duration::from_secs(10);
        while events.queued.count.load(Ordering::Relaxed) < MAX_QUEUED_EVENTS + 1 {
            assert!(Instant::now() < deadline, "the queue never filled");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut received = 0;
        let mut overflows = 0;
        while received + overflows < MAX_QUEUED_EVENTS + 1 {
            match events.recv().await.unwrap() {
                AgentEvent::Deleted { .. } => received += 1,
                AgentEvent::Overflow => overflows += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!((received, overflows), (MAX_QUEUED_EVENTS, 1));
        assert!(
            events.try_recv().is_none(),
            "events after the overflow were kept"
        );
        agent.abort();
    }
}
