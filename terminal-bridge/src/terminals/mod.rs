//! The terminal hub: at most one connection per session to the session's pod-agent in this
//! bridge process, opened on first use (through [`Workspaces::connect`]) and re-opened on the
//! next use after it was lost. Clients attach to terminals through it; see [`agent`] for how
//! output reaches several clients without one slow client holding up the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use crate::metrics::Metrics;
use crate::runtime::RuntimeError;
use crate::workspaces::Workspaces;

pub mod agent;

pub use agent::{AgentConn, Attachment, EventSender, Opened, TermEvent};

/// Terminal size used when nobody has said one.
pub const DEFAULT_SIZE: (u16, u16) = (80, 24);

/// Why a terminal operation failed. Clients see it as a [`ClientError`](crate::ws::ClientError),
/// whose code each variant names.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The agent connection could not be used or was lost (`unavailable`).
    #[error("{0}")]
    Unavailable(String),
    /// The session's sandbox could not be started or reached (`unavailable`).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The agent refused, e.g. the shell could not start (`terminal_error`).
    #[error("{0}")]
    Agent(String),
    /// No such terminal (`not_found`).
    #[error("the terminal does not exist")]
    NotFound,
}

impl HubError {
    /// A label for metrics and logs: which part failed.
    pub fn metric_label(&self) -> &'static str {
        match self {
            HubError::Unavailable(_) => "agent_connection",
            HubError::Runtime(err) => err.metric_label(),
            HubError::Agent(_) => "agent_refused",
            HubError::NotFound => "not_found",
        }
    }
}

/// One slot per session; the async mutex makes concurrent first uses share one connection.
type Slot = Arc<tokio::sync::Mutex<Option<Arc<AgentConn>>>>;

/// See the module documentation.
pub struct Hub {
    workspaces: Arc<Workspaces>,
    metrics: Arc<Metrics>,
    /// Output credit per attachment: what one client may have in flight per terminal.
    window: u32,
    slots: Mutex<HashMap<Uuid, Slot>>,
}

impl Hub {
    pub fn new(workspaces: Arc<Workspaces>, metrics: Arc<Metrics>, window: u32) -> Arc<Hub> {
        Arc::new(Hub {
            workspaces,
            metrics,
            window: window.max(1024),
            slots: Mutex::default(),
        })
    }

    fn slot(&self, session: Uuid) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = slots.get(&session) {
            return Arc::clone(slot);
        }
        // Forget sessions whose agent connection is gone and that nobody is connecting to
        // (only the map holds the slot), so the map does not grow with every session ever seen.
        slots.retain(|_, slot| {
            Arc::strong_count(slot) > 1
                || slot
                    .try_lock()
                    .map_or(true, |conn| conn.as_ref().is_some_and(|c| c.is_alive()))
        });
        Arc::clone(slots.entry(session).or_default())
    }

    /// The live connection to `session`'s agent, activating the workspace and connecting if
    /// there is none.
    pub async fn connection(&self, session: Uuid) -> Result<Arc<AgentConn>, HubError> {
        let slot = self.slot(session);
        let mut slot = slot.lock().await;
        if let Some(conn) = slot.as_ref().filter(|conn| conn.is_alive()) {
            return Ok(Arc::clone(conn));
        }
        *slot = None;
        let stream = self.workspaces.connect(session).await?;
        let conn = AgentConn::start(session, stream, Arc::clone(&self.metrics)).await?;
        *slot = Some(Arc::clone(&conn));
        Ok(conn)
    }

    /// Opens or attaches `terminal` of `session` for one client (see [`AgentConn::open`]).
    pub async fn open(
        &self,
        session: Uuid,
        terminal: &str,
        size: Option<(u16, u16)>,
        tag: u64,
        events: EventSender,
    ) -> Result<Attachment, HubError> {
        let conn = self.connection(session).await?;
        conn.open(terminal, size, self.window, tag, events).await
    }

    /// Kills `terminal` of `session`.
    pub async fn close_terminal(&self, session: Uuid, terminal: &str) -> Result<(), HubError> {
        self.connection(session)
            .await?
            .close_terminal(terminal)
            .await
    }

    /// Closes every agent connection (the agents detach; shells and sandboxes keep running).
    pub async fn shutdown(&self) {
        let slots: Vec<Slot> = self
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, slot)| slot)
            .collect();
        for slot in slots {
            if let Some(conn) = slot.lock().await.take() {
                conn.shutdown().await;
            }
        }
    }
}
