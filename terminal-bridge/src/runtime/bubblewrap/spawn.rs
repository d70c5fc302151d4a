//! Starting bwrap detached from the bridge: in its own session (so a signal to the bridge's
//! process group or terminal does not reach it), already inside the sandbox's cgroups and under
//! its rlimits, as the sandbox's unprivileged host uid, with the descriptors bwrap binds at
//! fixed numbers. All of that happens between fork and exec, before any sandbox code runs.

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::Stdio;

use anyhow::Context;
use tokio::process::{Child, Command};

/// A process limit applied when no cgroup enforces the resource.
#[derive(Debug, Clone, Copy)]
pub struct Rlimit {
    pub resource: i32,
    pub value: u64,
}

/// Everything one launch needs.
pub struct Launch<'a> {
    pub bwrap: &'a Path,
    pub args: Vec<OsString>,
    /// `(descriptor, number it must have in bwrap)`.
    pub fds: Vec<(OwnedFd, i32)>,
    /// Open `cgroup.procs` files the child writes itself into.
    pub cgroup_procs: Vec<File>,
    pub rlimits: Vec<Rlimit>,
    /// Switch to this uid and gid (only when the bridge is root).
    pub host_uid: Option<u32>,
    /// bwrap's and the agent's stdout and stderr.
    pub log: File,
}

/// A started bwrap and the pipe on which it reports the sandbox's init pid.
pub struct Launched {
    pub child: Child,
    pub info: File,
}

/// Lowest descriptor number the inherited descriptors are moved to before the fork, so that
/// `dup2` onto the small fixed numbers never overwrites one that is still to be copied.
const HIGH_FD: i32 = 100;

pub fn launch(launch: Launch<'_>) -> anyhow::Result<Launched> {
    let (info_read, info_write) = pipe().context("creating the info pipe")?;
    let mut keep = Vec::new();
    let mut moves = Vec::new();
    for (fd, target) in launch
        .fds
        .into_iter()
        .chain([(info_write, super::bwrap::fd::INFO)])
    {
        let high = move_high(fd).context("duplicating a descriptor")?;
        moves.push((high.as_raw_fd(), target));
        keep.push(high);
    }
    let procs: Vec<i32> = launch.cgroup_procs.iter().map(|f| f.as_raw_fd()).collect();
    let rlimits = launch.rlimits;
    let uid = launch.host_uid;

    let mut cmd = Command::new(launch.bwrap);
    cmd.args(&launch.args)
        .stdin(Stdio::null())
        .stdout(launch.log.try_clone().context("duplicating the log file")?)
        .stderr(launch.log)
        .kill_on_drop(false);
    // SAFETY: between fork and exec the closure only makes async-signal-safe system calls
    // (setsid, write, setrlimit, dup2, close_range, setgroups, setgid, setuid) on values prepared
    // before the fork; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            check(libc::setsid())?;
            for &fd in &procs {
                // "0" moves the writing process itself into the cgroup.
                if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for limit in &rlimits {
                let rlim = libc::rlimit {
                    rlim_cur: limit.value as libc::rlim_t,
                    rlim_max: limit.value as libc::rlim_t,
                };
                check(libc::setrlimit(limit.resource as _, &rlim))?;
            }
            for &(from, to) in &moves {
                check(libc::dup2(from, to))?;
            }
            // Nothing else the bridge has open (inherited descriptors of its own parent,
            // say) reaches the sandbox. Close-on-exec rather than close, so that the pipe on
            // which std reports a failed exec keeps working; kernels before 5.11 lack this.
            libc::syscall(
                libc::SYS_close_range,
                (super::bwrap::fd::LAST + 1) as libc::c_uint,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            if let Some(uid) = uid {
                check(libc::setgroups(0, std::ptr::null()))?;
                check(libc::setgid(uid))?;
                check(libc::setuid(uid))?;
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", launch.bwrap.display()))?;
    drop(keep);
    Ok(Launched {
        child,
        info: File::from(info_read),
    })
}

/// Reads bwrap's `--info-fd` report and returns the sandbox init's host pid. Blocks until bwrap
/// writes it or exits.
pub fn read_child_pid(mut info: File) -> anyhow::Result<i32> {
    let mut text = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&text)
            && let Some(pid) = value.get("child-pid").and_then(|p| p.as_i64())
        {
            return Ok(pid as i32);
        }
        let n = info.read(&mut chunk).context("reading bwrap's info")?;
        if n == 0 {
            anyhow::bail!("bubblewrap exited before the sandbox started");
        }
        text.extend_from_slice(&chunk[..n]);
    }
}

fn check(ret: libc::c_int) -> std::io::Result<()> {
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded, so both are fresh descriptors we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn move_high(fd: OwnedFd) -> std::io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor we own returns a new one we then own.
    let high = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, HIGH_FD) };
    check(high)?;
    // SAFETY: see above.
    Ok(unsafe { OwnedFd::from_raw_fd(high) })
}
