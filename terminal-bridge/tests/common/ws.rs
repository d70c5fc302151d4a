//! The bridge served in-process on loopback with the process runtime and the real `pod-agent`
//! (or any [`Backend`]), rows for users, tokens and sessions, and a WebSocket client that waits for expected output
//! (never for a fixed time) and fails showing what it did get.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use terminal_bridge::AppState;
use terminal_bridge::runtime::Runtime;
use terminal_bridge::runtime::process::ProcessRuntime;
use terminal_bridge::workspaces::Workspaces;
use terminal_bridge::ws::WsConfig;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout_at};
use tokio_postgres::Client;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

use super::TestDb;
use super::backend::{Backend, Place};

/// How long any expected thing may take on a loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A dummy argon2id PHC string (nobody logs in with a password here).
const PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

/// One running bridge (router, hub, metrics) on an ephemeral port.
pub struct Instance {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
}

impl Instance {
    /// Triggers the graceful shutdown and waits for it to finish.
    pub async fn shut_down(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(PATIENCE, &mut self.server)
            .await
            .expect("the bridge did not shut down in time")
            .unwrap()
            .unwrap();
    }
}

/// A migrated database, a sandbox directory and a bridge instance.
pub struct Bridge {
    pub db: TestDb,
    pub admin: Client,
    pub runtime: Arc<ProcessRuntime>,
    /// What the bridge uses: `runtime` itself, or a test wrapper around it.
    pub served: Arc<dyn Runtime>,
    pub instance: Instance,
    pub config: WsConfig,
    /// What `served` runs on, when the bridge was started with [`Bridge::start_on`].
    pub place: Option<Place>,
    _sandboxes: tempfile::TempDir,
}

impl Bridge {
    pub async fn start() -> Bridge {
        Self::start_with(WsConfig::default()).await
    }

    /// A bridge whose runtime runs on `backend`.
    pub async fn start_on(backend: Backend) -> Bridge {
        let (place, runtime) = Place::start(backend).await;
        let mut bridge = Self::start_wrapped(WsConfig::default(), move |_| runtime).await;
        bridge.place = Some(place);
        bridge
    }

    /// The fake API server, for a bridge started on [`Backend::Kube`].
    pub fn fake(&self) -> Option<&test_support::FakeKube> {
        match &self.place {
            Some(Place::Kube(fake)) => Some(fake),
            _ => None,
        }
    }

    pub async fn start_with(config: WsConfig) -> Bridge {
        Self::start_wrapped(config, |runtime| runtime).await
    }

    /// A bridge whose runtime is `wrap` applied to the process runtime.
    pub async fn start_wrapped(
        config: WsConfig,
        wrap: impl FnOnce(Arc<ProcessRuntime>) -> Arc<dyn Runtime>,
    ) -> Bridge {
        let (db, admin) = TestDb::migrated().await;
        let sandboxes = tempfile::tempdir().unwrap();
        let runtime = Arc::new(ProcessRuntime::new(
            test_support::binary("pod-agent"),
            sandboxes.path().to_path_buf(),
        ));
        let served = wrap(Arc::clone(&runtime));
        let instance = Self::instance(&db, &served, config.clone()).await;
        Bridge {
            db,
            admin,
            runtime,
            served,
            instance,
            config,
            place: None,
            _sandboxes: sandboxes,
        }
    }

    /// A new bridge instance on the same database and sandboxes (as after a restart).
    pub async fn instance(db: &TestDb, runtime: &Arc<dyn Runtime>, config: WsConfig) -> Instance {
        let database = terminal_bridge::config::database_config(&db.url).unwrap();
        let pool = terminal_bridge::db::pool(&database, 4).unwrap();
        let workspaces = Workspaces::new(
            runtime.clone(),
            database.clone(),
            pool.clone(),
            terminal_bridge::workspaces::SyncConfig::default(),
        );
        let state = AppState::new(
            terminal_bridge::db::Db::new(database),
            pool,
            workspaces,
            config,
            Arc::default(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(terminal_bridge::serve::serve_state(
            listener,
            state.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        Instance {
            addr,
            state,
            stop: Some(stop),
            server,
        }
    }

    /// Shuts the instance down gracefully and starts a new one.
    pub async fn restart(&mut self) {
        let fresh = Self::instance(&self.db, &self.served, self.config.clone()).await;
        let old = std::mem::replace(&mut self.instance, fresh);
        old.shut_down().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.instance.addr)
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.instance.addr)
    }

    /// A new user and a valid token for them.
    pub async fn user(&self, name: &str) -> (i64, String) {
        let id: i64 = self
            .admin
            .query_one(
                "insert into users (username, password_hash) values ($1, $2) returning id",
                &[&name, &PASSWORD_HASH],
            )
            .await
            .unwrap()
            .get(0);
        let token = self.token(id, "1 hour", false).await;
        (id, token)
    }

    /// A token for `user` expiring `expires_in` (an interval; negative for expired) from now.
    pub async fn token(&self, user: i64, expires_in: &str, revoked: bool) -> String {
        let token = platform_contract::token::generate().unwrap();
        let hash = platform_contract::token::token_sha256(&token);
        self.admin
            .execute(
                "insert into auth_tokens (user_id, token_sha256, created_at, expires_at, revoked_at)
                 values ($1, $2, now() - interval '2 hours', now() + $3::text::interval,
                         case when $4 then now() end)",
                &[&user, &hash.as_slice(), &expires_in, &revoked],
            )
            .await
            .unwrap();
        token
    }

    /// A new session owned by `owner`.
    pub async fn session(&self, owner: i64) -> Uuid {
        self.admin
            .query_one(
                "insert into code_sessions (owner_id, name) values ($1, 'test') returning id",
                &[&owner],
            )
            .await
            .unwrap()
            .get(0)
    }

    pub async fn share(&self, session: Uuid, user: i64, role: &str) {
        self.admin
            .execute(
                "insert into session_members (session_id, user_id, role) values ($1, $2, $3)",
                &[&session, &user, &role],
            )
            .await
            .unwrap();
    }

    /// `/ws` with the token in the `Authorization` header.
    pub async fn connect(&self, token: &str) -> WsClient {
        let mut request = self.url("/ws").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let mut client = WsClient::connect(request).await;
        let ready = client.next_of("ready").await;
        assert!(ready["userId"].is_i64(), "{ready}");
        client
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        let url = self.http("/metrics");
        tokio::task::spawn_blocking(move || {
            test_support::http_get(&url, Duration::from_secs(5))
                .unwrap()
                .body
        })
        .await
        .unwrap()
    }
}

/// The value of a metric line `name value` (0 when absent).
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            (key == name).then(|| value.parse().unwrap())
        })
        .unwrap_or(0.0)
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A `/ws` client that sorts what it receives: terminal output into one text per terminal,
/// everything else into a queue.
pub struct WsClient {
    pub socket: Socket,
    /// Output so far per terminal id.
    pub output: HashMap<String, String>,
    /// Output of terminals opened with base64 encoding, per terminal id.
    pub bytes: HashMap<String, Vec<u8>>,
    /// Messages other than output, not yet taken.
    pub messages: VecDeque<Value>,
}

impl WsClient {
    pub async fn connect(request: impl IntoClientRequest + Unpin) -> WsClient {
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("WebSocket handshake");
        WsClient {
            socket,
            output: HashMap::new(),
            bytes: HashMap::new(),
            messages: VecDeque::new(),
        }
    }

    pub async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }

    /// The next JSON message (`None` at a close), answering nothing else.
    async fn read(&mut self, deadline: Instant) -> Option<Value> {
        loop {
            let message = timeout_at(deadline, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("timed out; {}", self.summary()));
            match message {
                Some(Ok(Message::Text(text))) => return Some(serde_json::from_str(&text).unwrap()),
                Some(Ok(Message::Close(_))) | None => return None,
                Some(Ok(_)) => {}
                Some(Err(err)) => panic!("WebSocket error: {err}"),
            }
        }
    }

    /// Reads one message and files it; false at the end of the connection.
    async fn pump(&mut self, deadline: Instant) -> bool {
        let Some(message) = self.read(deadline).await else {
            return false;
        };
        if message["type"] == "terminal_output" {
            let terminal = message["terminalId"].as_str().unwrap().to_owned();
            if let Some(data) = message["data"].as_str() {
                use base64::Engine;
                let data = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .unwrap();
                self.bytes.entry(terminal).or_default().extend(data);
            } else {
                let text = message["output"].as_str().unwrap();
                self.output.entry(terminal).or_default().push_str(text);
            }
        } else {
            self.messages.push_back(message);
        }
        true
    }

    /// Waits until the output of `terminal` contains `needle`; returns the output so far.
    /// Searches only what arrived since the last look, so large outputs stay linear.
    pub async fn wait_output(&mut self, terminal: &str, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        let mut from = 0;
        loop {
            if let Some(text) = self.output.get(terminal) {
                let start = from.min(text.len());
                if find(&text.as_bytes()[start..], needle.as_bytes()) {
                    return text.clone();
                }
                from = text.len().saturating_sub(needle.len());
            }
            if !self.pump(deadline).await {
                panic!(
                    "connection closed waiting for {needle:?} in {terminal}: {}",
                    self.summary()
                );
            }
        }
    }

    /// What was received, shortened for failure messages.
    fn summary(&self) -> String {
        let outputs: Vec<String> = self
            .output
            .iter()
            .map(|(terminal, text)| {
                let tail: String = text
                    .chars()
                    .rev()
                    .take(1500)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                format!("{terminal} ({} bytes, ending): {tail:?}", text.len())
            })
            .collect();
        format!("output: {outputs:#?}; other messages: {:#?}", self.messages)
    }

    /// Waits until the base64 output of `terminal` contains `needle`; returns it so far.
    pub async fn wait_bytes(&mut self, terminal: &str, needle: &[u8]) -> Vec<u8> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(bytes) = self.bytes.get(terminal)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                return bytes.clone();
            }
            if !self.pump(deadline).await {
                panic!(
                    "connection closed waiting for {needle:?}: {:#?}",
                    self.bytes
                );
            }
        }
    }

    /// The first message of type `kind` (earlier ones of other types stay queued).
    pub async fn next_of(&mut self, kind: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(index) = self.messages.iter().position(|m| m["type"] == kind) {
                return self.messages.remove(index).unwrap();
            }
            if !self.pump(deadline).await {
                panic!(
                    "connection closed waiting for a {kind:?} message: {:#?}",
                    self.messages
                );
            }
        }
    }

    /// Reads until the server closes; the close frame.
    pub async fn closed(&mut self) -> Option<CloseFrame> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let message = timeout_at(deadline, self.socket.next())
                .await
                .expect("timed out waiting for the close");
            match message {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(Message::Text(text))) => self
                    .messages
                    .push_back(serde_json::from_str(&text).unwrap()),
                Some(Ok(_)) => {}
                None | Some(Err(_)) => return None,
            }
        }
    }

    /// Opens a terminal and returns the `opened` message.
    pub async fn open(&mut self, session: Uuid, terminal: &str) -> Value {
        self.send(json!({"type": "open", "sessionId": session, "terminalId": terminal}))
            .await;
        let opened = self.next_of_any(&["opened", "error"]).await;
        assert_eq!(opened["type"], "opened", "{opened}");
        assert_eq!(opened["terminalId"], terminal);
        opened
    }

    /// The first message whose type is one of `kinds`.
    pub async fn next_of_any(&mut self, kinds: &[&str]) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(index) = self
                .messages
                .iter()
                .position(|m| kinds.iter().any(|kind| m["type"] == *kind))
            {
                return self.messages.remove(index).unwrap();
            }
            if !self.pump(deadline).await {
                panic!(
                    "connection closed waiting for {kinds:?}: {:#?}",
                    self.messages
                );
            }
        }
    }

    /// Types `text` into a terminal.
    pub async fn type_in(&mut self, session: Uuid, terminal: &str, text: &str) {
        self.send(json!({
            "type": "terminal_input", "sessionId": session, "terminalId": terminal, "input": text
        }))
        .await;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

/// The number printed after `prefix` in `text`, e.g. `pid:` in `... pid:1234: ...`.
pub fn number_after(text: &str, prefix: &str) -> Option<u64> {
    text.match_indices(prefix).find_map(|(at, _)| {
        let digits: String = text[at + prefix.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

/// The close code of a close frame.
pub fn close_code(frame: &Option<CloseFrame>) -> u16 {
    frame
        .as_ref()
        .map(|frame| u16::from(frame.code))
        .unwrap_or_default()
}
