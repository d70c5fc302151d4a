//! Comparing whole sides: the initial sync of a sandbox, the periodic recheck of
//! PostgreSQL against the base, and a full listing of the sandbox after a failure.

use std::collections::{HashMap, HashSet};

use agent_protocol::ErrorCode;
use bytes::Bytes;

use super::SessionSync;
use super::error::{FailureKind, SyncError};
use super::path::Side;
use crate::workspaces::agent::AgentError;
use crate::workspaces::merge::{Decision, Rev, decide};
use crate::workspaces::stats::Stats;

/// Files fetched from PostgreSQL per query when many are pushed (at most this many MiB with
/// the default 1 MiB file limit).
const PUSH_BATCH: usize = 16;

impl SessionSync {
    /// The periodic reconcile: PostgreSQL against the base (cheap), or everything against a
    /// listing of the sandbox after a failure.
    pub(super) async fn recheck(&mut self) {
        self.flush_and_drain().await;
        if self.dirty {
            self.dirty = false;
            if let Err(e) = self.full_reconcile(false).await {
                self.dirty = true;
                self.shared.stats.sync_failure(e.kind());
                tracing::warn!(session = %self.session, reason = e.metric_label(), "recheck failed: {e}");
            }
            return;
        }
        let files = match self.shared.store.files(self.session).await {
            Ok(files) => files,
            Err(e) => {
                self.shared.stats.sync_failure(FailureKind::Database);
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
    pub(super) async fn full_reconcile(&mut self, fresh: bool) -> Result<(), SyncError> {
        let listing = self.agent.list().await?;
        let files = self.shared.store.files(self.session).await?;
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
                Err(e) => return Err(e.into()),
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
            let rows = self.shared.store.contents(self.session, chunk).await?;
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
        // Folders with files came with them; the empty ones are made on their own.
        let folders = self.shared.store.empty_folders(self.session).await?;
        for folder in folders {
            self.make_dir(&folder).await;
        }
        Ok(())
    }

    /// [`Self::set_base`] for many paths, in one statement or two.
    pub(super) async fn set_bases(&mut self, bases: Vec<(String, Option<Rev>)>) {
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
            self.shared.stats.sync_failure(FailureKind::Database);
            tracing::warn!(session = %self.session, error = %e, "recording the sync base failed");
        }
    }
}
