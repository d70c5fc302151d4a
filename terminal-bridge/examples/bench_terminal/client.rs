//! The one WebSocket terminal client every measurement uses, speaking the three protocols
//! measured: the bridge's raw endpoint (binary messages), the bridge's `/ws` JSON protocol,
//! and terminado's JSON arrays (`["stdin", data]`, `["stdout", data]`).

use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

/// How long any single expected message may take on a loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// What every prompt of the measured shells ends with (`user@host:/workspace$ `, `bench$ `).
pub const PROMPT_END: &str = "$ ";

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Which protocol a [`Term`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `/ws/sessions/{id}/terminals/{t}`: bytes both ways.
    Raw,
    /// `/ws`: JSON messages, one terminal of one session.
    Json,
    /// terminado's `/websocket`.
    Terminado,
}

/// One terminal over one WebSocket.
pub struct Term {
    socket: Socket,
    kind: Kind,
    /// For [`Kind::Json`]: the session and terminal the messages name.
    session: Uuid,
    terminal: String,
}

/// Opens a WebSocket with Nagle's algorithm off (small keystrokes leave at once).
pub async fn connect_socket(request: impl IntoClientRequest + Unpin) -> anyhow::Result<Socket> {
    let connect = tokio_tungstenite::connect_async_with_config(request, None, true);
    let (socket, _) = tokio::time::timeout(PATIENCE, connect)
        .await
        .context("WebSocket handshake timed out")?
        .context("WebSocket handshake")?;
    Ok(socket)
}

/// The next text message (pings are answered by the library while it reads).
pub async fn next_text(socket: &mut Socket) -> anyhow::Result<String> {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .context("timed out waiting for a message")?;
        match message {
            Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
            Some(Ok(Message::Close(frame))) => bail!("closed by the server: {frame:?}"),
            Some(Ok(_)) => {}
            Some(Err(err)) => return Err(err.into()),
            None => bail!("the connection ended"),
        }
    }
}

impl Term {
    /// Connects to `url` (with `token` as a bearer header, if any) and, for `/ws`, waits for
    /// `ready` and opens `terminal` of `session` at 80x24.
    pub async fn connect(
        kind: Kind,
        url: &str,
        token: Option<&str>,
        session: Uuid,
        terminal: &str,
    ) -> anyhow::Result<Term> {
        let mut request = url.into_client_request()?;
        if let Some(token) = token {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse()?);
        }
        let mut socket = connect_socket(request).await?;
        if kind == Kind::Json {
            let ready: Value = serde_json::from_str(&next_text(&mut socket).await?)?;
            anyhow::ensure!(ready["type"] == "ready", "expected ready, got {ready}");
            let open = json!({"type": "open", "sessionId": session, "terminalId": terminal,
                              "cols": 80, "rows": 24});
            socket.send(Message::text(open.to_string())).await?;
        }
        Ok(Term {
            socket,
            kind,
            session,
            terminal: terminal.to_owned(),
        })
    }

    /// Types `text`.
    pub async fn send(&mut self, text: &str) -> anyhow::Result<()> {
        let message = match self.kind {
            Kind::Raw => Message::binary(text.as_bytes().to_vec()),
            Kind::Json => Message::text(
                json!({"type": "terminal_input", "sessionId": self.session,
                       "terminalId": self.terminal, "input": text})
                .to_string(),
            ),
            Kind::Terminado => Message::text(json!(["stdin", text]).to_string()),
        };
        Ok(self.socket.send(message).await?)
    }

    /// The next piece of terminal output, skipping other messages; an error when the
    /// terminal or the connection ends.
    pub async fn output(&mut self) -> anyhow::Result<Bytes> {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .context("timed out waiting for output")?;
            let message = match message {
                Some(Ok(message)) => message,
                Some(Err(err)) => return Err(err.into()),
                None => bail!("the connection ended"),
            };
            match (self.kind, message) {
                (Kind::Raw, Message::Binary(data)) => return Ok(data),
                (_, Message::Close(frame)) => bail!("closed by the server: {frame:?}"),
                (Kind::Json, Message::Text(text)) => {
                    let mut value: Value = serde_json::from_str(text.as_str())?;
                    match value["type"].as_str() {
                        Some("terminal_output") if value["terminalId"] == *self.terminal => {
                            if let Value::String(output) = value["output"].take() {
                                return Ok(Bytes::from(output));
                            }
                        }
                        Some("error" | "exit" | "detached") => bail!("the bridge said {value}"),
                        _ => {}
                    }
                }
                (Kind::Terminado, Message::Text(text)) => {
                    let mut value: Vec<Value> = serde_json::from_str(text.as_str())?;
                    match value.first().and_then(Value::as_str) {
                        Some("stdout") => {
                            if let Some(Value::String(output)) = value.get_mut(1).map(Value::take) {
                                return Ok(Bytes::from(output));
                            }
                        }
                        Some("disconnect") => bail!("terminado said {value:?}"),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }

    /// Reads output until a prompt has appeared.
    pub async fn wait_prompt(&mut self) -> anyhow::Result<()> {
        let mut seen = Vec::new();
        loop {
            seen.extend_from_slice(&self.output().await?);
            if seen
                .windows(PROMPT_END.len())
                .any(|w| w == PROMPT_END.as_bytes())
            {
                return Ok(());
            }
        }
    }

    /// Reads and drops output until none has come for `quiet`.
    pub async fn settle(&mut self, quiet: Duration) {
        while let Ok(Ok(_)) = tokio::time::timeout(quiet, self.output()).await {}
    }

    /// Closes the WebSocket politely.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.socket.close(None)).await;
    }
}
