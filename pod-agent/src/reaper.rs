//! Reaps every child process: the shells we start, and (when the agent is a sandbox's PID 1)
//! the orphans re-parented to us, which would otherwise stay zombies.
//!
//! Because it calls `waitpid(-1)`, nothing else in the daemon may wait for children: shells are
//! started through [`Reaper::spawn`], which hands back a receiver for their exit status.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};

use agent_protocol::ExitStatus;
use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::oneshot;

pub struct Reaper {
    /// Exit-status receivers of the children we started, by pid. Held while spawning, so a
    /// child cannot be reaped before it is registered.
    waiting: Mutex<HashMap<i32, oneshot::Sender<ExitStatus>>>,
}

impl Reaper {
    /// Installs the SIGCHLD handler and starts reaping. Call inside a tokio runtime.
    pub fn start() -> io::Result<Arc<Reaper>> {
        let mut sigchld = signal(SignalKind::child())?;
        let reaper = Arc::new(Reaper {
            waiting: Mutex::new(HashMap::new()),
        });
        let weak = Arc::downgrade(&reaper);
        tokio::spawn(async move {
            while sigchld.recv().await.is_some() {
                match weak.upgrade() {
                    Some(r) => r.reap(),
                    None => break,
                }
            }
        });
        Ok(reaper)
    }

    /// Runs `start` (which forks a child) and registers the child for reaping.
    pub fn spawn(
        &self,
        start: impl FnOnce() -> io::Result<std::process::Child>,
    ) -> io::Result<(u32, oneshot::Receiver<ExitStatus>)> {
        let mut waiting = self.waiting.lock().unwrap();
        let child = start()?;
        let pid = child.id();
        let (tx, rx) = oneshot::channel();
        waiting.insert(pid as i32, tx);
        Ok((pid, rx))
    }

    fn reap(&self) {
        let mut waiting = self.waiting.lock().unwrap();
        loop {
            let (pid, status) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, ExitStatus::Code(code)),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid, ExitStatus::Signal(sig as i32)),
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(e) => {
                    tracing::warn!("waitpid: {e}");
                    return;
                }
            };
            if let Some(tx) = waiting.remove(&pid.as_raw()) {
                let _ = tx.send(status);
            }
        }
    }
}
