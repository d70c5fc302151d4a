//! Child processes that cannot outlive the test that started them.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// Owns a spawned process and kills it (SIGKILL) when dropped, so a failing test does not leave
/// servers behind.
///
/// [`ChildGuard::spawn`] also sends the process's stdout and stderr to a temporary log file
/// instead of the terminal; when the guard is dropped during a panic (a failed assertion), the
/// log is printed, and the test harness shows it with the failure.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    /// Name used in messages (the program's file name).
    name: String,
    /// The process's stdout and stderr, when spawned through [`ChildGuard::spawn`].
    log: Option<File>,
}

impl ChildGuard {
    /// Takes ownership of an already spawned child.
    pub fn new(child: Child) -> ChildGuard {
        ChildGuard {
            name: format!("pid {}", child.id()),
            child,
            log: None,
        }
    }

    /// Spawns `cmd` with stdin closed and stdout and stderr captured into a log file
    /// (see [`ChildGuard::log`]).
    pub fn spawn(cmd: &mut Command) -> anyhow::Result<ChildGuard> {
        let log = tempfile::tempfile().context("creating a log file for a child process")?;
        // One file description for both streams, so their writes interleave instead of
        // overwriting each other.
        let stdout = log.try_clone()?;
        let stderr = log.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("spawning {cmd:?}"))?;
        let name = std::path::Path::new(cmd.get_program())
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(ChildGuard {
            child,
            name,
            log: Some(log),
        })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child, e.g. to take a piped stream or `try_wait` it.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Everything the process wrote to stdout and stderr so far (empty for [`ChildGuard::new`]).
    pub fn log(&self) -> String {
        let Some(file) = &self.log else {
            return String::new();
        };
        let mut text = Vec::new();
        let mut file = file;
        if file.seek(SeekFrom::Start(0)).is_err() || file.read_to_end(&mut text).is_err() {
            return String::new();
        }
        String::from_utf8_lossy(&text).into_owned()
    }

    /// Asks the process to stop (SIGTERM) and waits up to `timeout` for it to exit; kills it
    /// if it has not. Returns its exit status (`None` if it had to be killed).
    pub fn terminate(&mut self, timeout: Duration) -> anyhow::Result<Option<ExitStatus>> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(Some(status));
        }
        let pid = libc::pid_t::try_from(self.child.id()).context("pid out of range")?;
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child, which
        // has not been reaped (try_wait above returned None), so it cannot have been reused.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(None)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() && self.log.is_some() {
            eprintln!("--- output of {} ---\n{}", self.name, self.log());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_kills_on_drop() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exec sleep 600"]);
        let guard = ChildGuard::spawn(&mut cmd).unwrap();
        let pid = guard.id();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !guard.log().contains("err") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let log = guard.log();
        assert!(log.contains("out") && log.contains("err"), "log: {log:?}");
        drop(guard);
        // Reaped, so the pid no longer names a process of ours.
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }

    #[test]
    fn terminate_sends_sigterm() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "trap 'exit 7' TERM; while :; do sleep 0.05; done"]);
        let mut guard = ChildGuard::spawn(&mut cmd).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let status = guard.terminate(Duration::from_secs(5)).unwrap();
        assert_eq!(status.and_then(|s| s.code()), Some(7));
    }
}
