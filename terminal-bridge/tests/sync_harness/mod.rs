//! The session layer against real parts: a throwaway PostgreSQL, the real `pod-agent` in each
//! sandbox, rows written with the REST component's SQL (`platform_contract::sql`), and "the shell" as plain file system
//! writes inside the sandbox's workspace directory (what the agent's watcher sees from any
//! program). Waits poll for the expected state; they never sleep a fixed time to pass.
//!
//! Every suite runs on each [`Backend`] ([`on_each_backend!`]).

#![allow(dead_code)]

use platform_contract::sql;
use platform_contract::state::DesiredState;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use terminal_bridge::runtime::{Runtime, Sandbox};
use terminal_bridge::workspaces::{SyncConfig, WorkspaceEvent, Workspaces};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_postgres::{AsyncMessage, Client, NoTls};
use uuid::Uuid;

use test_support::FakeKube;

use crate::common::TestDb;
#[allow(unused_imports)]
pub(crate) use crate::common::backend::{Backend, NS, Place, on_each_backend};

/// How long anything may take on a loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A database, a runtime, and one `Workspaces` running in the background.
pub struct Harness {
    pub db: TestDb,
    pub client: Client,
    pub backend: Backend,
    pub place: Place,
    pub runtime: Arc<dyn Runtime>,
    pub workspaces: Arc<Workspaces>,
    pub events: broadcast::Receiver<WorkspaceEvent>,
    shutdown: Option<oneshot::Sender<()>>,
    run: Option<JoinHandle<()>>,
}

/// Settings for tests: nothing periodic unless a test asks for it.
pub fn quiet_config() -> SyncConfig {
    SyncConfig {
        session_timeout_secs: 3600.0,
        reconcile_secs: 3600.0,
        ..SyncConfig::default()
    }
}

impl Harness {
    pub async fn start(backend: Backend, config: SyncConfig) -> Harness {
        Self::start_wrapped(backend, config, |runtime| runtime).await
    }

    /// [`Harness::start`] with the backend's runtime wrapped by `wrap`.
    pub async fn start_wrapped(
        backend: Backend,
        config: SyncConfig,
        wrap: impl FnOnce(Arc<dyn Runtime>) -> Arc<dyn Runtime>,
    ) -> Harness {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        let (db, client) = TestDb::migrated().await;
        let (place, runtime) = Place::start(backend).await;
        let runtime = wrap(runtime);
        let mut harness = Harness {
            workspaces: new_workspaces(&db, runtime.clone(), config.clone()),
            db,
            client,
            backend,
            place,
            runtime,
            events: broadcast::channel(1).1,
            shutdown: None,
            run: None,
        };
        harness.events = harness.workspaces.subscribe();
        harness.run_in_background();
        harness
    }

    fn run_in_background(&mut self) {
        let (tx, rx) = oneshot::channel::<()>();
        let w = self.workspaces.clone();
        self.run = Some(tokio::spawn(w.run(async move {
            let _ = rx.await;
        })));
        self.shutdown = Some(tx);
    }

    /// Shuts the running `Workspaces` down (it flushes) and waits for it.
    pub async fn shut_down(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(run) = self.run.take() {
            tokio::time::timeout(PATIENCE, run)
                .await
                .expect("run() ended after shutdown")
                .unwrap();
        }
    }

    /// A new `Workspaces` (a restarted bridge) over the same runtime and database.
    pub async fn restart(&mut self, config: SyncConfig) {
        self.shut_down().await;
        self.workspaces = new_workspaces(&self.db, self.runtime.clone(), config);
        self.events = self.workspaces.subscribe();
        self.run_in_background();
    }

    /// A user and a session of theirs.
    pub async fn session(&self) -> Uuid {
        let name = format!("u{}", &Uuid::new_v4().simple().to_string()[..12]);
        self.client
            .query_one(
                "with u as (insert into users (username, password_hash) \
                 values ($1, '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA') returning id) \
                 insert into code_sessions (owner_id, name) select id, 's' from u returning id",
                &[&name],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// A REST write of `path`; returns the new version.
    pub async fn rest_write(&self, session: Uuid, path: &str, data: &[u8]) -> i64 {
        self.client
            .query_one(
                sql::FILE_UPSERT_SQL,
                &[&session, &path, &data, &Sha256::digest(data).as_slice()],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// A folder made through REST (with its missing parents).
    pub async fn rest_folder(&self, session: Uuid, path: &str) {
        self.client
            .query_one(sql::FOLDER_ENSURE_SQL, &[&session, &path])
            .await
            .unwrap();
    }

    pub async fn rest_delete(&self, session: Uuid, path: &str) {
        self.client
            .query_one(
                sql::ITEM_DELETE_SQL,
                &[&session, &path, &true, &None::<i64>],
            )
            .await
            .unwrap();
    }

    pub async fn rest_shutdown(&self, session: Uuid) {
        self.client
            .query(
                sql::SET_DESIRED_STATE_SQL,
                &[&session, &DesiredState::Stopped.as_str()],
            )
            .await
            .unwrap();
    }

    /// Version and content of a file row.
    pub async fn row(&self, session: Uuid, path: &str) -> Option<(i64, Vec<u8>)> {
        self.client
            .query_opt(
                "select version, content from workspace_items \
                 where session_id = $1 and path = $2 and kind = 'file'",
                &[&session, &path],
            )
            .await
            .unwrap()
            .map(|r| (r.get(0), r.get(1)))
    }

    /// Every item of the session: `(path, kind, version)`, sorted by path.
    pub async fn items(&self, session: Uuid) -> Vec<(String, String, i64)> {
        self.client
            .query(
                "select path, kind, version from workspace_items where session_id = $1 order by path",
                &[&session],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    }

    pub async fn session_states(&self, session: Uuid) -> (String, String) {
        let r = self
            .client
            .query_one(
                "select desired_state, observed_state from code_sessions where id = $1",
                &[&session],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    }

    /// The sandbox's workspace directory on this machine.
    pub fn dir(&self, session: Uuid) -> PathBuf {
        match &self.place {
            Place::Process(state) => state.path().join(session.to_string()).join("workspace"),
            Place::Kube(fake) => fake
                .workspace_dir(NS, &format!("ws-{session}"))
                .unwrap_or_else(|| PathBuf::from("/nonexistent/pod-is-gone")),
        }
    }

    /// The fake API server of the kube backend.
    pub fn fake(&self) -> Option<&FakeKube> {
        match &self.place {
            Place::Kube(fake) => Some(fake),
            Place::Process(_) => None,
        }
    }

    /// Ends `sandbox` from outside, as a crash would: its agent process is killed (process
    /// backend), or its pod is removed at once, as a node failure or a forced delete would
    /// (kube backend).
    pub fn kill_sandbox(&self, sandbox: &Sandbox) {
        match &self.place {
            Place::Process(_) => {
                let status = std::process::Command::new("kill")
                    .args(["-KILL", &sandbox.id])
                    .status()
                    .unwrap();
                assert!(status.success());
            }
            Place::Kube(fake) => assert!(fake.remove_pod(NS, &sandbox.id), "{sandbox:?}"),
        }
    }

    /// What the shell would do: write a file inside the sandbox.
    pub fn shell_write(&self, session: Uuid, path: &str, data: &[u8]) {
        let full = self.dir(session).join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, data).unwrap();
    }

    pub fn shell_read(&self, session: Uuid, path: &str) -> Option<Vec<u8>> {
        std::fs::read(self.dir(session).join(path)).ok()
    }

    pub async fn is_running(&self, session: Uuid) -> bool {
        self.runtime
            .list()
            .await
            .unwrap()
            .iter()
            .any(|s| s.session == session)
    }

    /// How many sandboxes the runtime has.
    pub async fn runtime_sandboxes(&self) -> usize {
        self.runtime.list().await.unwrap().len()
    }

    /// The next event matching `pred`, within `limit`.
    pub async fn event(
        &mut self,
        limit: Duration,
        what: &str,
        pred: impl Fn(&WorkspaceEvent) -> bool,
    ) -> WorkspaceEvent {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Ok(event)) if pred(&event) => return event,
                Ok(Ok(event)) => seen.push(event),
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(e)) => panic!("event channel: {e}"),
                Err(_) => panic!("no {what} within {limit:?}; saw {seen:#?}"),
            }
        }
    }
}

fn new_workspaces(db: &TestDb, runtime: Arc<dyn Runtime>, config: SyncConfig) -> Arc<Workspaces> {
    let database = terminal_bridge::config::database_config(&db.url).unwrap();
    let pool = terminal_bridge::db::pool(&database, 8).unwrap();
    Workspaces::new(runtime, database, pool, config)
}

/// Polls `check` until it returns `Some`, failing with `what` after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A LISTEN connection of the test's own.
pub struct Listener {
    _client: Client,
    rx: mpsc::UnboundedReceiver<serde_json::Value>,
}

impl Listener {
    pub async fn new(url: &str, channel: &str) -> Listener {
        let (client, mut connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(Ok(message)) =
                std::future::poll_fn(|cx| connection.poll_message(cx)).await
            {
                if let AsyncMessage::Notification(n) = message {
                    let _ = tx.send(serde_json::from_str(n.payload()).unwrap());
                }
            }
        });
        client
            .batch_execute(&format!("listen {channel}"))
            .await
            .unwrap();
        Listener {
            _client: client,
            rx,
        }
    }

    /// The next payload matching `pred` within `limit`.
    pub async fn next(
        &mut self,
        limit: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(v)) if pred(&v) => return v,
                Ok(Some(v)) => seen.push(v),
                Ok(None) => panic!("listener closed"),
                Err(_) => panic!("no matching notification within {limit:?}; saw {seen:?}"),
            }
        }
    }

    /// Everything received so far.
    pub fn drain(&mut self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        while let Ok(v) = self.rx.try_recv() {
            out.push(v);
        }
        out
    }
}
