//! A `/ws` socket's terminals: opening one (the sandbox may take a while; the socket keeps
//! serving meanwhile), input, resize, close and detach, and forwarding the agent's events.

use std::sync::Arc;

use agent_protocol::ExitStatus;
use axum::extract::ws::WebSocket;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;

use crate::terminals::TermEvent;
use crate::ws::error::ClientError;
use crate::ws::limits::Utf8Stream;
use crate::ws::protocol::{Encoding, ServerMessage};

use super::connection::{Connection, Flow, Key, Opening, Pending, Terminal, about};

impl Connection {
    pub(super) async fn open(
        &mut self,
        session: &str,
        terminal: Option<&str>,
        cols: Option<u16>,
        rows: Option<u16>,
        encoding: Encoding,
    ) -> Result<Option<ServerMessage>, ClientError> {
        let (key, role) = self.resolve(session, terminal).await?;
        let size = match (cols, rows) {
            (Some(0), _) | (_, Some(0)) => {
                return Err(ClientError::BadRequest(
                    "cols and rows must be at least 1".into(),
                ));
            }
            (Some(cols), Some(rows)) => Some((cols, rows)),
            (None, None) => None,
            _ => {
                return Err(ClientError::BadRequest(
                    "give both cols and rows, or neither".into(),
                ));
            }
        };
        if let Some(attached) = self.terminals.get_mut(&key) {
            attached.encoding = encoding;
            if let (Some((cols, rows)), true) = (size, role.can_write()) {
                let _ = attached.attachment.resize(cols, rows);
            }
            return Ok(Some(ServerMessage::Opened {
                session_id: key.0,
                terminal_id: key.1,
                created: false,
                replayed: 0,
            }));
        }
        if let Some(pending) = self.pending.get_mut(&key) {
            pending.encoding = encoding;
            if role.can_write() && size.is_some() {
                pending.resize = size;
            }
            return Ok(None);
        }
        // A viewer's size would change the terminal for everyone: it gets the current one.
        let size = size.filter(|_| role.can_write());
        self.start_open(key, size, encoding);
        Ok(None)
    }

    /// Starts attaching a terminal this connection has neither attached nor pending; the
    /// result arrives as an [`Opening`].
    pub(super) fn start_open(&mut self, key: Key, size: Option<(u16, u16)>, encoding: Encoding) {
        let tag = self.next_tag;
        self.next_tag += 1;
        self.tags.insert(tag, key.clone());
        self.pending.insert(
            key.clone(),
            Pending {
                tag,
                encoding,
                input: Vec::new(),
                resize: None,
                early: Vec::new(),
            },
        );
        let hub = Arc::clone(&self.state.hub);
        let events = self.events.clone();
        let openings = self.openings.clone();
        tokio::spawn(async move {
            let result = hub.open(key.0, &key.1, size, tag, events).await;
            // If the socket is gone, dropping the attachment detaches it.
            let _ = openings.send((key, tag, result));
        });
    }

    /// An open finished: `opened` (then what arrived meanwhile), or the error.
    pub(super) async fn opened(
        &mut self,
        socket: &mut WebSocket,
        (key, tag, result): Opening,
    ) -> Flow {
        if self
            .pending
            .get(&key)
            .is_none_or(|pending| pending.tag != tag)
        {
            // Detached while opening: dropping the attachment detaches it.
            return Flow::Continue;
        }
        let Some(pending) = self.pending.remove(&key) else {
            return Flow::Continue;
        };
        let attachment = match result {
            Ok(attachment) => attachment,
            Err(err) => {
                self.tags.remove(&tag);
                let error = about(err.into(), &key.0.to_string(), Some(&key.1));
                return self.send(socket, error).await;
            }
        };
        if let Some((cols, rows)) = pending.resize {
            let _ = attachment.resize(cols, rows);
        }
        for input in pending.input {
            let _ = attachment.input(input);
        }
        let opened = ServerMessage::Opened {
            session_id: key.0,
            terminal_id: key.1.clone(),
            created: attachment.opened.created,
            replayed: attachment.opened.replay,
        };
        self.terminals.insert(
            key,
            Terminal {
                attachment,
                tag,
                encoding: pending.encoding,
                text: Utf8Stream::default(),
            },
        );
        if let Flow::Stop = self.send(socket, opened).await {
            return Flow::Stop;
        }
        for event in pending.early {
            if let Flow::Stop = self.event(socket, tag, event).await {
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    pub(super) async fn input(
        &mut self,
        session: &str,
        terminal: Option<&str>,
        input: Option<String>,
        data: Option<String>,
    ) -> Result<(), ClientError> {
        let (key, role) = self.resolve(session, terminal).await?;
        if !role.can_write() {
            return Err(ClientError::Forbidden(
                "you may watch this session but not type in it (viewer)".into(),
            ));
        }
        let bytes = match (input, data) {
            (Some(text), None) => Bytes::from(text),
            (None, Some(encoded)) => BASE64
                .decode(encoded)
                .map(Bytes::from)
                .map_err(|_| ClientError::BadRequest("data must be standard base64".into()))?,
            _ => {
                return Err(ClientError::BadRequest(
                    "give exactly one of input (text) or data (base64)".into(),
                ));
            }
        };
        self.input.admit(bytes.len())?;
        self.state.workspaces.touch(key.0);
        if let Some(attached) = self.terminals.get(&key) {
            return attached.attachment.input(bytes).map_err(ClientError::from);
        }
        if !self.pending.contains_key(&key) {
            self.start_open(key.clone(), None, Encoding::Utf8);
        }
        if let Some(pending) = self.pending.get_mut(&key) {
            pending.input.push(bytes);
        }
        Ok(())
    }

    pub(super) async fn resize(
        &mut self,
        session: &str,
        terminal: Option<&str>,
        cols: u16,
        rows: u16,
    ) -> Result<(), ClientError> {
        let (key, role) = self.resolve(session, terminal).await?;
        if !role.can_write() {
            return Err(ClientError::Forbidden(
                "viewers cannot resize terminals".into(),
            ));
        }
        if cols == 0 || rows == 0 {
            return Err(ClientError::BadRequest(
                "cols and rows must be at least 1".into(),
            ));
        }
        if let Some(pending) = self.pending.get_mut(&key) {
            pending.resize = Some((cols, rows));
            return Ok(());
        }
        match self.terminals.get(&key) {
            Some(attached) => attached
                .attachment
                .resize(cols, rows)
                .map_err(ClientError::from),
            None => {
                self.start_open(key, Some((cols, rows)), Encoding::Utf8);
                Ok(())
            }
        }
    }

    pub(super) async fn close_terminal(
        &mut self,
        session: &str,
        terminal: Option<&str>,
    ) -> Result<ServerMessage, ClientError> {
        let (key, role) = self.resolve(session, terminal).await?;
        if !role.can_write() {
            return Err(ClientError::Forbidden(
                "viewers cannot close terminals".into(),
            ));
        }
        self.state.hub.close_terminal(key.0, &key.1).await?;
        Ok(ServerMessage::Closed {
            session_id: key.0,
            terminal_id: key.1,
        })
    }

    pub(super) async fn detach(
        &mut self,
        session: &str,
        terminal: Option<&str>,
    ) -> Result<ServerMessage, ClientError> {
        let (key, _) = self.resolve(session, terminal).await?;
        if let Some(pending) = self.pending.remove(&key) {
            self.tags.remove(&pending.tag);
        } else {
            let attached = self.terminals.remove(&key).ok_or_else(not_open)?;
            self.tags.remove(&attached.tag);
        }
        Ok(ServerMessage::Detached {
            session_id: key.0,
            terminal_id: key.1,
            reason: "detached by the client".into(),
        })
    }

    /// Forwards one attachment event to the client.
    pub(super) async fn event(
        &mut self,
        socket: &mut WebSocket,
        tag: u64,
        event: TermEvent,
    ) -> Flow {
        let Some(key) = self.tags.get(&tag).cloned() else {
            return Flow::Continue;
        };
        if let Some(pending) = self.pending.get_mut(&key) {
            pending.early.push(event);
            return Flow::Continue;
        }
        let (session_id, terminal_id) = key.clone();
        let message = match event {
            TermEvent::Output(data) => {
                let Some(attached) = self.terminals.get_mut(&key) else {
                    return Flow::Continue;
                };
                let message = match attached.encoding {
                    Encoding::Base64 => Some((None, Some(BASE64.encode(&data)))),
                    Encoding::Utf8 => {
                        let text = attached.text.push(&data);
                        (!text.is_empty()).then_some((Some(text), None))
                    }
                };
                let flow = match message {
                    Some((output, data)) => {
                        let message = ServerMessage::TerminalOutput {
                            session_id,
                            terminal_id,
                            output,
                            data,
                        };
                        self.send(socket, message).await
                    }
                    None => Flow::Continue,
                };
                // Credit only what the client has taken: a slow client slows only itself.
                if let Some(attached) = self.terminals.get(&key) {
                    attached.attachment.credit(data.len());
                }
                return flow;
            }
            TermEvent::Exited(status) => {
                self.end(&key, tag);
                let (code, signal) = match status {
                    ExitStatus::Code(code) => (Some(code), None),
                    ExitStatus::Signal(signal) => (None, Some(signal)),
                };
                ServerMessage::Exit {
                    session_id,
                    terminal_id,
                    code,
                    signal,
                }
            }
            TermEvent::Detached(reason) => {
                self.end(&key, tag);
                ServerMessage::Detached {
                    session_id,
                    terminal_id,
                    reason,
                }
            }
            TermEvent::Error(message) => about(
                ClientError::TerminalError(message),
                &session_id.to_string(),
                Some(&terminal_id),
            ),
            TermEvent::AgentLost(reason) => {
                self.end(&key, tag);
                let lost = ClientError::Unavailable(format!(
                    "{reason}; open the terminal again to reconnect"
                ));
                about(lost, &session_id.to_string(), Some(&terminal_id))
            }
        };
        self.send(socket, message).await
    }

    /// Forgets a terminal whose attachment the agent ended.
    pub(super) fn end(&mut self, key: &Key, tag: u64) {
        self.tags.remove(&tag);
        if let Some(attached) = self.terminals.remove(key) {
            attached.attachment.ended();
        }
    }
}

pub(super) fn not_open() -> ClientError {
    ClientError::NotFound("the terminal is not open on this connection; send open first".into())
}
