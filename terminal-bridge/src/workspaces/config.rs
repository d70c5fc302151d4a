//! Settings of the session layer: idle timeout, reconcile period and the file limits, each with
//! an environment variable. The limits default to the REST side's (`spin.toml`), so a file the
//! editor may save the shell may save too, and the other way round.

use std::time::Duration;

use clap::Args;

/// See the module documentation. Flattened into `serve`'s arguments.
#[derive(Debug, Clone, Args)]
pub struct SyncConfig {
    /// Seconds a sandbox may go without clients and without activity (terminal input, running
    /// processes, file changes) before it is flushed and stopped.
    #[arg(
        long = "session-timeout",
        env = "SESSION_TIMEOUT",
        default_value_t = 3600.0
    )]
    pub session_timeout_secs: f64,

    /// Seconds between two full reconciliations of sessions against sandboxes and files (what
    /// catches missed notifications).
    #[arg(
        long = "reconcile-secs",
        env = "BRIDGE_RECONCILE_SECS",
        default_value_t = 30.0
    )]
    pub reconcile_secs: f64,

    /// Largest file (bytes) a shell edit may save to PostgreSQL.
    #[arg(long, env = "MAX_FILE_SIZE", default_value_t = 1_048_576)]
    pub max_file_size: u64,

    /// Most files one workspace may hold.
    #[arg(long, env = "MAX_WORKSPACE_FILES", default_value_t = 1000)]
    pub max_workspace_files: u64,

    /// Most bytes (sum of file sizes) one workspace may hold.
    #[arg(long, env = "MAX_WORKSPACE_BYTES", default_value_t = 100 * 1_048_576)]
    pub max_workspace_bytes: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            session_timeout_secs: 3600.0,
            reconcile_secs: 30.0,
            max_file_size: 1_048_576,
            max_workspace_files: 1000,
            max_workspace_bytes: 100 * 1_048_576,
        }
    }
}

impl SyncConfig {
    /// The idle timeout.
    pub fn session_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.session_timeout_secs.max(0.001))
    }

    /// The period of the full reconciliation.
    pub fn reconcile_period(&self) -> Duration {
        Duration::from_secs_f64(self.reconcile_secs.max(0.05))
    }

    /// How long a sandbox no bridge watches may go untouched before the reaper removes it:
    /// ten reconcile periods, so a pod a bridge (this one or a replica) looks after is touched
    /// many times over before that, and a transient failure to adopt one does not cost it.
    pub fn stale_after(&self) -> Duration {
        self.reconcile_period() * 10
    }

    /// How often an active session checks whether it is idle: a quarter of the timeout, between
    /// 50 ms and 30 s.
    pub fn idle_check_period(&self) -> Duration {
        (self.session_timeout() / 4).clamp(Duration::from_millis(50), Duration::from_secs(30))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sync: SyncConfig,
    }

    #[test]
    fn defaults_match_the_rest_side() {
        let cli = Cli::try_parse_from(["x"]).unwrap();
        let d = SyncConfig::default();
        assert_eq!(cli.sync.max_file_size, d.max_file_size);
        assert_eq!(cli.sync.max_workspace_files, 1000);
        assert_eq!(cli.sync.max_workspace_bytes, 104_857_600);
        assert_eq!(cli.sync.session_timeout(), Duration::from_secs(3600));
        assert_eq!(cli.sync.reconcile_period(), Duration::from_secs(30));
    }

    #[test]
    fn fractional_timeouts_for_tests() {
        let cli = Cli::try_parse_from(["x", "--session-timeout", "0.5"]).unwrap();
        assert_eq!(cli.sync.session_timeout(), Duration::from_millis(500));
        assert_eq!(cli.sync.idle_check_period(), Duration::from_millis(125));
    }
}
