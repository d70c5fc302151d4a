//! The typed requests: file operations, the watch, activity, and closing a terminal. Each is
//! one [`Client::request`] and its expected answer; the conditional ones fall back to what
//! protocol version 1 offers, as the crate docs say a version-1 client does.

use std::time::Duration;

use bytes::Bytes;

use super::{Client, ClientError};
use crate::{Frame, ListEntry, Sha256};

/// What `QueryActivity` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    /// Time since the last `Input` on any terminal; `None` if there was none.
    pub last_input_ago: Option<Duration>,
    /// A foreground job runs in a terminal, or `processes > 0`.
    pub busy: bool,
    /// Processes in the terminals' sessions other than the shells themselves.
    pub processes: u32,
    pub terminals: u32,
    pub attachments: u32,
}

impl Client {
    /// Writes `path` (creating parents); the agent remembers the hash, so no event echoes it.
    pub async fn put(&self, path: &str, data: Bytes) -> Result<(), ClientError> {
        let path = path.to_owned();
        self.ok(|req| Frame::Put { req, path, data }).await
    }

    /// Writes `path` only if it holds what `expect` says (the file with that hash, or nothing
    /// when `None`); otherwise [`ClientError::Remote`] with `ErrorCode::Changed`. On protocol
    /// version 1, a plain `Put`.
    pub async fn put_if(
        &self,
        path: &str,
        expect: Option<Sha256>,
        data: Bytes,
    ) -> Result<(), ClientError> {
        let path = path.to_owned();
        if self.version < 2 {
            return self.ok(|req| Frame::Put { req, path, data }).await;
        }
        self.ok(|req| Frame::PutIf {
            req,
            path,
            expect,
            data,
        })
        .await
    }

    /// Deletes `path` (a file or a directory tree); a missing path is `ErrorCode::NotFound`.
    pub async fn delete(&self, path: &str) -> Result<(), ClientError> {
        let path = path.to_owned();
        self.ok(|req| Frame::Delete { req, path }).await
    }

    /// Deletes the file `path` only if its content hashes to `expect`, else
    /// `ErrorCode::Changed`. On protocol version 1, a plain `Delete`.
    pub async fn delete_if(&self, path: &str, expect: Sha256) -> Result<(), ClientError> {
        let path = path.to_owned();
        if self.version < 2 {
            return self.ok(|req| Frame::Delete { req, path }).await;
        }
        self.ok(|req| Frame::DeleteIf { req, path, expect }).await
    }

    /// Creates the directory `path` and its missing parents. An agent that speaks only
    /// protocol version 1 cannot; nothing is sent (its folders appear with their first file).
    pub async fn make_dir(&self, path: &str) -> Result<(), ClientError> {
        if self.version < 2 {
            return Ok(());
        }
        let path = path.to_owned();
        self.ok(|req| Frame::MakeDir { req, path }).await
    }

    /// The hash and content of the file `path`.
    pub async fn read(&self, path: &str) -> Result<(Sha256, Bytes), ClientError> {
        let path = path.to_owned();
        match self.request(|req| Frame::Read { req, path }).await? {
            Frame::Content { sha256, data, .. } => Ok((sha256, data)),
            other => Err(ClientError::Unexpected(other.kind())),
        }
    }

    /// Every regular file of the workspace.
    pub async fn list(&self) -> Result<Vec<ListEntry>, ClientError> {
        match self.request(|req| Frame::List { req }).await? {
            Frame::Listing { entries, .. } => Ok(entries),
            other => Err(ClientError::Unexpected(other.kind())),
        }
    }

    /// Starts the file events (see [`Events`](super::Events)).
    pub async fn watch(&self) -> Result<(), ClientError> {
        self.ok(|req| Frame::Watch { req }).await
    }

    /// Returns once every change made before the call is queued as an event.
    pub async fn flush(&self) -> Result<(), ClientError> {
        self.ok(|req| Frame::Flush { req }).await
    }

    /// Terminal input, running processes and attachments, for an idle decision.
    pub async fn activity(&self) -> Result<Activity, ClientError> {
        match self.request(|req| Frame::QueryActivity { req }).await? {
            Frame::Activity {
                last_input_ago_ms,
                busy,
                processes,
                terminals,
                attachments,
                ..
            } => Ok(Activity {
                last_input_ago: last_input_ago_ms.map(Duration::from_millis),
                busy,
                processes,
                terminals,
                attachments,
            }),
            other => Err(ClientError::Unexpected(other.kind())),
        }
    }

    /// Kills terminal `terminal` (its shell and jobs), attached or not; a terminal that does
    /// not exist is `ErrorCode::NotFound`.
    pub async fn close_terminal(&self, terminal: &str) -> Result<(), ClientError> {
        let terminal = terminal.to_owned();
        self.ok(|req| Frame::Close { req, terminal }).await
    }
}
