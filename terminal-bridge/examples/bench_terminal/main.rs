//! Terminal benchmark: `cargo run --release -p terminal-bridge --example bench_terminal`
//! (run by `scripts/bench`, which also installs terminado).
//!
//! Starts, in one run on this machine: a throwaway PostgreSQL cluster, the release
//! `terminal-bridge serve` as a separate process (local bubblewrap runtime when `bwrap` works,
//! else the process runtime), and terminado (Jupyter's terminal server) on loopback. Then it
//! measures, with the same WebSocket client code for every server:
//! - keystroke echo round trips (one byte sent, its echo awaited), p50 / p99, through the
//!   bridge (raw endpoint and `/ws` JSON) and through terminado; and of two keys sent back to
//!   back (fast typing: two echoes leave the server in quick succession);
//! - output throughput of a command with a known byte count, through the bridge, through
//!   terminado, and read from a PTY directly (the limit);
//! - time from WebSocket connect to the first prompt: cold (new sandbox), warm (new terminal in
//!   a running sandbox; re-attach to a running shell), and terminado's new terminal;
//! - the bridge's resident memory per idle `/ws` connection at 1,000 connections, and per raw
//!   connection attached to one shared terminal.
//!
//! Everything it starts (bridge, terminado, sandboxes, PostgreSQL) is stopped when it ends,
//! fails, or gets SIGINT / SIGTERM.
//!
//! Environment: `TERMINADO_PYTHON` (a Python with terminado; unset: terminado is skipped),
//! `BENCH_MEGABYTES` (output per throughput run, default 100), `BENCH_KEYS` (echo samples,
//! default 2000), `BENCH_RUNS` (first-prompt runs, default 20), `BENCH_CONNECTIONS` (default
//! 1000). Other variables (e.g. `SANDBOX_CPU`) reach the bridge.

mod client;
mod measure;
mod report;
mod setup;

use std::time::Duration;

use client::Kind;
use report::Report;
use setup::Setup;

/// Settings read from the environment.
pub struct Settings {
    pub megabytes: u64,
    pub keys: usize,
    pub runs: usize,
    pub connections: usize,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={value:?} is not a valid number")),
        Err(_) => Ok(default),
    }
}

fn main() -> anyhow::Result<()> {
    let settings = Settings {
        megabytes: env_or("BENCH_MEGABYTES", 100)?,
        keys: env_or("BENCH_KEYS", 2000)?,
        runs: env_or("BENCH_RUNS", 20)?,
        connections: env_or("BENCH_CONNECTIONS", 1000)?,
    };
    setup::raise_fd_limit(settings.connections as u64 * 2 + 1024)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(async {
        let mut setup = Setup::start().await?;
        let outcome = tokio::select! {
            outcome = bench(&mut setup, &settings) => outcome,
            signal = setup::interrupted() => Err(anyhow::anyhow!("interrupted by {signal}")),
        };
        setup.stop().await;
        outcome
    });
    // Dropping the runtime ends what is left of the client tasks.
    runtime.shutdown_timeout(Duration::from_secs(1));
    let report = result?;
    report.print(&settings);
    Ok(())
}

async fn bench(setup: &mut Setup, settings: &Settings) -> anyhow::Result<Report> {
    let mut report = Report::new(setup.runtime_name());
    let bytes = settings.megabytes * 1_000_000;

    // Memory first, on a bridge that has served nothing yet.
    eprintln!("bench: {} idle /ws connections", settings.connections);
    report.idle_memory = Some(measure::idle_memory(setup, settings.connections).await?);

    eprintln!("bench: first prompt, cold ({} runs)", settings.runs);
    report.cold = measure::cold_prompts(setup, settings.runs).await?;

    let session = setup.session().await?;
    // Starts the sandbox and the `main` shell.
    let mut main = setup.bridge_terminal(Kind::Raw, session, "main").await?;
    main.wait_prompt().await?;
    eprintln!("bench: first prompt, warm");
    report.warm_new = measure::warm_new_terminals(setup, session, settings.runs).await?;
    report.reattach = measure::reattach(setup, session, settings.runs).await?;

    eprintln!("bench: keystroke echo ({} keys each)", settings.keys);
    report.echo_raw = measure::echo(&mut main, settings.keys, "x").await?;
    report.pair_raw = measure::echo(&mut main, settings.keys, "xy").await?;
    let mut json = setup.bridge_terminal(Kind::Json, session, "json").await?;
    json.wait_prompt().await?;
    report.echo_json = measure::echo(&mut json, settings.keys, "x").await?;

    eprintln!(
        "bench: output throughput ({} MB per run)",
        settings.megabytes
    );
    for run in 0..measure::THROUGHPUT_RUNS {
        report.direct.push(measure::direct_throughput(bytes).await?);
        let mut raw = setup
            .bridge_terminal(Kind::Raw, session, &format!("tp-raw-{run}"))
            .await?;
        report
            .through_raw
            .push(measure::throughput(&mut raw, bytes).await?);
        let mut json = setup
            .bridge_terminal(Kind::Json, session, &format!("tp-json-{run}"))
            .await?;
        report
            .through_json
            .push(measure::throughput(&mut json, bytes).await?);
    }

    if setup.has_terminado() {
        eprintln!("bench: terminado");
        report.terminado_prompt = measure::terminado_prompts(setup, settings.runs).await?;
        let mut term = setup.terminado_terminal().await?;
        term.wait_prompt().await?;
        report.echo_terminado = measure::echo(&mut term, settings.keys, "x").await?;
        report.pair_terminado = measure::echo(&mut term, settings.keys, "xy").await?;
        for _ in 0..measure::THROUGHPUT_RUNS {
            let mut term = setup.terminado_terminal().await?;
            report
                .through_terminado
                .push(measure::throughput(&mut term, bytes).await?);
        }
    }

    // A fresh bridge process, so the figure is not flattered by memory the earlier phases
    // left in the allocator. The sandbox and its `main` shell keep running.
    eprintln!(
        "bench: {} raw connections attached to one terminal (fresh bridge)",
        settings.connections
    );
    drop((main, json));
    setup.restart_bridge().await?;
    let mut main = setup.bridge_terminal(Kind::Raw, session, "main").await?;
    main.wait_prompt().await?;
    report.attached_memory =
        Some(measure::attached_memory(setup, session, settings.connections).await?);
    main.close().await;
    Ok(report)
}
