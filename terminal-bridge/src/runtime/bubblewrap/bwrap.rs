//! The bubblewrap command line of a sandbox. Paths the sandbox binds from the sandbox directory
//! (workspace, run directory, agent binary, passwd and group) are handed to bwrap as open file
//! descriptors (`--bind-fd`), so the unprivileged uid bwrap runs as needs no access to the
//! directories above them.

use std::ffi::OsString;
use std::path::Path;

use super::Limits;

/// File descriptor numbers in bwrap's process (see `spawn`).
pub mod fd {
    /// bwrap writes `{"child-pid": N, ...}` here once the sandbox's init runs.
    pub const INFO: i32 = 3;
    pub const WORKSPACE: i32 = 4;
    pub const RUN: i32 = 5;
    pub const AGENT: i32 = 6;
    pub const PASSWD: i32 = 7;
    pub const GROUP: i32 = 8;
    /// The seccomp program (see `seccomp`).
    pub const SECCOMP: i32 = 9;
    /// The highest of these.
    pub const LAST: i32 = SECCOMP;
}

/// The uid and gid of the user inside the sandbox.
pub const SANDBOX_UID: u32 = 1000;
/// Where the sandbox's run directory (holding the agent's socket) appears inside.
pub const RUN_DIR: &str = "/run/pod-agent";
/// The agent's socket file name in the run directory.
pub const SOCKET_NAME: &str = "agent.sock";
/// Where the agent binary appears inside.
pub const AGENT_PATH: &str = "/opt/pod-agent/pod-agent";
/// The sandbox user's home: a private tmpfs, so dotfiles do not land in the workspace.
pub const HOME: &str = "/home/sandbox";

/// System directories bound read-only when they exist on the host (as symlinks when the host
/// has them as symlinks, e.g. `/bin -> usr/bin` on merged-/usr systems).
const SYSTEM_DIRS: [&str; 8] = [
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
];

/// Files of /etc hidden behind /dev/null: unreadable to the sandbox anyway (their owner, host
/// root, is not mapped), hidden so that no mistake in their modes can leak them.
const MASKED: [&str; 4] = [
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/shadow-",
    "/etc/gshadow-",
];

/// The arguments after `bwrap` for one sandbox.
pub fn args(limits: &Limits, hostname: &str) -> Vec<OsString> {
    let mut a = Args::default();
    a.push([
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-net",
        "--unshare-cgroup-try",
        // No user namespaces inside: they are the usual first step of kernel exploits.
        "--disable-userns",
        "--new-session",
    ]);
    a.push([
        "--uid",
        &SANDBOX_UID.to_string(),
        "--gid",
        &SANDBOX_UID.to_string(),
    ]);
    a.push(["--hostname", hostname]);
    for dir in SYSTEM_DIRS {
        let host = Path::new(dir);
        match std::fs::symlink_metadata(host) {
            Ok(meta) if meta.file_type().is_symlink() => {
                if let Ok(target) = std::fs::read_link(host) {
                    a.push_os(["--symlink".into(), target.into_os_string(), dir.into()]);
                }
            }
            Ok(meta) if meta.is_dir() => a.push(["--ro-bind", dir, dir]),
            _ => {}
        }
    }
    a.push_fd("--ro-bind-fd", fd::PASSWD, "/etc/passwd");
    a.push_fd("--ro-bind-fd", fd::GROUP, "/etc/group");
    for file in MASKED {
        if Path::new(file).exists() {
            a.push(["--ro-bind", "/dev/null", file]);
        }
    }
    a.push(["--proc", "/proc", "--dev", "/dev"]);
    for tmp in ["/tmp", HOME] {
        if limits.tmp_bytes > 0 {
            a.push(["--size", &limits.tmp_bytes.to_string()]);
        }
        a.push(["--tmpfs", tmp]);
    }
    a.push_fd("--bind-fd", fd::WORKSPACE, "/workspace");
    a.push_fd("--bind-fd", fd::RUN, RUN_DIR);
    a.push_fd("--ro-bind-fd", fd::AGENT, AGENT_PATH);
    // The root itself (bwrap's tmpfs holding the mount points) becomes read-only last.
    a.push(["--remount-ro", "/"]);
    a.push(["--chdir", "/workspace", "--clearenv"]);
    for (key, value) in [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("HOME", HOME),
        ("USER", "sandbox"),
        ("LOGNAME", "sandbox"),
        ("SHELL", "/bin/bash"),
        ("LANG", "C.UTF-8"),
        ("TERM", "xterm-256color"),
        ("TMPDIR", "/tmp"),
    ] {
        a.push(["--setenv", key, value]);
    }
    a.push(["--seccomp", &fd::SECCOMP.to_string()]);
    a.push(["--info-fd", &fd::INFO.to_string()]);
    a.push([
        "--",
        AGENT_PATH,
        "daemon",
        "--workspace",
        "/workspace",
        "--socket",
        &format!("{RUN_DIR}/{SOCKET_NAME}"),
    ]);
    a.0
}

/// `/etc/passwd` of a sandbox.
pub fn passwd() -> String {
    format!(
        "root:x:0:0:root:/root:/usr/sbin/nologin\n\
         sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:sandbox:{HOME}:/bin/bash\n\
         nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
}

/// `/etc/group` of a sandbox.
pub fn group() -> String {
    format!("root:x:0:\nsandbox:x:{SANDBOX_UID}:\nnogroup:x:65534:\n")
}

#[derive(Default)]
struct Args(Vec<OsString>);

impl Args {
    fn push<const N: usize>(&mut self, args: [&str; N]) {
        self.0.extend(args.iter().map(OsString::from));
    }
    fn push_os<const N: usize>(&mut self, args: [OsString; N]) {
        self.0.extend(args);
    }
    fn push_fd(&mut self, option: &str, fd: i32, dest: &str) {
        self.push([option, &fd.to_string(), dest]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(limits: &Limits) -> String {
        args(limits, "sbx")
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn isolates_and_never_dies_with_its_parent() {
        let limits = Limits {
            memory_bytes: 0,
            pids: 0,
            cpu_cores: 0.0,
            tmp_bytes: 1 << 20,
        };
        let line = joined(&limits);
        for expected in [
            "--unshare-user",
            "--unshare-net",
            "--unshare-pid",
            "--disable-userns",
            "--uid 1000 --gid 1000",
            "--ro-bind /usr /usr",
            "--size 1048576 --tmpfs /tmp",
            "--bind-fd 4 /workspace",
            "--remount-ro /",
            "--seccomp 9 --info-fd 3",
            "--clearenv",
            "-- /opt/pod-agent/pod-agent daemon --workspace /workspace --socket /run/pod-agent/agent.sock",
        ] {
            assert!(line.contains(expected), "{expected:?} missing from {line}");
        }
        assert!(!line.contains("--die-with-parent"), "{line}");
        assert!(!line.contains("--share-net"), "{line}");
    }
}
