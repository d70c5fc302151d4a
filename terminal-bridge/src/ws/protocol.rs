//! The JSON messages of `GET /ws`, both directions. `terminal-bridge/PROTOCOL.md` ("Terminal
//! protocol") documents them with examples; the names follow the original front end
//! (`terminal_input` / `terminal_output`, camelCase fields).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ClientError;
use crate::workspaces::WorkspaceEvent;

/// The terminal used when a message names none.
pub const DEFAULT_TERMINAL: &str = "main";

/// How output bytes are carried in `terminal_output`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// `output`: text; UTF-8 characters split across chunks are reassembled, invalid bytes
    /// become U+FFFD.
    #[default]
    Utf8,
    /// `data`: the exact bytes, base64.
    Base64,
}

/// A message from the client.
#[derive(Debug, Deserialize)]
/// Unknown fields are ignored, so clients may send more than this protocol reads.
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum ClientMessage {
    /// The token, when neither the header nor `?token=` carried it; only as first message.
    Auth { token: String },
    /// Opens or attaches a terminal (default `main`) and replays its scrollback.
    Open {
        session_id: String,
        terminal_id: Option<String>,
        cols: Option<u16>,
        rows: Option<u16>,
        encoding: Option<Encoding>,
    },
    /// Input for a terminal; opens it first if this connection has not. `input` is text,
    /// `data` base64 bytes.
    TerminalInput {
        session_id: String,
        terminal_id: Option<String>,
        input: Option<String>,
        data: Option<String>,
    },
    /// Resizes a terminal; opens it first (with that size) if this connection has not.
    Resize {
        session_id: String,
        terminal_id: Option<String>,
        cols: u16,
        rows: u16,
    },
    /// Kills the terminal's shell (for every client).
    Close {
        session_id: String,
        terminal_id: Option<String>,
    },
    /// Stops receiving a terminal's output; the shell keeps running.
    Detach {
        session_id: String,
        terminal_id: Option<String>,
    },
    /// Application-level keep-alive; answered with `pong`.
    Ping {},
}

/// A message to the client.
#[derive(Debug, Serialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum ServerMessage {
    /// Authentication succeeded.
    Ready {
        user_id: i64,
    },
    Opened {
        session_id: Uuid,
        terminal_id: String,
        /// This open started the shell.
        created: bool,
        /// Bytes of scrollback at the start of the output that follows.
        replayed: u32,
    },
    TerminalOutput {
        session_id: Uuid,
        terminal_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        output: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<String>,
    },
    Exit {
        session_id: Uuid,
        terminal_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<i32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        signal: Option<i32>,
    },
    Detached {
        session_id: Uuid,
        terminal_id: String,
        reason: String,
    },
    Closed {
        session_id: Uuid,
        terminal_id: String,
    },
    FileChanged {
        session_id: Uuid,
        path: String,
        version: Option<i64>,
        origin: String,
        deleted: bool,
    },
    WorkspaceStatus {
        session_id: Uuid,
        state: String,
        message: Option<String>,
    },
    SyncError {
        session_id: Uuid,
        path: String,
        code: String,
        message: String,
    },
    /// Something failed: `code` and `message` (see [`ClientError`], the only way to make
    /// one), and the session and terminal it concerns, if any.
    Error {
        #[serde(flatten)]
        error: ClientError,
        #[serde(skip_serializing_if = "Option::is_none")]
        session_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        terminal_id: Option<String>,
    },
    /// The server is going away; connect again (to any replica).
    Reconnect {
        reason: String,
    },
    Pong {},
}

impl ServerMessage {
    /// The same error, naming the session and terminal it concerns.
    pub fn about(mut self, session: &str, terminal: Option<&str>) -> ServerMessage {
        if let ServerMessage::Error {
            session_id,
            terminal_id,
            ..
        } = &mut self
        {
            *session_id = Some(session.to_owned());
            *terminal_id = terminal.map(str::to_owned);
        }
        self
    }

    /// The error, if this is one.
    pub fn error(&self) -> Option<&ClientError> {
        match self {
            ServerMessage::Error { error, .. } => Some(error),
            _ => None,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|err| {
            let internal = ServerMessage::from(ClientError::Internal(err.to_string()));
            serde_json::to_string(&internal).unwrap_or_default()
        })
    }
}

impl From<WorkspaceEvent> for ServerMessage {
    fn from(event: WorkspaceEvent) -> ServerMessage {
        match event {
            WorkspaceEvent::FileChanged {
                session,
                path,
                version,
                deleted,
                origin,
            } => ServerMessage::FileChanged {
                session_id: session,
                path,
                version,
                origin,
                deleted,
            },
            WorkspaceEvent::WorkspaceStatus {
                session,
                state,
                message,
            } => ServerMessage::WorkspaceStatus {
                session_id: session,
                state,
                message,
            },
            WorkspaceEvent::SyncError {
                session,
                path,
                code,
                message,
            } => ServerMessage::SyncError {
                session_id: session,
                path,
                code,
                message,
            },
        }
    }
}

/// Terminal ids: 1 to 64 characters of `[A-Za-z0-9_.-]`.
pub fn valid_terminal_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_input_message_parses() {
        let msg: ClientMessage =
            serde_json::from_str(r#"{"type":"terminal_input","sessionId":"abc","input":"ls\n"}"#)
                .unwrap();
        let ClientMessage::TerminalInput {
            session_id,
            terminal_id,
            input,
            data,
        } = msg
        else {
            panic!("{msg:?}");
        };
        assert_eq!(
            (session_id.as_str(), input.as_deref()),
            ("abc", Some("ls\n"))
        );
        assert_eq!((terminal_id, data), (None, None));
    }

    #[test]
    fn output_carries_the_original_field_names() {
        let session = Uuid::nil();
        let msg = ServerMessage::TerminalOutput {
            session_id: session,
            terminal_id: "main".into(),
            output: Some("42\r\n".into()),
            data: None,
        };
        let json: serde_json::Value = serde_json::from_str(&msg.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type":"terminal_output","sessionId":session,
                "terminalId":"main","output":"42\r\n"})
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let msg: ClientMessage =
            serde_json::from_str(r#"{"type":"resize","sessionId":"s","cols":80,"rows":24,"ts":1}"#)
                .unwrap();
        assert!(
            matches!(msg, ClientMessage::Resize { cols: 80, .. }),
            "{msg:?}"
        );
    }

    #[test]
    fn workspace_events_become_client_messages() {
        let session = Uuid::nil();
        let event = WorkspaceEvent::FileChanged {
            session,
            path: "src/a.py".into(),
            version: Some(4),
            deleted: false,
            origin: "shell".into(),
        };
        let json: serde_json::Value =
            serde_json::from_str(&ServerMessage::from(event).to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type":"file_changed","sessionId":session,"path":"src/a.py",
                "version":4,"origin":"shell","deleted":false})
        );
        let status = WorkspaceEvent::WorkspaceStatus {
            session,
            state: "running".into(),
            message: None,
        };
        let json: serde_json::Value =
            serde_json::from_str(&ServerMessage::from(status).to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type":"workspace_status","sessionId":session,
                "state":"running","message":null})
        );
    }

    #[test]
    fn terminal_ids_are_checked() {
        assert!(valid_terminal_id("main"));
        assert!(valid_terminal_id("build-2.log_x"));
        assert!(!valid_terminal_id(""));
        assert!(!valid_terminal_id("a/b"));
        assert!(!valid_terminal_id(&"x".repeat(65)));
    }
}
