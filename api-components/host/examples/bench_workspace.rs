//! Benchmark (a command, not a test): reading (`GET`) and writing (`POST`) a 1 KiB workspace
//! file with a bearer token through `api-host` + the real `workspace.wasm` and through the real
//! Spin CLI serving the same manifest (when `SPIN_BIN` or `spin` on `PATH` is Spin 4.1 or later;
//! its rows say `skipped` otherwise), beside a native axum + tokio-postgres handler doing the
//! same work with the same statements: the bearer token check
//! (`platform_core::token::VERIFY_TOKEN_SQL`), the caller's role in the session, then the
//! select (read) or the upsert with its `pg_notify` (write). All against one throwaway
//! PostgreSQL in the same run, with the same token, session, files and load loop.
//!
//! Usage: `bench_workspace [get] [post]` (default: both). Run with `scripts/bench rest` (get) or
//! `scripts/bench api` (get post); they build everything in release mode first. Prints
//! requests/s and p50/p99 latency at concurrency 1 and 16, and the ratios api-host/native and
//! spin/api-host. Writers each write their own file, so row locks do not serialize them.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bench_support::{Figures, Row, timed};
// The workspace component's own statements, so both sides ask the database for the same work.
use platform_contract::sql::{
    FILE_UPSERT_SQL as UPSERT_SQL, ITEM_READ_SQL as READ_SQL, SESSION_ROLE_SQL as ROLE_SQL,
};
use platform_core::token::{VERIFY_TOKEN_SQL, bearer_token, token_sha256};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use test_support::PgCluster;

#[path = "bench_support/mod.rs"]
mod bench_support;

type Pool = deadpool_postgres::Pool;

/// An error answer with the API's shape.
struct Fail(StatusCode, &'static str);

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let Fail(status, code) = self;
        (
            status,
            axum::Json(json!({"error": {"code": code, "message": code}})),
        )
            .into_response()
    }
}

fn error(status: StatusCode, code: &'static str) -> Fail {
    Fail(status, code)
}

/// The token check and the role lookup every request makes; returns the client and the role.
async fn authorize(
    pool: &Pool,
    headers: &HeaderMap,
    session: &uuid::Uuid,
) -> Result<(deadpool_postgres::Object, String), Fail> {
    let value = headers.get("authorization").and_then(|v| v.to_str().ok());
    let token = bearer_token(value).map_err(|_| error(StatusCode::UNAUTHORIZED, "unauthorized"))?;
    let db = pool
        .get()
        .await
        .map_err(|_| error(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable"))?;
    let hash = token_sha256(token);
    let user = db
        .query_opt(VERIFY_TOKEN_SQL, &[&hash.as_slice()])
        .await
        .map_err(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "internal"))?
        .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "unauthorized"))?;
    let user_id: i64 = user.get("user_id");
    let role = db
        .query_opt(ROLE_SQL, &[session, &user_id])
        .await
        .map_err(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "internal"))?
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "not_found"))?;
    Ok((db, role.get("role")))
}

fn session_and_path(id: &str, path: &str) -> Result<(uuid::Uuid, String), Fail> {
    let session =
        uuid::Uuid::parse_str(id).map_err(|_| error(StatusCode::BAD_REQUEST, "invalid_uuid"))?;
    let path = platform_core::validate::workspace_path(path)
        .map_err(|_| error(StatusCode::BAD_REQUEST, "invalid_path"))?;
    Ok((session, path.path))
}

async fn native_read(
    State(pool): State<Arc<Pool>>,
    Path((id, path)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (session, path) = match session_and_path(&id, &path) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let (db, _role) = match authorize(&pool, &headers, &session).await {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let Ok(Some(row)) = db.query_opt(READ_SQL, &[&session, &path]).await else {
        return error(StatusCode::NOT_FOUND, "not_found").into_response();
    };
    let version: i64 = row.get("version");
    let content: Vec<u8> = row.get("content");
    let (encoding, text) = match String::from_utf8(content) {
        Ok(t) => ("utf-8", t),
        Err(e) => ("base64", format!("{} bytes", e.as_bytes().len())),
    };
    let body = json!({
        "path": path, "version": version, "sha256": row.get::<_, String>("sha256"),
        "size": row.get::<_, i64>("size"), "encoding": encoding, "content": text,
    });
    (
        [
            ("etag", format!("\"{version}\"")),
            ("cache-control", "no-store".into()),
        ],
        axum::Json(body),
    )
        .into_response()
}

async fn native_write(
    State(pool): State<Arc<Pool>>,
    Path((id, path)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (session, path) = match session_and_path(&id, &path) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let (db, role) = match authorize(&pool, &headers, &session).await {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    if role == "viewer" {
        return error(StatusCode::FORBIDDEN, "forbidden").into_response();
    }
    let Ok(input) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid_json").into_response();
    };
    let Some(content) = input["content"].as_str() else {
        return error(StatusCode::BAD_REQUEST, "invalid_json").into_response();
    };
    let bytes = content.as_bytes();
    let sha = Sha256::digest(bytes).to_vec();
    let Ok(Some(row)) = db
        .query_opt(UPSERT_SQL, &[&session, &path, &bytes, &sha.as_slice()])
        .await
    else {
        return error(StatusCode::CONFLICT, "conflict").into_response();
    };
    let version: i64 = row.get("version");
    let status = if version == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (
        status,
        [
            ("etag", format!("\"{version}\"")),
            ("cache-control", "no-store".into()),
        ],
        axum::Json(json!({
            "path": path, "version": version, "sha256": hex::encode(&sha), "size": bytes.len(),
        })),
    )
        .into_response()
}

/// What one load run sends.
#[derive(Clone, Copy)]
enum Op {
    Read,
    Write,
}

/// One request of a run, owned so workers can share it.
struct Target {
    base: String,
    session: String,
    token: String,
    body: String,
    op: Op,
}

/// One request; `Err` with the status and the start of the body when it did not succeed.
async fn send(client: &reqwest::Client, t: &Target, worker: usize) -> Result<(), String> {
    let req = match t.op {
        Op::Read => client
            .get(format!(
                "{}/api/workspace/{}/file/bench/read.txt",
                t.base, t.session
            ))
            .bearer_auth(&t.token),
        Op::Write => client
            .post(format!(
                "{}/api/workspace/{}/file/bench/w{worker}.txt",
                t.base, t.session
            ))
            .bearer_auth(&t.token)
            .header("content-type", "application/json")
            .body(t.body.clone()),
    };
    let r = req.send().await.map_err(|e| e.to_string())?;
    let status = r.status();
    let text = r.bytes().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(())
    } else {
        let body = String::from_utf8_lossy(&text);
        Err(format!(
            "{status}: {}",
            body.chars().take(200).collect::<String>()
        ))
    }
}

/// A timed run against `base`, after a warm-up; `Err` when the warm-up fails (the server
/// cannot do this request at all).
async fn load(
    base: &str,
    ctx: &Ctx,
    op: Op,
    concurrency: usize,
    duration: Duration,
) -> Result<Figures, String> {
    let client = bench_support::client(concurrency);
    let target = Arc::new(Target {
        base: base.to_owned(),
        session: ctx.session.clone(),
        token: ctx.token.clone(),
        body: ctx.body.clone(),
        op,
    });
    // Warm-up: instances, pools, and the writers' files (so every timed write replaces).
    for _ in 0..3 {
        for worker in 0..concurrency {
            send(&client, &target, worker).await?;
        }
    }
    Ok(timed(concurrency, duration, move |worker| {
        let (client, target) = (client.clone(), target.clone());
        async move { send(&client, &target, worker).await }
    })
    .await)
}

/// The token, session and request body every server is driven with.
struct Ctx {
    token: String,
    session: String,
    body: String,
}

/// A user, a token and a session made through the real API, and the file the readers read.
async fn prepare(host: &str) -> anyhow::Result<Ctx> {
    let client = reqwest::Client::new();
    let user = json!({"username": "bench", "password": "correct horse battery"});
    let r = client
        .post(format!("{host}/api/users/register"))
        .json(&user)
        .send()
        .await?;
    anyhow::ensure!(r.status() == 201, "register: {}", r.status());
    let login: Value = client
        .post(format!("{host}/api/users/login"))
        .json(&user)
        .send()
        .await?
        .json()
        .await?;
    let token = login["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let created: Value = client
        .post(format!("{host}/api/sessions/"))
        .bearer_auth(&token)
        .json(&json!({"name": "bench"}))
        .send()
        .await?
        .json()
        .await?;
    let session = created["session_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // 1 KiB of text (JSON-escaping adds nothing to these characters).
    let content: String = (0..1024).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let body = json!({ "content": content }).to_string();
    let r = client
        .put(format!(
            "{host}/api/workspace/{session}/file/bench/read.txt"
        ))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await?;
    anyhow::ensure!(r.status() == 201, "the file to read: {}", r.status());
    Ok(Ctx {
        token,
        session,
        body,
    })
}

/// The runs the arguments ask for (`get`, `post`; default both).
fn selected_runs() -> anyhow::Result<Vec<(&'static str, Op)>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        args = vec!["get".into(), "post".into()];
    }
    args.iter()
        .map(|arg| match arg.as_str() {
            "get" => Ok(("GET /api/workspace/{id}/file/{path} (1 KiB)", Op::Read)),
            "post" => Ok(("POST /api/workspace/{id}/file/{path} (1 KiB)", Op::Write)),
            other => anyhow::bail!("unknown run {other:?} (choose from: get post)"),
        })
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs = selected_runs()?;
    let seconds = bench_support::seconds();
    let pg = PgCluster::start()?;
    let db = bench_support::migrated_database(&pg).await?;
    // api-host serving the real spin.toml.
    let (_host, host_base) =
        bench_support::start_api_host("bench-workspace-spin.toml", &pg, &db, &[])?;
    let ctx = prepare(&host_base).await?;
    // The real Spin CLI serving the same manifest against the same database, when found.
    let spin = bench_support::start_spin("bench-workspace-spin-cli.toml", &pg, &db, &[]);
    let spin_name = format!("{} + workspace.wasm", bench_support::spin_version());
    if let Err(why) = &spin {
        println!("real Spin CLI: skipped ({why})");
    }

    // The native baseline, in this process, with a pool as large as api-host's.
    let pool = deadpool_postgres::Pool::builder(deadpool_postgres::Manager::new(
        db.parse()?,
        tokio_postgres::NoTls,
    ))
    .max_size(16)
    .build()?;
    let app = Router::new()
        .route(
            "/api/workspace/{id}/file/{*path}",
            get(native_read).post(native_write),
        )
        .with_state(Arc::new(pool));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let native_base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    println!(
        "{seconds} s per run, PostgreSQL on loopback, the same load loop for every server, {}",
        bench_support::connections_line()
    );
    for (name, op) in runs {
        for concurrency in [1, 16] {
            println!("\n{name}");
            let duration = Duration::from_secs(seconds);
            let native = load(&native_base, &ctx, op, concurrency, duration).await;
            let host = load(&host_base, &ctx, op, concurrency, duration).await;
            let on_spin = match &spin {
                Ok((_, base)) => load(base, &ctx, op, concurrency, duration).await,
                Err(_) => Err("Spin not found or not started (see above)".to_owned()),
            };
            let rows: Vec<Row> = vec![
                ("native axum+tokio-postgres".to_owned(), native),
                ("api-host + workspace.wasm".to_owned(), host),
                (spin_name.clone(), on_spin),
            ];
            bench_support::print_rows(concurrency, &rows);
        }
    }
    Ok(())
}
