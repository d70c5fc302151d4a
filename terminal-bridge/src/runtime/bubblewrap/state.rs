//! What the runtime remembers about a running sandbox, in a JSON file in the sandbox's
//! directory, so that a restarted bridge finds it: the processes (with their start times, so a
//! recycled pid is not mistaken for the sandbox), the host uid and the cgroups.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The state file of one sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxState {
    pub session: Uuid,
    /// The host uid (and gid) the sandbox runs as.
    pub host_uid: u32,
    /// Whether `host_uid` was reserved from the runtime's uid range (and must be released).
    pub uid_reserved: bool,
    /// The outer `bwrap` process (the one the bridge started).
    pub bwrap_pid: i32,
    /// `bwrap_pid`'s start time.
    pub bwrap_start: u64,
    /// bwrap's init process of the sandbox's pid namespace (pid 1 inside); killing it ends
    /// every process of the sandbox.
    pub init_pid: i32,
    /// `init_pid`'s start time (clock ticks after boot, `/proc/<pid>/stat` field 22).
    pub init_start: u64,
    /// The sandbox's cgroup directories (one per v1 hierarchy, or one v2 directory).
    pub cgroups: Vec<PathBuf>,
}

impl SandboxState {
    /// True while the sandbox's init process is the one recorded here and has not exited.
    pub fn is_running(&self) -> bool {
        is_running(self.init_pid, self.init_start)
    }

    /// Reads a state file; `None` if it does not exist or cannot be parsed (a torn write).
    pub fn load(path: &Path) -> Option<SandboxState> {
        let text = std::fs::read(path).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Writes the state file atomically (temporary file + rename).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        file.write_all(&serde_json::to_vec_pretty(self)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

/// The state letter and start time of `pid`, from `/proc/<pid>/stat`.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    if pid <= 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// Parses the state (field 3) and start time (field 22) of a `/proc/<pid>/stat` line. The
/// command name (field 2) may contain spaces and parentheses, so fields are counted after its
/// last `)`.
fn parse_stat(stat: &str) -> Option<(char, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// The start time of `pid` if it exists.
pub fn start_time(pid: i32) -> Option<u64> {
    proc_stat(pid).map(|(_, start)| start)
}

/// True if `pid` exists, is not a zombie, and started at `start`.
pub fn is_running(pid: i32, start: u64) -> bool {
    matches!(proc_stat(pid), Some((state, s)) if s == start && state != 'Z' && state != 'X')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_state_and_start_time_after_a_tricky_name() {
        let line = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 \
                    1000 10 18446744073709551615";
        assert_eq!(parse_stat(line), Some(('S', 987654)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn our_own_process_is_running_and_a_wrong_start_time_is_not() {
        let me = std::process::id() as i32;
        let start = start_time(me).unwrap();
        assert!(is_running(me, start));
        assert!(!is_running(me, start + 1));
        assert!(!is_running(-1, 0));
    }

    #[test]
    fn state_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let state = SandboxState {
            session: Uuid::new_v4(),
            host_uid: 200_001,
            uid_reserved: true,
            bwrap_pid: 10,
            bwrap_start: 9,
            init_pid: 11,
            init_start: 12,
            cgroups: vec!["/sys/fs/cgroup/pids/x".into()],
        };
        state.save(&path).unwrap();
        assert_eq!(SandboxState::load(&path), Some(state));
        std::fs::write(&path, "{").unwrap();
        assert_eq!(SandboxState::load(&path), None);
    }
}
