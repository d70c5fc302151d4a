//! One task per active session keeps its sandbox and PostgreSQL in sync. It owns the agent
//! connection and the session's *base* (per file, the revision both sides last agreed on, see
//! [`super::merge`]), and handles, one at a time so they never interleave on a path:
//!
//! - the agent's change events (shell edits) -> PostgreSQL;
//! - REST changes announced on `workspace_item_changed` -> the sandbox. Before pushing, it
//!   flushes the agent and handles the shell edits reported up to then, so an edit racing a
//!   REST write is decided by the merge rule (conflict copy) instead of being overwritten;
//! - the periodic recheck (PostgreSQL against the base, catching missed notifications; a full
//!   listing after a failed sync or a `WatchOverflow`);
//! - the idle check, and `Finish` (flush, save the last shell edits, end).
//!
//! Files: this one holds the task and its commands; [`path`] decides and syncs one path
//! (the merge, conditional pushes, conflict copies); [`reconcile`] compares whole sides
//! (the initial sync, the periodic recheck, a full listing); [`error`] says why syncing
//! failed ([`SyncError`], [`FailureKind`]), as clients and `/metrics` see it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use uuid::Uuid;

use agent_protocol::ErrorCode;

use super::agent::{AgentClient, AgentError, AgentEvent, Events};
use super::merge::Rev;
use super::{Shared, StopReason, WorkspaceEvent};
use crate::runtime::{AgentStream, Sandbox};
use crate::workspaces::stats::Stats;

/// A change announced on `workspace_item_changed` by someone else (REST, another bridge).
#[derive(Debug, Clone)]
pub struct Change {
    pub path: String,
    pub version: Option<i64>,
    pub folder: bool,
    pub deleted: bool,
    pub origin: String,
}

/// What the session task is asked to do.
pub enum Command {
    Changed(Change),
    /// Compare PostgreSQL with the base (the periodic reconcile).
    Recheck,
    /// Flush the agent, save what it reports, answer, and end.
    Finish(oneshot::Sender<()>),
}

/// The running task of an active session.
pub struct Handle {
    pub sandbox: Sandbox,
    pub generation: u64,
    cmd: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

impl Handle {
    pub fn is_alive(&self) -> bool {
        !self.task.is_finished()
    }

    /// Flushes and ends the task; waits for it.
    pub async fn finish(self) {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Command::Finish(tx)).is_ok() {
            let _ = rx.await;
        }
        let _ = self.task.await;
    }

    /// Ends the task without flushing (the session is gone).
    pub fn abort(self) {
        self.task.abort();
    }
}

mod error;
mod path;
mod reconcile;

pub use error::{FailureKind, SyncError};

use error::Failure;
use path::Side;

struct SessionSync {
    session: Uuid,
    shared: Arc<Shared>,
    agent: AgentClient,
    events: Events,
    cmds: mpsc::UnboundedReceiver<Command>,
    deferred: VecDeque<Command>,
    base: HashMap<String, Rev>,
    /// A sync failed or events were lost: the next recheck lists the whole sandbox.
    dirty: bool,
    /// Drains in progress because a conditional write found the sandbox changed.
    nesting: u8,
    /// When an idle stop was last requested (it may be refused if a client came meanwhile);
    /// not asked again within the timeout.
    stop_requested: Option<Instant>,
    /// When `last_activity_at` was last stamped.
    activity_stamped: Option<Instant>,
}

/// Connects to the sandbox's agent, brings both sides in sync (PostgreSQL wins everywhere on a
/// `fresh` sandbox; the three-way merge on one found running), starts watching and spawns the
/// session's task.
/// `commands` is created by the caller, so it can route notifications to the session while the
/// initial sync runs (they are handled right after it). A failure is counted in
/// `bridge_sync_failures_total`.
pub async fn start(
    shared: Arc<Shared>,
    sandbox: Sandbox,
    stream: AgentStream,
    generation: u64,
    commands: (
        mpsc::UnboundedSender<Command>,
        mpsc::UnboundedReceiver<Command>,
    ),
) -> Result<Handle, SyncError> {
    let result = start_syncing(shared.clone(), sandbox, stream, generation, commands).await;
    if let Err(e) = &result {
        shared.stats.sync_failure(e.kind());
    }
    result
}

/// [`start`], uncounted.
async fn start_syncing(
    shared: Arc<Shared>,
    sandbox: Sandbox,
    stream: AgentStream,
    generation: u64,
    commands: (
        mpsc::UnboundedSender<Command>,
        mpsc::UnboundedReceiver<Command>,
    ),
) -> Result<Handle, SyncError> {
    let session = sandbox.session;
    let fresh = sandbox.created;
    let (agent, events) = AgentClient::connect(stream).await?;
    // Watch first: shell edits made during the initial sync are reported and handled after it.
    agent.watch().await?;
    let base = if fresh {
        shared.store.clear_base(session).await?;
        HashMap::new()
    } else {
        shared.store.load_base(session).await?
    };
    let (cmd_tx, cmds) = commands;
    let mut sync = SessionSync {
        session,
        shared,
        agent,
        events,
        cmds,
        deferred: VecDeque::new(),
        base,
        dirty: false,
        nesting: 0,
        stop_requested: None,
        activity_stamped: None,
    };
    sync.full_reconcile(fresh).await?;
    let task = tokio::spawn(sync.run(generation));
    Ok(Handle {
        sandbox,
        generation,
        cmd: cmd_tx,
        task,
    })
}

impl SessionSync {
    async fn run(mut self, generation: u64) {
        let mut idle = tokio::time::interval(self.shared.config.idle_check_period());
        idle.set_missed_tick_behavior(MissedTickBehavior::Delay);
        idle.tick().await;
        loop {
            let command = match self.deferred.pop_front() {
                Some(command) => Some(command),
                None => tokio::select! {
                    event = self.events.recv() => match event {
                        Some(event) => {
                            self.on_event(event).await;
                            continue;
                        }
                        None => {
                            tracing::warn!(session = %self.session, "the agent connection closed");
                            self.shared.request_stop(self.session, StopReason::Lost(generation));
                            return;
                        }
                    },
                    command = self.cmds.recv() => command,
                    _ = idle.tick() => {
                        self.check_idle().await;
                        continue;
                    }
                },
            };
            match command {
                None => return,
                Some(Command::Changed(change)) => self.on_changes(change).await,
                Some(Command::Recheck) => self.recheck().await,
                Some(Command::Finish(reply)) => {
                    self.flush_and_drain().await;
                    let _ = reply.send(());
                    return;
                }
            }
        }
    }

    fn emit(&self, event: WorkspaceEvent) {
        self.shared.emit(event);
    }

    fn file_changed(&self, path: &str, version: Option<i64>, origin: &str) {
        self.emit(WorkspaceEvent::FileChanged {
            session: self.session,
            path: path.to_owned(),
            version,
            deleted: version.is_none(),
            origin: origin.to_owned(),
        });
    }

    /// Reports a path that could not be synced: logged, counted, and told to the clients.
    fn fail(&mut self, path: &str, failure: Failure) {
        let code = failure.kind.code();
        Stats::add(&self.shared.stats.sync_errors);
        self.shared.stats.sync_failure(failure.kind);
        if failure.kind.is_transient() {
            self.dirty = true;
        }
        tracing::warn!(session = %self.session, path, code, "{}", failure.message);
        self.emit(WorkspaceEvent::SyncError {
            session: self.session,
            path: path.to_owned(),
            code: code.to_owned(),
            message: failure.message,
        });
    }

    /// One report of the agent. Boxed: handling it may drain further reports (see
    /// [`Step::Changed`]), so this and [`Self::sync_path`] call each other.
    fn on_event(&mut self, event: AgentEvent) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.shared.touch(self.session);
            match event {
                AgentEvent::Written {
                    path,
                    size,
                    sha256,
                    content,
                    at,
                } => {
                    let side = Side::Present {
                        sha256,
                        size: Some(size),
                        content,
                    };
                    self.sync_path(&path, side, Some(at), false).await;
                }
                AgentEvent::Deleted { path, at } => {
                    self.sync_path(&path, Side::Absent, Some(at), false).await;
                }
                AgentEvent::Overflow => {
                    tracing::info!(session = %self.session, "watch overflow; listing the sandbox");
                    if let Err(e) = self.full_reconcile(false).await {
                        self.fail("", e.into());
                    }
                }
            }
        })
    }

    /// Makes the agent report every change made so far, and handles those reports.
    async fn flush_and_drain(&mut self) {
        if let Err(e) = self.agent.flush().await {
            tracing::warn!(session = %self.session, error = %e, "flush failed");
            self.shared.stats.sync_failure(FailureKind::Agent);
            self.dirty = true;
        }
        while let Some(event) = self.events.try_recv() {
            self.on_event(event).await;
        }
    }

    async fn on_changes(&mut self, first: Change) {
        self.shared.touch(self.session);
        let mut batch = vec![first];
        while let Ok(command) = self.cmds.try_recv() {
            match command {
                Command::Changed(change) => batch.push(change),
                other => {
                    self.deferred.push_back(other);
                    break;
                }
            }
        }
        self.flush_and_drain().await;
        for change in batch {
            if change.folder {
                if change.deleted {
                    self.remove_folder(&change.path).await;
                } else {
                    self.make_dir(&change.path).await;
                }
            } else {
                let side = Side::of_base(self.base.get(&change.path));
                self.sync_path(&change.path, side, None, false).await;
            }
            let version = if change.deleted { None } else { change.version };
            self.file_changed(&change.path, version, &change.origin);
        }
    }

    /// A folder made through REST: the directory too. A file in the way is a conflict
    /// (reported, not retried: the file's own sync reports it as well).
    pub(super) async fn make_dir(&mut self, path: &str) {
        match self.agent.make_dir(path).await {
            Ok(()) => {}
            Err(AgentError::Remote {
                code: ErrorCode::Io,
                message,
            }) => self.fail(
                path,
                Failure::new(
                    FailureKind::Conflict,
                    format!("the folder {path} cannot be made in the sandbox: {message}"),
                ),
            ),
            Err(e) => self.fail(path, e.into()),
        }
    }

    /// A folder deleted through REST: remove the directory if nothing is left under it in
    /// PostgreSQL (its shell files were saved by the flush before, so they would be).
    async fn remove_folder(&mut self, path: &str) {
        let files = match self.shared.store.files(self.session).await {
            Ok(files) => files,
            Err(e) => return self.fail(path, e.into()),
        };
        let prefix = format!("{path}/");
        if files
            .iter()
            .any(|f| f.path == path || f.path.starts_with(&prefix))
        {
            return;
        }
        if let Err(e) = self.agent.delete(path).await {
            return self.fail(path, e.into());
        }
        let under: Vec<String> = self
            .base
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        for k in under {
            self.set_base(&k, None).await;
        }
    }

    /// Asks for a stop when nobody is attached and nothing happened for the timeout.
    async fn check_idle(&mut self) {
        let timeout = self.shared.config.session_timeout();
        if self.stop_requested.is_some_and(|t| t.elapsed() < timeout) {
            return;
        }
        let (clients, since_touch) = self.shared.activity_of(self.session);
        let activity = match self.agent.activity().await {
            Ok(activity) => activity,
            Err(e) => {
                tracing::debug!(session = %self.session, error = %e, "activity query failed");
                return;
            }
        };
        let since_input = activity.last_input_ago.unwrap_or(std::time::Duration::MAX);
        let quiet = since_touch.min(since_input);
        let in_use =
            clients > 0 || activity.attachments > 0 || activity.busy || activity.processes > 0;
        if !in_use && quiet >= timeout {
            tracing::info!(session = %self.session, ?quiet, "idle; stopping the sandbox");
            self.stop_requested = Some(Instant::now());
            self.shared.request_stop(self.session, StopReason::Idle);
            return;
        }
        let recently = in_use || quiet < self.shared.config.idle_check_period();
        let stale_stamp = self
            .activity_stamped
            .is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(60));
        if recently && stale_stamp {
            self.activity_stamped = Some(Instant::now());
            if let Err(e) = self.shared.store.set_activity(self.session).await {
                tracing::debug!(error = %e, "stamping activity failed");
            }
        }
    }
}
