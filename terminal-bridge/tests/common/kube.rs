//! The kube runtime's test fixture: a fake API server on loopback (`test_support::FakeKube`)
//! whose pods run the real `pod-agent`, and runtimes over it through the real `kube` client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use serde_json::Value;
use terminal_bridge::runtime::RuntimeError;
use terminal_bridge::runtime::kube::KubeRuntime;
use terminal_bridge::runtime::kube::settings::{ClientSource, KubeSettings};
use test_support::FakeKube;
use uuid::Uuid;

/// The workspace namespace of the tests.
pub const NS: &str = "code-exec-workspaces";

pub struct Fixture {
    pub fake: FakeKube,
    pub rt: Arc<KubeRuntime>,
}

impl Fixture {
    pub async fn new() -> Fixture {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        let fake = FakeKube::start(&test_support::binary("pod-agent")).await;
        let rt = Arc::new(runtime(&fake));
        Fixture { fake, rt }
    }

    /// A kube client of the fake, for doing what another party would.
    pub fn pods(&self) -> Api<Pod> {
        let config = kube::Config::new(self.fake.url().parse().unwrap());
        Api::namespaced(kube::Client::try_from(config).unwrap(), NS)
    }

    /// Creates the pod `unrelated` with `labels`, as someone else sharing the namespace would.
    pub async fn create_foreign_pod(&self, labels: Value) {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "unrelated", "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        }))
        .unwrap();
        self.pods()
            .create(&kube::api::PostParams::default(), &pod)
            .await
            .unwrap();
    }

    pub fn pod(&self, session: Uuid) -> Value {
        self.fake
            .pod(NS, &format!("ws-{session}"))
            .expect("the session's pod exists")
    }

    pub fn post_count(&self) -> usize {
        self.fake
            .requests()
            .iter()
            .filter(|r| {
                r.starts_with(&format!("POST /api/v1/namespaces/{NS}/pods?"))
                    || *r == &format!("POST /api/v1/namespaces/{NS}/pods")
            })
            .count()
    }
}

/// A runtime over `fake` (a second call is a second bridge replica).
pub fn runtime(fake: &FakeKube) -> KubeRuntime {
    runtime_with_pool(fake, 0)
}

/// A runtime over `fake` keeping `pool` warm pods.
pub fn runtime_with_pool(fake: &FakeKube, pool: usize) -> KubeRuntime {
    let mut settings = KubeSettings::for_namespace(NS);
    settings.warm_pool = pool;
    settings.start_timeout = Duration::from_secs(20);
    settings.terminating_timeout = Duration::from_secs(10);
    settings.poll_interval = Duration::from_millis(50);
    let config = kube::Config::new(fake.url().parse().unwrap());
    KubeRuntime::new(settings, ClientSource::Config(config))
}

pub fn unavailable(result: Result<impl std::fmt::Debug, RuntimeError>) -> String {
    match result {
        Err(RuntimeError::Unavailable(message)) => message,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The pods not being deleted.
pub fn live_pods(fake: &FakeKube) -> Vec<Value> {
    fake.pods(NS)
        .into_iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .collect()
}

/// Warm pool pods that run.
pub fn ready_warm(fake: &FakeKube) -> usize {
    live_pods(fake)
        .iter()
        .filter(|p| p["metadata"]["labels"]["code-exec.dev/pool"] == "warm")
        .filter(|p| p["status"]["phase"] == "Running")
        .count()
}
