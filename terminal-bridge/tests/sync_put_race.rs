//! A shell edit that lands after the bridge's flush but before its push of a REST write (the
//! narrowest race between the two sides) is kept: the push is conditional on what the bridge
//! last saw of the file, the agent refuses it, and the bridge merges the edit as a conflict.
//!
//! The race is made exact by a tap on the sync connection's stream: it writes the "shell"
//! edit into the sandbox just before the push's frame reaches the agent.

mod common;
mod sync_harness;

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use agent_protocol::{Frame, decode, encode_to_vec};
use bytes::BytesMut;
use common::hooked::Hooked;
use sync_harness::{Backend, Harness, eventually, on_each_backend, quiet_config};
use terminal_bridge::runtime::AgentStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use uuid::Uuid;

on_each_backend! {
    a_shell_edit_just_before_a_rest_push_is_kept,
    a_shell_edit_just_before_a_rest_delete_is_kept,
}

/// What the tap does once: write `data` to `file` when a write of `path` goes by.
struct Shot {
    path: String,
    file: PathBuf,
    data: Vec<u8>,
}

type Trigger = Arc<Mutex<Option<Shot>>>;

/// Passes frames through whole, firing the trigger before the frame that writes its path.
struct Tap {
    inner: AgentStream,
    incoming: BytesMut,
    outgoing: Vec<u8>,
    trigger: Trigger,
}

impl Tap {
    fn send_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.outgoing.is_empty() {
            let n = ready!(self.inner.as_mut().poll_write(cx, &self.outgoing))?;
            self.outgoing.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Tap {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.inner.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for Tap {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.send_out(cx))?;
        self.incoming.extend_from_slice(data);
        while let Some(frame) = decode(&mut self.incoming).expect("the bridge sends frames") {
            let target = match &frame {
                Frame::Put { path, .. }
                | Frame::PutIf { path, .. }
                | Frame::Delete { path, .. }
                | Frame::DeleteIf { path, .. } => Some(path.clone()),
                _ => None,
            };
            if let Some(target) = target {
                let mut trigger = self.trigger.lock().unwrap();
                if trigger.as_ref().is_some_and(|shot| shot.path == target) {
                    let shot = trigger.take().unwrap();
                    std::fs::write(&shot.file, &shot.data).unwrap();
                }
            }
            let bytes = encode_to_vec(&frame).unwrap();
            self.outgoing.extend_from_slice(&bytes);
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.send_out(cx))?;
        self.inner.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.send_out(cx))?;
        self.inner.as_mut().poll_shutdown(cx)
    }
}

/// A harness whose sync connections are tapped, with one running session holding `app.py`.
async fn start(backend: Backend) -> (Harness, Trigger, Uuid) {
    let trigger = Trigger::default();
    let shared = trigger.clone();
    let h = Harness::start_wrapped(backend, quiet_config(), move |inner| {
        Hooked::runtime(inner, move |stream| {
            Box::pin(Tap {
                inner: stream,
                incoming: BytesMut::new(),
                outgoing: Vec::new(),
                trigger: shared.clone(),
            })
        })
    })
    .await;
    let session = h.session().await;
    h.rest_write(session, "app.py", b"v1").await;
    h.workspaces.activate(session).await.unwrap();
    assert_eq!(h.shell_read(session, "app.py").as_deref(), Some(&b"v1"[..]));
    *trigger.lock().unwrap() = Some(Shot {
        path: "app.py".into(),
        file: h.dir(session).join("app.py"),
        data: b"shell edit".to_vec(),
    });
    (h, trigger, session)
}

async fn a_shell_edit_just_before_a_rest_push_is_kept(backend: Backend) {
    let (h, trigger, session) = start(backend).await;
    let rest_version = h.rest_write(session, "app.py", b"rest edit").await;
    let copy = "app.shell-conflict-1.py";
    eventually("the conflict copy", || async { h.row(session, copy).await }).await;
    assert!(trigger.lock().unwrap().is_none(), "the race was staged");
    assert_eq!(h.row(session, copy).await.unwrap().1, b"shell edit");
    assert_eq!(
        h.row(session, "app.py").await.unwrap(),
        (rest_version, b"rest edit".to_vec())
    );
    eventually("both in the sandbox", || async {
        (h.shell_read(session, "app.py").as_deref() == Some(b"rest edit".as_slice())
            && h.shell_read(session, copy).as_deref() == Some(b"shell edit".as_slice()))
        .then_some(())
    })
    .await;
}

async fn a_shell_edit_just_before_a_rest_delete_is_kept(backend: Backend) {
    let (h, trigger, session) = start(backend).await;
    h.rest_delete(session, "app.py").await;
    // REST deleted what the shell changed: the edit stays, in the sandbox and in PostgreSQL.
    eventually("the edit saved", || async {
        h.row(session, "app.py")
            .await
            .filter(|(_, data)| data == b"shell edit")
    })
    .await;
    assert!(trigger.lock().unwrap().is_none(), "the race was staged");
    assert_eq!(
        h.shell_read(session, "app.py").as_deref(),
        Some(&b"shell edit"[..])
    );
}
