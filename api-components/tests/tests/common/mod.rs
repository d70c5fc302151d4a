//! The stack every REST test runs against: a throwaway PostgreSQL cluster, migrated by the real
//! `terminal-bridge migrate`, and a host serving the repository's `spin.toml` (its `source`
//! paths made absolute) with the real `.wasm` components of this build: the real `api-host`,
//! or the real Spin CLI. Tests take the host as a parameter and carry `#[each_host]`, which
//! runs each of them on both.

#![allow(dead_code)]

use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
pub use test_support::{Host, each_host};
use test_support::{HostProcess, PgCluster, target_dir};
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;

/// PostgreSQL and a host serving the components (api-host or the real Spin), both stopped
/// when dropped.
pub struct Stack {
    /// `http://127.0.0.1:<port>` of the host.
    pub base: String,
    /// URL of the migrated database the components use.
    pub db_url: String,
    /// Which host serves the components.
    pub host_kind: Host,
    // Field order is drop order: the host goes before the database it talks to.
    host: HostProcess,
    manifest: PathBuf,
    pg: PgCluster,
}

static NEXT_MANIFEST: AtomicU32 = AtomicU32::new(0);

/// The real `spin.toml` with `source = "target/..."` pointing into this build's target
/// directory, so the tests serve the deployed manifest wherever the build is.
pub fn real_manifest() -> String {
    for component in ["users", "sessions", "workspace", "health", "web", "docs"] {
        // Fails early, with build instructions, when a component has not been built.
        test_support::wasm_component(component);
    }
    test_support::spin_manifest()
}

impl Stack {
    /// A stack on `host` with the default application variables.
    pub async fn start(host: Host) -> Stack {
        Stack::with_variables(host, &[]).await
    }

    /// A stack on `host` whose host gets `SPIN_VARIABLE_<NAME>=<value>` for each pair (name in
    /// lowercase, as in `spin.toml`).
    pub async fn with_variables(host: Host, variables: &[(&str, &str)]) -> Stack {
        let pg = PgCluster::start().expect("starting PostgreSQL");
        let db_url = pg.fresh_database().await.expect("creating a database");
        let migrate = Command::new(test_support::binary("terminal-bridge"))
            .arg("migrate")
            .env("DATABASE_URL", &db_url)
            .output()
            .expect("running terminal-bridge migrate");
        assert!(
            migrate.status.success(),
            "migrate failed: {}",
            String::from_utf8_lossy(&migrate.stderr)
        );

        let dir = target_dir().join("test-manifests");
        std::fs::create_dir_all(&dir).unwrap();
        let manifest = dir.join(format!(
            "api-tests-{}-{}.toml",
            std::process::id(),
            NEXT_MANIFEST.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&manifest, real_manifest()).unwrap();

        let mut env = vec![
            ("SPIN_VARIABLE_DATABASE_URL".to_owned(), db_url.clone()),
            (
                "SPIN_VARIABLE_DATABASE_HOST".to_owned(),
                format!("127.0.0.1:{}", pg.port()),
            ),
        ];
        for (name, value) in variables {
            env.push((
                format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()),
                (*value).to_owned(),
            ));
        }
        let process = host.start(&manifest, &env, &[]);
        Stack {
            base: process.base.clone(),
            db_url,
            host_kind: host,
            host: process,
            manifest,
            pg,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A direct connection to the database, as the terminal-bridge would have.
    pub async fn db(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.db_url, tokio_postgres::NoTls)
            .await
            .expect("connecting to the test database");
        tokio::spawn(connection);
        client
    }

    /// Stops PostgreSQL (keeping its data), to see how the API answers without it.
    pub fn stop_database(&self) {
        self.pg.stop().expect("stopping PostgreSQL");
    }

    /// The host's log so far, for assertion messages.
    pub fn host_log(&self) -> String {
        self.host.log()
    }

    /// The lines component `name` wrote to stderr about answers it failed (`<name>: <error>`,
    /// see `platform_core::component::reply`). Both hosts pass component stderr through;
    /// Spin's indented list of routes (`  users: http://...`) is not among them.
    pub fn component_errors(&self, name: &str) -> Vec<String> {
        let prefix = format!("{name}: ");
        self.host
            .log()
            .lines()
            .filter(|line| line.starts_with(&prefix))
            .map(str::to_owned)
            .collect()
    }

    /// `POST path` with a JSON body from `client`.
    pub async fn post_json(&self, client: &reqwest::Client, path: &str, body: &Value) -> Reply {
        Reply::of(client.post(self.url(path)).json(body).send().await.unwrap()).await
    }

    pub async fn register(&self, username: &str, password: &str) -> Reply {
        self.post_json(
            &client(),
            "/api/users/register",
            &serde_json::json!({"username": username, "password": password}),
        )
        .await
    }

    pub async fn login_from(
        &self,
        client: &reqwest::Client,
        username: &str,
        password: &str,
    ) -> Reply {
        self.post_json(
            client,
            "/api/users/login",
            &serde_json::json!({"username": username, "password": password}),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> Reply {
        self.login_from(&client(), username, password).await
    }

    /// Registers `username` and logs in; returns the access token.
    pub async fn user_with_token(&self, username: &str, password: &str) -> String {
        let r = self.register(username, password).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let r = self.login(username, password).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["access_token"].as_str().unwrap().to_owned()
    }

    /// `GET /api/users/me` with `Authorization: Bearer <token>`.
    pub async fn me(&self, token: &str) -> Reply {
        Reply::of(
            client()
                .get(self.url("/api/users/me"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap(),
        )
        .await
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.manifest);
    }
}

/// An answer, read completely.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    /// The body as JSON; `Value::Null` when empty, a string when not JSON.
    pub body: Value,
}

impl Reply {
    pub async fn of(resp: reqwest::Response) -> Reply {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and the one error shape with `code`.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.body["error"]["code"], code, "{self:?}");
        assert!(
            self.body["error"]["message"].is_string(),
            "message missing: {self:?}"
        );
        assert_eq!(
            self.body.as_object().map(|o| o.len()),
            Some(1),
            "only `error` at the top: {self:?}"
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{self:?}"
        );
    }
}

/// A client with a generous timeout (the machine may be loaded).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A client whose connections come from `127.0.0.<n>`: the host sees another client address,
/// which is how the tests tell the per-address limit from the per-username one.
pub fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .local_address(IpAddr::from([127, 0, 0, n]))
        .build()
        .unwrap()
}

/// A `LISTEN` connection on `channels`; notifications arrive as `(channel, payload as JSON)`.
/// Keep the returned client alive as long as notifications are wanted.
pub async fn listen(
    stack: &Stack,
    channels: &[&str],
) -> (
    tokio_postgres::Client,
    mpsc::UnboundedReceiver<(String, Value)>,
) {
    let (client, mut connection) = tokio_postgres::connect(&stack.db_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(n) = message {
                let payload = serde_json::from_str(n.payload())
                    .unwrap_or_else(|_| Value::String(n.payload().to_owned()));
                if tx.send((n.channel().to_owned(), payload)).is_err() {
                    break;
                }
            }
        }
    });
    for channel in channels {
        client
            .batch_execute(&format!("listen {channel}"))
            .await
            .unwrap();
    }
    (client, rx)
}

pub async fn next_notification(
    rx: &mut mpsc::UnboundedReceiver<(String, Value)>,
) -> (String, Value) {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("no notification within 20 s")
        .expect("the LISTEN connection ended")
}

// --- requests as a user ---------------------------------------------------------------

/// A password every test user gets.
pub const PASSWORD: &str = "correct horse battery";

/// A request body.
pub enum Body {
    None,
    Json(Value),
    Octets(Vec<u8>),
    /// Raw bytes with this content type.
    Typed(&'static str, Vec<u8>),
}

impl From<Option<Value>> for Body {
    fn from(body: Option<Value>) -> Body {
        body.map_or(Body::None, Body::Json)
    }
}

/// `method path` with an optional token and headers.
pub async fn call(
    stack: &Stack,
    method: Method,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Reply {
    Reply::of(
        request(stack, method, path, token, headers, body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

pub fn request(
    stack: &Stack,
    method: Method,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> reqwest::RequestBuilder {
    let mut req = client().request(method, stack.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    match body.into() {
        Body::None => req,
        Body::Json(v) => req.json(&v),
        Body::Octets(b) => req
            .header("content-type", "application/octet-stream")
            .body(b),
        Body::Typed(t, b) => req.header("content-type", t).body(b),
    }
}

/// `GET path` answered with raw bytes: status, headers, body.
pub async fn raw_get(
    stack: &Stack,
    path: &str,
    token: &str,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let resp = client()
        .get(stack.url(path))
        .bearer_auth(token)
        .header("accept", "application/octet-stream")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

/// A new session of the token's user; its id.
pub async fn session(stack: &Stack, token: &str) -> String {
    let r = stack
        .post_json(
            &client_with(token),
            "/api/sessions/",
            &json!({"name": "workspace"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    r.body["session_id"].as_str().unwrap().to_owned()
}

pub fn client_with(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

impl Stack {
    /// A registered, logged-in user named `username` (password [`PASSWORD`]) and a new session
    /// of theirs: `(token, session id)`.
    pub async fn user_and_session(&self, username: &str) -> (String, String) {
        let token = self.user_with_token(username, PASSWORD).await;
        let id = session(self, &token).await;
        (token, id)
    }
}
