//! Counters of the session layer, for `/metrics`: plain atomics, read by [`Stats::snapshot`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
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
}
