//! Benchmark (a command, not a test): `GET /api/health` (no database: the hosts' own cost per
//! request) and `GET /api/health/detailed` served by `api-host`
//! from the real `health.wasm` and by the real Spin CLI serving the same manifest (when found;
//! skipped otherwise), beside a native axum + tokio-postgres handler doing the
//! same work (the same probe query on a pooled connection and the same GET of the
//! bridge's `/healthz`), all against one throwaway PostgreSQL in the same run.
//!
//! Run with `scripts/bench` (it builds everything in release mode first). Prints
//! requests/s and p50/p99 latency at concurrency 1 and 16, and the ratios.

use axum::{Json, Router, extract::State, routing::get};
use bench_support::{Figures, Row, timed};
use serde_json::{Value, json};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use test_support::{ChildGuard, PgCluster, free_port, wait_for_http};

#[path = "bench_support/mod.rs"]
mod bench_support;

const PROBE: &str = "select current_setting('server_version') as server_version, \
     (select max(version) from refinery_schema_history) as migration_version";

struct Native {
    pool: deadpool_postgres::Pool,
    http: reqwest::Client,
    bridge: String,
}

async fn native_detailed(State(s): State<Arc<Native>>) -> Json<Value> {
    let started = Instant::now();
    let client = s.pool.get().await.expect("pool");
    let row = client.query_one(PROBE, &[]).await.expect("probe");
    let server_version: String = row.get(0);
    let db_ms = started.elapsed().as_secs_f64() * 1000.0;
    let bridge = s
        .http
        .get(format!("{}/healthz", s.bridge))
        .send()
        .await
        .expect("bridge");
    Json(json!({
        "status": "healthy",
        "checks": [
            {"name": "database", "status": "healthy", "latency_ms": db_ms, "details": {"server_version": server_version}},
            {"name": "terminal_bridge", "status": if bridge.status().is_success() { "healthy" } else { "unhealthy" }},
        ]
    }))
}

async fn native_liveness() -> Json<Value> {
    Json(json!({ "status": "healthy", "version": env!("CARGO_PKG_VERSION") }))
}

/// A timed run of GET `url`, after a warm-up; `Err` when the warm-up fails.
async fn load(url: &str, concurrency: usize, duration: Duration) -> Result<Figures, String> {
    let client = bench_support::client(concurrency);
    // Warm-up: instances, pools, caches.
    for _ in 0..50 {
        get_ok(&client, url).await?;
    }
    let url = url.to_string();
    Ok(timed(concurrency, duration, move |_| {
        let (client, url) = (client.clone(), url.clone());
        async move { get_ok(&client, &url).await }
    })
    .await)
}

/// One GET, its body read; `Err` unless it succeeded.
async fn get_ok(client: &reqwest::Client, url: &str) -> Result<(), String> {
    let r = client.get(url).send().await.map_err(|e| e.to_string())?;
    let status = r.status();
    r.bytes().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{url}: {status}"))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds = bench_support::seconds();
    let pg = PgCluster::start()?;
    let db = bench_support::migrated_database(&pg).await?;
    let bridge_port = free_port();
    let _bridge = ChildGuard::spawn(
        Command::new(test_support::binary("terminal-bridge"))
            .args(["serve", "--listen", &format!("127.0.0.1:{bridge_port}")])
            .env("DATABASE_URL", &db)
            .env("RUST_LOG", "warn"),
    )?;
    let bridge = format!("http://127.0.0.1:{bridge_port}");
    wait_for_http(&format!("{bridge}/healthz"), Duration::from_secs(30))?;

    // api-host serving the real spin.toml, and the real Spin CLI when found.
    let variables = [("TERMINAL_BRIDGE_URL", bridge.as_str())];
    let (_host, host_base) =
        bench_support::start_api_host("bench-spin.toml", &pg, &db, &variables)?;
    let spin = bench_support::start_spin("bench-spin-cli.toml", &pg, &db, &variables);
    let spin_name = format!("{} + health.wasm", bench_support::spin_version());
    if let Err(why) = &spin {
        println!("real Spin CLI: skipped ({why})");
    }

    // The native baseline, in this process.
    let pool = deadpool_postgres::Pool::builder(deadpool_postgres::Manager::new(
        db.parse()?,
        tokio_postgres::NoTls,
    ))
    .max_size(16)
    .build()?;
    let state = Arc::new(Native {
        pool,
        http: reqwest::Client::new(),
        bridge,
    });
    let app = Router::new()
        .route("/api/health/detailed", get(native_detailed))
        .route("/api/health", get(native_liveness))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let native_base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    println!(
        "{seconds} s per run, PostgreSQL and bridge on loopback, {}",
        bench_support::connections_line()
    );
    let runs = [
        ("/api/health", 1),
        ("/api/health", 16),
        ("/api/health/detailed", 1),
        ("/api/health/detailed", 16),
    ];
    for (path, concurrency) in runs {
        println!("\nGET {path}");
        let duration = Duration::from_secs(seconds);
        let native = load(&format!("{native_base}{path}"), concurrency, duration).await;
        let wasm = load(&format!("{host_base}{path}"), concurrency, duration).await;
        let on_spin = match &spin {
            Ok((_, base)) => load(&format!("{base}{path}"), concurrency, duration).await,
            Err(_) => Err("Spin not found or not started (see above)".to_owned()),
        };
        let rows: Vec<Row> = vec![
            ("native axum+tokio-postgres".to_owned(), native),
            ("api-host + health.wasm".to_owned(), wasm),
            (spin_name.clone(), on_spin),
        ];
        bench_support::print_rows(concurrency, &rows);
    }
    Ok(())
}
