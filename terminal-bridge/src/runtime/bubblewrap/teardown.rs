//! Removing one sandbox: its processes, cgroups, uid and directory.

use std::time::{Duration, Instant};

use uuid::Uuid;

use super::state::{self, SandboxState};
use super::{BubblewrapRuntime, cgroup};

/// How long stopping waits for the sandbox's processes to be gone.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

impl BubblewrapRuntime {
    /// Kills whatever is left of `session`'s sandbox and removes its cgroups, uid and
    /// directory. `state` is the sandbox's recorded state, if known.
    pub(super) async fn teardown(&self, session: Uuid, state: Option<SandboxState>) {
        let layout = self.layout(session);
        let state = state.or_else(|| SandboxState::load(&layout.state()));
        let mut cgroups = self.cgroups.dirs_of(&session.to_string());
        if let Some(state) = &state {
            if state.is_running() {
                // SAFETY: kill has no memory-safety preconditions; the start time check
                // above makes sure the pid is still the sandbox's init.
                unsafe { libc::kill(state.init_pid, libc::SIGKILL) };
            }
            for dir in &state.cgroups {
                if !cgroups.contains(dir) {
                    cgroups.push(dir.clone());
                }
            }
        }
        cgroup::kill_all(&cgroups, STOP_TIMEOUT).await;
        if let Some(state) = &state {
            let deadline = Instant::now() + STOP_TIMEOUT;
            while (state.is_running() || state::is_running(state.bwrap_pid, state.bwrap_start))
                && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        cgroup::remove_all(&cgroups, STOP_TIMEOUT).await;
        if self.root {
            self.uids.release_session(session);
        }
        let dir = layout.dir;
        let removed = tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&dir) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        })
        .await;
        if let Ok(Err(err)) = removed {
            tracing::warn!(%session, "cannot remove the sandbox directory: {err}");
        }
    }
}
