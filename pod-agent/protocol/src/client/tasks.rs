//! The client's two tasks: the reader, which owns the stream's read half and routes every
//! frame, and the writer, which owns the write half and batches the queued frames onto it.
//! Either closes the connection when its half fails.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Closed;
use super::events::{EventQueue, FileEvent};
use super::state::{Outgoing, Shared};
use crate::{Frame, FrameReader, ReadError};

/// Bytes gathered from the queue before they are written and flushed.
const WRITE_BATCH: usize = 256 * 1024;

/// Reads frames until the stream ends or fails, or the connection is closed from elsewhere.
/// Dropping `events` at the end tells [`Events`](super::Events) that no more will come.
pub(super) async fn read_loop<R: AsyncRead + Unpin>(
    mut reader: FrameReader<R>,
    shared: Arc<Shared>,
    events: EventQueue,
) {
    let why = loop {
        let frame = tokio::select! {
            biased;
            () = shared.closing.notified() => return,
            frame = reader.read_frame() => frame,
        };
        let frame = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => break Closed::Eof,
            Err(ReadError::Decode(err)) => break Closed::Protocol(err.to_string()),
            Err(err) => break Closed::Io(err.to_string()),
        };
        match frame {
            Frame::FileWritten {
                path,
                size,
                sha256,
                content,
            } => events.push(FileEvent::Written {
                path,
                size,
                sha256,
                content,
                at: Instant::now(),
            }),
            Frame::FileDeleted { path } => events.push(FileEvent::Deleted {
                path,
                at: Instant::now(),
            }),
            Frame::WatchOverflow => events.push(FileEvent::Overflow),
            frame => {
                if let Err(why) = shared.route(frame) {
                    break why;
                }
            }
        }
    };
    shared.close(why);
}

/// Writes what is queued, batching what is already waiting, until the queue's sender is
/// dropped (the connection closed), then ends the stream's write side.
pub(super) async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    shared: Arc<Shared>,
) {
    let mut buf = Vec::new();
    while let Some(first) = queue.recv().await {
        let mut pongs = 0;
        let mut take = |outgoing: Outgoing, buf: &mut Vec<u8>| {
            pongs += usize::from(outgoing.pong);
            buf.extend_from_slice(&outgoing.bytes);
        };
        take(first, &mut buf);
        while buf.len() < WRITE_BATCH {
            match queue.try_recv() {
                Ok(outgoing) => take(outgoing, &mut buf),
                Err(_) => break,
            }
        }
        shared.pongs.fetch_sub(pongs, Relaxed);
        let written = match writer.write_all(&buf).await {
            Ok(()) => writer.flush().await,
            Err(err) => Err(err),
        };
        if let Err(err) = written {
            shared.close(Closed::Io(format!("writing: {err}")));
            return;
        }
        buf.clear();
        // Do not keep a large buffer around after one big frame.
        buf.shrink_to(WRITE_BATCH);
    }
    let _ = writer.shutdown().await;
}
