//! Starting one sandbox: directories, cgroups, bwrap, the state file, and waiting for the
//! agent's hello.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use uuid::Uuid;

use super::cgroup::Controller;
use super::layout::Layout;
use super::spawn::{self, Launch, Rlimit};
use super::state::{self, SandboxState};
use super::{BubblewrapRuntime, agent, bwrap, sandbox_id};
use crate::runtime::{RuntimeError, Sandbox};

impl BubblewrapRuntime {
    /// Starts a new sandbox (nothing of an earlier one is left) and waits for its agent.
    pub(super) async fn start(&self, session: Uuid) -> Result<Sandbox, RuntimeError> {
        let layout = self.layout(session);
        let host_uid = if self.root {
            self.uids.reserve(session)?
        } else {
            // SAFETY: geteuid cannot fail.
            unsafe { libc::geteuid() }
        };
        let state = match self.launch(session, &layout, host_uid).await {
            Ok(state) => state,
            Err(err) => {
                tracing::warn!(%session, "starting the sandbox failed: {err:#}");
                self.teardown(session, None).await;
                return Err(RuntimeError::Unavailable(
                    "the workspace's sandbox could not be started".into(),
                ));
            }
        };
        let deadline = Instant::now() + self.config.start_timeout;
        loop {
            let why = match agent::probe(&layout.socket()).await {
                Ok(()) => break,
                Err(why) => why,
            };
            let failure = if !state.is_running() {
                "the workspace's sandbox exited during start-up"
            } else if Instant::now() > deadline {
                "the workspace's agent did not answer in time"
            } else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            tracing::warn!(%session, log = %layout.log_tail(), "{failure}: {why}");
            self.teardown(session, Some(state)).await;
            return Err(RuntimeError::Unavailable(format!(
                "{failure} (waited up to {} s)",
                self.config.start_timeout.as_secs()
            )));
        }
        tracing::info!(%session, init = state.init_pid, uid = host_uid, "sandbox started");
        Ok(Sandbox {
            session,
            id: sandbox_id(&state),
            created: true,
        })
    }

    /// Prepares the directories and cgroups, starts bwrap and records the state.
    async fn launch(
        &self,
        session: Uuid,
        layout: &Layout,
        host_uid: u32,
    ) -> anyhow::Result<SandboxState> {
        for dir in [layout.dir.clone(), layout.workspace(), layout.run()] {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::set_permissions(&layout.dir, std::fs::Permissions::from_mode(0o711))?;
        for dir in [layout.workspace(), layout.run()] {
            std::os::unix::fs::chown(&dir, Some(host_uid), Some(host_uid))
                .with_context(|| format!("giving {} to uid {host_uid}", dir.display()))?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }

        let limits = &self.config.limits;
        let cgroups = self.cgroups.create(&session.to_string(), limits);
        let mut procs = Vec::new();
        for dir in &cgroups.dirs {
            let path = dir.join("cgroup.procs");
            procs.push(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .with_context(|| format!("opening {}", path.display()))?,
            );
        }
        let rlimits = self.fallback_rlimits(&cgroups.limited);

        let etc = self.sandbox_dir.join(".etc");
        let fds = vec![
            (open_path(&layout.workspace())?, bwrap::fd::WORKSPACE),
            (open_path(&layout.run())?, bwrap::fd::RUN),
            (open_path(&self.config.agent)?, bwrap::fd::AGENT),
            (open_path(&etc.join("passwd"))?, bwrap::fd::PASSWD),
            (open_path(&etc.join("group"))?, bwrap::fd::GROUP),
            (
                std::fs::File::open(etc.join("seccomp.bpf"))
                    .context("opening the seccomp filter")?
                    .into(),
                bwrap::fd::SECCOMP,
            ),
        ];
        let log = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(layout.log())?;
        let launched = spawn::launch(Launch {
            bwrap: &self.config.bwrap,
            args: bwrap::args(limits, "sandbox"),
            fds,
            cgroup_procs: procs,
            rlimits,
            host_uid: self.root.then_some(host_uid),
            log,
        })?;
        let mut child = launched.child;
        let bwrap_pid = child.id().context("bwrap exited at once")? as i32;
        let bwrap_start = state::start_time(bwrap_pid).unwrap_or_default();
        // Reap bwrap when it ends (while this bridge lives; afterwards init does).
        let info = launched.info;
        let init = tokio::time::timeout(
            self.config.start_timeout,
            tokio::task::spawn_blocking(move || spawn::read_child_pid(info)),
        )
        .await;
        let init_pid = match init {
            Ok(Ok(Ok(pid))) => pid,
            failed => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                let why = match failed {
                    Ok(Ok(Err(err))) => format!("{err:#}"),
                    Ok(Err(err)) => err.to_string(),
                    _ => "bubblewrap did not report the sandbox in time".into(),
                };
                anyhow::bail!("{why}; log: {}", layout.log_tail());
            }
        };
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        let state = SandboxState {
            session,
            host_uid,
            uid_reserved: self.root,
            bwrap_pid,
            bwrap_start,
            init_pid,
            init_start: state::start_time(init_pid).unwrap_or_default(),
            cgroups: cgroups.dirs,
        };
        state.save(&layout.state())?;
        Ok(state)
    }

    /// rlimits standing in for the cgroup limits that are not in force.
    fn fallback_rlimits(&self, limited: &[Controller]) -> Vec<Rlimit> {
        let limits = &self.config.limits;
        let mut out = Vec::new();
        for controller in Controller::ALL {
            if !limits.wants(controller) || limited.contains(&controller) {
                continue;
            }
            match controller {
                // RLIMIT_DATA (private writable memory of each process) rather than RLIMIT_AS,
                // which counts address space reservations such as malloc arenas.
                Controller::Memory => out.push(Rlimit {
                    resource: libc::RLIMIT_DATA as i32,
                    value: limits.memory_bytes,
                }),
                // Counted per host uid, which is the sandbox's own when the bridge is root.
                Controller::Pids => {
                    if !self.root {
                        tracing::warn!(
                            "RLIMIT_NPROC counts every process of the bridge's uid, so the \
                             pids limit is shared by all sandboxes"
                        );
                    }
                    out.push(Rlimit {
                        resource: libc::RLIMIT_NPROC as i32,
                        value: limits.pids,
                    })
                }
                Controller::Cpu => {
                    tracing::warn!("no cgroup for the CPU limit: sandboxes' CPU is not limited")
                }
            }
        }
        out
    }
}

/// An `O_PATH` descriptor of `path`, for bwrap's `--bind-fd`.
fn open_path(path: &Path) -> anyhow::Result<std::os::fd::OwnedFd> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    Ok(file.into())
}
