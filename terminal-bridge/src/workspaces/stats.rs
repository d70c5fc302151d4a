//! Counters of the session layer, for `/metrics`: plain atomics, read by [`Stats::snapshot`],
//! and the failures of the reconcile and of the file sync by reason, rendered with them by
//! [`Workspaces::render_metrics`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::Workspaces;
use super::reconcile::ReconcileError;
use super::sync::FailureKind;
use crate::metrics::{LabelledCounter, render_pairs};

/// See the module documentation.
#[derive(Default)]
pub struct Stats {
    /// Sessions whose sandbox this bridge currently watches.
    pub sandboxes_active: AtomicU64,
    /// Shell edits (writes and deletions) committed to PostgreSQL.
    pub files_to_pg: AtomicU64,
    /// Files written into or deleted from sandboxes.
    pub files_to_sandbox: AtomicU64,
    /// Time from the agent's change event reaching the bridge to its PostgreSQL commit.
    pub sync_lag_last_us: AtomicU64,
    pub sync_lag_max_us: AtomicU64,
    /// Changes that could not be synced (limits, invalid paths, database or agent errors).
    pub sync_errors: AtomicU64,
    /// Files both sides changed, resolved with a conflict copy.
    pub conflicts: AtomicU64,
    /// Sandboxes stopped for idleness.
    pub idle_stops: AtomicU64,
    /// Sandboxes stopped because their desired state is `stopped` or the session is gone.
    pub desired_stops: AtomicU64,
    /// Full reconciliations run.
    pub reconciles: AtomicU64,
    /// Sandboxes the runtime's reaper removed (ended, stale, or of unknown sessions).
    pub reaped: AtomicU64,
    /// Failed steps of the reconcile (and of the stops it and the listener ask for), by
    /// [`ReconcileError::metric_label`].
    reconcile_failures: LabelledCounter,
    /// Sync failures by [`FailureKind::metric_label`]: those of single paths (also counted,
    /// unlabelled, in `sync_errors`) and those of whole sides (an initial sync, a recheck).
    sync_failures: LabelledCounter,
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one failed reconcile step (see `Workspaces::reconcile_failed`, which logs it).
    pub(crate) fn reconcile_failure(&self, error: &ReconcileError) {
        self.reconcile_failures.inc(error.metric_label());
    }

    /// Counts one sync failure.
    pub(crate) fn sync_failure(&self, kind: FailureKind) {
        self.sync_failures.inc(kind.metric_label());
    }

    pub(crate) fn lag(&self, lag: Duration) {
        let us = lag.as_micros().min(u64::MAX as u128) as u64;
        self.sync_lag_last_us.store(us, Ordering::Relaxed);
        self.sync_lag_max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// `(metric name, value)` pairs; lags in seconds as floats.
    pub fn snapshot(&self) -> Vec<(&'static str, f64)> {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        vec![
            ("bridge_sandboxes_active", get(&self.sandboxes_active)),
            ("bridge_files_synced_to_pg_total", get(&self.files_to_pg)),
            (
                "bridge_files_synced_to_sandbox_total",
                get(&self.files_to_sandbox),
            ),
            (
                "bridge_sync_lag_last_seconds",
                get(&self.sync_lag_last_us) / 1e6,
            ),
            (
                "bridge_sync_lag_max_seconds",
                get(&self.sync_lag_max_us) / 1e6,
            ),
            ("bridge_sync_errors_total", get(&self.sync_errors)),
            ("bridge_sync_conflicts_total", get(&self.conflicts)),
            ("bridge_idle_stops_total", get(&self.idle_stops)),
            ("bridge_desired_stops_total", get(&self.desired_stops)),
            ("bridge_reconciles_total", get(&self.reconciles)),
            ("bridge_sandboxes_reaped_total", get(&self.reaped)),
        ]
    }

    /// The labelled counters in the exposition format.
    pub fn render_labelled(&self) -> String {
        let mut out = String::new();
        self.reconcile_failures.render(
            &mut out,
            "bridge_reconcile_failures_total",
            "Failed reconcile steps, by reason.",
            "reason",
        );
        self.sync_failures.render(
            &mut out,
            "bridge_sync_failures_total",
            "File sync failures (of one path or of a whole side), by reason.",
            "reason",
        );
        out
    }
}

impl Workspaces {
    /// The session layer's part of `/metrics`: [`Workspaces::stats`] and the failures by
    /// reason.
    pub fn render_metrics(&self) -> String {
        render_pairs(&self.stats()) + &self.shared.stats.render_labelled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::RuntimeError;

    #[test]
    fn failures_are_rendered_by_reason() {
        let stats = Stats::default();
        stats.reconcile_failure(&ReconcileError::ListSandboxes(RuntimeError::NotRunning));
        stats.sync_failure(FailureKind::FileTooLarge);
        stats.sync_failure(FailureKind::FileTooLarge);
        let text = stats.render_labelled();
        assert!(
            text.contains("bridge_reconcile_failures_total{reason=\"list_sandboxes\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("bridge_sync_failures_total{reason=\"file_too_large\"} 2\n"));
        assert!(text.contains("# TYPE bridge_sync_failures_total counter\n"));
    }
}
