//! One terminal: a shell on a PTY, its scrollback, and the outlets of its attachments.
//!
//! Three tasks serve a terminal: the *pump* reads the PTY into the scrollback and every
//! outlet; the *input writer* feeds client input to the PTY; the *supervisor* waits for the
//! shell to exit, for an explicit close, or for the idle timeout after the last detach, and
//! then finishes the outlets with the exit status.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_protocol::ExitStatus;
use bytes::Bytes;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};

use crate::activity::session_members;
use crate::fanout::{Outlet, deadline_after};
use crate::pty::{self, Pty};
use crate::reaper::Reaper;
use crate::scrollback::Scrollback;

/// How long a hung-up shell gets before SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);
/// How long the pump may take to deliver the last output after the shell exited.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// What every terminal of a daemon shares.
pub struct TerminalSettings {
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    pub scrollback_bytes: usize,
    pub queue_bytes: usize,
    pub stall_timeout: Duration,
    pub idle_timeout: Duration,
    /// Input bytes accepted but not yet written to the PTY, per terminal, before input is
    /// refused (a shell that does not read must not make us buffer without bound).
    pub input_cap: usize,
}

pub struct Terminal {
    pub id: String,
    /// The shell's pid, which is also its session and process-group id.
    pub pid: u32,
    pty: Arc<Pty>,
    shared: Mutex<Shared>,
    input_tx: mpsc::UnboundedSender<Bytes>,
    /// Bytes sent to the input writer and not yet written.
    input_pending: Arc<AtomicUsize>,
    close_requested: Notify,
    /// Wakes the supervisor when the set of attachments changes (idle timer).
    attachments_changed: Notify,
    settings: Arc<TerminalSettings>,
}

/// Everything that attach, detach and the pump must see consistently: one lock, so a new
/// attachment gets the replay and then exactly the output after it.
struct Shared {
    scrollback: Scrollback,
    outlets: Vec<Arc<Outlet>>,
    exit: Option<ExitStatus>,
    last_detach: Instant,
}

/// Called once the terminal has ended, to drop it from the registry.
pub type OnEnd = Box<dyn FnOnce(&Arc<Terminal>) + Send>;

#[derive(Debug)]
pub struct InputFull;

impl Terminal {
    /// Starts the shell and the terminal's tasks.
    pub fn spawn(
        id: String,
        cols: u16,
        rows: u16,
        settings: Arc<TerminalSettings>,
        reaper: &Reaper,
        on_end: OnEnd,
    ) -> io::Result<Arc<Terminal>> {
        let (pty, slave) = Pty::open(cols, rows)?;
        let env = [("TERM", OsString::from("xterm-256color"))];
        let (pid, exit_rx) =
            reaper.spawn(|| pty::spawn(&settings.argv, &settings.cwd, &env, slave))?;
        let pty = Arc::new(pty);
        let (input_tx, input_rx) = mpsc::unbounded_channel();
        let input_pending = Arc::new(AtomicUsize::new(0));
        let terminal = Arc::new(Terminal {
            id,
            pid,
            pty: pty.clone(),
            shared: Mutex::new(Shared {
                scrollback: Scrollback::new(settings.scrollback_bytes),
                outlets: Vec::new(),
                exit: None,
                last_detach: Instant::now(),
            }),
            input_tx,
            input_pending: input_pending.clone(),
            close_requested: Notify::new(),
            attachments_changed: Notify::new(),
            settings,
        });
        let writer = tokio::spawn(write_input(pty, input_rx, input_pending));
        let pump = tokio::spawn(terminal.clone().pump());
        tokio::spawn(terminal.clone().supervise(exit_rx, pump, writer, on_end));
        tracing::info!(terminal = %terminal.id, pid, "terminal started");
        Ok(terminal)
    }

    /// Registers a new attachment with its replay queued, or `None` if the shell has exited.
    /// Returns the outlet and the replay length.
    pub fn attach(&self, window: u32) -> Option<(Arc<Outlet>, u32)> {
        let mut s = self.shared.lock().unwrap();
        if s.exit.is_some() {
            return None;
        }
        let outlet = Arc::new(Outlet::new(self.settings.queue_bytes, window));
        let replay = s.scrollback.contents();
        let replay_len = replay.len() as u32;
        outlet.push(replay.into());
        s.outlets.push(outlet.clone());
        drop(s);
        self.attachments_changed.notify_one();
        Some((outlet, replay_len))
    }

    /// Removes an attachment (the terminal keeps running).
    pub fn detach(&self, outlet: &Arc<Outlet>) {
        let mut s = self.shared.lock().unwrap();
        let before = s.outlets.len();
        s.outlets.retain(|o| !Arc::ptr_eq(o, outlet));
        if s.outlets.is_empty() && before > 0 {
            s.last_detach = Instant::now();
        }
        drop(s);
        self.attachments_changed.notify_one();
    }

    pub fn attachments(&self) -> usize {
        self.shared.lock().unwrap().outlets.len()
    }

    /// Queues input for the shell, refusing it if too much is already waiting.
    pub fn input(&self, data: Bytes) -> Result<(), InputFull> {
        let len = data.len();
        let pending = self.input_pending.fetch_add(len, Ordering::AcqRel);
        if pending + len > self.settings.input_cap {
            self.input_pending.fetch_sub(len, Ordering::AcqRel);
            return Err(InputFull);
        }
        if self.input_tx.send(data).is_err() {
            self.input_pending.fetch_sub(len, Ordering::AcqRel);
        }
        Ok(())
    }

    pub fn resize(&self, cols: u16, rows: u16) -> io::Result<()> {
        self.pty.resize(cols, rows)
    }

    /// Hangs up the shell; it is killed if it has not exited after a grace period.
    pub fn close(&self) {
        self.close_requested.notify_one();
    }

    /// True if a command other than the shell holds the terminal's foreground.
    pub fn foreground_busy(&self) -> bool {
        self.pty
            .foreground_pgrp()
            .is_some_and(|pgrp| pgrp != self.pid as i32)
    }

    async fn pump(self: Arc<Self>) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            self.wait_for_outlets().await;
            let n = match self.pty.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(terminal = %self.id, "pty read: {e}");
                    break;
                }
            };
            let chunk = Bytes::copy_from_slice(&buf[..n]);
            let mut s = self.shared.lock().unwrap();
            s.scrollback.push(&chunk);
            for outlet in &s.outlets {
                outlet.push(chunk.clone());
            }
        }
    }

    /// Waits until every outlet has room; cuts off those still full at the stall deadline.
    async fn wait_for_outlets(&self) {
        let outlets = self.shared.lock().unwrap().outlets.clone();
        let deadline = deadline_after(self.settings.stall_timeout);
        for outlet in outlets {
            if !outlet.wait_room(deadline).await {
                let ms = self.settings.stall_timeout.as_millis();
                tracing::warn!(terminal = %self.id, "cutting off an attachment stalled for {ms} ms");
                outlet.detach(format!(
                    "cut off: the client read no output for {ms} ms while {} bytes were queued",
                    outlet.queued()
                ));
                self.detach(&outlet);
            }
        }
    }

    async fn supervise(
        self: Arc<Self>,
        mut exit_rx: oneshot::Receiver<ExitStatus>,
        mut pump: JoinHandle<()>,
        writer: JoinHandle<()>,
        on_end: OnEnd,
    ) {
        let far = || Instant::now() + Duration::from_secs(86400 * 365);
        let mut kill_at: Option<Instant> = None;
        let status = loop {
            let idle_at = {
                let s = self.shared.lock().unwrap();
                (s.outlets.is_empty() && kill_at.is_none())
                    .then(|| s.last_detach + self.settings.idle_timeout)
            };
            tokio::select! {
                status = &mut exit_rx => break status.unwrap_or(ExitStatus::Signal(9)),
                _ = self.close_requested.notified() => {
                    self.hang_up();
                    kill_at.get_or_insert(Instant::now() + KILL_GRACE);
                }
                _ = self.attachments_changed.notified() => {}
                _ = sleep_until(idle_at.unwrap_or_else(far)), if idle_at.is_some() => {
                    tracing::info!(terminal = %self.id, "no attachment for the idle timeout: closing");
                    self.hang_up();
                    kill_at = Some(Instant::now() + KILL_GRACE);
                }
                _ = sleep_until(kill_at.unwrap_or_else(far)), if kill_at.is_some() => {
                    self.kill_shell(Signal::SIGKILL);
                    self.signal_session(Signal::SIGKILL);
                    kill_at = Some(far());
                }
            }
        };
        tracing::info!(terminal = %self.id, ?status, "shell exited");
        // Background jobs may still hold the PTY open; hang them up so the pump sees EOF.
        self.signal_session(Signal::SIGHUP);
        if timeout(DRAIN_GRACE, &mut pump).await.is_err() {
            pump.abort();
        }
        writer.abort();
        let outlets = {
            let mut s = self.shared.lock().unwrap();
            s.exit = Some(status);
            std::mem::take(&mut s.outlets)
        };
        for outlet in outlets {
            outlet.finish(status);
        }
        on_end(&self);
    }

    /// SIGHUP to the shell and to the job in its foreground (bash passes it on to its jobs).
    fn hang_up(&self) {
        let _ = kill(Pid::from_raw(self.pid as i32), Signal::SIGHUP);
        if let Some(pgrp) = self.pty.foreground_pgrp() {
            let _ = killpg(Pid::from_raw(pgrp), Signal::SIGHUP);
        }
    }

    /// Signals the shell itself; only while it has not been reaped (its pid could be reused).
    fn kill_shell(&self, sig: Signal) {
        let _ = kill(Pid::from_raw(self.pid as i32), sig);
    }

    /// Signals every process of the shell's session other than the shell.
    fn signal_session(&self, sig: Signal) {
        for pid in session_members(self.pid as i32) {
            let _ = kill(Pid::from_raw(pid), sig);
        }
    }
}

async fn write_input(
    pty: Arc<Pty>,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    pending: Arc<AtomicUsize>,
) {
    while let Some(data) = rx.recv().await {
        if let Err(e) = pty.write_all(&data).await {
            tracing::debug!("pty write: {e}");
            break;
        }
        pending.fetch_sub(data.len(), Ordering::AcqRel);
    }
}
