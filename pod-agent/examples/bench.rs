//! Benchmark: `cargo run --release -p pod-agent --example bench [-- MEGABYTES]`
//!
//! Measures, in one run on one machine:
//! - output throughput of a PTY read directly, and of the same output through the agent
//!   (shell -> PTY -> agent -> unix socket -> protocol client), and their ratio;
//! - keystroke echo round trip (bash readline echoing one character), directly on a PTY and
//!   through the agent, p50 / p99;
//! - a file write through the agent, plain `Put` against the conditional `PutIf` (which
//!   hashes the file it replaces first), for a small and a large file.
//!
//! The agent runs in its own process (this example re-executed with `--daemon`), as in a
//! sandbox.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agent_protocol::{Frame, FrameReader, FrameWriter, client_handshake};
use pod_agent::config::DaemonConfig;
use pod_agent::pty::{self, Pty};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

const SHELL: &str = "bash --norc --noprofile -i";
const PROMPT: &str = "BENCH> ";
const KEYS: usize = 2000;
const RUNS: usize = 3;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--daemon") {
        let mut config = DaemonConfig::new(PathBuf::from(&args[2]), PathBuf::from(&args[3]));
        config.shell = SHELL.into();
        let runtime = tokio::runtime::Runtime::new()?;
        return runtime.block_on(pod_agent::server::run(
            config,
            pod_agent::server::shutdown_signal(),
        ));
    }
    let megabytes: u64 = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(200);
    let bytes = megabytes * 1_000_000;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(bench(bytes))
}

async fn bench(bytes: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let workspace = dir.path().join("ws");
    std::fs::create_dir(&workspace)?;
    let socket = dir.path().join("agent.sock");
    let mut daemon = start_daemon(&workspace, &socket)?;

    let mut direct = Vec::new();
    let mut agent = Vec::new();
    for run in 0..RUNS {
        direct.push(direct_throughput(bytes).await?);
        agent.push(agent_throughput(&socket, bytes, run).await?);
    }
    let direct_rtt = direct_echo().await?;
    let agent_rtt = agent_echo(&socket).await?;
    let small = file_writes(&socket, 1024, 2000).await?;
    let large = file_writes(&socket, 8 << 20, 40).await?;
    let _ = daemon.kill();
    let _ = daemon.wait();

    let d = median(&mut direct);
    let a = median(&mut agent);
    println!(
        "pod-agent benchmark: {} MB of output per run, median of {RUNS} runs",
        bytes / 1_000_000
    );
    println!("PTY output throughput");
    println!("  direct PTY read      {d:8.0} MB/s");
    println!("  through pod-agent    {a:8.0} MB/s   ratio {:.2}", a / d);
    println!("Keystroke echo round trip (bash readline, {KEYS} keys)");
    println!(
        "  direct PTY           p50 {:6} µs   p99 {:6} µs",
        pct(&direct_rtt, 50),
        pct(&direct_rtt, 99)
    );
    println!(
        "  through pod-agent    p50 {:6} µs   p99 {:6} µs",
        pct(&agent_rtt, 50),
        pct(&agent_rtt, 99)
    );
    println!("File write round trip, p50 (Put and PutIf interleaved)");
    for (label, (put, put_if)) in [("1 KiB ", small), ("8 MiB ", large)] {
        println!(
            "  {label}  Put {put:8} µs   PutIf {put_if:8} µs   ratio {:.2}",
            put_if as f64 / put.max(1) as f64
        );
    }
    Ok(())
}

/// p50 µs of writing `size` bytes over the same file `count` times with `Put`, and with
/// `PutIf` naming the file's current hash, one of each in turn.
async fn file_writes(socket: &Path, size: usize, count: u32) -> anyhow::Result<(u128, u128)> {
    let (r, w) = UnixStream::connect(socket).await?.into_split();
    let mut reader = FrameReader::new(r);
    let mut writer = FrameWriter::new(w);
    client_handshake(&mut reader, &mut writer, "bench").await?;
    let data = bytes::Bytes::from(vec![b'q'; size]);
    let expect = pod_agent::files::sha256(&data);
    let path = format!("bench-{size}.bin");
    let (mut plain, mut conditional) = (Vec::new(), Vec::new());
    for req in 0..count {
        for (frame, samples) in [
            (
                Frame::Put {
                    req,
                    path: path.clone(),
                    data: data.clone(),
                },
                &mut plain,
            ),
            (
                Frame::PutIf {
                    req,
                    path: path.clone(),
                    expect: Some(expect),
                    data: data.clone(),
                },
                &mut conditional,
            ),
        ] {
            let start = Instant::now();
            writer.send(&frame).await?;
            match reader.read_frame().await? {
                Some(Frame::Ok { .. }) => {}
                other => anyhow::bail!("a write failed: {other:?}"),
            }
            samples.push(start.elapsed().as_micros());
        }
    }
    Ok((pct(&plain, 50), pct(&conditional, 50)))
}

fn start_daemon(workspace: &Path, socket: &Path) -> anyhow::Result<Child> {
    let child = Command::new(std::env::current_exe()?)
        .arg("--daemon")
        .arg(workspace)
        .arg(socket)
        .env("PS1", PROMPT)
        .env("HISTFILE", "/dev/null")
        .stdin(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(socket).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "the daemon did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(child)
}

fn producer(bytes: u64) -> String {
    format!("head -c {bytes} /dev/zero | tr '\\0' a")
}

/// MB/s of `producer` read straight from a PTY master.
async fn direct_throughput(bytes: u64) -> anyhow::Result<f64> {
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

struct Client {
    reader: FrameReader<OwnedReadHalf>,
    writer: FrameWriter<OwnedWriteHalf>,
}

impl Client {
    async fn open(socket: &Path, terminal: &str) -> anyhow::Result<Client> {
        let (r, w) = UnixStream::connect(socket).await?.into_split();
        let mut c = Client {
            reader: FrameReader::new(r),
            writer: FrameWriter::new(w),
        };
        client_handshake(&mut c.reader, &mut c.writer, "bench").await?;
        let open = Frame::Open {
            stream: 1,
            terminal: terminal.into(),
            cols: 80,
            rows: 24,
            window: 4 << 20,
        };
        c.writer.send(&open).await?;
        let mut seen = String::new();
        while !seen.contains(PROMPT) {
            seen += &String::from_utf8_lossy(&c.output().await?);
        }
        Ok(c)
    }

    /// The next output (credited back at once), skipping other frames.
    async fn output(&mut self) -> anyhow::Result<bytes::Bytes> {
        loop {
            match self.reader.read_frame().await? {
                Some(Frame::Output { data, .. }) => {
                    self.writer
                        .send(&Frame::Credit {
                            stream: 1,
                            bytes: data.len() as u32,
                        })
                        .await?;
                    return Ok(data);
                }
                Some(_) => {}
                None => anyhow::bail!("the agent closed the connection"),
            }
        }
    }

    async fn input(&mut self, text: &str) -> anyhow::Result<()> {
        let frame = Frame::Input {
            stream: 1,
            data: text.as_bytes().to_vec().into(),
        };
        Ok(self.writer.send(&frame).await?)
    }
}

/// MB/s of the same producer typed into a shell on an agent terminal.
async fn agent_throughput(socket: &Path, bytes: u64, run: usize) -> anyhow::Result<f64> {
    let mut c = Client::open(socket, &format!("throughput-{run}")).await?;
    let start = Instant::now();
    c.input(&format!("{}; exit\r", producer(bytes))).await?;
    // Count the run of 'a's (the echoed command line holds a few 'a's of its own).
    let (mut run, mut longest) = (0u64, 0u64);
    while longest < bytes {
        for &b in c.output().await?.iter() {
            run = if b == b'a' { run + 1 } else { 0 };
            longest = longest.max(run);
        }
    }
    Ok(bytes as f64 / 1e6 / start.elapsed().as_secs_f64())
}

/// Round trips of one key echoed by bash readline, directly on a PTY.
async fn direct_echo() -> anyhow::Result<Vec<u128>> {
    let (pty, slave) = Pty::open(80, 24)?;
    let argv: Vec<String> = SHELL.split(' ').map(String::from).collect();
    let env = [("PS1", PROMPT.into()), ("HISTFILE", "/dev/null".into())];
    let mut child = pty::spawn(&argv, Path::new("/"), &env, slave)?;
    let mut buf = vec![0u8; 4096];
    let mut seen = String::new();
    while !seen.contains(PROMPT) {
        let n = pty.read(&mut buf).await?;
        seen += &String::from_utf8_lossy(&buf[..n]);
    }
    let mut samples = Vec::new();
    for i in 0..KEYS + 100 {
        if i % 40 == 39 {
            pty.write_all(b"\x15").await?; // Ctrl-U: clear the line, untimed
            settle_direct(&pty, &mut buf).await;
        }
        let start = Instant::now();
        pty.write_all(b"x").await?;
        let mut echoed = Vec::new();
        while !echoed.ends_with(b"x") {
            let n = pty.read(&mut buf).await?;
            echoed.extend_from_slice(&buf[..n]);
        }
        if i >= 100 {
            samples.push(start.elapsed().as_micros());
        }
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::SIGKILL,
    )?;
    child.wait()?;
    Ok(samples)
}

async fn settle_direct(pty: &Pty, buf: &mut [u8]) {
    while tokio::time::timeout(Duration::from_millis(20), pty.read(buf))
        .await
        .is_ok()
    {}
}

/// Round trips of one key echoed by bash readline, through the agent.
async fn agent_echo(socket: &Path) -> anyhow::Result<Vec<u128>> {
    let mut c = Client::open(socket, "echo").await?;
    let mut samples = Vec::new();
    for i in 0..KEYS + 100 {
        if i % 40 == 39 {
            c.input("\x15").await?;
            while tokio::time::timeout(Duration::from_millis(20), c.output())
                .await
                .is_ok()
            {}
        }
        let start = Instant::now();
        c.input("x").await?;
        let mut echoed = Vec::new();
        while !echoed.ends_with(b"x") {
            echoed.extend_from_slice(&c.output().await?);
        }
        if i >= 100 {
            samples.push(start.elapsed().as_micros());
        }
    }
    Ok(samples)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn pct(samples: &[u128], p: usize) -> u128 {
    let mut s = samples.to_vec();
    s.sort();
    s[(s.len() * p / 100).min(s.len() - 1)]
}
