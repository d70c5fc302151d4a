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

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use agent_protocol::{ErrorCode, Sha256};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use uuid::Uuid;

use super::agent::{AgentClient, AgentError, AgentEvent, Events};
use super::merge::{Decision, Rev, conflict_path, decide};
use super::store::Written;
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

/// Files fetched from PostgreSQL per query when many are pushed (at most this many MiB with
/// the default 1 MiB file limit).
const PUSH_BATCH: usize = 16;

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

/// A path's state in the sandbox.
#[derive(Debug, Clone)]
enum Side {
    Absent,
    Present {
        sha256: Sha256,
        size: Option<u64>,
        content: Option<Bytes>,
    },
}

impl Side {
    fn sha(&self) -> Option<&Sha256> {
        match self {
            Side::Absent => None,
            Side::Present { sha256, .. } => Some(sha256),
        }
    }

    fn of_base(base: Option<&Rev>) -> Side {
        match base {
            None => Side::Absent,
            Some(rev) => Side::Present {
                sha256: rev.sha256,
                size: None,
                content: None,
            },
        }
    }
}

/// Why one path could not be synced; becomes a `SyncError` event.
struct Failure {
    code: &'static str,
    message: String,
    /// A transient failure (database, agent): the next recheck lists the sandbox again.
    transient: bool,
}

impl Failure {
    fn limit(code: &'static str, message: String) -> Failure {
        Failure {
            code,
            message,
            transient: false,
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure {
            code: "database_error",
            message: format!("saving to the database failed: {e:#}"),
            transient: true,
        }
    }
}

impl From<AgentError> for Failure {
    fn from(e: AgentError) -> Failure {
        Failure {
            code: "agent_error",
            message: e.to_string(),
            transient: true,
        }
    }
}

enum Step {
    Done(Decision),
    Retry,
    /// A conditional write found the sandbox changed since its side was read; the agent's
    /// report of that change is on the way.
    Changed,
}

/// What a push into the sandbox did.
enum Pushed {
    Done,
    /// The row vanished between two reads: decide again.
    Vanished,
    /// The sandbox's file was not what the push expected; nothing was written.
    Changed,
}

/// How deep a conflict may nest (a change found while handling the reports that a change
/// was found): past it the path is left to the next full reconcile.
const MAX_NESTING: u8 = 2;

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
/// initial sync runs (they are handled right after it).
pub async fn start(
    shared: Arc<Shared>,
    sandbox: Sandbox,
    stream: AgentStream,
    generation: u64,
    commands: (
        mpsc::UnboundedSender<Command>,
        mpsc::UnboundedReceiver<Command>,
    ),
) -> Result<Handle, String> {
    let session = sandbox.session;
    let fresh = sandbox.created;
    let (agent, events) = AgentClient::connect(stream)
        .await
        .map_err(|e| e.to_string())?;
    // Watch first: shell edits made during the initial sync are reported and handled after it.
    agent.watch().await.map_err(|e| e.to_string())?;
    let base = if fresh {
        shared.store.clear_base(session).await.map_err(db_msg)?;
        HashMap::new()
    } else {
        shared.store.load_base(session).await.map_err(db_msg)?
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

fn db_msg(e: anyhow::Error) -> String {
    format!("database error: {e:#}")
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

    fn fail(&mut self, path: &str, failure: Failure) {
        Stats::add(&self.shared.stats.sync_errors);
        if failure.transient {
            self.dirty = true;
        }
        tracing::warn!(session = %self.session, path, code = failure.code, "{}", failure.message);
        self.emit(WorkspaceEvent::SyncError {
            session: self.session,
            path: path.to_owned(),
            code: failure.code.to_owned(),
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
                    if let Err(message) = self.full_reconcile(false).await {
                        self.fail(
                            "",
                            Failure {
                                code: "agent_error",
                                message,
                                transient: true,
                            },
                        );
                    }
                }
            }
        })
    }

    /// Makes the agent report every change made so far, and handles those reports.
    async fn flush_and_drain(&mut self) {
        if let Err(e) = self.agent.flush().await {
            tracing::warn!(session = %self.session, error = %e, "flush failed");
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
                }
            } else {
                let side = Side::of_base(self.base.get(&change.path));
                self.sync_path(&change.path, side, None, false).await;
            }
            let version = if change.deleted { None } else { change.version };
            self.file_changed(&change.path, version, &change.origin);
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

    /// The periodic reconcile: PostgreSQL against the base (cheap), or everything against a
    /// listing of the sandbox after a failure.
    async fn recheck(&mut self) {
        self.flush_and_drain().await;
        if self.dirty {
            self.dirty = false;
            if let Err(message) = self.full_reconcile(false).await {
                self.dirty = true;
                tracing::warn!(session = %self.session, "recheck failed: {message}");
            }
            return;
        }
        let files = match self.shared.store.files(self.session).await {
            Ok(files) => files,
            Err(e) => {
                tracing::warn!(session = %self.session, error = %e, "recheck failed");
                return;
            }
        };
        let pg: HashMap<String, Rev> = files.into_iter().map(|f| (f.path, f.rev)).collect();
        let mut paths: HashSet<&String> = pg
            .iter()
            .filter(|(p, rev)| self.base.get(*p) != Some(rev))
            .map(|(p, _)| p)
            .collect();
        paths.extend(self.base.keys().filter(|p| !pg.contains_key(*p)));
        let paths: Vec<String> = paths.into_iter().cloned().collect();
        for path in paths {
            let side = Side::of_base(self.base.get(&path));
            if let Some(Decision::ToSandbox) = self.sync_path(&path, side, None, false).await {
                let version = self.base.get(&path).map(|r| r.version);
                self.file_changed(&path, version, "rest");
            }
        }
    }

    /// Lists the sandbox and syncs every path either side has.
    async fn full_reconcile(&mut self, fresh: bool) -> Result<(), String> {
        let listing = self.agent.list().await.map_err(|e| e.to_string())?;
        let files = self
            .shared
            .store
            .files(self.session)
            .await
            .map_err(db_msg)?;
        let pg: HashMap<String, Rev> = files.into_iter().map(|f| (f.path, f.rev)).collect();
        let mut sandbox: HashMap<String, Side> = listing
            .into_iter()
            .map(|e| {
                let side = Side::Present {
                    sha256: e.sha256,
                    size: Some(e.size),
                    content: None,
                };
                (e.path, side)
            })
            .collect();
        // A file PostgreSQL has but the listing lacks may exist in a directory the agent does
        // not list (node_modules, .git, ...): look before deciding it was deleted. (A fresh
        // sandbox gets PostgreSQL's files whatever it holds.)
        let unlisted: Vec<&String> = if fresh {
            Vec::new()
        } else {
            pg.keys().filter(|p| !sandbox.contains_key(*p)).collect()
        };
        for path in unlisted {
            match self.agent.read(path).await {
                Ok((sha256, _)) => {
                    sandbox.insert(
                        path.clone(),
                        Side::Present {
                            sha256,
                            size: None,
                            content: None,
                        },
                    );
                }
                Err(AgentError::Remote {
                    code: ErrorCode::NotFound | ErrorCode::InvalidPath,
                    ..
                }) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        let mut paths: Vec<String> = sandbox.keys().chain(pg.keys()).cloned().collect();
        paths.extend(self.base.keys().cloned());
        paths.sort();
        paths.dedup();
        // The common cases in bulk, from this snapshot: agreement (only the base follows) and
        // PostgreSQL's files to push. Everything else path by path, re-reading the row.
        let mut bases: Vec<(String, Option<Rev>)> = Vec::new();
        let mut push: Vec<String> = Vec::new();
        let mut slow: Vec<String> = Vec::new();
        for path in paths {
            let side = sandbox.get(&path).cloned().unwrap_or(Side::Absent);
            let (pg_rev, base) = (pg.get(&path), self.base.get(&path));
            match decide(side.sha(), pg_rev, base) {
                Decision::Same => {
                    if base != pg_rev {
                        bases.push((path, pg_rev.copied()));
                    }
                }
                _ if fresh && pg_rev.is_some() => push.push(path),
                Decision::ToSandbox if pg_rev.is_some() => push.push(path),
                _ => slow.push(path),
            }
        }
        for chunk in push.chunks(PUSH_BATCH) {
            let rows = self
                .shared
                .store
                .contents(self.session, chunk)
                .await
                .map_err(db_msg)?;
            let mut pushed = HashSet::new();
            for (path, rev, data) in rows {
                let expect = sandbox.get(&path).and_then(|side| side.sha().copied());
                match self.agent.put_if(&path, expect, Bytes::from(data)).await {
                    Ok(()) => {
                        Stats::add(&self.shared.stats.files_to_sandbox);
                        pushed.insert(path.clone());
                        bases.push((path, Some(rev)));
                    }
                    // Changed since the listing: path by path below.
                    Err(AgentError::Remote {
                        code: ErrorCode::Changed,
                        ..
                    }) => {}
                    Err(e) => {
                        pushed.insert(path.clone());
                        self.fail(&path, e.into());
                    }
                }
            }
            slow.extend(chunk.iter().filter(|p| !pushed.contains(*p)).cloned());
        }
        self.set_bases(bases).await;
        for path in slow {
            let side = sandbox.remove(&path).unwrap_or(Side::Absent);
            self.sync_path(&path, side, None, fresh).await;
        }
        Ok(())
    }

    /// [`Self::set_base`] for many paths, in one statement or two.
    async fn set_bases(&mut self, bases: Vec<(String, Option<Rev>)>) {
        let mut set = Vec::new();
        let mut unset = Vec::new();
        for (path, rev) in bases {
            match rev {
                Some(rev) => {
                    self.base.insert(path.clone(), rev);
                    set.push((path, rev));
                }
                None => {
                    self.base.remove(&path);
                    unset.push(path);
                }
            }
        }
        if let Err(e) = self
            .shared
            .store
            .set_bases(self.session, &set, &unset)
            .await
        {
            tracing::warn!(session = %self.session, error = %e, "recording the sync base failed");
        }
    }

    /// Syncs one path, retrying when a row changed under it. `fresh`: PostgreSQL wins.
    async fn sync_path(
        &mut self,
        path: &str,
        side: Side,
        at: Option<Instant>,
        fresh: bool,
    ) -> Option<Decision> {
        let mut side = side;
        for _ in 0..5 {
            match self.try_sync(path, &side, at, fresh).await {
                Ok(Step::Done(decision)) => return Some(decision),
                Ok(Step::Retry) => continue,
                Ok(Step::Changed) if self.nesting < MAX_NESTING => {
                    // A shell edit raced this write. Take the agent's reports up to now (that
                    // edit's among them, merged as usual), then decide again from the base.
                    let before = self.base.get(path).copied();
                    self.nesting += 1;
                    self.flush_and_drain().await;
                    self.nesting -= 1;
                    side = if self.base.get(path).copied() == before {
                        // No report settled it (one was refused earlier, say for its size):
                        // decide on what the sandbox holds now.
                        match self.sandbox_side(path).await {
                            Ok(side) => side,
                            Err(failure) => {
                                self.fail(path, failure);
                                return None;
                            }
                        }
                    } else {
                        Side::of_base(self.base.get(path))
                    };
                }
                Ok(Step::Changed) => break,
                Err(failure) => {
                    self.fail(path, failure);
                    return None;
                }
            }
        }
        self.fail(
            path,
            Failure {
                code: "busy",
                message: format!("{path} kept changing while it was being saved"),
                transient: true,
            },
        );
        None
    }

    async fn try_sync(
        &mut self,
        path: &str,
        side: &Side,
        at: Option<Instant>,
        fresh: bool,
    ) -> Result<Step, Failure> {
        let pg = self.shared.store.file(self.session, path).await?;
        let base = self.base.get(path).copied();
        let decision = match decide(side.sha(), pg.as_ref(), base.as_ref()) {
            Decision::Same => Decision::Same,
            _ if fresh => Decision::ToSandbox,
            other => other,
        };
        match decision {
            Decision::Same => {
                if base != pg {
                    self.set_base(path, pg.as_ref()).await;
                }
            }
            Decision::ToPg => {
                if !self.save_to_pg(path, side, pg.as_ref(), at).await? {
                    return Ok(Step::Retry);
                }
            }
            Decision::ToSandbox => match self.push_to_sandbox(path, side.sha()).await? {
                Pushed::Done => {}
                Pushed::Vanished => return Ok(Step::Retry),
                Pushed::Changed => return Ok(Step::Changed),
            },
            Decision::Conflict => {
                let Some(data) = self.content_of(path, side).await? else {
                    return Ok(Step::Retry);
                };
                self.save_conflict_copy(path, &data).await?;
                Stats::add(&self.shared.stats.conflicts);
                match self.push_to_sandbox(path, side.sha()).await? {
                    Pushed::Done => {}
                    Pushed::Vanished => return Ok(Step::Retry),
                    Pushed::Changed => return Ok(Step::Changed),
                }
            }
        }
        Ok(Step::Done(decision))
    }

    /// What the sandbox holds at `path` right now, read from the agent.
    async fn sandbox_side(&self, path: &str) -> Result<Side, Failure> {
        match self.agent.read(path).await {
            Ok((sha256, data)) => Ok(Side::Present {
                sha256,
                size: Some(data.len() as u64),
                content: Some(data),
            }),
            Err(AgentError::Remote {
                code: ErrorCode::NotFound,
                ..
            }) => Ok(Side::Absent),
            Err(AgentError::Remote {
                code: ErrorCode::TooLarge,
                ..
            }) => Err(Failure::limit(
                "file_too_large",
                format!("{path} in the sandbox is too large to save; it was left as it is"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// The sandbox's content of `path` (from the event, or read), within the size limit;
    /// `None` if the file is gone (its deletion event follows).
    async fn content_of(&self, path: &str, side: &Side) -> Result<Option<Bytes>, Failure> {
        let max = self.shared.config.max_file_size;
        let too_large = |size: u64| {
            Failure::limit(
                "file_too_large",
                format!("{path} has {size} bytes, more than the limit of {max}; not saved"),
            )
        };
        match side {
            Side::Absent => Ok(None),
            Side::Present {
                content: Some(data),
                ..
            } => {
                if data.len() as u64 > max {
                    return Err(too_large(data.len() as u64));
                }
                Ok(Some(data.clone()))
            }
            Side::Present { size, .. } => {
                if let Some(size) = size.filter(|s| *s > max) {
                    return Err(too_large(size));
                }
                match self.agent.read(path).await {
                    Ok((_, data)) if data.len() as u64 > max => Err(too_large(data.len() as u64)),
                    Ok((_, data)) => Ok(Some(data)),
                    Err(AgentError::Remote {
                        code: ErrorCode::NotFound,
                        ..
                    }) => Ok(None),
                    Err(AgentError::Remote {
                        code: ErrorCode::TooLarge,
                        ..
                    }) => Err(too_large(size.unwrap_or(max + 1))),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// Writes the sandbox's state of `path` to PostgreSQL (expecting `pg` there); false when
    /// the row changed meanwhile.
    async fn save_to_pg(
        &mut self,
        path: &str,
        side: &Side,
        pg: Option<&Rev>,
        at: Option<Instant>,
    ) -> Result<bool, Failure> {
        let store = &self.shared.store;
        if matches!(side, Side::Absent) {
            // `decide` gives ToPg for an absent file only when PostgreSQL has it.
            let Some(pg) = pg else { return Ok(true) };
            if !store.delete(self.session, path, pg).await? {
                return Ok(false);
            }
            self.base.remove(path);
            self.committed(at);
            self.file_changed(path, None, "shell");
            return Ok(true);
        }
        if let Err(e) = platform_core::validate::workspace_path(path) {
            return Err(Failure::limit("invalid_path", format!("{path:?}: {e}")));
        }
        let Some(data) = self.content_of(path, side).await? else {
            return Ok(true);
        };
        let config = &self.shared.config;
        let (files, bytes) = store.usage(self.session, path).await?;
        if files + 1 > config.max_workspace_files {
            return Err(Failure::limit(
                "too_many_files",
                format!(
                    "{path} not saved: the workspace already has {files} files (limit {})",
                    config.max_workspace_files
                ),
            ));
        }
        if bytes + data.len() as u64 > config.max_workspace_bytes {
            return Err(Failure::limit(
                "workspace_too_large",
                format!(
                    "{path} not saved: the workspace would hold {} bytes (limit {})",
                    bytes + data.len() as u64,
                    config.max_workspace_bytes
                ),
            ));
        }
        match store.write(self.session, path, &data, pg).await? {
            Written::Done(rev) => {
                self.base.insert(path.to_owned(), rev);
                self.committed(at);
                self.file_changed(path, Some(rev.version), "shell");
                Ok(true)
            }
            Written::Stale => Ok(false),
            Written::Blocked => Err(Failure::limit(
                "conflict",
                format!("{path} not saved: a folder is at that path or a file above it"),
            )),
        }
    }

    fn committed(&self, at: Option<Instant>) {
        Stats::add(&self.shared.stats.files_to_pg);
        if let Some(at) = at {
            self.shared.stats.lag(at.elapsed());
        }
    }

    /// Writes PostgreSQL's current state of `path` into the sandbox, if the sandbox still holds
    /// `expect` there (the hash of the file it was last seen with, or nothing).
    async fn push_to_sandbox(
        &mut self,
        path: &str,
        expect: Option<&Sha256>,
    ) -> Result<Pushed, Failure> {
        let written = match self.shared.store.content(self.session, path).await? {
            Some((rev, data)) => self
                .agent
                .put_if(path, expect.copied(), Bytes::from(data))
                .await
                .map(|()| Some(rev)),
            None => {
                if self.shared.store.file(self.session, path).await?.is_some() {
                    return Ok(Pushed::Vanished);
                }
                match expect {
                    Some(expect) => self.agent.delete_if(path, *expect).await,
                    None => self.agent.delete(path).await,
                }
                .map(|()| None)
            }
        };
        let rev = match written {
            Ok(rev) => rev,
            Err(AgentError::Remote {
                code: ErrorCode::Changed,
                ..
            }) => return Ok(Pushed::Changed),
            Err(e) => return Err(e.into()),
        };
        self.set_base(path, rev.as_ref()).await;
        Stats::add(&self.shared.stats.files_to_sandbox);
        Ok(Pushed::Done)
    }

    /// Saves `data` (the sandbox's side of a conflict) under a fresh conflict-copy path, in
    /// PostgreSQL and in the sandbox.
    async fn save_conflict_copy(&mut self, path: &str, data: &Bytes) -> Result<(), Failure> {
        for n in 1..=100 {
            let copy = conflict_path(path, n);
            if self.shared.store.file(self.session, &copy).await?.is_some() {
                continue;
            }
            match self
                .shared
                .store
                .write(self.session, &copy, data, None)
                .await?
            {
                Written::Done(rev) => {
                    self.agent.put(&copy, data.clone()).await?;
                    self.base.insert(copy.clone(), rev);
                    Stats::add(&self.shared.stats.files_to_pg);
                    tracing::info!(session = %self.session, path, copy, "conflict: kept the shell's version as a copy");
                    self.file_changed(&copy, Some(rev.version), "shell");
                    return Ok(());
                }
                Written::Stale | Written::Blocked => continue,
            }
        }
        Err(Failure::limit(
            "conflict",
            format!("{path}: no free name for a conflict copy; the shell's version stays unsaved"),
        ))
    }

    /// Updates the base in memory and in PostgreSQL (best effort: the table only matters after
    /// a bridge restart, and a stale row there only causes a conflict copy).
    async fn set_base(&mut self, path: &str, rev: Option<&Rev>) {
        match rev {
            Some(rev) => self.base.insert(path.to_owned(), *rev),
            None => self.base.remove(path),
        };
        if let Err(e) = self.shared.store.set_base(self.session, path, rev).await {
            tracing::warn!(session = %self.session, path, error = %e, "recording the sync base failed");
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
