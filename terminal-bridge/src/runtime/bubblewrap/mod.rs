//! The local runtime: one bubblewrap sandbox per workspace on this machine, with `pod-agent
//! daemon` as the sandbox's program and its socket reachable from the host.
//!
//! A sandbox has its own user, pid, ipc, uts, mount, network (loopback only) and cgroup
//! namespaces, a read-only system, a writable `/workspace` and private `/tmp` and home, uid
//! 1000 inside mapped to an unprivileged host uid of its own, and memory, pids and CPU limits
//! through cgroups (rlimits when no cgroup is writable). It is started in its own session and
//! is not tied to the bridge, so it survives a bridge restart; its state file lets the next
//! bridge find it.
//!
//! Files:
//! - [`bwrap`]: the bubblewrap command line.
//! - [`spawn`]: fork/exec of bwrap (session, cgroups, rlimits, uid, descriptors).
//! - [`cgroup`]: finding the hierarchies, per-sandbox cgroups and limits, killing, removing.
//! - [`state`]: the state file and checking that a recorded process still lives.
//! - [`uids`]: one host uid per sandbox.
//! - [`layout`]: the paths of one sandbox's directory.
//! - [`seccomp`]: the system call filter.
//! - [`agent`]: probing the agent with the protocol's hello.
//! - `start` and `teardown`: making and removing one sandbox; `host`: checks of the host's
//!   directories. The [`Runtime`] methods below call them under the session's lock.

pub mod agent;
pub mod bwrap;
pub mod cgroup;
pub mod layout;
pub mod seccomp;
pub mod spawn;
pub mod state;
pub mod uids;

mod host;
mod start;
mod teardown;

use std::collections::HashMap;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use tokio::net::UnixStream;
use uuid::Uuid;

use self::cgroup::{Cgroups, Controller};
use self::layout::Layout;
use self::state::SandboxState;
use self::uids::UidPool;
use super::{AgentStream, Runtime, RuntimeError, Sandbox};

/// The longest unix socket path (`sun_path` holds 108 bytes with the terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

/// What one sandbox may use. Zero means unlimited.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub memory_bytes: u64,
    /// Processes and threads.
    pub pids: u64,
    pub cpu_cores: f64,
    /// Size of the private `/tmp` (and, separately, of the home directory).
    pub tmp_bytes: u64,
}

impl Limits {
    /// Whether a limit is set for `controller`.
    pub fn wants(&self, controller: Controller) -> bool {
        match controller {
            Controller::Memory => self.memory_bytes > 0,
            Controller::Pids => self.pids > 0,
            Controller::Cpu => self.cpu_cores > 0.0,
        }
    }
}

/// The local runtime's settings (see `RuntimeArgs` for their meaning).
#[derive(Debug, Clone)]
pub struct BubblewrapConfig {
    pub bwrap: PathBuf,
    pub agent: PathBuf,
    pub sandbox_dir: PathBuf,
    pub limits: Limits,
    pub start_timeout: Duration,
    /// Name of the cgroup holding the sandboxes' cgroups; empty disables cgroups (rlimits
    /// only).
    pub cgroup_parent: String,
    pub host_uids: Range<u32>,
}

/// See the module documentation.
pub struct BubblewrapRuntime {
    config: BubblewrapConfig,
    /// `config.sandbox_dir`, absolute.
    sandbox_dir: PathBuf,
    cgroups: Cgroups,
    uids: UidPool,
    /// True when the bridge runs as root: sandboxes then get their own host uid.
    root: bool,
    /// One lock per session, so concurrent `ensure`/`stop` calls of a session take turns
    /// (see `turn`).
    locks: std::sync::Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

impl BubblewrapRuntime {
    /// Checks that bwrap and the agent exist and prepares the sandbox directory.
    pub fn new(config: BubblewrapConfig) -> anyhow::Result<Self> {
        let version = std::process::Command::new(&config.bwrap)
            .arg("--version")
            .output();
        if !version.is_ok_and(|out| out.status.success()) {
            anyhow::bail!(
                "bubblewrap ({}) cannot be run: install it (Debian: apt-get install bubblewrap), \
                 set BRIDGE_BWRAP, or use BRIDGE_RUNTIME=process on a development machine",
                config.bwrap.display()
            );
        }
        anyhow::ensure!(
            config.agent.is_file(),
            "pod-agent not found at {} (build it, or set BRIDGE_AGENT_BIN)",
            config.agent.display()
        );
        std::fs::create_dir_all(&config.sandbox_dir)
            .with_context(|| format!("creating {}", config.sandbox_dir.display()))?;
        let sandbox_dir = std::fs::canonicalize(&config.sandbox_dir)?;
        let socket = Layout::new(&sandbox_dir, Uuid::nil()).socket();
        anyhow::ensure!(
            socket.as_os_str().len() <= MAX_SOCKET_PATH,
            "BRIDGE_SANDBOX_DIR {} is too long for the agents' unix socket paths",
            sandbox_dir.display()
        );
        // SAFETY: geteuid cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let etc = sandbox_dir.join(".etc");
        std::fs::create_dir_all(&etc)?;
        std::fs::write(etc.join("passwd"), bwrap::passwd())?;
        std::fs::write(etc.join("group"), bwrap::group())?;
        std::fs::write(etc.join("seccomp.bpf"), seccomp::filter())?;
        let mut config = config;
        if root {
            // bwrap, running as the sandbox's uid, resolves the paths it binds, so it must be
            // able to pass through every directory above them.
            for dir in [&sandbox_dir, &etc] {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))?;
            }
            if let Some(dir) = host::unreachable_dir(&sandbox_dir) {
                anyhow::bail!(
                    "sandboxes cannot reach BRIDGE_SANDBOX_DIR {}: {} lacks search permission \
                     for others (chmod o+x, or choose another directory)",
                    sandbox_dir.display(),
                    dir.display()
                );
            }
            config.agent = host::reachable_agent(&config.agent, &sandbox_dir)?;
        }
        let cgroups = if config.cgroup_parent.is_empty() {
            Cgroups::default()
        } else {
            Cgroups::detect(&config.cgroup_parent)
        };
        let uids = UidPool::new(sandbox_dir.join(".uids"), config.host_uids.clone());
        Ok(BubblewrapRuntime {
            config,
            sandbox_dir,
            cgroups,
            uids,
            root,
            locks: Default::default(),
        })
    }

    /// The host directory bound at `/workspace` in `session`'s sandbox.
    pub fn workspace_dir(&self, session: Uuid) -> PathBuf {
        self.layout(session).workspace()
    }

    /// The cgroup directories of `session`'s running sandbox (empty when none are used).
    pub fn cgroup_dirs(&self, session: Uuid) -> Vec<PathBuf> {
        SandboxState::load(&self.layout(session).state())
            .map(|state| state.cgroups)
            .unwrap_or_default()
    }

    fn layout(&self, session: Uuid) -> Layout {
        Layout::new(&self.sandbox_dir, session)
    }

    /// Waits for `session`'s turn: first among this runtime's callers, then (with `flock` on
    /// `.locks/<session>`) among bridge processes sharing the sandbox directory. The lock
    /// files stay: removing one while another process waits on it would break the exclusion.
    async fn turn(&self, session: Uuid) -> Result<Turn, RuntimeError> {
        let local = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            locks.entry(session).or_default().clone()
        };
        let local = local.lock_owned().await;
        let path = self.sandbox_dir.join(".locks").join(session.to_string());
        let file = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(&path)?;
            // SAFETY: flock on a descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(file)
        })
        .await
        .context("waiting for the workspace's lock")?
        .context("locking the workspace's sandbox")?;
        Ok(Turn {
            _local: local,
            _file: file,
        })
    }

    /// The running sandbox of `session`, if any.
    fn running(&self, session: Uuid) -> Option<SandboxState> {
        SandboxState::load(&self.layout(session).state()).filter(SandboxState::is_running)
    }
}

/// Held while one call works on a session's sandbox; dropping it closes the lock file, which
/// releases the `flock`.
struct Turn {
    _local: tokio::sync::OwnedMutexGuard<()>,
    _file: std::fs::File,
}

/// The runtime's name for a sandbox: its init's host pid.
fn sandbox_id(state: &SandboxState) -> String {
    format!("bwrap-{}", state.init_pid)
}

#[async_trait]
impl Runtime for BubblewrapRuntime {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn ensure(&self, session: Uuid) -> Result<Sandbox, RuntimeError> {
        let _turn = self.turn(session).await?;
        let layout = self.layout(session);
        let state = SandboxState::load(&layout.state());
        if let Some(state) = &state
            && state.is_running()
        {
            match agent::probe(&layout.socket()).await {
                Ok(()) => {
                    return Ok(Sandbox {
                        session,
                        id: sandbox_id(state),
                        created: false,
                    });
                }
                Err(agent::ProbeError::NoAnswer(why)) => {
                    tracing::warn!(%session, "the sandbox's agent does not answer: {why}");
                    return Err(RuntimeError::Unavailable(
                        "the workspace's agent does not answer; try again, or shut the \
                         workspace down and start it again"
                            .into(),
                    ));
                }
                Err(why) => {
                    tracing::warn!(%session, "replacing a sandbox without its agent: {why}")
                }
            }
        }
        if state.is_some() || layout.dir.exists() {
            self.teardown(session, state).await;
        }
        self.start(session).await
    }

    async fn connect(&self, session: Uuid) -> Result<AgentStream, RuntimeError> {
        if self.running(session).is_none() {
            return Err(RuntimeError::NotRunning);
        }
        let socket = self.layout(session).socket();
        match UnixStream::connect(&socket).await {
            Ok(stream) => Ok(Box::pin(stream)),
            Err(err) => {
                tracing::warn!(%session, "connecting to the agent: {err}");
                Err(RuntimeError::Unavailable(
                    "the workspace's agent cannot be reached".into(),
                ))
            }
        }
    }

    async fn stop(&self, session: Uuid) -> Result<(), RuntimeError> {
        let _turn = self.turn(session).await?;
        let layout = self.layout(session);
        if layout.dir.exists() {
            self.teardown(session, None).await;
            tracing::info!(%session, "sandbox stopped");
        }
        Ok(())
    }

    async fn list(&self) -> Result<Vec<Sandbox>, RuntimeError> {
        let entries = std::fs::read_dir(&self.sandbox_dir)
            .with_context(|| format!("listing {}", self.sandbox_dir.display()))?;
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let Some(session) = entry
                .file_name()
                .to_str()
                .and_then(|name| Uuid::parse_str(name).ok())
            else {
                continue;
            };
            if let Some(state) = self.running(session) {
                out.push(Sandbox {
                    session,
                    id: sandbox_id(&state),
                    created: false,
                });
            }
        }
        out.sort_by_key(|sandbox| sandbox.session);
        Ok(out)
    }
}
