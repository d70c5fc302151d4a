//! Which runtime the bridge uses and how it is set up: one clap [`Args`] struct, every option
//! also read from an environment variable, and [`build`] turning it into a [`Runtime`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::Runtime;
use super::bubblewrap::{BubblewrapConfig, BubblewrapRuntime};
use super::kube::KubeRuntime;
use super::kube::settings::KubeArgs;
use super::process::ProcessRuntime;

/// The kinds of runtime this build offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeKind {
    /// A bubblewrap sandbox per session on this machine (needs `bwrap`). Named `local` on
    /// the command line (`bubblewrap` is accepted too).
    #[value(name = "local", alias = "bubblewrap")]
    Bubblewrap,
    /// `pod-agent` as a plain child process, without any isolation: development only.
    Process,
    /// A pod per session on Kubernetes (the `KUBERNETES_*` settings).
    Kube,
}

/// Where sandboxes run and what they may use.
#[derive(Debug, Clone, Args)]
pub struct RuntimeArgs {
    /// `local` (bubblewrap sandboxes), `kube` (pods) or `process` (no isolation, for
    /// development).
    #[arg(
        long = "runtime",
        env = "BRIDGE_RUNTIME",
        value_enum,
        default_value = "local"
    )]
    pub kind: RuntimeKind,

    /// Directory holding one subdirectory per sandbox (workspace, agent socket, state).
    #[arg(long, env = "BRIDGE_SANDBOX_DIR", default_value = ".local/sandboxes")]
    pub sandbox_dir: PathBuf,

    /// The `pod-agent` binary; default: `pod-agent` next to the bridge's own executable.
    #[arg(long, env = "BRIDGE_AGENT_BIN")]
    pub agent_bin: Option<PathBuf>,

    /// The bubblewrap binary.
    #[arg(long, env = "BRIDGE_BWRAP", default_value = "bwrap")]
    pub bwrap: PathBuf,

    /// Memory of one sandbox in MiB (cgroup memory limit; 0 = unlimited).
    #[arg(long, env = "SANDBOX_MEMORY_MB", default_value_t = 1024)]
    pub sandbox_memory_mb: u64,

    /// Processes and threads of one sandbox (cgroup pids.max; 0 = unlimited).
    #[arg(long, env = "SANDBOX_PIDS_MAX", default_value_t = 256)]
    pub sandbox_pids_max: u64,

    /// CPU cores one sandbox may use (cgroup CPU quota, e.g. 0.5; 0 = unlimited).
    #[arg(long, env = "SANDBOX_CPU", default_value_t = 1.0)]
    pub sandbox_cpu: f64,

    /// Size of the sandbox's private /tmp (and of its home) in MiB.
    #[arg(long, env = "SANDBOX_TMP_MB", default_value_t = 256)]
    pub sandbox_tmp_mb: u64,

    /// Seconds a new sandbox's agent may take to answer.
    #[arg(long, env = "SANDBOX_START_TIMEOUT_SECS", default_value_t = 15)]
    pub sandbox_start_timeout_secs: u64,

    /// Name of the cgroup (below each hierarchy's root) holding the sandboxes' cgroups.
    #[arg(
        long,
        env = "BRIDGE_CGROUP_PARENT",
        default_value = "code-exec-sandboxes"
    )]
    pub cgroup_parent: String,

    /// First host uid given to sandboxes when the bridge runs as root; each sandbox gets its
    /// own uid (and gid) from `base .. base + count`.
    #[arg(long, env = "SANDBOX_HOST_UID_BASE", default_value_t = 200_000)]
    pub sandbox_host_uid_base: u32,

    /// How many host uids sandboxes may use, i.e. at most that many sandboxes at once.
    #[arg(long, env = "SANDBOX_HOST_UID_COUNT", default_value_t = 10_000)]
    pub sandbox_host_uid_count: u32,

    /// The kube runtime's settings.
    #[command(flatten)]
    pub kube: KubeArgs,
}

impl RuntimeArgs {
    /// The settings with every default, for tests.
    pub fn defaults() -> Self {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: RuntimeArgs,
        }
        <Wrapper as clap::Parser>::parse_from(["runtime"]).args
    }

    /// The `pod-agent` binary to use.
    pub fn agent(&self) -> anyhow::Result<PathBuf> {
        if let Some(agent) = &self.agent_bin {
            return Ok(agent.clone());
        }
        let me = std::env::current_exe().context("finding the bridge's own executable")?;
        let dir = me.parent().unwrap_or(Path::new("."));
        Ok(dir.join(format!("pod-agent{}", std::env::consts::EXE_SUFFIX)))
    }

    /// The local runtime's settings.
    pub fn bubblewrap_config(&self) -> anyhow::Result<BubblewrapConfig> {
        anyhow::ensure!(
            self.sandbox_cpu.is_finite() && self.sandbox_cpu >= 0.0,
            "SANDBOX_CPU must be a number of cores, at least 0"
        );
        anyhow::ensure!(
            self.sandbox_host_uid_base > 0 && self.sandbox_host_uid_count > 0,
            "SANDBOX_HOST_UID_BASE and SANDBOX_HOST_UID_COUNT must be positive"
        );
        let end = self
            .sandbox_host_uid_base
            .checked_add(self.sandbox_host_uid_count)
            .context("SANDBOX_HOST_UID_BASE + SANDBOX_HOST_UID_COUNT overflows")?;
        Ok(BubblewrapConfig {
            bwrap: self.bwrap.clone(),
            agent: self.agent()?,
            sandbox_dir: self.sandbox_dir.clone(),
            limits: super::bubblewrap::Limits {
                memory_bytes: self.sandbox_memory_mb * 1024 * 1024,
                pids: self.sandbox_pids_max,
                cpu_cores: self.sandbox_cpu,
                tmp_bytes: self.sandbox_tmp_mb * 1024 * 1024,
            },
            start_timeout: Duration::from_secs(self.sandbox_start_timeout_secs),
            cgroup_parent: self.cgroup_parent.clone(),
            host_uids: self.sandbox_host_uid_base..end,
        })
    }
}

/// The runtime `args` ask for. Fails when it cannot work here (no `bwrap`, no agent binary,
/// invalid `KUBERNETES_*` settings, no kubeconfig or service account).
pub fn build(args: &RuntimeArgs) -> anyhow::Result<Arc<dyn Runtime>> {
    Ok(match args.kind {
        RuntimeKind::Bubblewrap => Arc::new(BubblewrapRuntime::new(args.bubblewrap_config()?)?),
        RuntimeKind::Process => {
            let agent = args.agent()?;
            anyhow::ensure!(
                agent.is_file(),
                "pod-agent not found at {} (set BRIDGE_AGENT_BIN)",
                agent.display()
            );
            tracing::warn!("BRIDGE_RUNTIME=process: workspaces run WITHOUT any isolation");
            Arc::new(ProcessRuntime::new(agent, args.sandbox_dir.clone()))
        }
        RuntimeKind::Kube => {
            let kube = Arc::new(KubeRuntime::new(
                args.kube.settings()?,
                args.kube.client_source()?,
            ));
            kube.keep_pool_filled(Duration::from_secs(30));
            kube
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_local_with_limits() {
        let args = RuntimeArgs::defaults();
        assert_eq!(args.kind, RuntimeKind::Bubblewrap);
        let config = args.bubblewrap_config().unwrap();
        assert_eq!(config.limits.memory_bytes, 1024 * 1024 * 1024);
        assert_eq!(config.limits.pids, 256);
        assert_eq!(config.host_uids, 200_000..210_000);
        assert!(config.agent.ends_with("pod-agent"));
    }

    #[test]
    fn build_checks_the_kube_settings_and_credentials() {
        let mut args = RuntimeArgs::defaults();
        args.kind = RuntimeKind::Kube;
        args.kube.memory_limit = "lots".into();
        let err = build(&args).err().expect("a bad quantity").to_string();
        assert!(err.contains("KUBERNETES_MEMORY_LIMIT"), "{err}");
        args.kube = KubeArgs::defaults();
        args.kube.in_cluster = true;
        // Outside a pod there is no service account.
        if std::env::var_os("KUBERNETES_SERVICE_HOST").is_none() {
            let err = build(&args).err().expect("no service account").to_string();
            assert!(err.contains("KUBERNETES_IN_CLUSTER"), "{err}");
        }
    }

    #[test]
    fn negative_cpu_is_rejected() {
        let mut args = RuntimeArgs::defaults();
        args.sandbox_cpu = -1.0;
        let err = args.bubblewrap_config().unwrap_err().to_string();
        assert!(err.contains("SANDBOX_CPU"), "{err}");
    }
}
