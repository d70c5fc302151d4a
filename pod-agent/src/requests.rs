//! A connection's file requests (put, delete, move, read, list, watch, flush), executed one
//! at a time in the order received, each answered with exactly one frame.

use std::sync::Arc;

use agent_protocol::{ErrorCode, Frame, MAX_FRAME_LEN};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::server::Daemon;
use crate::workspace::FileError;

/// Runs until the connection drops its sender.
pub async fn run(daemon: Arc<Daemon>, mut rx: mpsc::Receiver<Frame>, out: mpsc::Sender<Frame>) {
    // After `Watch`: a sender into the event channel (to order a flush's `Ok` after the events
    // it waited for) and the task forwarding that channel to the connection.
    let mut events: Option<(mpsc::Sender<Frame>, AbortOnDrop)> = None;
    while let Some(request) = rx.recv().await {
        let reply = match request {
            Frame::Watch { req } => {
                if events.is_none() {
                    let (tx, mut ev_rx) = daemon.watcher.subscribe();
                    let out = out.clone();
                    let forwarder = tokio::spawn(async move {
                        while let Some(frame) = ev_rx.recv().await {
                            if out.send(frame).await.is_err() {
                                break;
                            }
                        }
                    });
                    events = Some((tx, AbortOnDrop(forwarder)));
                }
                Frame::Ok { req }
            }
            Frame::Flush { req } => {
                daemon.watcher.flush().await;
                if let Some((tx, _)) = &events {
                    let _ = tx.send(Frame::Ok { req }).await;
                    continue;
                }
                Frame::Ok { req }
            }
            request => {
                let d = daemon.clone();
                tokio::task::spawn_blocking(move || execute(&d, request))
                    .await
                    .unwrap_or_else(|e| Frame::Error {
                        req: 0,
                        code: ErrorCode::Io,
                        message: e.to_string(),
                    })
            }
        };
        if out.send(reply).await.is_err() {
            break;
        }
    }
}

/// Stops the event forwarder however `run` ends (including being aborted with its
/// connection), so it cannot keep the connection's writer alive.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Executes one blocking file request.
fn execute(daemon: &Daemon, request: Frame) -> Frame {
    let files = &daemon.files;
    let (req, result) = match request {
        Frame::Put { req, path, data } => {
            (req, files.put(&path, &data).map(|()| Frame::Ok { req }))
        }
        Frame::PutIf {
            req,
            path,
            expect,
            data,
        } => (
            req,
            files
                .put_if(&path, expect.as_ref(), &data)
                .map(|()| Frame::Ok { req }),
        ),
        Frame::Delete { req, path } => (req, files.delete(&path).map(|()| Frame::Ok { req })),
        Frame::MakeDir { req, path } => (req, files.make_dir(&path).map(|()| Frame::Ok { req })),
        Frame::DeleteIf { req, path, expect } => (
            req,
            files.delete_if(&path, &expect).map(|()| Frame::Ok { req }),
        ),
        Frame::Move { req, from, to } => {
            (req, files.rename(&from, &to).map(|()| Frame::Ok { req }))
        }
        Frame::Read { req, path } => (
            req,
            files.read(&path).map(|(sha256, data)| Frame::Content {
                req,
                sha256,
                data: data.into(),
            }),
        ),
        Frame::List { req } => (
            req,
            files.list().and_then(|entries| {
                let size: usize = 16 + entries.iter().map(|e| e.path.len() + 44).sum::<usize>();
                if size > MAX_FRAME_LEN {
                    return Err(FileError {
                        code: ErrorCode::TooLarge,
                        message: format!(
                            "the listing of {} files does not fit in one frame",
                            entries.len()
                        ),
                    });
                }
                Ok(Frame::Listing { req, entries })
            }),
        ),
        other => unreachable!("not a file request: {other:?}"),
    };
    result.unwrap_or_else(|e| Frame::Error {
        req,
        code: e.code,
        message: e.message,
    })
}
