//! The bridge's file-sync connection to one sandbox's `pod-agent`: a thin layer over the
//! protocol's [`Client`] that adds the bridge's timeouts and error type, and the file-sync
//! view of answers (deleting what is already gone succeeds).
//!
//! The client's reader completes each request's waiter and queues change events for the
//! session's sync task, in the order the frames arrived, so after a `Flush` has been answered
//! every event reported before it is already queued. The event queue ([`Events`]) is bounded in
//! bytes and count: past the bound events are dropped and one [`AgentEvent::Overflow`] is
//! queued instead, exactly as the agent itself does for a slow reader (the sync task then
//! reconciles with a full listing).

use std::future::Future;
use std::time::Duration;

use agent_protocol::{Client, ClientError, Closed, ErrorCode, ListEntry, Sha256};
use bytes::Bytes;

pub use agent_protocol::client::{Activity, Events, FileEvent as AgentEvent};

use crate::runtime::AgentStream;

/// How long one request may take (a listing of a large workspace included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("the connection to the workspace agent is closed")]
    Closed,
    #[error("the workspace agent did not answer in time")]
    Timeout,
    #[error("{message}")]
    Remote { code: ErrorCode, message: String },
    #[error("cannot talk to the workspace agent: {0}")]
    Io(String),
    #[error("unexpected answer from the workspace agent: {0}")]
    Unexpected(String),
}

impl From<ClientError> for AgentError {
    fn from(err: ClientError) -> AgentError {
        match err {
            ClientError::Remote { code, message } => AgentError::Remote { code, message },
            ClientError::Closed(_) => AgentError::Closed,
            ClientError::Encode(err) => AgentError::Io(err.to_string()),
            ClientError::Unexpected(kind) => {
                AgentError::Unexpected(format!("frame type 0x{kind:02x}"))
            }
        }
    }
}

/// See the module documentation.
pub struct AgentClient {
    client: Client,
}

impl AgentClient {
    /// Says hello on `stream` and starts reading it.
    pub async fn connect(stream: AgentStream) -> Result<(AgentClient, Events), AgentError> {
        let software = format!("terminal-bridge/{}", crate::VERSION);
        let (client, events) =
            tokio::time::timeout(REQUEST_TIMEOUT, Client::connect(stream, &software))
                .await
                .map_err(|_| AgentError::Timeout)?
                .map_err(|e| AgentError::Io(e.to_string()))?;
        client.on_close(|why| {
            if matches!(why, Closed::Io(_) | Closed::Protocol(_)) {
                tracing::warn!(error = %why, "agent connection failed");
            }
        });
        Ok((AgentClient { client }, events))
    }

    /// True once the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Writes `path` (creating parents); the agent remembers the hash, so no echo follows.
    pub async fn put(&self, path: &str, data: Bytes) -> Result<(), AgentError> {
        within(self.client.put(path, data)).await
    }

    /// Writes `path` only if it holds what `expect` says (the file with that hash, or nothing):
    /// else [`AgentError::Remote`] with [`ErrorCode::Changed`]. An agent that speaks only
    /// protocol version 1 gets a plain `Put`.
    pub async fn put_if(
        &self,
        path: &str,
        expect: Option<Sha256>,
        data: Bytes,
    ) -> Result<(), AgentError> {
        within(self.client.put_if(path, expect, data)).await
    }

    /// Deletes the file `path` only if its content hashes to `expect`, else
    /// [`ErrorCode::Changed`]; a missing file is not an error. Protocol version 1: a plain
    /// `Delete`.
    pub async fn delete_if(&self, path: &str, expect: Sha256) -> Result<(), AgentError> {
        gone_is_fine(within(self.client.delete_if(path, expect)).await)
    }

    /// Creates the directory `path` and its parents. An agent that speaks only protocol
    /// version 1 cannot; nothing is done there (its folders appear with their first file).
    pub async fn make_dir(&self, path: &str) -> Result<(), AgentError> {
        within(self.client.make_dir(path)).await
    }

    /// Deletes `path` (a file or a directory tree); a missing path is not an error.
    pub async fn delete(&self, path: &str) -> Result<(), AgentError> {
        gone_is_fine(within(self.client.delete(path)).await)
    }

    /// The content and hash of `path`.
    pub async fn read(&self, path: &str) -> Result<(Sha256, Bytes), AgentError> {
        within(self.client.read(path)).await
    }

    /// Every regular file of the workspace.
    pub async fn list(&self) -> Result<Vec<ListEntry>, AgentError> {
        within(self.client.list()).await
    }

    /// Starts the change events.
    pub async fn watch(&self) -> Result<(), AgentError> {
        within(self.client.watch()).await
    }

    /// Returns once every change made before the call has been queued as an event.
    pub async fn flush(&self) -> Result<(), AgentError> {
        within(self.client.flush()).await
    }

    /// Terminal input, running processes and attachments, for the idle decision.
    pub async fn activity(&self) -> Result<Activity, AgentError> {
        within(self.client.activity()).await
    }
}

/// `request`, given [`REQUEST_TIMEOUT`] to answer (its waiter is forgotten if it does not).
async fn within<T>(request: impl Future<Output = Result<T, ClientError>>) -> Result<T, AgentError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
        Ok(answer) => answer.map_err(AgentError::from),
        Err(_) => Err(AgentError::Timeout),
    }
}

/// A deletion of what is not there succeeded.
fn gone_is_fine(result: Result<(), AgentError>) -> Result<(), AgentError> {
    match result {
        Err(AgentError::Remote {
            code: ErrorCode::NotFound,
            ..
        }) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use agent_protocol::Frame;
    use agent_protocol::client::fake::{AgentReader, AgentWriter, fake_agent};
    use tokio::sync::mpsc;
    use tokio::task::JoinHandle;

    use super::*;

    /// A client of a scripted agent (the protocol's fake agent) that answers the hello with
    /// protocol `version`, then runs `script` with its reader and writer.
    async fn with_fake_agent<F, Fut>(
        version: u16,
        script: F,
    ) -> (AgentClient, Events, JoinHandle<()>)
    where
        F: FnOnce(AgentReader, AgentWriter) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let (stream, agent) = fake_agent(version, script);
        let (client, events) = AgentClient::connect(Box::pin(stream)).await.unwrap();
        (client, events, agent)
    }

    #[tokio::test]
    async fn answers_reach_their_requests_and_errors_map() {
        let (client, _events, _agent) = with_fake_agent(1, |mut r, mut w| async move {
            while let Ok(Some(frame)) = r.read_frame().await {
                let answer = match frame {
                    Frame::Read { req, path } if path == "a" => Frame::Content {
                        req,
                        sha256: [7; 32],
                        data: Bytes::from_static(b"A"),
                    },
                    Frame::Read { req, .. } | Frame::Delete { req, .. } => Frame::Error {
                        req,
                        code: ErrorCode::NotFound,
                        message: "gone".into(),
                    },
                    other => panic!("unexpected {other:?}"),
                };
                w.send(&answer).await.unwrap();
            }
        })
        .await;
        let (sha, data) = client.read("a").await.unwrap();
        assert_eq!((sha, &data[..]), ([7; 32], &b"A"[..]));
        let err = client.read("b").await.unwrap_err();
        assert!(
            matches!(
                err,
                AgentError::Remote {
                    code: ErrorCode::NotFound,
                    ..
                }
            ),
            "{err}"
        );
        // Deleting what is not there is fine.
        client.delete("b").await.unwrap();
    }

    /// Conditional writes go out as `PutIf` / `DeleteIf` to an agent that speaks version 2,
    /// and as plain `Put` / `Delete` to one that speaks only version 1.
    #[tokio::test]
    async fn conditional_writes_follow_the_negotiated_version() {
        for version in [1, 2] {
            let (seen_tx, mut seen) = mpsc::unbounded_channel();
            let (client, _events, _agent) =
                with_fake_agent(version, move |mut r, mut w| async move {
                    while let Ok(Some(frame)) = r.read_frame().await {
                        let req = match &frame {
                            Frame::Put { req, .. }
                            | Frame::PutIf { req, .. }
                            | Frame::Delete { req, .. }
                            | Frame::DeleteIf { req, .. } => *req,
                            other => panic!("unexpected {other:?}"),
                        };
                        seen_tx.send(frame).unwrap();
                        w.send(&Frame::Ok { req }).await.unwrap();
                    }
                })
                .await;
            client
                .put_if("a", Some([3; 32]), Bytes::from_static(b"x"))
                .await
                .unwrap();
            client.delete_if("a", [4; 32]).await.unwrap();
            let put = seen.recv().await.unwrap();
            let delete = seen.recv().await.unwrap();
            match version {
                1 => {
                    assert!(matches!(put, Frame::Put { .. }), "{put:?}");
                    assert!(matches!(delete, Frame::Delete { .. }), "{delete:?}");
                }
                _ => {
                    assert!(
                        matches!(put, Frame::PutIf { expect: Some(e), .. } if e == [3; 32]),
                        "{put:?}"
                    );
                    assert!(
                        matches!(delete, Frame::DeleteIf { expect, .. } if expect == [4; 32]),
                        "{delete:?}"
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn a_closed_connection_fails_requests_in_flight() {
        let (client, mut events, _agent) = with_fake_agent(1, |mut r, _w| async move {
            let _ = r.read_frame().await; // the request, then hang up
        })
        .await;
        let err = client.list().await.unwrap_err();
        assert!(matches!(err, AgentError::Closed), "{err}");
        assert!(events.recv().await.is_none());
    }
}
