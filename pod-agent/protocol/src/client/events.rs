//! The file events of a watching connection (`FileWritten`, `FileDeleted`, `WatchOverflow`),
//! queued in the order they arrived, among the answers: once a `Flush` has been answered, every
//! event the agent reported before it is already queued.
//!
//! The queue is bounded in count and content bytes: past the bound events are dropped and one
//! [`FileEvent::Overflow`] is queued instead, exactly as the agent itself does for a slow
//! reader (whoever reads the events then reconciles with a full listing).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::Sha256;

/// Events queued before further ones are dropped for an overflow.
pub const MAX_QUEUED_EVENTS: usize = 10_000;
/// Content and path bytes queued before further events are dropped for an overflow.
pub const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;

/// A change inside the sandbox, as reported by the agent's watcher.
#[derive(Debug)]
pub enum FileEvent {
    Written {
        path: String,
        size: u64,
        sha256: Sha256,
        /// The file's bytes, absent when larger than the agent's event size cap.
        content: Option<Bytes>,
        /// When the client received it (the start of the sync lag).
        at: Instant,
    },
    Deleted {
        path: String,
        at: Instant,
    },
    /// Events were lost (by the agent or by this queue): reconcile with a listing.
    Overflow,
}

impl FileEvent {
    /// What the event counts against [`MAX_QUEUED_BYTES`].
    fn bytes(&self) -> usize {
        match self {
            FileEvent::Written { content, path, .. } => {
                content.as_ref().map_or(0, Bytes::len) + path.len()
            }
            FileEvent::Deleted { path, .. } => path.len(),
            FileEvent::Overflow => 0,
        }
    }
}

/// The counts shared by the queue's two ends.
#[derive(Default)]
struct Queued {
    count: AtomicUsize,
    bytes: AtomicUsize,
    /// Set while events are being dropped; cleared when the reader takes the overflow.
    overflowed: AtomicBool,
}

/// The queue and its counts, for the two ends.
pub(super) fn channel() -> (EventQueue, Events) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(Queued::default());
    (
        EventQueue {
            tx,
            queued: Arc::clone(&queued),
        },
        Events { rx, queued },
    )
}

/// The client's end: the reader task pushes events here. Dropping it ends [`Events`].
pub(super) struct EventQueue {
    tx: mpsc::UnboundedSender<FileEvent>,
    queued: Arc<Queued>,
}

impl EventQueue {
    /// Queues `event`, or an overflow in its place past the bounds, or nothing while the
    /// queue overflows or nobody holds the [`Events`].
    pub(super) fn push(&self, event: FileEvent) {
        if self.queued.overflowed.load(Relaxed) || self.tx.is_closed() {
            return;
        }
        let q = &self.queued;
        let event = if q.count.load(Relaxed) >= MAX_QUEUED_EVENTS
            || q.bytes.load(Relaxed) + event.bytes() > MAX_QUEUED_BYTES
        {
            q.overflowed.store(true, Relaxed);
            FileEvent::Overflow
        } else {
            event
        };
        q.count.fetch_add(1, Relaxed);
        q.bytes.fetch_add(event.bytes(), Relaxed);
        let _ = self.tx.send(event);
    }
}

/// The receiving end of a connection's file events.
pub struct Events {
    rx: mpsc::UnboundedReceiver<FileEvent>,
    queued: Arc<Queued>,
}

impl Events {
    fn taken(&self, event: &FileEvent) {
        self.queued.count.fetch_sub(1, Relaxed);
        self.queued.bytes.fetch_sub(event.bytes(), Relaxed);
        if matches!(event, FileEvent::Overflow) {
            self.queued.overflowed.store(false, Relaxed);
        }
    }

    /// The next event; `None` once the connection is closed and the queue is empty.
    pub async fn recv(&mut self) -> Option<FileEvent> {
        let event = self.rx.recv().await?;
        self.taken(&event);
        Some(event)
    }

    /// The next event if one is queued.
    pub fn try_recv(&mut self) -> Option<FileEvent> {
        let event = self.rx.try_recv().ok()?;
        self.taken(&event);
        Some(event)
    }

    /// How many events are queued.
    pub fn len(&self) -> usize {
        self.queued.count.load(Relaxed)
    }

    /// True if no event is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
