//! A terminal in a sandbox, reached through any [`Runtime`]'s `connect` and the agent
//! protocol: the scenarios every runtime must pass drive shells with it.

use std::time::{Duration, Instant};

use agent_protocol::{Frame, FrameReader, FrameWriter, client_handshake};
use terminal_bridge::runtime::{AgentStream, Runtime};
use tokio::io::{ReadHalf, WriteHalf};
use uuid::Uuid;

/// How long one command in a sandbox may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// One agent connection after the hello.
pub struct Agent {
    pub reader: FrameReader<ReadHalf<AgentStream>>,
    pub writer: FrameWriter<WriteHalf<AgentStream>>,
}

impl Agent {
    /// Connects to `session`'s agent and completes the hello.
    pub async fn connect(rt: &dyn Runtime, session: Uuid) -> Agent {
        let stream = rt.connect(session).await.expect("connecting to the agent");
        let (read, write) = tokio::io::split(stream);
        let mut reader = FrameReader::new(read);
        let mut writer = FrameWriter::new(write);
        tokio::time::timeout(
            COMMAND_TIMEOUT,
            client_handshake(&mut reader, &mut writer, "runtime-test"),
        )
        .await
        .expect("the hello took too long")
        .expect("hello");
        Agent { reader, writer }
    }

    /// The next frame; panics when the agent is quiet for too long or closed.
    pub async fn frame(&mut self) -> Frame {
        tokio::time::timeout(COMMAND_TIMEOUT, self.reader.read_frame())
            .await
            .expect("the agent went quiet")
            .expect("reading a frame")
            .expect("the agent closed the connection")
    }

    /// Writes `data` to `path` in the workspace, then reads it back.
    pub async fn put_and_read(&mut self, path: &str, data: &[u8]) -> Vec<u8> {
        self.writer
            .send(&Frame::Put {
                req: 1,
                path: path.into(),
                data: bytes::Bytes::copy_from_slice(data),
            })
            .await
            .unwrap();
        match self.frame().await {
            Frame::Ok { req: 1 } => {}
            other => panic!("expected Ok for the Put, got {other:?}"),
        }
        self.writer
            .send(&Frame::Read {
                req: 2,
                path: path.into(),
            })
            .await
            .unwrap();
        loop {
            match self.frame().await {
                Frame::Content { req: 2, data, .. } => return data.to_vec(),
                Frame::FileWritten { .. } => {}
                other => panic!("expected Content, got {other:?}"),
            }
        }
    }
}

/// A shell in a sandbox, without prompt or echo.
pub struct Term {
    pub agent: Agent,
    /// The shell's pid inside the sandbox, and whether `Open` started it.
    pub pid: u32,
    pub created: bool,
    /// Scrollback replay bytes still to skip, so old markers are not matched again.
    replay_left: usize,
    /// Output not yet consumed.
    output: String,
    commands: u32,
}

impl Term {
    /// Opens (or attaches to) `terminal` in `session`'s sandbox.
    pub async fn open(rt: &dyn Runtime, session: Uuid, terminal: &str) -> Term {
        let mut agent = Agent::connect(rt, session).await;
        agent
            .writer
            .send(&Frame::Open {
                stream: 1,
                terminal: terminal.into(),
                cols: 200,
                rows: 50,
                window: u32::MAX,
            })
            .await
            .unwrap();
        let mut term = Term {
            agent,
            pid: 0,
            created: false,
            replay_left: 0,
            output: String::new(),
            commands: 0,
        };
        match term.agent.frame().await {
            Frame::Opened {
                pid,
                created,
                replay,
                ..
            } => {
                term.pid = pid;
                term.created = created;
                term.replay_left = replay as usize;
            }
            other => panic!("expected Opened, got {other:?}"),
        }
        // No prompt, no echo, no bracketed paste; waiting for this also waits for the shell.
        term.run(
            "PS1=''; PS2=''; PROMPT_COMMAND=''; stty -echo; \
             bind 'set enable-bracketed-paste off' 2>/dev/null",
        )
        .await;
        term
    }

    /// Types `text`.
    pub async fn send(&mut self, text: &str) {
        self.agent
            .writer
            .send(&Frame::Input {
                stream: 1,
                data: bytes::Bytes::copy_from_slice(text.as_bytes()),
            })
            .await
            .unwrap();
    }

    /// Reads output until it contains `needle`; returns everything up to and including it.
    pub async fn read_until(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            if let Some(at) = self.output.find(needle) {
                let end = at + needle.len();
                let out = self.output[..end].to_string();
                self.output.drain(..end);
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the output: {:?}",
                self.output
            );
            match self.agent.frame().await {
                Frame::Output { data, .. } => {
                    let skip = self.replay_left.min(data.len());
                    self.replay_left -= skip;
                    let text = String::from_utf8_lossy(&data[skip..])
                        .replace("\x1b[?2004h", "")
                        .replace("\x1b[?2004l", "")
                        .replace('\r', "");
                    self.output.push_str(&text);
                }
                Frame::Exited { status, .. } => {
                    panic!("the shell exited ({status:?}); output: {:?}", self.output)
                }
                _ => {}
            }
        }
    }

    /// Runs `command` in the shell and returns its output (stdout and stderr). The markers are
    /// printed with `printf` arguments, so the echoed command line never matches them.
    pub async fn run(&mut self, command: &str) -> String {
        self.commands += 1;
        let n = self.commands;
        self.send(&format!(
            "printf '<%s%s>\\n' beg {n}; {command}\nprintf '<%s%s>\\n' end {n}\n"
        ))
        .await;
        self.read_until(&format!("<beg{n}>")).await;
        let out = self.read_until(&format!("<end{n}>")).await;
        let out = out.trim_end_matches(&format!("<end{n}>"));
        out.trim().to_string()
    }
}
