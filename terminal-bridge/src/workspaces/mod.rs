//! The workspaces this bridge serves: starting a session's sandbox on first use (and filling it
//! with the session's files from PostgreSQL), keeping files in sync both ways, following the
//! desired state, stopping idle sandboxes. The WebSocket layer calls [`Workspaces::activate`]
//! before it opens terminals and forwards [`WorkspaceEvent`]s to the session's clients;
//! `serve` runs [`Workspaces::run`] in the background.
//!
//! Modules:
//! - [`config`]: [`SyncConfig`], the settings (idle timeout, reconcile period, file limits).
//! - [`agent`]: the file-sync connection to a sandbox's `pod-agent`, a thin layer over
//!   `agent_protocol::Client` (timeouts, [`agent::AgentError`], deletions of missing paths).
//! - [`merge`]: the sync rule (which side wins, conflict copies), a pure function.
//! - [`store`]: the SQL (file rows written the way the REST component writes them).
//! - [`sync`]: the task per active session (events, notifications, rechecks, idle check).
//! - [`listener`]: LISTEN for desired-state and file notifications, reconnecting.
//! - [`reconcile`]: the periodic pass over sessions and sandboxes, and its error policy
//!   ([`ReconcileError`]).
//! - [`stats`]: counters for `/metrics`.
//!
//! The rules are in `terminal-bridge/PROTOCOL.md` ("Sessions" and "File sync").

use platform_contract::state::{DesiredState, ObservedState};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;
use uuid::Uuid;

use crate::runtime::{AgentStream, Runtime, RuntimeError, Sandbox};

pub mod agent;
pub mod config;
mod listener;
pub mod merge;
mod reconcile;
pub mod stats;
pub mod store;
mod sync;

pub use config::SyncConfig;
pub use reconcile::ReconcileError;
pub use stats::Stats;
use store::Store;
use sync::{Change, Command, Handle};
pub use sync::{FailureKind, SyncError};

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

/// Why a sandbox is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Desired state `stopped` (REST shutdown): flush, then stop.
    Desired,
    /// The session was deleted: stop without flushing (its rows are gone).
    Deleted,
    /// Nobody used it for the idle timeout: desired state set to `stopped`, flush, stop.
    Idle,
    /// The agent connection of sync task number `.0` ended by itself.
    Lost(u64),
}

/// Clients and last activity of a session, for the idle timer.
struct Activity {
    clients: usize,
    last: Instant,
}

/// What the session tasks share with [`Workspaces`].
pub(crate) struct Shared {
    store: Store,
    config: SyncConfig,
    stats: Stats,
    events: broadcast::Sender<WorkspaceEvent>,
    activity: Mutex<HashMap<Uuid, Activity>>,
    /// Stop requests from session tasks (idle, lost agent), handled by [`Workspaces::run`].
    stops: mpsc::UnboundedSender<(Uuid, StopReason)>,
}

impl Shared {
    fn emit(&self, event: WorkspaceEvent) {
        let _ = self.events.send(event);
    }

    fn touch(&self, session: Uuid) {
        let mut activity = self.activity.lock().unwrap();
        let entry = activity.entry(session).or_insert(Activity {
            clients: 0,
            last: Instant::now(),
        });
        entry.last = Instant::now();
    }

    /// Attached clients and time since the last activity.
    fn activity_of(&self, session: Uuid) -> (usize, Duration) {
        match self.activity.lock().unwrap().get(&session) {
            Some(a) => (a.clients, a.last.elapsed()),
            None => (0, Duration::MAX),
        }
    }

    fn request_stop(&self, session: Uuid, reason: StopReason) {
        let _ = self.stops.send((session, reason));
    }
}

/// The lifecycle lock of one session: activation and stop hold it, so they never overlap.
#[derive(Default)]
struct Slot {
    active: Option<Handle>,
}

/// Keeps a client counted as attached to a session (see [`Workspaces::attach`]).
pub struct ClientGuard {
    shared: Arc<Shared>,
    session: Uuid,
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        let mut activity = self.shared.activity.lock().unwrap();
        if let Some(a) = activity.get_mut(&self.session) {
            a.clients = a.clients.saturating_sub(1);
            a.last = Instant::now();
        }
    }
}

/// See the module documentation.
pub struct Workspaces {
    runtime: Arc<dyn Runtime>,
    shared: Arc<Shared>,
    /// For the listener's dedicated connection.
    database: crate::db::Database,
    slots: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<Slot>>>>,
    /// Command channels of the active sessions' tasks, for notifications (registered before
    /// the initial sync, so nothing announced during it is missed).
    routes: Mutex<HashMap<Uuid, mpsc::UnboundedSender<Command>>>,
    stop_requests: Mutex<Option<mpsc::UnboundedReceiver<(Uuid, StopReason)>>>,
    generation: AtomicU64,
}

impl Workspaces {
    /// `database` is for the LISTEN connection, `pool` for everything else.
    pub fn new(
        runtime: Arc<dyn Runtime>,
        database: crate::db::Database,
        pool: deadpool_postgres::Pool,
        config: SyncConfig,
    ) -> Arc<Self> {
        let (events, _) = broadcast::channel(1024);
        let (stops, stop_requests) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            store: Store {
                pool,
                bridge: Uuid::new_v4(),
            },
            config,
            stats: Stats::default(),
            events,
            activity: Mutex::default(),
            stops,
        });
        Arc::new(Workspaces {
            runtime,
            shared,
            database,
            slots: Mutex::default(),
            routes: Mutex::default(),
            stop_requests: Mutex::new(Some(stop_requests)),
            generation: AtomicU64::new(1),
        })
    }

    /// The settings.
    pub fn config(&self) -> &SyncConfig {
        &self.shared.config
    }

    /// Counters for `/metrics`: `(name, value)` pairs.
    pub fn stats(&self) -> Vec<(&'static str, f64)> {
        self.shared.stats.snapshot()
    }

    /// Makes sure `session`'s sandbox runs, holds the session's files and is watched; safe to
    /// call concurrently and repeatedly (one start). Sets the desired state to `running` if it
    /// was `stopped` (a client wants the workspace).
    pub async fn activate(&self, session: Uuid) -> Result<Sandbox, RuntimeError> {
        let slot = self.slot(session);
        let mut slot = slot.lock().await;
        if let Some(handle) = &slot.active
            && handle.is_alive()
        {
            self.shared.touch(session);
            // Running already: this call did not start it.
            return Ok(Sandbox {
                created: false,
                ..handle.sandbox.clone()
            });
        }
        self.drop_active(session, &mut slot, false).await;
        self.start_locked(session, &mut slot, true).await
    }

    /// [`Workspaces::activate`], then a new stream to the sandbox's agent (for the terminal
    /// hub). If the sandbox turns out to be gone although this bridge still watched it (its
    /// sync connection had not noticed yet: an exec stream through the API server may report
    /// its end late), that watch is forgotten and the sandbox started again.
    pub async fn connect(&self, session: Uuid) -> Result<AgentStream, RuntimeError> {
        self.activate(session).await?;
        match self.runtime.connect(session).await {
            Err(RuntimeError::NotRunning) => {
                let slot = self.slot(session);
                let mut slot = slot.lock().await;
                self.drop_active(session, &mut slot, false).await;
                self.start_locked(session, &mut slot, true).await?;
                drop(slot);
                self.runtime.connect(session).await
            }
            other => other,
        }
    }

    /// Records user activity (terminal input) for the idle timer.
    pub fn touch(&self, session: Uuid) {
        self.shared.touch(session);
    }

    /// Counts a client as attached to `session` until the guard is dropped; a session with an
    /// attached client is never stopped for idleness. (Terminal attachments are counted by the
    /// agent anyway; this is for clients that only follow file events.)
    pub fn attach(&self, session: Uuid) -> ClientGuard {
        let mut activity = self.shared.activity.lock().unwrap();
        let entry = activity.entry(session).or_insert(Activity {
            clients: 0,
            last: Instant::now(),
        });
        entry.clients += 1;
        entry.last = Instant::now();
        ClientGuard {
            shared: self.shared.clone(),
            session,
        }
    }

    /// Every event of every session; receivers filter by [`WorkspaceEvent::session`].
    pub fn subscribe(&self) -> broadcast::Receiver<WorkspaceEvent> {
        self.shared.events.subscribe()
    }

    /// True if this bridge watches `session`'s sandbox.
    pub fn is_active(&self, session: Uuid) -> bool {
        self.route(session).is_some()
    }

    /// The background work: the notification listener, the periodic reconcile, and stops
    /// requested by session tasks. When `shutdown` completes, flushes every watched sandbox
    /// (so shell edits made until then are saved) and returns; sandboxes keep running.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()> + Send) {
        let Some(mut stop_requests) = self.stop_requests.lock().unwrap().take() else {
            tracing::error!("Workspaces::run called twice");
            return;
        };
        let (kick_tx, kick_rx) = mpsc::unbounded_channel();
        let listener = tokio::spawn(listener::run(self.clone(), kick_tx));
        let reconciler = tokio::spawn(reconcile::run(self.clone(), kick_rx));
        let me = self.clone();
        let stopper = tokio::spawn(async move {
            while let Some((session, reason)) = stop_requests.recv().await {
                let w = me.clone();
                tokio::spawn(async move { w.stop(session, reason).await });
            }
        });
        shutdown.await;
        listener.abort();
        reconciler.abort();
        stopper.abort();
        self.flush_all().await;
    }

    /// Flushes every watched sandbox and stops watching them (bridge shutdown).
    pub async fn flush_all(&self) {
        let slots: Vec<_> = self.slots.lock().unwrap().values().cloned().collect();
        for slot in slots {
            let mut slot = slot.lock().await;
            if let Some(handle) = slot.active.take() {
                let session = handle.sandbox.session;
                self.routes.lock().unwrap().remove(&session);
                self.shared
                    .stats
                    .sandboxes_active
                    .fetch_sub(1, Ordering::Relaxed);
                handle.finish().await;
            }
        }
    }

    /// Stops `session`'s sandbox (see [`StopReason`]); a no-op when none runs.
    pub async fn stop(&self, session: Uuid, reason: StopReason) {
        let slot = self.slot(session);
        let mut slot = slot.lock().await;
        if let StopReason::Lost(generation) = reason {
            match &slot.active {
                Some(handle) if handle.generation == generation => {}
                _ => return,
            }
            self.drop_active(session, &mut slot, false).await;
            let listed = self
                .runtime
                .list()
                .await
                .ok()
                .and_then(|list| list.into_iter().find(|s| s.session == session));
            // Only the connection broke: watch again (without starting anything).
            if let Some(sandbox) = listed
                && let Ok(handle) = self
                    .watch(Sandbox {
                        created: false,
                        ..sandbox
                    })
                    .await
            {
                slot.active = Some(handle);
                self.shared
                    .stats
                    .sandboxes_active
                    .fetch_add(1, Ordering::Relaxed);
                return;
            }
            self.status(
                session,
                ObservedState::Stopped,
                Some("the sandbox stopped unexpectedly"),
            )
            .await;
            return;
        }
        if reason == StopReason::Idle {
            // A client may have come between the idle check and now.
            let (clients, quiet) = self.shared.activity_of(session);
            if clients > 0 || quiet < self.shared.config.session_timeout() {
                tracing::info!(%session, "in use again; not stopping it for idleness");
                return;
            }
        }
        if reason == StopReason::Idle
            && let Err(e) = self
                .shared
                .store
                .set_desired(session, DesiredState::Stopped)
                .await
        {
            tracing::warn!(%session, error = %e, "recording the idle stop failed");
        }
        let watched = slot.active.is_some();
        let running = watched
            || self
                .runtime
                .list()
                .await
                .map(|list| list.iter().any(|s| s.session == session))
                .unwrap_or(true);
        if !running {
            let _ = self
                .shared
                .store
                .set_observed(session, ObservedState::Stopped)
                .await;
            return;
        }
        self.status(session, ObservedState::Stopping, None).await;
        if reason == StopReason::Deleted {
            self.drop_active(session, &mut slot, false).await;
        } else if watched {
            self.drop_active(session, &mut slot, true).await;
        } else if let Ok(stream) = self.runtime.connect(session).await {
            // Running but not watched (e.g. left by an earlier bridge): merge its edits first.
            let sandbox = Sandbox {
                session,
                id: String::new(),
                created: false,
            };
            let generation = self.generation.fetch_add(1, Ordering::Relaxed);
            match sync::start(
                self.shared.clone(),
                sandbox,
                stream,
                generation,
                mpsc::unbounded_channel(),
            )
            .await
            {
                Ok(handle) => handle.finish().await,
                Err(e) => tracing::warn!(%session, "saving edits before the stop failed: {e}"),
            }
        }
        if let Err(source) = self.runtime.stop(session).await {
            let message = source.to_string();
            self.reconcile_failed(ReconcileError::Stop { session, source });
            self.status(session, ObservedState::Failed, Some(&message))
                .await;
            return;
        }
        let counter = match reason {
            StopReason::Idle => &self.shared.stats.idle_stops,
            _ => &self.shared.stats.desired_stops,
        };
        Stats::add(counter);
        if reason != StopReason::Deleted
            && let Err(e) = self.shared.store.clear_base(session).await
        {
            tracing::warn!(%session, error = %e, "clearing the sync base failed");
        }
        {
            let mut activity = self.shared.activity.lock().unwrap();
            if activity.get(&session).is_some_and(|a| a.clients == 0) {
                activity.remove(&session);
            }
        }
        let message = match reason {
            StopReason::Idle => Some("stopped after the idle timeout"),
            StopReason::Deleted => Some("the session was deleted"),
            _ => None,
        };
        self.status(session, ObservedState::Stopped, message).await;
    }

    /// Starts watching a running sandbox that this bridge does not watch yet.
    async fn adopt(&self, session: Uuid) -> Result<(), RuntimeError> {
        let slot = self.slot(session);
        let Ok(mut slot) = slot.try_lock() else {
            return Ok(()); // being activated or stopped right now
        };
        if slot.active.as_ref().is_some_and(Handle::is_alive) {
            return Ok(());
        }
        self.drop_active(session, &mut slot, false).await;
        self.start_locked(session, &mut slot, false).await.map(drop)
    }

    /// Ensures the sandbox, syncs it and starts its task. `wanted`: a client asked for it.
    async fn start_locked(
        &self,
        session: Uuid,
        slot: &mut Slot,
        wanted: bool,
    ) -> Result<Sandbox, RuntimeError> {
        match self.shared.store.session(session).await {
            Ok(None) => {
                return Err(RuntimeError::Unavailable(
                    "the session does not exist".into(),
                ));
            }
            Err(e) => return Err(RuntimeError::Other(e)),
            Ok(Some((desired, _))) => {
                if wanted
                    && desired == DesiredState::Stopped
                    && let Err(e) = self
                        .shared
                        .store
                        .set_desired(session, DesiredState::Running)
                        .await
                {
                    return Err(RuntimeError::Other(e));
                }
            }
        }
        self.status(session, ObservedState::Starting, None).await;
        // A sandbox that is dying when `ensure` looks (its agent gone, its process not yet
        // reaped) refuses the connection: look again a few times.
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            let result = match self.runtime.ensure(session).await {
                Ok(sandbox) => self.watch(sandbox).await,
                Err(e) => Err(e),
            };
            match result {
                Err(RuntimeError::NotRunning) if attempt < 5 => {
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                other => break other,
            }
        };
        match result {
            Ok(handle) => {
                let sandbox = handle.sandbox.clone();
                slot.active = Some(handle);
                self.shared
                    .stats
                    .sandboxes_active
                    .fetch_add(1, Ordering::Relaxed);
                self.shared.touch(session);
                self.status(session, ObservedState::Running, None).await;
                Ok(sandbox)
            }
            Err(e) => {
                self.status(session, ObservedState::Failed, Some(&e.to_string()))
                    .await;
                Err(e)
            }
        }
    }

    /// Connects to a running sandbox, syncs it and starts its task (registered for
    /// notifications before the initial sync).
    async fn watch(&self, sandbox: Sandbox) -> Result<Handle, RuntimeError> {
        let session = sandbox.session;
        let stream = self.runtime.connect(session).await?;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        self.routes.lock().unwrap().insert(session, tx.clone());
        match sync::start(self.shared.clone(), sandbox, stream, generation, (tx, rx)).await {
            Ok(handle) => Ok(handle),
            Err(e) => {
                self.routes.lock().unwrap().remove(&session);
                Err(RuntimeError::Unavailable(format!(
                    "syncing the workspace files failed: {e}"
                )))
            }
        }
    }

    /// Ends the slot's task, flushing it first if `flush`.
    async fn drop_active(&self, session: Uuid, slot: &mut Slot, flush: bool) {
        let Some(handle) = slot.active.take() else {
            return;
        };
        self.routes.lock().unwrap().remove(&session);
        self.shared
            .stats
            .sandboxes_active
            .fetch_sub(1, Ordering::Relaxed);
        if flush && handle.is_alive() {
            handle.finish().await;
        } else {
            handle.abort();
        }
    }

    /// Announces a state and records it as the observed state.
    async fn status(&self, session: Uuid, state: ObservedState, message: Option<&str>) {
        if let Err(e) = self.shared.store.set_observed(session, state).await {
            tracing::warn!(%session, error = %e, "recording the observed state failed");
        }
        self.shared.emit(WorkspaceEvent::WorkspaceStatus {
            session,
            state: state.as_str().to_owned(),
            message: message.map(str::to_owned),
        });
    }

    /// A file notification from someone else: to the session's task if it is watched here
    /// (which pushes it, then announces it), else announced at once.
    fn item_changed(&self, session: Uuid, change: Change) {
        let change = match self.route(session) {
            Some(route) => match route.send(Command::Changed(change)) {
                Ok(()) => return,
                Err(mpsc::error::SendError(Command::Changed(change))) => change,
                Err(_) => return,
            },
            None => change,
        };
        self.shared.emit(WorkspaceEvent::FileChanged {
            session,
            path: change.path,
            version: if change.deleted { None } else { change.version },
            deleted: change.deleted,
            origin: change.origin,
        });
    }

    fn route(&self, session: Uuid) -> Option<mpsc::UnboundedSender<Command>> {
        self.routes.lock().unwrap().get(&session).cloned()
    }

    /// True while an activation or stop of `session` holds its lock.
    fn is_busy(&self, session: Uuid) -> bool {
        let slot = self.slots.lock().unwrap().get(&session).cloned();
        slot.is_some_and(|slot| slot.try_lock().is_err())
    }

    fn slot(&self, session: Uuid) -> Arc<tokio::sync::Mutex<Slot>> {
        self.slots
            .lock()
            .unwrap()
            .entry(session)
            .or_default()
            .clone()
    }
}
