//! A pseudo-terminal pair and the shell running on it, with async access to the master side.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::libc;
use nix::pty::{Winsize, openpty};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// The master side of a PTY, non-blocking and registered with tokio.
pub struct Pty {
    master: AsyncFd<OwnedFd>,
}

impl Pty {
    /// Opens a PTY pair of the given size. The slave is for the child only.
    pub fn open(cols: u16, rows: u16) -> io::Result<(Pty, OwnedFd)> {
        let pair = openpty(&winsize(cols, rows), None)?;
        for fd in [&pair.master, &pair.slave] {
            // openpty(3) does not set close-on-exec: without it every shell would inherit the
            // master (and every other terminal's), and the master would never see EOF.
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
        }
        let flags = OFlag::from_bits_truncate(fcntl(&pair.master, FcntlArg::F_GETFL)?);
        fcntl(&pair.master, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
        // SAFETY: the `OwnedFd` moves into the `AsyncFd`, which alone closes it, after
        // deregistering.
        let master = unsafe {
            AsyncFd::register_with_interest(pair.master, Interest::READABLE | Interest::WRITABLE)
        }
        .map_err(io::Error::from)?;
        Ok((Pty { master }, pair.slave))
    }

    /// Reads output; `Ok(0)` once no process has the slave open any more (Linux reports that
    /// as `EIO` on the master).
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.master.readable().await?;
            match guard.try_io(|fd| nix::unistd::read(fd.get_ref(), buf).map_err(io::Error::from)) {
                Ok(Ok(n)) => return Ok(n),
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Ok(0),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    /// Writes all of `data` as input to the terminal.
    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let mut guard = self.master.writable().await?;
            match guard.try_io(|fd| nix::unistd::write(fd.get_ref(), data).map_err(io::Error::from))
            {
                Ok(Ok(n)) => data = &data[n..],
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }

    /// Sets the window size; the kernel sends SIGWINCH to the foreground job.
    pub fn resize(&self, cols: u16, rows: u16) -> io::Result<()> {
        let ws = winsize(cols, rows);
        // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer, which outlives the call.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        Errno::result(rc).map(drop).map_err(io::Error::from)
    }

    /// The process group in the terminal's foreground (the shell itself when at its prompt).
    /// `None` when there is none: Linux then reports 0, and `killpg(0, ..)` would signal our
    /// own process group.
    pub fn foreground_pgrp(&self) -> Option<i32> {
        let pgrp = nix::unistd::tcgetpgrp(self.master.get_ref().as_fd())
            .ok()?
            .as_raw();
        (pgrp > 1 && pgrp != nix::unistd::getpgrp().as_raw()).then_some(pgrp)
    }
}

fn winsize(cols: u16, rows: u16) -> Winsize {
    Winsize {
        ws_row: rows.max(1),
        ws_col: cols.max(1),
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// Starts `argv` as a session leader whose controlling terminal is `slave`, in `cwd`.
/// Returns the std `Child` (never waited on through std: the [`crate::reaper`] reaps it).
pub fn spawn(
    argv: &[String],
    cwd: &Path,
    env: &[(&str, OsString)],
    slave: OwnedFd,
) -> io::Result<std::process::Child> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| io::Error::other("empty shell command"))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave));
    for (k, v) in env {
        cmd.env(k, v);
    }
    // SAFETY: only async-signal-safe calls (setsid, ioctl) run between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()?;
            // Make the PTY (now on fd 0) the controlling terminal of the new session.
            Errno::result(libc::ioctl(0, libc::TIOCSCTTY as _, 0))?;
            Ok(())
        });
    }
    cmd.spawn()
}
