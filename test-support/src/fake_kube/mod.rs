//! A fake Kubernetes API server on loopback, for testing the terminal-bridge's kube runtime
//! with the real `kube` client: pods (create, get, list, watch, delete, patch) in any
//! namespace, with label and field selectors, `Status` errors, resourceVersions, and
//! `pods/exec` over a real WebSocket (`v5.channel.k8s.io` or `v4.channel.k8s.io`).
//!
//! The pods are not containers, but their one program is real: when a pod becomes Running,
//! the fake starts the real `pod-agent daemon` for it (workspace and socket in a temporary
//! directory of its own), and an exec of `pod-agent connect --socket /run/pod-agent/...`
//! runs the real `pod-agent connect` against that pod's socket, its stdio piped to the exec
//! channels. Deleting a pod kills its agent.
//!
//! Tests script what happens ([`Fate`] of new pods, injected errors, how long deletion takes,
//! which exec subprotocols are offered) and inspect and change pods directly.
//!
//! Using it: `FakeKube::start(&binary("pod-agent"))`, then point a kube client at
//! [`FakeKube::url`] (`kube::Config::new(url)`). New pods go `Pending` -> scheduled ->
//! `Running` + `Ready` after 200 ms unless [`FakeKube::set_fate`] says otherwise; deleted pods
//! stay `Terminating` (with `deletionTimestamp`) for 300 ms ([`FakeKube::set_terminating_for`];
//! `gracePeriodSeconds=0` removes at once). [`FakeKube::fail_next`] answers the next calls
//! with a `Status` error; [`FakeKube::requests`] and [`FakeKube::deletes`] show what the
//! client sent; [`FakeKube::update_pod`] and [`FakeKube::remove_pod`] act as the cluster would.
//!
//! What it does not emulate: other resources, authentication, admission and most validation
//! (a create needs a valid name and a container), JSON patches (415), server-side apply,
//! set-based label selectors, bookmarks, `410 Gone` for old resourceVersions (the whole
//! history is kept), and exec of anything but `pod-agent` (fails as a missing executable).
//! Strategic merge patches are applied as JSON merge patches, which agree for maps such as
//! labels and annotations.
//!
//! Files: `store` (state, selectors, merge patch, `Status`), `routes` (the HTTP API),
//! `exec` (the exec WebSocket), `lifecycle` (phases and deletion).

mod exec;
mod lifecycle;
mod routes;
mod store;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast;

use store::{Event, PodEntry, Store};
pub use store::{Fate, Fault};

/// The running fake; stops its server and kills every agent on drop.
pub struct FakeKube {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

/// State shared by the handlers and the test.
pub(crate) struct Shared {
    store: Mutex<Store>,
    events: broadcast::Sender<Event>,
    /// The `pod-agent` binary.
    agent: PathBuf,
    /// Parent of the pods' directories.
    dir: PathBuf,
}

impl FakeKube {
    /// Starts a fake on a free loopback port whose pods run `agent` (the `pod-agent` binary).
    pub async fn start(agent: &Path) -> FakeKube {
        let dir = tempfile::Builder::new()
            .prefix("fk")
            .tempdir_in("/tmp")
            .expect("a temporary directory");
        let (events, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new()),
            events,
            agent: agent.to_path_buf(),
            dir: dir.path().to_path_buf(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the fake API server");
        let addr = listener.local_addr().expect("its address");
        let app = routes::router(shared.clone());
        // Nagle off, as Go's net package (so the real API server) has it by default.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeKube {
            addr,
            shared,
            server,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:<port>`, the cluster URL for a client.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig file for a process that should reach this fake as its cluster (plain
    /// HTTP, no credentials, `namespace` as the context's default); deleted when dropped.
    pub fn kubeconfig(&self, namespace: &str) -> tempfile::NamedTempFile {
        let yaml = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
             clusters:\n- name: fake\n  cluster:\n    server: {}\n\
             users:\n- name: fake-user\n  user: {{}}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake-user\n    \
             namespace: {namespace}\n",
            self.url()
        );
        let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
        std::io::Write::write_all(&mut file, yaml.as_bytes()).expect("writing the kubeconfig");
        file
    }

    /// What pods created from now on do.
    pub fn set_fate(&self, fate: Fate) {
        self.shared.lock().fate = fate;
    }

    /// How long deleted pods stay `Terminating`.
    pub fn set_terminating_for(&self, duration: Duration) {
        self.shared.lock().terminating_for = duration;
    }

    /// The exec subprotocols the server accepts, preferred first (default v5, then v4).
    pub fn set_exec_protocols(&self, protocols: &[&'static str]) {
        self.shared.lock().exec_protocols = protocols.to_vec();
    }

    /// Answers the next `count` calls (with `method`, or any) with `status`. A watch's method
    /// is `WATCH`.
    pub fn fail_next(&self, count: u32, status: u16, method: Option<&str>) {
        self.shared.lock().faults.push_back(Fault {
            status,
            method: method.map(str::to_string),
            remaining: count,
        });
    }

    /// Every request so far, as `METHOD path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.shared.lock().log.clone()
    }

    /// (pod name, `preconditions.uid`) of every DELETE of an existing pod, in order.
    pub fn deletes(&self) -> Vec<(String, Option<String>)> {
        self.shared.lock().deletes.clone()
    }

    /// The pods of `namespace` (terminating ones included), sorted by name.
    pub fn pods(&self, namespace: &str) -> Vec<Value> {
        let store = self.shared.lock();
        store
            .pods
            .iter()
            .filter(|((ns, _), _)| ns == namespace)
            .map(|(_, entry)| entry.object.clone())
            .collect()
    }

    /// One pod, if it exists.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<Value> {
        let key = (namespace.to_string(), name.to_string());
        self.shared.lock().pods.get(&key).map(|e| e.object.clone())
    }

    /// The host directory a pod's `/workspace` is, if the pod exists.
    pub fn workspace_dir(&self, namespace: &str, name: &str) -> Option<PathBuf> {
        let key = (namespace.to_string(), name.to_string());
        self.shared
            .lock()
            .pods
            .get(&key)
            .map(|e| e.dir.join("workspace"))
    }

    /// Changes a pod as the cluster would (status, annotations, ...), with a new
    /// resourceVersion and a `MODIFIED` event. False if it does not exist.
    pub fn update_pod(&self, namespace: &str, name: &str, change: impl Fn(&mut Value)) -> bool {
        let key = (namespace.to_string(), name.to_string());
        let uid = match self.shared.lock().pods.get(&key) {
            Some(entry) => entry.object["metadata"]["uid"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            None => return false,
        };
        self.shared.update_if(&key, &uid, &change)
    }

    /// Removes a pod at once, as a node failure or `kubectl delete --force` would, killing
    /// its agent. False if it did not exist.
    pub fn remove_pod(&self, namespace: &str, name: &str) -> bool {
        self.shared
            .remove_if(&(namespace.to_string(), name.to_string()), None)
    }
}

/// The pod's log file (`<dir>/agent.log`), for the agent's output.
fn agent_log(dir: &Path) -> Result<std::fs::File, String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("agent.log"))
        .map_err(|e| e.to_string())
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        self.server.abort();
        // Dropping the entries kills the agents (kill_on_drop).
        self.shared.lock().pods.clear();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `change` to the pod if it still has `uid`, and records the change.
    fn update_if(&self, key: &(String, String), uid: &str, change: &dyn Fn(&mut Value)) -> bool {
        let mut store = self.lock();
        let Some(mut object) = store.pods.get(key).map(|e| e.object.clone()) else {
            return false;
        };
        if object["metadata"]["uid"].as_str() != Some(uid) {
            return false;
        }
        change(&mut object);
        let event = store.record("MODIFIED", &key.0, &mut object);
        if let Some(entry) = store.pods.get_mut(key) {
            entry.object = object;
        }
        let _ = self.events.send(event);
        true
    }

    /// Removes the pod (if `uid` is given, only if it still has it), killing its agent.
    fn remove_if(&self, key: &(String, String), uid: Option<&str>) -> bool {
        let mut store = self.lock();
        let matches = store.pods.get(key).is_some_and(|entry| {
            uid.is_none_or(|uid| entry.object["metadata"]["uid"].as_str() == Some(uid))
        });
        if !matches {
            return false;
        }
        let Some(mut entry) = store.pods.remove(key) else {
            return false;
        };
        if let Some(agent) = entry.agent.as_mut() {
            let _ = agent.start_kill();
        }
        let event = store.record("DELETED", &key.0, &mut entry.object);
        let _ = self.events.send(event);
        true
    }

    /// Starts `pod-agent daemon` for the pod and waits for its socket.
    async fn start_agent(&self, key: &(String, String), uid: &str) -> Result<(), String> {
        let dir = {
            let store = self.lock();
            match store.pods.get(key) {
                Some(entry) if entry.object["metadata"]["uid"].as_str() == Some(uid) => {
                    entry.dir.clone()
                }
                _ => return Err("the pod is gone".into()),
            }
        };
        let workspace = dir.join("workspace");
        let socket = dir.join("run").join("agent.sock");
        std::fs::create_dir_all(&workspace).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(dir.join("run")).map_err(|e| e.to_string())?;
        let child = tokio::process::Command::new(&self.agent)
            .arg("daemon")
            .arg("--workspace")
            .arg(&workspace)
            .arg("--socket")
            .arg(&socket)
            .env("POD_AGENT_SHELL", "bash --noprofile --norc")
            // The prompt of the workspace image's unprivileged user, even when the tests run
            // as root (bash would end its default prompt with `# ` then).
            .env("PS1", "\\w $ ")
            .stdin(std::process::Stdio::null())
            .stdout(agent_log(&dir)?)
            .stderr(agent_log(&dir)?)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.agent.display()))?;
        {
            let mut store = self.lock();
            match store.pods.get_mut(key) {
                Some(entry) if entry.object["metadata"]["uid"].as_str() == Some(uid) => {
                    entry.agent = Some(child);
                }
                // Deleted meanwhile: dropping the child kills it.
                _ => return Err("the pod is gone".into()),
            }
        }
        for _ in 0..1000 {
            if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err("the agent's socket did not appear".into())
    }

    /// The directory of a new pod.
    fn new_pod_dir(&self, store: &mut Store) -> PathBuf {
        store.next_dir += 1;
        self.dir.join(format!("p{}", store.next_dir))
    }

    /// A new pod entry, not yet running anything.
    fn entry(&self, store: &mut Store, object: Value) -> PodEntry {
        PodEntry {
            object,
            dir: self.new_pod_dir(store),
            agent: None,
        }
    }
}
