//! Test harness: the real daemon binary in a temp dir, and a protocol client that waits for
//! expected output (never for a fixed time) and fails with the output it did get.

#![allow(dead_code)]

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use agent_protocol::{Frame, FrameReader, FrameWriter, client_handshake};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::{Instant, timeout_at};

/// How long any expected thing may take on a loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(20);
/// The prompt the test shell prints (`PS1`).
pub const PROMPT: &str = "PROMPT> ";

pub struct Daemon {
    child: Child,
    pub dir: tempfile::TempDir,
    pub workspace: PathBuf,
    pub socket: PathBuf,
    log: PathBuf,
}

impl Daemon {
    pub fn start() -> Daemon {
        Self::start_with(&[])
    }

    /// Starts `pod-agent daemon` with a deterministic shell, plus `extra` options.
    pub fn start_with(extra: &[&str]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("ws");
        std::fs::create_dir(&workspace).unwrap();
        let socket = dir.path().join("agent.sock");
        let log = dir.path().join("daemon.log");
        let child = Command::new(env!("CARGO_BIN_EXE_pod-agent"))
            // Its own process group: no signal meant for the daemon's group reaches the tests.
            .process_group(0)
            .arg("daemon")
            .arg("--workspace")
            .arg(&workspace)
            .arg("--socket")
            .arg(&socket)
            .args(["--shell", "bash --norc --noprofile -i"])
            .args(extra)
            .env("PS1", PROMPT)
            .env("HISTFILE", "/dev/null")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn pod-agent daemon");
        let mut daemon = Daemon {
            child,
            dir,
            workspace,
            socket,
            log,
        };
        let deadline = std::time::Instant::now() + PATIENCE;
        while std::os::unix::net::UnixStream::connect(&daemon.socket).is_err() {
            if let Some(status) = daemon.child.try_wait().unwrap() {
                panic!("daemon exited with {status}:\n{}", daemon.log());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "daemon never listened:\n{}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        daemon
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A field of /proc/<daemon>/status in KiB (VmRSS, VmHWM).
    pub fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with(field)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.socket).await
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.workspace.join(rel)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- daemon log ---\n{}", self.log());
        }
    }
}

/// What one stream received.
#[derive(Default)]
pub struct StreamOutput {
    /// All output, unless `counting` (then only the tail).
    pub bytes: Vec<u8>,
    pub total: u64,
    /// Longest run of `b'a'` seen, and the current one (for the 100 MB test).
    pub longest_a_run: u64,
    run: u64,
}

pub struct Client {
    reader: FrameReader<OwnedReadHalf>,
    pub writer: FrameWriter<OwnedWriteHalf>,
    pub outputs: HashMap<u32, StreamOutput>,
    /// Non-output frames received and not yet taken by a `wait_frame`.
    pub frames: Vec<Frame>,
    /// Keep only a tail of each stream's output (for huge outputs).
    pub counting: bool,
    /// Grant credit for each `Output` as it arrives.
    pub auto_credit: bool,
    next_req: u32,
}

pub const WINDOW: u32 = 1 << 20;

impl Client {
    pub async fn connect(socket: &Path) -> Client {
        let stream = UnixStream::connect(socket)
            .await
            .expect("connect to the daemon");
        let (r, w) = stream.into_split();
        let mut client = Client::raw(r, w);
        let (version, _) = client_handshake(&mut client.reader, &mut client.writer, "tests")
            .await
            .unwrap();
        assert_eq!(version, agent_protocol::PROTOCOL_VERSION);
        client
    }

    pub fn raw(r: OwnedReadHalf, w: OwnedWriteHalf) -> Client {
        Client {
            reader: FrameReader::new(r),
            writer: FrameWriter::new(w),
            outputs: HashMap::new(),
            frames: Vec::new(),
            counting: false,
            auto_credit: true,
            next_req: 1,
        }
    }

    pub fn req(&mut self) -> u32 {
        self.next_req += 1;
        self.next_req
    }

    pub async fn send(&mut self, frame: Frame) {
        self.writer.send(&frame).await.expect("send a frame");
    }

    /// The next frame (output is recorded and credited), or `None` at end of stream.
    pub async fn next_frame(&mut self, deadline: Instant, what: &str) -> Option<Frame> {
        let frame = match timeout_at(deadline, self.reader.read_frame()).await {
            Ok(r) => r.expect("read a frame")?,
            Err(_) => panic!(
                "timed out waiting for {what}; output so far:\n{}",
                self.describe()
            ),
        };
        if let Frame::Output { stream, data } = &frame {
            let out = self.outputs.entry(*stream).or_default();
            out.total += data.len() as u64;
            for &b in data.iter() {
                if b == b'a' {
                    out.run += 1;
                    out.longest_a_run = out.longest_a_run.max(out.run);
                } else {
                    out.run = 0;
                }
            }
            out.bytes.extend_from_slice(data);
            if self.counting && out.bytes.len() > 64 * 1024 {
                out.bytes.drain(..out.bytes.len() - 4096);
            }
            if self.auto_credit {
                let credit = Frame::Credit {
                    stream: *stream,
                    bytes: data.len() as u32,
                };
                self.send(credit).await;
            }
        }
        Some(frame)
    }

    fn describe(&self) -> String {
        let mut s = String::new();
        for (stream, out) in &self.outputs {
            let tail = &out.bytes[out.bytes.len().saturating_sub(2000)..];
            s += &format!(
                "stream {stream} ({} bytes): {:?}\n",
                out.total,
                String::from_utf8_lossy(tail)
            );
        }
        s += &format!(
            "other frames: {:?}",
            self.frames.iter().map(short).collect::<Vec<_>>()
        );
        s
    }

    /// Waits for a non-output frame matching `pred`, keeping the others.
    pub async fn wait_frame(&mut self, what: &str, pred: impl Fn(&Frame) -> bool) -> Frame {
        if let Some(i) = self.frames.iter().position(&pred) {
            return self.frames.remove(i);
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            let Some(frame) = self.next_frame(deadline, what).await else {
                panic!(
                    "connection closed while waiting for {what}:\n{}",
                    self.describe()
                );
            };
            if matches!(frame, Frame::Output { .. }) {
                continue;
            }
            if pred(&frame) {
                return frame;
            }
            self.frames.push(frame);
        }
    }

    /// Waits until `stream`'s output contains `needle`; returns the output as text.
    pub async fn wait_output(&mut self, stream: u32, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = self.text(stream);
            if text.contains(needle) {
                return text;
            }
            let what = format!("{needle:?} on stream {stream}");
            if self.next_frame(deadline, &what).await.is_none() {
                panic!(
                    "connection closed while waiting for {what}:\n{}",
                    self.describe()
                );
            }
        }
    }

    pub fn text(&self, stream: u32) -> String {
        self.outputs
            .get(&stream)
            .map(|o| String::from_utf8_lossy(&o.bytes).into_owned())
            .unwrap_or_default()
    }

    /// Opens (or attaches to) `terminal` as `stream`; returns (created, pid, replay).
    pub async fn open(&mut self, stream: u32, terminal: &str) -> (bool, u32, u32) {
        self.open_sized(stream, terminal, 80, 24, WINDOW).await
    }

    pub async fn open_sized(
        &mut self,
        stream: u32,
        terminal: &str,
        cols: u16,
        rows: u16,
        window: u32,
    ) -> (bool, u32, u32) {
        let open = Frame::Open {
            stream,
            terminal: terminal.into(),
            cols,
            rows,
            window,
        };
        self.send(open).await;
        match self
            .wait_frame("Opened", |f| matches!(f, Frame::Opened { stream: s, .. } | Frame::Error { req: s, .. } if *s == stream))
            .await
        {
            Frame::Opened { created, pid, replay, .. } => (created, pid, replay),
            other => panic!("open failed: {other:?}"),
        }
    }

    /// A ping round trip: everything the agent sent before the Pong has been read.
    pub async fn request_ping(&mut self, nonce: u64) {
        self.send(Frame::Ping { nonce }).await;
        self.wait_frame("Pong", |f| *f == Frame::Pong { nonce })
            .await;
    }

    pub async fn input(&mut self, stream: u32, text: &str) {
        self.send(Frame::Input {
            stream,
            data: text.as_bytes().to_vec().into(),
        })
        .await;
    }

    /// Sends a request and waits for the frame answering it.
    pub async fn request(&mut self, make: impl FnOnce(u32) -> Frame) -> Frame {
        let req = self.req();
        self.send(make(req)).await;
        self.wait_frame("an answer", |f| answer_to(f) == Some(req))
            .await
    }
}

/// The `req` a frame answers, if it is an answer.
pub fn answer_to(f: &Frame) -> Option<u32> {
    match f {
        Frame::Ok { req }
        | Frame::Error { req, .. }
        | Frame::Content { req, .. }
        | Frame::Listing { req, .. }
        | Frame::Activity { req, .. } => Some(*req),
        _ => None,
    }
}

/// A frame without its bulk, for failure messages.
pub fn short(f: &Frame) -> String {
    match f {
        Frame::Content { req, data, .. } => format!("Content{{req: {req}, {} bytes}}", data.len()),
        Frame::FileWritten { path, size, .. } => format!("FileWritten{{{path:?}, {size} bytes}}"),
        other => format!("{other:?}"),
    }
}
