//! Benchmark (a command, not a test): `GET /api/health/detailed` served by `api-host`
//! from the real `health.wasm`, beside a native axum + tokio-postgres handler doing the
//! same work (the same probe query on a pooled connection and the same GET of the
//! bridge's `/healthz`), both against one throwaway PostgreSQL in the same run.
//!
//! Run with `scripts/bench` (it builds everything in release mode first). Prints
//! requests/s and p50/p99 latency at concurrency 1 and 16, and the ratios.

use axum::{Json, Router, extract::State, routing::get};
use serde_json::{Value, json};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use test_support::{ChildGuard, PgCluster, free_port, wait_for_http};

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

struct Figures {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn load(url: &str, concurrency: usize, duration: Duration) -> Figures {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    // Warm-up: instances, pools, caches.
    for _ in 0..50 {
        let r = client.get(url).send().await.unwrap();
        assert!(r.status().is_success(), "{url}: {}", r.status());
        r.bytes().await.unwrap();
    }
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let workers = (0..concurrency).map(|_| {
        let client = client.clone();
        let url = url.to_string();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let r = client.get(&url).send().await.unwrap();
                assert!(r.status().is_success());
                r.bytes().await.unwrap();
                latencies.push(t.elapsed());
            }
            latencies
        })
    });
    let mut all: Vec<Duration> = Vec::new();
    for w in futures::future::join_all(workers).await {
        all.extend(w.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct =
        |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
    Figures {
        rps: all.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let pg = PgCluster::start()?;
    let db = pg.fresh_database().await?;
    let release = test_support::binary("terminal-bridge");
    let out = Command::new(&release)
        .arg("migrate")
        .env("DATABASE_URL", &db)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "migrate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bridge_port = free_port();
    let _bridge = ChildGuard::spawn(
        Command::new(&release)
            .args(["serve", "--listen", &format!("127.0.0.1:{bridge_port}")])
            .env("DATABASE_URL", &db)
            .env("RUST_LOG", "warn"),
    )?;
    let bridge = format!("http://127.0.0.1:{bridge_port}");
    wait_for_http(&format!("{bridge}/healthz"), Duration::from_secs(30))?;

    // api-host serving the real spin.toml.
    let manifest = test_support::target_dir().join("bench-spin.toml");
    std::fs::write(&manifest, test_support::spin_manifest())?;
    let host_port = free_port();
    let _host = ChildGuard::spawn(
        Command::new(test_support::binary("api-host"))
            .arg("--manifest")
            .arg(&manifest)
            .args(["--listen", &format!("127.0.0.1:{host_port}")])
            .env(
                "API_HOST_CACHE_DIR",
                test_support::target_dir().join("api-host-cache"),
            )
            .env("RUST_LOG", "warn")
            .env("SPIN_VARIABLE_DATABASE_URL", &db)
            .env(
                "SPIN_VARIABLE_DATABASE_HOST",
                format!("127.0.0.1:{}", pg.port()),
            )
            .env("SPIN_VARIABLE_TERMINAL_BRIDGE_URL", &bridge),
    )?;
    let host_base = format!("http://127.0.0.1:{host_port}");
    wait_for_http(&format!("{host_base}/api/health"), Duration::from_secs(120))?;

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

    println!("{seconds} s per run, PostgreSQL and bridge on loopback");
    let runs = [
        ("/api/health", 1),
        ("/api/health/detailed", 1),
        ("/api/health/detailed", 16),
    ];
    for (path, concurrency) in runs {
        println!("\nGET {path}");
        println!(
            "{:<28} {:>5} {:>10} {:>9} {:>9}",
            "server", "conc", "req/s", "p50 ms", "p99 ms"
        );
        let duration = Duration::from_secs(seconds);
        let native = load(&format!("{native_base}{path}"), concurrency, duration).await;
        let wasm = load(&format!("{host_base}{path}"), concurrency, duration).await;
        for (name, f) in [
            ("native axum+tokio-postgres", &native),
            ("api-host + health.wasm", &wasm),
        ] {
            println!(
                "{name:<28} {concurrency:>5} {:>10.0} {:>9.3} {:>9.3}",
                f.rps, f.p50_ms, f.p99_ms
            );
        }
        println!(
            "{:<28} {concurrency:>5} {:>9.2}x {:>8.2}x {:>8.2}x   (req/s: native/api-host; latency: api-host/native)",
            "ratio",
            native.rps / wasm.rps,
            wasm.p50_ms / native.p50_ms,
            wasm.p99_ms / native.p99_ms
        );
    }
    Ok(())
}
