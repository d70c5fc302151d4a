//! Deciding and syncing one path: the three-way merge against the base, saving a shell
//! edit to PostgreSQL, conditional pushes into the sandbox, and conflict copies.

use agent_protocol::{ErrorCode, Sha256};
use bytes::Bytes;
use tokio::time::Instant;

use super::SessionSync;
use super::error::{Failure, FailureKind};
use crate::workspaces::agent::AgentError;
use crate::workspaces::merge::{Decision, Rev, conflict_path, decide};
use crate::workspaces::stats::Stats;
use crate::workspaces::store::Written;

/// A path's state in the sandbox.
#[derive(Debug, Clone)]
pub(super) enum Side {
    Absent,
    Present {
        sha256: Sha256,
        size: Option<u64>,
        content: Option<Bytes>,
    },
}

impl Side {
    pub(super) fn sha(&self) -> Option<&Sha256> {
        match self {
            Side::Absent => None,
            Side::Present { sha256, .. } => Some(sha256),
        }
    }

    pub(super) fn of_base(base: Option<&Rev>) -> Side {
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

pub(super) enum Step {
    Done(Decision),
    Retry,
    /// A conditional write found the sandbox changed since its side was read; the agent's
    /// report of that change is on the way.
    Changed,
}

/// What a push into the sandbox did.
pub(super) enum Pushed {
    Done,
    /// The row vanished between two reads: decide again.
    Vanished,
    /// The sandbox's file was not what the push expected; nothing was written.
    Changed,
}

/// How deep a conflict may nest (a change found while handling the reports that a change
/// was found): past it the path is left to the next full reconcile.
pub(super) const MAX_NESTING: u8 = 2;

impl SessionSync {
    /// Syncs one path, retrying when a row changed under it. `fresh`: PostgreSQL wins.
    pub(super) async fn sync_path(
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
            Failure::new(
                FailureKind::Busy,
                format!("{path} kept changing while it was being saved"),
            ),
        );
        None
    }

    pub(super) async fn try_sync(
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
    pub(super) async fn sandbox_side(&self, path: &str) -> Result<Side, Failure> {
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
            }) => Err(Failure::new(
                FailureKind::FileTooLarge,
                format!("{path} in the sandbox is too large to save; it was left as it is"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// The sandbox's content of `path` (from the event, or read), within the size limit;
    /// `None` if the file is gone (its deletion event follows).
    pub(super) async fn content_of(
        &self,
        path: &str,
        side: &Side,
    ) -> Result<Option<Bytes>, Failure> {
        let max = self.shared.config.max_file_size;
        let too_large = |size: u64| {
            Failure::new(
                FailureKind::FileTooLarge,
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
    pub(super) async fn save_to_pg(
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
        if let Err(e) = platform_contract::path::workspace_path(path) {
            return Err(Failure::new(
                FailureKind::InvalidPath,
                format!("{path:?}: {e}"),
            ));
        }
        let Some(data) = self.content_of(path, side).await? else {
            return Ok(true);
        };
        let config = &self.shared.config;
        let (files, bytes) = store.usage(self.session, path).await?;
        if files + 1 > config.max_workspace_files {
            return Err(Failure::new(
                FailureKind::TooManyFiles,
                format!(
                    "{path} not saved: the workspace already has {files} files (limit {})",
                    config.max_workspace_files
                ),
            ));
        }
        if bytes + data.len() as u64 > config.max_workspace_bytes {
            return Err(Failure::new(
                FailureKind::WorkspaceTooLarge,
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
            Written::Blocked => Err(Failure::new(
                FailureKind::Conflict,
                format!("{path} not saved: a folder is at that path or a file above it"),
            )),
        }
    }

    pub(super) fn committed(&self, at: Option<Instant>) {
        Stats::add(&self.shared.stats.files_to_pg);
        if let Some(at) = at {
            self.shared.stats.lag(at.elapsed());
        }
    }

    /// Writes PostgreSQL's current state of `path` into the sandbox, if the sandbox still holds
    /// `expect` there (the hash of the file it was last seen with, or nothing).
    pub(super) async fn push_to_sandbox(
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
    pub(super) async fn save_conflict_copy(
        &mut self,
        path: &str,
        data: &Bytes,
    ) -> Result<(), Failure> {
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
        Err(Failure::new(
            FailureKind::Conflict,
            format!("{path}: no free name for a conflict copy; the shell's version stays unsaved"),
        ))
    }

    /// Updates the base in memory and in PostgreSQL (best effort: the table only matters after
    /// a bridge restart, and a stale row there only causes a conflict copy).
    pub(super) async fn set_base(&mut self, path: &str, rev: Option<&Rev>) {
        match rev {
            Some(rev) => self.base.insert(path.to_owned(), *rev),
            None => self.base.remove(path),
        };
        if let Err(e) = self.shared.store.set_base(self.session, path, rev).await {
            self.shared.stats.sync_failure(FailureKind::Database);
            tracing::warn!(session = %self.session, path, error = %e, "recording the sync base failed");
        }
    }
}
