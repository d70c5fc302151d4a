//! What the api-host benchmarks share (included with `#[path]`): the run length, a migrated
//! throwaway database, api-host serving the real `spin.toml`, the timed load loop, and the
//! table comparing api-host with the native baseline.

use std::future::Future;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use test_support::{ChildGuard, PgCluster, free_port, wait_for_http};

/// Seconds per run: `BENCH_SECONDS`, default 5.
pub fn seconds() -> u64 {
    std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
}

/// A fresh database of `pg`, migrated by the built `terminal-bridge migrate`.
pub async fn migrated_database(pg: &PgCluster) -> anyhow::Result<String> {
    let db = pg.fresh_database().await?;
    let out = Command::new(test_support::binary("terminal-bridge"))
        .arg("migrate")
        .env("DATABASE_URL", &db)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "migrate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(db)
}

/// api-host serving the real `spin.toml` (written to `manifest` under the target directory)
/// against `db`, with the extra `SPIN_VARIABLE_*` settings in `variables`; returns it and
/// its base URL once `/api/health` answers.
pub fn start_api_host(
    manifest: &str,
    pg: &PgCluster,
    db: &str,
    variables: &[(&str, &str)],
) -> anyhow::Result<(ChildGuard, String)> {
    let manifest = test_support::target_dir().join(manifest);
    std::fs::write(&manifest, test_support::spin_manifest())?;
    let port = free_port();
    let mut command = Command::new(test_support::binary("api-host"));
    command
        .arg("--manifest")
        .arg(&manifest)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env(
            "API_HOST_CACHE_DIR",
            test_support::target_dir().join("api-host-cache"),
        )
        .env("RUST_LOG", "warn")
        .env("SPIN_VARIABLE_DATABASE_URL", db)
        .env(
            "SPIN_VARIABLE_DATABASE_HOST",
            format!("127.0.0.1:{}", pg.port()),
        );
    for (name, value) in variables {
        command.env(format!("SPIN_VARIABLE_{name}"), value);
    }
    let host = ChildGuard::spawn(&mut command)?;
    let base = format!("http://127.0.0.1:{port}");
    wait_for_http(&format!("{base}/api/health"), Duration::from_secs(120))?;
    Ok((host, base))
}

/// What one run measured.
pub struct Figures {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Runs `request(worker)` in a loop on `concurrency` workers for `duration` and times each
/// call. Warm-up is the caller's.
pub async fn timed<F, Fut>(concurrency: usize, duration: Duration, request: F) -> Figures
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let request = Arc::new(request);
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let workers = (0..concurrency).map(|worker| {
        let request = request.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                request(worker).await;
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

/// Prints the native and api-host rows of one run (`wasm` names the component) and their
/// ratios.
pub fn print_comparison(wasm: &str, concurrency: usize, native: &Figures, host: &Figures) {
    println!(
        "{:<28} {:>5} {:>10} {:>9} {:>9}",
        "server", "conc", "req/s", "p50 ms", "p99 ms"
    );
    let host_name = format!("api-host + {wasm}");
    for (name, f) in [
        ("native axum+tokio-postgres", native),
        (host_name.as_str(), host),
    ] {
        println!(
            "{name:<28} {concurrency:>5} {:>10.0} {:>9.3} {:>9.3}",
            f.rps, f.p50_ms, f.p99_ms
        );
    }
    println!(
        "{:<28} {concurrency:>5} {:>9.2}x {:>8.2}x {:>8.2}x   (req/s: native/api-host; latency: api-host/native)",
        "ratio",
        native.rps / host.rps,
        host.p50_ms / native.p50_ms,
        host.p99_ms / native.p99_ms
    );
}
