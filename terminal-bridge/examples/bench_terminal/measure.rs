//! The measurements. Each takes a [`Term`] (or opens them through the [`Setup`]) and returns
//! raw samples; `report` turns them into figures.

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use pod_agent::pty::{self, Pty};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

use crate::client::{self, Kind, Term};
use crate::setup::Setup;

/// Throughput runs per path; the report takes the median.
pub const THROUGHPUT_RUNS: usize = 3;
/// Untimed key presses before the timed ones.
const WARM_UP_KEYS: usize = 100;

/// A command printing exactly `bytes` bytes of `a`, which a PTY passes through unchanged.
fn producer(bytes: u64) -> String {
    format!("head -c {bytes} /dev/zero | tr '\\0' a")
}

/// Round trips (µs) of keys echoed by the shell's line editor: send `keys` one message per
/// key, back to back, and read until the output ends with the last one. One key measures a
/// keystroke; two measure fast typing, where the server sends the second echo while the
/// first may not be acknowledged yet (what Nagle's algorithm would hold back). An untimed
/// Ctrl-U clears the line every 20 characters.
pub async fn echo(term: &mut Term, samples: usize, keys: &str) -> anyhow::Result<Vec<u64>> {
    let last = *keys.as_bytes().last().expect("at least one key");
    term.settle(Duration::from_millis(50)).await;
    let count = samples;
    let mut samples = Vec::with_capacity(count);
    for i in 0..count + WARM_UP_KEYS {
        // At most 20 characters on the line, so it never wraps.
        if i % (20 / keys.len()).max(1) == 0 {
            term.send("\x15").await?;
            term.settle(Duration::from_millis(20)).await;
        }
        let start = Instant::now();
        for key in keys.chars() {
            term.send(key.encode_utf8(&mut [0; 4])).await?;
        }
        let mut echoed = Vec::new();
        while echoed.last() != Some(&last) {
            echoed.extend_from_slice(&term.output().await?);
        }
        if i >= WARM_UP_KEYS {
            samples.push(start.elapsed().as_micros() as u64);
        }
    }
    term.send("\x15").await?;
    term.settle(Duration::from_millis(20)).await;
    Ok(samples)
}

/// MB/s of [`producer`] typed into the terminal's shell, counted as the longest run of `a`
/// received (the echoed command line holds a few of its own); the shell then exits.
pub async fn throughput(term: &mut Term, bytes: u64) -> anyhow::Result<f64> {
    term.wait_prompt().await?;
    term.settle(Duration::from_millis(50)).await;
    let start = Instant::now();
    term.send(&format!("{}; exit\r", producer(bytes))).await?;
    let (mut run, mut longest, mut total) = (0u64, 0u64, 0u64);
    // Bytes other than `a` after the output began, with their offsets, for the error.
    let mut strays: Vec<(u64, u8)> = Vec::new();
    while longest < bytes {
        let chunk = term.output().await.map_err(|err| {
            err.context(format!(
                "after {total} bytes, the longest run of `a` being {longest}; \
                 other bytes (offset, byte) amid the output: {strays:?}"
            ))
        })?;
        for (i, &b) in chunk.iter().enumerate() {
            if b != b'a' && longest.max(run) > 1000 && strays.len() < 64 {
                strays.push((total + i as u64, b));
            }
            run = if b == b'a' { run + 1 } else { 0 };
            longest = longest.max(run);
        }
        total += chunk.len() as u64;
    }
    Ok(bytes as f64 / 1e6 / start.elapsed().as_secs_f64())
}

/// MB/s of [`producer`] read straight from a PTY master: the limit.
pub async fn direct_throughput(bytes: u64) -> anyhow::Result<f64> {
    let (pty, slave) = Pty::open(80, 24)?;
    let argv = ["sh".to_owned(), "-c".to_owned(), producer(bytes)];
    let start = Instant::now();
    let mut child = pty::spawn(&argv, Path::new("/"), &[], slave)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0u64;
    while got < bytes {
        let n = pty.read(&mut buf).await?;
        anyhow::ensure!(n > 0, "PTY closed after {got} bytes");
        got += buf[..n].iter().filter(|&&b| b == b'a').count() as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    child.wait()?;
    Ok(bytes as f64 / 1e6 / secs)
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// Connect-to-prompt times (ms) of `main` in a new session each run: the sandbox starts
/// (bubblewrap, agent, shell); it is stopped after each run.
pub async fn cold_prompts(setup: &Setup, runs: usize) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::new();
    for _ in 0..runs {
        let session = setup.session().await?;
        let start = Instant::now();
        let mut term = setup.bridge_terminal(Kind::Raw, session, "main").await?;
        term.wait_prompt().await?;
        samples.push(ms(start));
        term.close().await;
        setup.stop_sandbox(session).await?;
    }
    Ok(samples)
}

/// Connect-to-prompt times (ms) of new terminals (new shells) in a running sandbox.
pub async fn warm_new_terminals(
    setup: &Setup,
    session: Uuid,
    runs: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::new();
    for i in 0..runs {
        let start = Instant::now();
        let mut term = setup
            .bridge_terminal(Kind::Raw, session, &format!("warm-{i}"))
            .await?;
        term.wait_prompt().await?;
        samples.push(ms(start));
        term.send("exit\r").await?;
        term.close().await;
    }
    Ok(samples)
}

/// Connect-to-prompt times (ms) of re-attaching to the running `main` shell (the prompt
/// arrives with the scrollback replay).
pub async fn reattach(setup: &Setup, session: Uuid, runs: usize) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let mut term = setup.bridge_terminal(Kind::Raw, session, "main").await?;
        term.wait_prompt().await?;
        samples.push(ms(start));
        term.close().await;
    }
    Ok(samples)
}

/// Connect-to-prompt times (ms) of new terminado terminals.
pub async fn terminado_prompts(setup: &Setup, runs: usize) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let mut term = setup.terminado_terminal().await?;
        term.wait_prompt().await?;
        samples.push(ms(start));
        term.close().await;
    }
    Ok(samples)
}

/// Resident memory of a process in KiB (`VmRSS` of `/proc/<pid>/status`).
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/{pid}/status"))
}

/// The bridge's RSS before and after opening some connections.
pub struct Memory {
    pub connections: usize,
    pub before_kib: u64,
    pub after_kib: u64,
}

impl Memory {
    pub fn per_connection_kib(&self) -> f64 {
        (self.after_kib as f64 - self.before_kib as f64) / self.connections as f64
    }
}

/// The value of the gauge `name` on the bridge's `/metrics`.
async fn gauge(setup: &Setup, name: &str) -> anyhow::Result<f64> {
    let url = format!("http://{}/metrics", setup.bridge_addr);
    let body = tokio::task::spawn_blocking(move || {
        test_support::http_get(&url, Duration::from_secs(5)).map(|r| r.body)
    })
    .await??;
    Ok(body
        .lines()
        .find_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            (key == name).then(|| value.parse().ok())?
        })
        .unwrap_or(0.0))
}

/// Waits (at most 30 s) until the gauge `name` reads `want`.
async fn wait_gauge(setup: &Setup, name: &str, want: f64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let value = gauge(setup, name).await?;
        if value == want {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{name} is {value}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Keeps reading a socket (so pings get their pongs) until aborted.
fn keep_reading(mut socket: client::Socket) -> JoinHandle<()> {
    tokio::spawn(async move { while let Some(Ok(_)) = socket.next().await {} })
}

/// Measures the bridge's RSS around `count` connections opened by `open`, kept open (and
/// read) until measured, then closed.
async fn memory_of<F, Fut>(
    setup: &Setup,
    count: usize,
    gauge_name: &str,
    open: F,
) -> anyhow::Result<Memory>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<client::Socket>>,
{
    let pid = setup.bridge_pid();
    let baseline = gauge(setup, gauge_name).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before_kib = rss_kib(pid)?;
    let mut readers = Vec::with_capacity(count);
    for _ in 0..count {
        readers.push(keep_reading(open().await?));
    }
    wait_gauge(setup, gauge_name, baseline + count as f64).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_kib = rss_kib(pid)?;
    for reader in readers {
        reader.abort();
    }
    wait_gauge(setup, gauge_name, baseline).await?;
    Ok(Memory {
        connections: count,
        before_kib,
        after_kib,
    })
}

/// RSS per idle, authenticated `/ws` connection.
pub async fn idle_memory(setup: &Setup, count: usize) -> anyhow::Result<Memory> {
    let url = setup.url(Kind::Json, Uuid::nil(), "");
    memory_of(setup, count, "bridge_ws_connections", || async {
        let mut request = url.as_str().into_client_request()?;
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {}", setup.token).parse()?);
        let mut socket = client::connect_socket(request).await?;
        let ready = client::next_text(&mut socket).await?;
        anyhow::ensure!(ready.contains("\"ready\""), "expected ready, got {ready}");
        Ok(socket)
    })
    .await
}

/// RSS per raw connection attached to `session`'s running `main` terminal.
pub async fn attached_memory(setup: &Setup, session: Uuid, count: usize) -> anyhow::Result<Memory> {
    let url = setup.url(Kind::Raw, session, "main");
    memory_of(setup, count, "bridge_terminals_attached", || async {
        let mut request = url.as_str().into_client_request()?;
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {}", setup.token).parse()?);
        client::connect_socket(request).await
    })
    .await
}
