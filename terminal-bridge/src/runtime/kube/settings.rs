//! The kube runtime's settings: the `KUBERNETES_*` environment variables of
//! `k8s/terminal-bridge-config.yaml` as one clap [`KubeArgs`] struct, turned into
//! [`KubeSettings`] (the pod's shape) and a [`ClientSource`] (how to reach the API server).

use std::time::Duration;

use anyhow::Context;
use clap::{ArgAction, Args};

/// How the workspace pods look and where they run.
#[derive(Debug, Clone, Args)]
pub struct KubeArgs {
    /// Namespace of the workspace pods.
    #[arg(
        long = "kube-namespace",
        env = "KUBERNETES_NAMESPACE",
        default_value = "code-exec-workspaces"
    )]
    pub namespace: String,

    /// `true`: the pod's service account; `false`: `KUBECONFIG` or `~/.kube/config`.
    #[arg(long = "kube-in-cluster", env = "KUBERNETES_IN_CLUSTER", default_value_t = false, action = ArgAction::Set)]
    pub in_cluster: bool,

    /// Image of every workspace pod.
    #[arg(
        long = "kube-workspace-image",
        env = "KUBERNETES_WORKSPACE_IMAGE",
        default_value = "code-exec/workspace:0.1.0"
    )]
    pub image: String,

    /// The image's pull policy (`Always`, `IfNotPresent`, `Never`).
    #[arg(
        long = "kube-image-pull-policy",
        env = "KUBERNETES_IMAGE_PULL_POLICY",
        default_value = "IfNotPresent"
    )]
    pub image_pull_policy: String,

    /// RuntimeClass of the pods (`gvisor`, `kata`, ...); empty: the node's default.
    #[arg(
        long = "kube-runtime-class-name",
        env = "KUBERNETES_RUNTIME_CLASS_NAME",
        default_value = ""
    )]
    pub runtime_class_name: String,

    #[arg(
        long = "kube-cpu-request",
        env = "KUBERNETES_CPU_REQUEST",
        default_value = "250m"
    )]
    pub cpu_request: String,
    #[arg(
        long = "kube-cpu-limit",
        env = "KUBERNETES_CPU_LIMIT",
        default_value = "1"
    )]
    pub cpu_limit: String,
    #[arg(
        long = "kube-memory-request",
        env = "KUBERNETES_MEMORY_REQUEST",
        default_value = "512Mi"
    )]
    pub memory_request: String,
    #[arg(
        long = "kube-memory-limit",
        env = "KUBERNETES_MEMORY_LIMIT",
        default_value = "1Gi"
    )]
    pub memory_limit: String,
    #[arg(
        long = "kube-ephemeral-storage-request",
        env = "KUBERNETES_EPHEMERAL_STORAGE_REQUEST",
        default_value = "1Gi"
    )]
    pub ephemeral_storage_request: String,
    #[arg(
        long = "kube-ephemeral-storage-limit",
        env = "KUBERNETES_EPHEMERAL_STORAGE_LIMIT",
        default_value = "2Gi"
    )]
    pub ephemeral_storage_limit: String,

    /// `sizeLimit` of the `/workspace` emptyDir.
    #[arg(
        long = "kube-workspace-size-limit",
        env = "KUBERNETES_WORKSPACE_SIZE_LIMIT",
        default_value = "1Gi"
    )]
    pub workspace_size_limit: String,

    /// `sizeLimit` of the `/tmp` emptyDir.
    #[arg(
        long = "kube-tmp-size-limit",
        env = "KUBERNETES_TMP_SIZE_LIMIT",
        default_value = "256Mi"
    )]
    pub tmp_size_limit: String,

    /// Hard limit on a pod's life, whatever its activity (seconds).
    #[arg(
        long = "kube-active-deadline-seconds",
        env = "KUBERNETES_ACTIVE_DEADLINE_SECONDS",
        default_value_t = 43_200
    )]
    pub active_deadline_seconds: i64,

    /// Pre-started unassigned pods kept ready, so a new workspace starts without waiting for
    /// a pod (0: none).
    #[arg(
        long = "kube-warm-pool",
        env = "KUBERNETES_WARM_POOL",
        default_value_t = 0
    )]
    pub warm_pool: usize,

    /// Seconds a new pod may take to become ready (image pull included).
    #[arg(
        long = "kube-start-timeout-secs",
        env = "KUBERNETES_START_TIMEOUT_SECS",
        default_value_t = 120
    )]
    pub start_timeout_secs: u64,
}

/// What [`super::pod::workspace_pod`] needs to shape a pod, plus the runtime's timings.
#[derive(Debug, Clone, PartialEq)]
pub struct KubeSettings {
    pub namespace: String,
    pub image: String,
    pub image_pull_policy: String,
    /// `None` for the node's default runtime.
    pub runtime_class_name: Option<String>,
    pub cpu_request: String,
    pub cpu_limit: String,
    pub memory_request: String,
    pub memory_limit: String,
    pub ephemeral_storage_request: String,
    pub ephemeral_storage_limit: String,
    pub workspace_size_limit: String,
    pub tmp_size_limit: String,
    pub active_deadline_seconds: i64,
    /// Size of the warm pool (0: none).
    pub warm_pool: usize,
    /// How long `ensure` waits for a pod to become ready.
    pub start_timeout: Duration,
    /// How long `ensure` waits for a terminating pod to go before creating a new one.
    pub terminating_timeout: Duration,
    /// How often pod status is polled while waiting, when watching the pod fails.
    pub poll_interval: Duration,
}

impl KubeSettings {
    /// The settings of `k8s/terminal-bridge-config.yaml` in namespace `namespace`, for tests.
    pub fn for_namespace(namespace: &str) -> KubeSettings {
        let mut settings = KubeArgs::defaults()
            .settings()
            .expect("the defaults are valid");
        settings.namespace = namespace.into();
        settings
    }
}

/// Where the runtime finds the API server.
#[derive(Clone)]
pub enum ClientSource {
    /// The pod's service account (`KUBERNETES_IN_CLUSTER=true`).
    InCluster(kube::Config),
    /// `KUBECONFIG` or `~/.kube/config`, read at start; turned into a client on first use.
    Kubeconfig(kube::config::Kubeconfig),
    /// A ready configuration, e.g. `kube::Config::new(url)` for a test API server.
    Config(kube::Config),
}

impl KubeArgs {
    /// Every default, as a bridge without `KUBERNETES_*` variables would have them.
    pub fn defaults() -> Self {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: KubeArgs,
        }
        <Wrapper as clap::Parser>::parse_from(["kube"]).args
    }

    /// Checks the values and returns the pod settings.
    pub fn settings(&self) -> anyhow::Result<KubeSettings> {
        anyhow::ensure!(
            !self.namespace.is_empty(),
            "KUBERNETES_NAMESPACE must not be empty"
        );
        anyhow::ensure!(
            !self.image.is_empty(),
            "KUBERNETES_WORKSPACE_IMAGE must not be empty"
        );
        anyhow::ensure!(
            ["Always", "IfNotPresent", "Never"].contains(&self.image_pull_policy.as_str()),
            "KUBERNETES_IMAGE_PULL_POLICY must be Always, IfNotPresent or Never, not {:?}",
            self.image_pull_policy
        );
        anyhow::ensure!(
            self.active_deadline_seconds > 0,
            "KUBERNETES_ACTIVE_DEADLINE_SECONDS must be positive"
        );
        for (name, value) in [
            ("KUBERNETES_CPU_REQUEST", &self.cpu_request),
            ("KUBERNETES_CPU_LIMIT", &self.cpu_limit),
            ("KUBERNETES_MEMORY_REQUEST", &self.memory_request),
            ("KUBERNETES_MEMORY_LIMIT", &self.memory_limit),
            (
                "KUBERNETES_EPHEMERAL_STORAGE_REQUEST",
                &self.ephemeral_storage_request,
            ),
            (
                "KUBERNETES_EPHEMERAL_STORAGE_LIMIT",
                &self.ephemeral_storage_limit,
            ),
            (
                "KUBERNETES_WORKSPACE_SIZE_LIMIT",
                &self.workspace_size_limit,
            ),
            ("KUBERNETES_TMP_SIZE_LIMIT", &self.tmp_size_limit),
        ] {
            anyhow::ensure!(
                is_quantity(value),
                "{name} must be a Kubernetes quantity such as 500m, 1 or 512Mi, not {value:?}"
            );
        }
        let runtime_class_name =
            Some(self.runtime_class_name.trim().to_string()).filter(|name| !name.is_empty());
        Ok(KubeSettings {
            namespace: self.namespace.clone(),
            image: self.image.clone(),
            image_pull_policy: self.image_pull_policy.clone(),
            runtime_class_name,
            cpu_request: self.cpu_request.clone(),
            cpu_limit: self.cpu_limit.clone(),
            memory_request: self.memory_request.clone(),
            memory_limit: self.memory_limit.clone(),
            ephemeral_storage_request: self.ephemeral_storage_request.clone(),
            ephemeral_storage_limit: self.ephemeral_storage_limit.clone(),
            workspace_size_limit: self.workspace_size_limit.clone(),
            tmp_size_limit: self.tmp_size_limit.clone(),
            active_deadline_seconds: self.active_deadline_seconds,
            warm_pool: self.warm_pool,
            start_timeout: Duration::from_secs(self.start_timeout_secs.max(1)),
            terminating_timeout: Duration::from_secs(60),
            poll_interval: Duration::from_millis(250),
        })
    }

    /// How to reach the API server: in-cluster, or the kubeconfig file.
    pub fn client_source(&self) -> anyhow::Result<ClientSource> {
        if self.in_cluster {
            let config = kube::Config::incluster().context(
                "KUBERNETES_IN_CLUSTER=true but this is not a pod with a service account \
                 (no KUBERNETES_SERVICE_HOST or token)",
            )?;
            Ok(ClientSource::InCluster(config))
        } else {
            let kubeconfig = kube::config::Kubeconfig::read().context(
                "reading the kubeconfig (KUBECONFIG or ~/.kube/config); inside a cluster set \
                 KUBERNETES_IN_CLUSTER=true",
            )?;
            Ok(ClientSource::Kubeconfig(kubeconfig))
        }
    }
}

/// Whether `value` looks like a Kubernetes quantity (`250m`, `1`, `0.5`, `1Gi`, `2e3`).
fn is_quantity(value: &str) -> bool {
    let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &value[digits.len()..];
    let suffix_ok = matches!(
        suffix,
        "" | "m" | "k" | "M" | "G" | "T" | "P" | "E" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"
    );
    suffix_ok && !digits.is_empty() && digits.parse::<f64>().is_ok_and(|n| n >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_config_map() {
        let settings = KubeArgs::defaults().settings().unwrap();
        assert_eq!(settings.namespace, "code-exec-workspaces");
        assert_eq!(settings.cpu_request, "250m");
        assert_eq!(settings.memory_limit, "1Gi");
        assert_eq!(settings.runtime_class_name, None);
        assert_eq!(settings.active_deadline_seconds, 43_200);
    }

    #[test]
    fn bad_values_are_named() {
        let mut args = KubeArgs::defaults();
        args.memory_limit = "lots".into();
        let err = args.settings().unwrap_err().to_string();
        assert!(err.contains("KUBERNETES_MEMORY_LIMIT"), "{err}");
        let mut args = KubeArgs::defaults();
        args.image_pull_policy = "Sometimes".into();
        let err = args.settings().unwrap_err().to_string();
        assert!(err.contains("KUBERNETES_IMAGE_PULL_POLICY"), "{err}");
    }

    #[test]
    fn quantities() {
        for ok in ["250m", "1", "0.5", "512Mi", "1Gi", "2G"] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "Mi", "-1", "1 Gi", "1GB", "abc"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }
}
