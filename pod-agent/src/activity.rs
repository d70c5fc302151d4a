//! What the bridge needs for idle decisions: when input last arrived, and whether anything
//! other than idle shells is running.
//!
//! A terminal counts as busy when its foreground process group is not the shell's own (a
//! command is running in the foreground); and every process in a terminal's session other
//! than the shell (background jobs, servers) is counted, read from `/proc`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The time of the last input, shared by all connections.
pub struct Activity {
    epoch: Instant,
    /// Milliseconds after `epoch` of the last input, plus one; 0 means never.
    last_input: AtomicU64,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            epoch: Instant::now(),
            last_input: AtomicU64::new(0),
        }
    }
}

impl Activity {
    pub fn touch_input(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64 + 1;
        self.last_input.store(ms, Ordering::Relaxed);
    }

    pub fn last_input_ago(&self) -> Option<Duration> {
        match self.last_input.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(
                self.epoch
                    .elapsed()
                    .saturating_sub(Duration::from_millis(ms - 1)),
            ),
        }
    }
}

/// Pids of the processes whose session id is `sid`, other than `sid` itself.
pub fn session_members(sid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != sid && session_of(pid) == Some(sid))
        .collect()
}

/// The session id of a process, from `/proc/<pid>/stat`; `None` for zombies and vanished pids.
fn session_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain anything, so parse from
    // the last ')': then state, ppid, pgrp, session.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_background_job_of_a_session_leader() {
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", "sleep 30 & wait"]);
        // SAFETY: setsid is async-signal-safe.
        unsafe { cmd.pre_exec(|| nix::unistd::setsid().map(drop).map_err(Into::into)) };
        let mut child = cmd.spawn().unwrap();
        let sid = child.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(20);
        let members = loop {
            let members = session_members(sid);
            if !members.is_empty() {
                break members;
            }
            assert!(
                Instant::now() < deadline,
                "the session's sleep never appeared"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(members.len(), 1, "exactly the sleep: {members:?}");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(members[0]),
            nix::sys::signal::SIGKILL,
        )
        .unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn last_input_is_none_until_touched() {
        let a = Activity::default();
        assert_eq!(a.last_input_ago(), None);
        a.touch_input();
        assert!(a.last_input_ago().unwrap() < Duration::from_secs(5));
    }
}
