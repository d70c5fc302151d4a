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
    /// One full pass (see the module documentation).
    pub async fn reconcile_once(&self) {
        Stats::add(&self.shared.stats.reconciles);
        let sandboxes = match self.runtime.list().await {
            Ok(sandboxes) => sandboxes,
            Err(e) => {
                tracing::warn!(error = %e, "reconcile: listing sandboxes failed");
                return;
            }
        };
        let ids: Vec<_> = sandboxes.iter().map(|s| s.session).collect();
        let desired = match self.shared.store.desired_of(&ids).await {
            Ok(desired) => desired,
            Err(e) => {
                tracing::warn!(error = %e, "reconcile: reading sessions failed");
                return;
            }
        };
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
                            if let Err(e) = self.adopt(session).await {
                                tracing::warn!(%session, error = %e, "reconcile: adopting a sandbox failed");
                            }
                        });
                    }
                }
            }
        }
        futures_util::future::join_all(adoptions).await;
        self.upkeep(&ids, desired.keys().copied().collect()).await;
        let running: HashSet<_> = ids.into_iter().collect();
        let live = match self.shared.store.live_sessions().await {
            Ok(live) => live,
            Err(e) => {
                tracing::warn!(error = %e, "reconcile: reading sessions failed");
                return;
            }
        };
        for (session, _, observed) in live {
            // `failed` stays: it says why the last start did not work.
            if running.contains(&session)
                || observed == ObservedState::Stopped
                || observed == ObservedState::Failed
                || self.is_busy(session)
            {
                continue;
            }
            if let Err(e) = self
                .shared
                .store
                .set_observed(session, ObservedState::Stopped)
                .await
            {
                tracing::warn!(%session, error = %e, "reconcile: updating observed state failed");
            }
        }
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
                Err(e) => {
                    tracing::warn!(%session, error = %e, "reconcile: touching a sandbox failed")
                }
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
            Err(e) => tracing::warn!(error = %e, "reconcile: reaping sandboxes failed"),
        }
    }
}
