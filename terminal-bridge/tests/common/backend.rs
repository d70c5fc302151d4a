//! Where a test's sandboxes run: the process runtime (the real `pod-agent` as a plain process),
//! or the kube runtime through the real `kube` client against `test_support::FakeKube`, a fake
//! API server on loopback whose pods run the real `pod-agent`, reached over `pods/exec`.
//! Suites written once as `async fn name(backend: Backend)` run on both with
//! [`on_each_backend!`].

use std::sync::Arc;
use std::time::Duration;

use terminal_bridge::runtime::Runtime;
use terminal_bridge::runtime::kube::KubeRuntime;
use terminal_bridge::runtime::kube::settings::{ClientSource, KubeSettings};
use terminal_bridge::runtime::process::ProcessRuntime;
use test_support::FakeKube;

/// The namespace of the kube backend's pods.
pub const NS: &str = "code-exec-workspaces";

/// Where a harness's sandboxes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The process runtime: `pod-agent daemon` processes under a temporary directory.
    Process,
    /// The kube runtime against a fake API server on loopback.
    Kube,
}

/// Makes each listed `async fn name(backend: Backend)` of the file a test per backend:
/// `on_process::name` and `on_kube::name`.
#[allow(unused_macros)]
macro_rules! on_each_backend {
    ($($name:ident),* $(,)?) => {
        mod on_process {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::common::backend::Backend::Process).await
                }
            )*
        }
        mod on_kube {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::common::backend::Backend::Kube).await
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_each_backend;

/// What holds a backend's sandboxes.
pub enum Place {
    /// The process runtime's state directory.
    Process(tempfile::TempDir),
    /// The fake API server (its pods' directories are its own).
    Kube(FakeKube),
}

impl Place {
    /// Starts `backend`'s side and a runtime over it.
    pub async fn start(backend: Backend) -> (Place, Arc<dyn Runtime>) {
        match backend {
            Backend::Process => {
                let state = tempfile::tempdir().unwrap();
                let runtime = Arc::new(ProcessRuntime::new(
                    test_support::binary("pod-agent"),
                    state.path().to_path_buf(),
                ));
                (Place::Process(state), runtime)
            }
            Backend::Kube => {
                let fake = FakeKube::start(&test_support::binary("pod-agent")).await;
                let runtime = Arc::new(kube_runtime(&fake));
                (Place::Kube(fake), runtime)
            }
        }
    }
}

/// A kube runtime against `fake`, patient enough for a loaded machine.
pub fn kube_runtime(fake: &FakeKube) -> KubeRuntime {
    let mut settings = KubeSettings::for_namespace(NS);
    settings.warm_pool = 0;
    settings.start_timeout = Duration::from_secs(20);
    settings.terminating_timeout = Duration::from_secs(10);
    settings.poll_interval = Duration::from_millis(50);
    let config = kube::Config::new(fake.url().parse().unwrap());
    KubeRuntime::new(settings, ClientSource::Config(config))
}

/// Creates `pod` in [`NS`] through `fake`'s API, as a person or another bridge would.
pub async fn create_pod(fake: &FakeKube, pod: &k8s_openapi::api::core::v1::Pod) {
    let client = kube::Client::try_from(kube::Config::new(fake.url().parse().unwrap())).unwrap();
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client, NS);
    pods.create(&kube::api::PostParams::default(), pod)
        .await
        .unwrap();
}
