//! The whole platform for end-to-end tests: the REST [`Stack`] (PostgreSQL and a host, api-host
//! or the real Spin, with the real components) plus the real `terminal-bridge serve` binary, with either runtime
//! ([`Backend`]): `local` (bubblewrap) over a temporary sandbox directory, or `kube` against
//! `test_support::FakeKube` (a fake API server on loopback in this process, whose pods run the
//! real `pod-agent`), configured as a cluster would be: `BRIDGE_RUNTIME=kube`, a kubeconfig
//! file, `KUBERNETES_*` variables. REST helpers speak for a user with a bearer token; [`ws`]
//! is the WebSocket client.
//!
//! Sandboxes outlive the bridge by design, so dropping an [`E2e`] kills the bridge and then
//! stops every sandbox left in its directory with the runtime's own `stop` (the fake API
//! server kills its pods' agents when it goes).

#![allow(dead_code)]

pub mod ws;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use terminal_bridge::runtime::Runtime;
use terminal_bridge::runtime::bubblewrap::{BubblewrapConfig, BubblewrapRuntime, Limits};
use test_support::{ChildGuard, FakeKube, free_port, wait_for_http};
use uuid::Uuid;

use crate::common::{Host, Reply, Stack, client};

/// The bridge's cgroup parent in these tests, apart from a developer's running stack.
const CGROUP_PARENT: &str = "code-exec-sandboxes-e2e";

/// The namespace of the kube backend's pods.
pub const NS: &str = "code-exec-workspaces";

/// Which runtime the bridge runs sandboxes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `BRIDGE_RUNTIME=local`: bubblewrap sandboxes on this machine.
    Local,
    /// `BRIDGE_RUNTIME=kube`: pods of a fake API server, reached over `pods/exec`.
    Kube,
}

/// Makes each listed `async fn name(backend: Backend, host: Host)` of the file a test per
/// runtime and per REST host: `on_local::name` and `on_kube::name` with api-host, and
/// `on_spin::name` (local runtime) with the real Spin, ignored when the build found no Spin.
macro_rules! on_each_backend {
    ($($name:ident),* $(,)?) => {
        mod on_local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::e2e::Backend::Local, test_support::Host::ApiHost).await
                }
            )*
        }
        mod on_kube {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::e2e::Backend::Kube, test_support::Host::ApiHost).await
                }
            )*
        }
        mod on_spin {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(
                    not(spin_cli),
                    ignore = "the real Spin CLI (4.1 or later) was not found when the tests were built: set SPIN_BIN or put spin on PATH"
                )]
                async fn $name() {
                    super::$name(crate::e2e::Backend::Local, test_support::Host::Spin).await
                }
            )*
        }
    };
}
pub(crate) use on_each_backend;

/// The kube backend's fake cluster and the kubeconfig that points at it.
struct Cluster {
    fake: FakeKube,
    kubeconfig: tempfile::NamedTempFile,
}

impl Cluster {
    async fn start() -> Cluster {
        let fake = FakeKube::start(&test_support::binary("pod-agent")).await;
        let kubeconfig = fake.kubeconfig(NS);
        Cluster { fake, kubeconfig }
    }
}

/// Sandbox limits for one test (the bridge's `SANDBOX_*` variables).
#[derive(Debug, Clone)]
pub struct SandboxLimits {
    pub memory_mb: u64,
    pub pids: u64,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            memory_mb: 512,
            pids: 256,
        }
    }
}

/// PostgreSQL, api-host and a terminal-bridge with its sandboxes.
pub struct E2e {
    // Field order is drop order: the bridge goes before the stack it talks to; `Drop` stops
    // the sandboxes before the directory goes.
    bridge: Option<ChildGuard>,
    pub stack: Stack,
    pub bridge_port: u16,
    limits: SandboxLimits,
    uid_base: u32,
    sandboxes: tempfile::TempDir,
    /// The fake cluster, with [`Backend::Kube`].
    cluster: Option<Cluster>,
}

impl E2e {
    /// The REST stack on `host` with a bridge whose sandboxes run in bubblewrap.
    pub async fn start(host: Host) -> E2e {
        E2e::with_limits(host, SandboxLimits::default()).await
    }

    pub async fn with_limits(host: Host, limits: SandboxLimits) -> E2e {
        E2e::with(Backend::Local, host, limits).await
    }

    /// The REST stack on `host` with a bridge whose sandboxes run on `backend`.
    pub async fn on(backend: Backend, host: Host) -> E2e {
        E2e::with(backend, host, SandboxLimits::default()).await
    }

    async fn with(backend: Backend, host: Host, limits: SandboxLimits) -> E2e {
        let stack = Stack::start(host).await;
        let cluster = match backend {
            Backend::Local => None,
            Backend::Kube => Some(Cluster::start().await),
        };
        // In /tmp (world-searchable, and short enough for the agents' socket paths).
        let sandboxes = tempfile::Builder::new()
            .prefix("e2e")
            .tempdir_in("/tmp")
            .unwrap();
        let mut e2e = E2e {
            bridge: None,
            stack,
            bridge_port: free_port(),
            limits,
            // Distinct host uids per test, so parallel tests never share one.
            uid_base: 400_000 + (Uuid::new_v4().as_u128() % 10_000) as u32 * 100,
            sandboxes,
            cluster,
        };
        e2e.start_bridge();
        e2e
    }

    /// Starts `terminal-bridge serve` (again) on `bridge_port` and waits for `/healthz`.
    pub fn start_bridge(&mut self) {
        assert!(self.bridge.is_none(), "the bridge already runs");
        let mut cmd = Command::new(test_support::binary("terminal-bridge"));
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.bridge_port))
            .env("DATABASE_URL", &self.stack.db_url)
            .env("RUST_LOG", "info,tokio_postgres=warn")
            .env("BRIDGE_RECONCILE_SECS", "1");
        match &self.cluster {
            None => cmd
                .env("BRIDGE_RUNTIME", "local")
                .env("BRIDGE_SANDBOX_DIR", self.sandboxes.path())
                .env("BRIDGE_AGENT_BIN", test_support::binary("pod-agent"))
                .env("BRIDGE_CGROUP_PARENT", CGROUP_PARENT)
                .env("SANDBOX_MEMORY_MB", self.limits.memory_mb.to_string())
                .env("SANDBOX_PIDS_MAX", self.limits.pids.to_string())
                .env("SANDBOX_TMP_MB", "64")
                .env("SANDBOX_START_TIMEOUT_SECS", "60")
                .env("SANDBOX_HOST_UID_BASE", self.uid_base.to_string())
                .env("SANDBOX_HOST_UID_COUNT", "100"),
            Some(cluster) => cmd
                .env("BRIDGE_RUNTIME", "kube")
                .env("KUBECONFIG", cluster.kubeconfig.path())
                .env("KUBERNETES_IN_CLUSTER", "false")
                .env("KUBERNETES_NAMESPACE", NS)
                .env("KUBERNETES_START_TIMEOUT_SECS", "60"),
        };
        let mut bridge = ChildGuard::spawn(&mut cmd).expect("spawning terminal-bridge");
        let deadline = Instant::now() + Duration::from_secs(120);
        let health = format!("http://127.0.0.1:{}/healthz", self.bridge_port);
        while wait_for_http(&health, Duration::from_millis(500)).is_err() {
            if let Ok(Some(status)) = bridge.child_mut().try_wait() {
                panic!("terminal-bridge exited with {status}\n{}", bridge.log());
            }
            assert!(
                Instant::now() < deadline,
                "terminal-bridge did not come up\n{}",
                bridge.log()
            );
        }
        self.bridge = Some(bridge);
    }

    /// `kill -9` of the bridge: no flush, no goodbye; its sandboxes keep running.
    pub fn kill_bridge(&mut self) {
        let mut bridge = self.bridge.take().expect("the bridge runs");
        bridge.child_mut().kill().unwrap();
        bridge.child_mut().wait().unwrap();
    }

    /// The bridge's log so far, for assertion messages.
    pub fn bridge_log(&self) -> String {
        self.bridge
            .as_ref()
            .map(ChildGuard::log)
            .unwrap_or_default()
    }

    /// The fake API server, with [`Backend::Kube`].
    pub fn fake(&self) -> Option<&FakeKube> {
        self.cluster.as_ref().map(|c| &c.fake)
    }

    /// The host directory holding the sandboxes.
    pub fn sandbox_dir(&self) -> std::path::PathBuf {
        self.sandboxes.path().to_path_buf()
    }

    /// `ws://.../ws?token=<token>`.
    pub fn ws_url(&self, token: &str) -> String {
        format!("ws://127.0.0.1:{}/ws?token={token}", self.bridge_port)
    }

    /// A WebSocket client authenticated with `token` (waits for `ready`).
    pub async fn connect(&self, token: &str) -> ws::Ws {
        let mut ws = ws::Ws::connect(&self.ws_url(token)).await;
        let ready = ws.next_of("ready").await;
        assert!(ready["userId"].is_i64(), "{ready}");
        ws
    }

    /// Registers `name` (password fixed) and logs in through REST: the bearer token.
    pub async fn user(&self, name: &str) -> String {
        self.stack
            .user_with_token(name, "correct horse battery")
            .await
    }

    /// `POST /api/sessions/` as the holder of `token`: the new session's id.
    pub async fn session(&self, token: &str) -> Uuid {
        let r = self
            .rest(
                token,
                reqwest::Method::POST,
                "/api/sessions/",
                Some(json!({"name": "e2e"})),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        r.body["session_id"].as_str().unwrap().parse().unwrap()
    }

    /// A REST call with `Authorization: Bearer <token>` and an optional JSON body.
    pub async fn rest(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut request = client()
            .request(method, self.stack.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        Reply::of(request.send().await.unwrap()).await
    }

    /// `PUT /api/workspace/{id}/file/{path}` with text content.
    pub async fn write_file(&self, token: &str, session: Uuid, path: &str, content: &str) {
        let r = self
            .rest(
                token,
                reqwest::Method::PUT,
                &format!("/api/workspace/{session}/file/{path}"),
                Some(json!({"content": content})),
            )
            .await;
        assert!(r.status == 200 || r.status == 201, "{r:?}");
    }

    /// `GET /api/workspace/{id}/file/{path}`: the UTF-8 content, `None` on 404.
    pub async fn read_file(&self, token: &str, session: Uuid, path: &str) -> Option<String> {
        let r = self
            .rest(
                token,
                reqwest::Method::GET,
                &format!("/api/workspace/{session}/file/{path}"),
                None,
            )
            .await;
        match r.status {
            404 => None,
            200 => Some(r.body["content"].as_str().unwrap().to_owned()),
            _ => panic!("GET {path}: {r:?}"),
        }
    }

    /// Polls REST until `path` has `content`; the time it took. Panics after `limit`.
    pub async fn wait_file(
        &self,
        token: &str,
        session: Uuid,
        path: &str,
        content: &str,
        limit: Duration,
    ) -> Duration {
        let start = Instant::now();
        loop {
            if self.read_file(token, session, path).await.as_deref() == Some(content) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "{path} did not reach PostgreSQL with {content:?} within {limit:?}; now {:?}\n{}",
                self.read_file(token, session, path).await,
                self.bridge_log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Shares `session` with `username` as `role` through the REST sharing endpoint.
    pub async fn share(&self, owner_token: &str, session: Uuid, username: &str, role: &str) {
        let r = self
            .rest(
                owner_token,
                reqwest::Method::PUT,
                &format!("/api/sessions/{session}/members/{username}"),
                Some(json!({"role": role})),
            )
            .await;
        assert_eq!(r.status, 200, "{r:?}");
    }

    /// Stops every sandbox left in the directory (the runtime's `stop`: pid namespace,
    /// cgroups, directory), as the test's last step.
    async fn stop_sandboxes(config: BubblewrapConfig) {
        let runtime = match BubblewrapRuntime::new(config) {
            Ok(runtime) => Arc::new(runtime),
            Err(err) => {
                eprintln!("cannot stop the sandboxes: {err:#}");
                return;
            }
        };
        let sandboxes = runtime.list().await.unwrap_or_default();
        for sandbox in sandboxes {
            if let Err(err) = runtime.stop(sandbox.session).await {
                eprintln!("stopping sandbox {}: {err}", sandbox.session);
            }
        }
    }

    fn bubblewrap_config(&self) -> BubblewrapConfig {
        BubblewrapConfig {
            bwrap: "bwrap".into(),
            agent: test_support::binary("pod-agent"),
            sandbox_dir: self.sandboxes.path().to_path_buf(),
            limits: Limits {
                memory_bytes: self.limits.memory_mb << 20,
                pids: self.limits.pids,
                cpu_cores: 1.0,
                tmp_bytes: 64 << 20,
            },
            start_timeout: Duration::from_secs(60),
            cgroup_parent: CGROUP_PARENT.into(),
            host_uids: self.uid_base..self.uid_base + 100,
        }
    }
}

impl Drop for E2e {
    fn drop(&mut self) {
        if let Some(mut bridge) = self.bridge.take() {
            let _ = bridge.child_mut().kill();
            let _ = bridge.child_mut().wait();
        }
        if self.cluster.is_some() {
            return; // the fake cluster kills its pods' agents as it goes
        }
        // Drop may run inside the test's runtime: stop on a thread with a runtime of its own.
        let config = self.bubblewrap_config();
        let stopper = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(E2e::stop_sandboxes(config));
        });
        let _ = stopper.join();
    }
}
