//! What the api-host benchmarks share (included with `#[path]`): the run length, a migrated
//! throwaway database, the two hosts serving the real `spin.toml` (api-host, and the real Spin
//! CLI when it is found), the timed load loop, and the table comparing them with the native
//! baseline.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use test_support::{ChildGuard, Host, HostProcess, PgCluster, free_port, wait_for_http};

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

/// The real `spin.toml` with its sources in this build's target directory, written to
/// `name` under the target directory; both hosts serve this file.
fn deployed_manifest(name: &str) -> anyhow::Result<PathBuf> {
    let manifest = test_support::target_dir().join(name);
    std::fs::write(&manifest, test_support::spin_manifest())?;
    Ok(manifest)
}

/// The environment both hosts get: the database as Spin variables, the extra `SPIN_VARIABLE_*`
/// settings in `variables`, and quiet logs.
fn host_env(pg: &PgCluster, db: &str, variables: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = vec![
        ("RUST_LOG".to_owned(), "warn".to_owned()),
        ("SPIN_VARIABLE_DATABASE_URL".to_owned(), db.to_owned()),
        (
            "SPIN_VARIABLE_DATABASE_HOST".to_owned(),
            format!("127.0.0.1:{}", pg.port()),
        ),
    ];
    for (name, value) in variables {
        env.push((format!("SPIN_VARIABLE_{name}"), (*value).to_owned()));
    }
    env
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
    let manifest = deployed_manifest(manifest)?;
    let port = free_port();
    let mut command = Command::new(test_support::binary("api-host"));
    command
        .arg("--manifest")
        .arg(&manifest)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env(
            "API_HOST_CACHE_DIR",
            test_support::target_dir().join("api-host-cache"),
        );
    command.envs(host_env(pg, db, variables));
    let host = ChildGuard::spawn(&mut command)?;
    let base = format!("http://127.0.0.1:{port}");
    wait_for_http(&format!("{base}/api/health"), Duration::from_secs(120))?;
    Ok((host, base))
}

/// The real Spin CLI (`SPIN_BIN` or `spin` on `PATH`, 4.1 or later) serving the same manifest
/// with the same variables, started as the tests start it (`Host::Spin`: `spin up --from
/// <manifest> --listen <addr> --state-dir <tmp>`), once `/api/health` answers. `Err` says in
/// one line why there is none (not found, or it did not start).
pub fn start_spin(
    manifest: &str,
    pg: &PgCluster,
    db: &str,
    variables: &[(&str, &str)],
) -> Result<(HostProcess, String), String> {
    Host::Spin.available()?;
    let manifest = deployed_manifest(manifest).map_err(|e| e.to_string())?;
    let env = host_env(pg, db, variables);
    // Host::start panics (with Spin's log) when Spin does not come up.
    let spin =
        std::panic::catch_unwind(AssertUnwindSafe(|| Host::Spin.start(&manifest, &env, &[])))
            .map_err(|_| "spin up did not start (its log is above)".to_owned())?;
    let base = spin.base.clone();
    wait_for_http(&format!("{base}/api/health"), Duration::from_secs(120))
        .map_err(|e| format!("{e:#}"))?;
    Ok((spin, base))
}

/// `spin --version` of the Spin the benchmarks use, for the table (e.g. `spin 4.1.0-pre0`).
pub fn spin_version() -> String {
    test_support::spin_find::find_spin()
        .ok()
        .and_then(|bin| Command::new(bin).arg("--version").output().ok())
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .and_then(|text| {
            let mut words = text.split_whitespace();
            Some(format!("{} {}", words.next()?, words.next()?))
        })
        .unwrap_or_else(|| "spin".to_owned())
}

/// Whether each request gets a new connection (`BENCH_NEW_CONNECTIONS=1`) instead of a kept-alive
/// one. On a kept-alive connection, a server that writes a response in more than one segment
/// without `TCP_NODELAY` (Spin 4.1's HTTP server does not set it) waits for the client's delayed
/// ACK, about 40 ms on Linux; a new connection starts in quick-ACK mode and shows the host's own
/// cost (plus a connect).
pub fn new_connections() -> bool {
    std::env::var("BENCH_NEW_CONNECTIONS").is_ok_and(|v| v == "1")
}

/// The load client: `concurrency` kept-alive connections, or none kept (see
/// [`new_connections`]).
pub fn client(concurrency: usize) -> reqwest::Client {
    let idle = if new_connections() { 0 } else { concurrency };
    reqwest::Client::builder()
        .pool_max_idle_per_host(idle)
        .build()
        .expect("building the HTTP client")
}

/// The line that says how the load client connects.
pub fn connections_line() -> &'static str {
    if new_connections() {
        "a new connection per request (BENCH_NEW_CONNECTIONS=1)"
    } else {
        "kept-alive connections (BENCH_NEW_CONNECTIONS=1: a new one per request)"
    }
}

/// What one run measured.
pub struct Figures {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Requests that failed (counted in the figures), and the first failure.
    pub errors: usize,
    pub first_error: Option<String>,
}

/// Runs `request(worker)` in a loop on `concurrency` workers for `duration` and times each
/// call; a request that returns `Err` is timed and counted as an error. Warm-up is the
/// caller's.
pub async fn timed<F, Fut>(concurrency: usize, duration: Duration, request: F) -> Figures
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let request = Arc::new(request);
    let first_error = Arc::new(Mutex::new(None));
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let workers = (0..concurrency).map(|worker| {
        let request = request.clone();
        let first_error = first_error.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            while Instant::now() < deadline {
                let t = Instant::now();
                let outcome = request(worker).await;
                latencies.push(t.elapsed());
                if let Err(e) = outcome {
                    errors += 1;
                    first_error.lock().unwrap().get_or_insert(e);
                }
            }
            (latencies, errors)
        })
    });
    let mut all: Vec<Duration> = Vec::new();
    let mut errors = 0;
    for w in futures::future::join_all(workers).await {
        let (latencies, failed) = w.unwrap();
        all.extend(latencies);
        errors += failed;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct =
        |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
    let first_error = first_error.lock().unwrap().take();
    Figures {
        rps: all.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        errors,
        first_error,
    }
}

/// One row of a comparison: a server's name and what it measured, or why it was not measured.
pub type Row = (String, Result<Figures, String>);

/// Prints one run's rows (native first, then api-host, then Spin), and the ratios api-host /
/// native and Spin / api-host of each figure.
pub fn print_rows(concurrency: usize, rows: &[Row]) {
    println!(
        "{:<34} {:>5} {:>10} {:>9} {:>9} {:>7}",
        "server", "conc", "req/s", "p50 ms", "p99 ms", "errors"
    );
    for (name, figures) in rows {
        match figures {
            Ok(f) => println!(
                "{name:<34} {concurrency:>5} {:>10.0} {:>9.3} {:>9.3} {:>7}",
                f.rps, f.p50_ms, f.p99_ms, f.errors
            ),
            Err(why) => println!("{name:<34} {concurrency:>5}   skipped: {why}"),
        }
        if let Ok(Figures {
            first_error: Some(e),
            ..
        }) = figures
        {
            println!("{:<34}         first error: {e}", "");
        }
    }
    for pair in rows.windows(2) {
        let [(slow_name, slow), (fast_name, fast)] = [&pair[1], &pair[0]];
        if let (Ok(slow), Ok(fast)) = (slow, fast) {
            let label = format!("ratio {}/{}", short(slow_name), short(fast_name));
            println!(
                "{label:<34} {concurrency:>5} {:>9.2}x {:>8.2}x {:>8.2}x",
                slow.rps / fast.rps,
                slow.p50_ms / fast.p50_ms,
                slow.p99_ms / fast.p99_ms
            );
        }
    }
}

/// The first word of a row's name (`native`, `api-host`, `spin`).
fn short(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or(name)
}
