//! The level-triggered half: every `BRIDGE_RECONCILE_SECS` (and whenever the listener
//! reconnects) compare the sessions in PostgreSQL with the sandboxes the runtime has, so a
//! missed notification only delays what it would have triggered.
//!
//! - a sandbox whose session is gone: stopped (no flush: its rows are gone too);
//! - a sandbox whose desired state is `stopped`: flushed, then stopped;
//! - a sandbox that should run but this bridge does not watch (it restarted): adopted, i.e.
//!   synced with the three-way merge and watched from now on;
//! - a watched sandbox: its files are rechecked against PostgreSQL;
//! - a session that claims to run (or start, or stop) but has no sandbox: marked `stopped`;
//! - then the runtime's upkeep: every watched sandbox is touched (for the kube runtime, its
//!   pod's last-activity annotation), and [`Runtime::reap`] removes ended sandboxes and those
//!   no bridge touched for [`SyncConfig::stale_after`] (never the watched ones, which this
//!   bridge stops itself after saving their files).
//!
//! [`Runtime::reap`]: crate::runtime::Runtime::reap
//! [`SyncConfig::stale_after`]: super::SyncConfig::stale_after
//!
//! Sandboxes start lazily, when a client activates the session, not because a session's
//! desired state is `running` (that is every new session).
//!
//! A step that fails is a [`ReconcileError`]; [`Workspaces::reconcile_failed`] is the error
//! policy (as in kube-rs's controllers): it logs the error and counts it in
//! `bridge_reconcile_failures_total` by [`ReconcileError::metric_label`]. There is no retry
//! of its own: the next pass (the period, or a kick) is the retry, which is what being
//! level-triggered buys.

use platform_contract::state::{DesiredState, ObservedState};
use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use uuid::Uuid;

use super::stats::Stats;
use super::sync::Command;
use super::{StopReason, Workspaces};
use crate::runtime::RuntimeError;

/// A failed step of the reconcile (or of a stop). The first two end the pass; the others
/// concern one sandbox or session, and the pass goes on.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Listing the runtime's sandboxes failed (`list_sandboxes`).
    #[error("listing sandboxes failed: {0}")]
    ListSandboxes(#[source] RuntimeError),
    /// Reading the sessions' states from PostgreSQL failed (`read_sessions`).
    #[error("reading sessions failed: {0:#}")]
    ReadSessions(#[source] anyhow::Error),
    /// Watching a running sandbox that this bridge did not watch failed (`adopt`).
    #[error("adopting the sandbox of {session} failed: {source}")]
    Adopt { session: Uuid, source: RuntimeError },
    /// Recording that a session without a sandbox is stopped failed (`record_state`).
    #[error("recording {session} as stopped failed: {source:#}")]
    RecordState {
        session: Uuid,
        source: anyhow::Error,
    },
    /// Touching a watched sandbox failed (`touch`).
    #[error("touching the sandbox of {session} failed: {source}")]
    Touch { session: Uuid, source: RuntimeError },
    /// The runtime's reaper failed (`reap`).
    #[error("reaping sandboxes failed: {0}")]
    Reap(#[source] RuntimeError),
    /// Stopping a sandbox failed (`stop`); its session is marked `failed`.
    #[error("stopping the sandbox of {session} failed: {source}")]
    Stop { session: Uuid, source: RuntimeError },
}

impl ReconcileError {
    /// The `reason` label of `bridge_reconcile_failures_total`: the step that failed.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ReconcileError::ListSandboxes(_) => "list_sandboxes",
            ReconcileError::ReadSessions(_) => "read_sessions",
            ReconcileError::Adopt { .. } => "adopt",
            ReconcileError::RecordState { .. } => "record_state",
            ReconcileError::Touch { .. } => "touch",
            ReconcileError::Reap(_) => "reap",
            ReconcileError::Stop { .. } => "stop",
        }
    }
}

/// Reconciles every period and on each kick, until aborted.
pub async fn run(workspaces: Arc<Workspaces>, mut kick: mpsc::UnboundedReceiver<()>) {
    let mut tick = tokio::time::interval(workspaces.shared.config.reconcile_period());
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(()) = kick.recv() => {}
        }
        workspaces.reconcile_once().await;
    }
}

impl Workspaces {
    /// The error policy: logs `error` and counts it by its label. The next pass retries.
    pub(super) fn reconcile_failed(&self, error: ReconcileError) {
        tracing::warn!(reason = error.metric_label(), "reconcile: {error}");
        self.shared.stats.reconcile_failure(&error);
    }

    /// One full pass (see the module documentation).
    pub async fn reconcile_once(&self) {
        Stats::add(&self.shared.stats.reconciles);
        if let Err(error) = self.reconcile_pass().await {
            self.reconcile_failed(error);
        }
    }

    /// [`Workspaces::reconcile_once`]: `Err` for a failure that ends the pass; the others are
    /// reported as they happen.
    async fn reconcile_pass(&self) -> Result<(), ReconcileError> {
        let sandboxes = self
            .runtime
            .list()
            .await
            .map_err(ReconcileError::ListSandboxes)?;
        let ids: Vec<_> = sandboxes.iter().map(|s| s.session).collect();
        let desired = self
            .shared
            .store
            .desired_of(&ids)
            .await
            .map_err(ReconcileError::ReadSessions)?;
        // Adoptions wait for their sandbox to be ready (a pod may still be pulling its image),
        // so they run side by side, after the stops, none holding up the others.
        let mut adoptions = Vec::new();
        for sandbox in &sandboxes {
            let session = sandbox.session;
            match desired.get(&session) {
                None => self.stop(session, StopReason::Deleted).await,
                Some(DesiredState::Stopped) => self.stop(session, StopReason::Desired).await,
                _ => {
                    if let Some(route) = self.route(session) {
                        let _ = route.send(Command::Recheck);
                    } else {
                        adoptions.push(async move {
                            if let Err(source) = self.adopt(session).await {
                                self.reconcile_failed(ReconcileError::Adopt { session, source });
                            }
                        });
                    }
                }
            }
        }
        futures_util::future::join_all(adoptions).await;
        self.upkeep(&ids, desired.keys().copied().collect()).await;
        let running: HashSet<_> = ids.into_iter().collect();
        let live = self
            .shared
            .store
            .live_sessions()
            .await
            .map_err(ReconcileError::ReadSessions)?;
        for (session, _, observed) in live {
            // `failed` stays: it says why the last start did not work.
            if running.contains(&session)
                || observed == ObservedState::Stopped
                || observed == ObservedState::Failed
                || self.is_busy(session)
            {
                continue;
            }
            if let Err(source) = self
                .shared
                .store
                .set_observed(session, ObservedState::Stopped)
                .await
            {
                self.reconcile_failed(ReconcileError::RecordState { session, source });
            }
        }
        Ok(())
    }

    /// Touches the watched sandboxes and lets the runtime reap what nobody needs; `listed` are
    /// the sessions of the listed sandboxes, `known` those of them that exist in PostgreSQL.
    /// Sandboxes being activated or stopped right now count as watched.
    async fn upkeep(&self, listed: &[Uuid], known: HashSet<Uuid>) {
        let mut watched: HashSet<Uuid> = self.routes.lock().unwrap().keys().copied().collect();
        let busy = listed.iter().copied().filter(|&s| self.is_busy(s));
        watched.extend(busy);
        for &session in &watched {
            match self.runtime.touch(session).await {
                Ok(()) | Err(RuntimeError::NotRunning) => {}
                Err(source) => self.reconcile_failed(ReconcileError::Touch { session, source }),
            }
        }
        let stale_after = self.shared.config.stale_after();
        match self.runtime.reap(&known, &watched, stale_after).await {
            Ok(reaped) => {
                for sandbox in reaped {
                    Stats::add(&self.shared.stats.reaped);
                    tracing::info!(
                        sandbox = %sandbox.id,
                        session = ?sandbox.session,
                        reason = ?sandbox.reason,
                        "reconcile: the runtime reaped a sandbox"
                    );
                }
            }
            Err(e) => self.reconcile_failed(ReconcileError::Reap(e)),
        }
    }
}
