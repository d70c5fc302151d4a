//! A client of the bridge's JSON WebSocket (`terminal-bridge/PROTOCOL.md`): collects terminal
//! output per terminal, queues the other messages, and runs shell commands between markers.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

/// How long any one expected message may take (the machine may be busy).
pub const PATIENCE: Duration = Duration::from_secs(90);

static NEXT_MARK: AtomicU32 = AtomicU32::new(1000);

pub struct Ws {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Text output per terminal id.
    pub output: HashMap<String, String>,
    /// Other messages, not yet taken.
    pub messages: VecDeque<Value>,
}

impl Ws {
    /// Connects (the handshake only; see `E2e::connect` for the `ready`).
    pub async fn connect(url: &str) -> Ws {
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("WebSocket handshake");
        Ws {
            socket,
            output: HashMap::new(),
            messages: VecDeque::new(),
        }
    }

    pub async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }

    /// Reads one message and files it; false at the end of the connection.
    async fn pump(&mut self, deadline: Instant) -> bool {
        loop {
            let message = timeout_at(deadline, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("timed out; {}", self.summary()));
            let text = match message {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return false,
                Some(Ok(_)) => continue,
            };
            let message: Value = serde_json::from_str(&text).unwrap();
            if message["type"] == "terminal_output" {
                let terminal = message["terminalId"].as_str().unwrap().to_owned();
                let output = message["output"].as_str().unwrap();
                self.output.entry(terminal).or_default().push_str(output);
            } else {
                self.messages.push_back(message);
            }
            return true;
        }
    }

    fn summary(&self) -> String {
        let tails: Vec<String> = self
            .output
            .iter()
            .map(|(terminal, text)| {
                let start = text.len().saturating_sub(1500);
                let start = (start..text.len())
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(text.len());
                format!("{terminal}: {:?}", &text[start..])
            })
            .collect();
        format!("output: {tails:#?}; other messages: {:#?}", self.messages)
    }

    /// Waits until `terminal`'s output contains `needle`; the output so far.
    pub async fn wait_output(&mut self, terminal: &str, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(text) = self.output.get(terminal)
                && text.contains(needle)
            {
                return text.clone();
            }
            if !self.pump(deadline).await {
                panic!("closed waiting for {needle:?}: {}", self.summary());
            }
        }
    }

    /// Waits for a whole line of `main`'s output starting with `prefix`; that line (without
    /// the line end).
    pub async fn wait_line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(text) = self.output.get("main")
                && let Some(at) = text.rfind(prefix)
                && let Some(len) = text[at..].find('\n')
            {
                return text[at..at + len].trim_end().to_owned();
            }
            if !self.pump(deadline).await {
                panic!("closed waiting for {prefix:?}: {}", self.summary());
            }
        }
    }

    /// The first queued or arriving message whose type is one of `kinds`.
    pub async fn next_of_any(&mut self, kinds: &[&str]) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(index) = self
                .messages
                .iter()
                .position(|m| kinds.iter().any(|kind| m["type"] == *kind))
            {
                return self.messages.remove(index).unwrap();
            }
            if !self.pump(deadline).await {
                panic!("closed waiting for {kinds:?}: {}", self.summary());
            }
        }
    }

    pub async fn next_of(&mut self, kind: &str) -> Value {
        self.next_of_any(&[kind]).await
    }

    /// Reads until the server closes the socket; its close frame.
    pub async fn closed(&mut self) -> Option<CloseFrame> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match timeout_at(deadline, self.socket.next())
                .await
                .expect("timed out waiting for the close")
            {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => {}
                None | Some(Err(_)) => return None,
            }
        }
    }

    /// Opens (or re-attaches to) `main` of `session`; the `opened` message.
    pub async fn open(&mut self, session: Uuid) -> Value {
        self.send(json!({
            "type": "open", "sessionId": session, "terminalId": "main", "cols": 120, "rows": 32
        }))
        .await;
        let opened = self.next_of_any(&["opened", "error"]).await;
        assert_eq!(opened["type"], "opened", "{opened}");
        opened
    }

    /// Types `text` into `main` of `session`.
    pub async fn type_in(&mut self, session: Uuid, text: &str) {
        self.send(json!({
            "type": "terminal_input", "sessionId": session, "terminalId": "main", "input": text
        }))
        .await;
    }

    /// Runs `command` in `main`'s shell and returns what it printed (trimmed, `\r` removed).
    /// The command is framed by two markers the shell computes, so the echo of the typed
    /// line never matches them.
    pub async fn run(&mut self, session: Uuid, command: &str) -> String {
        let n = NEXT_MARK.fetch_add(1, Ordering::Relaxed);
        let (start, end) = (format!("<<{}>>", n + 1), format!("[[{}]]", n + 1));
        self.type_in(
            session,
            &format!("echo \"<<$(({n}+1))>>\"; {command}; echo \"[[$(({n}+1))]]\"\n"),
        )
        .await;
        let text = self.wait_output("main", &end).await;
        let end_at = text.rfind(&end).unwrap();
        let start_at = text[..end_at]
            .rfind(&start)
            .unwrap_or_else(|| panic!("no start marker: {text:?}"));
        text[start_at + start.len()..end_at]
            .replace('\r', "")
            .trim()
            .to_owned()
    }
}

/// The close code of a close frame (0 when there was none).
pub fn close_code(frame: &Option<CloseFrame>) -> u16 {
    frame.as_ref().map(|f| u16::from(f.code)).unwrap_or(0)
}
