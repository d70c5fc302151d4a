//! One client connection: the hello, then frames dispatched to terminals and files.
//!
//! Tasks per connection: this reader loop; one writer that owns the socket's write half (fed
//! by a bounded channel, so a peer that stops reading stalls only its own connection); one
//! forwarder per attached stream (outlet -> `Output` frames); one file worker that runs file
//! requests in order; and, after `Watch`, one forwarder of change events.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use agent_protocol::{ErrorCode, Frame, FrameReader, FrameWriter, ReadError, negotiate};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::fanout::{End, Next, Outlet};
use crate::server::Daemon;
use crate::terminal::Terminal;

/// Frames queued for the writer.
const OUT_QUEUE: usize = 64;
/// Bytes fed to the socket before a flush, when frames are queued back to back.
const WRITE_BATCH: usize = 256 * 1024;
/// How long a client has to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the last frames (an error) get to reach a closing peer.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

struct Stream {
    terminal: Arc<Terminal>,
    outlet: Arc<Outlet>,
    forwarder: JoinHandle<()>,
}

struct Connection {
    daemon: Arc<Daemon>,
    out: mpsc::Sender<Frame>,
    streams: HashMap<u32, Stream>,
    /// Forwarders hand their stream's last frame (`Exited` / `Detached`) here, so the stream
    /// number is freed *before* the client can see that frame and reuse the number.
    ended_tx: mpsc::UnboundedSender<(u32, Frame)>,
    files_tx: mpsc::Sender<Frame>,
    files_worker: JoinHandle<()>,
}

/// Serves one connection until the peer closes it or breaks the protocol.
pub async fn serve<S>(stream: S, daemon: Arc<Daemon>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (r, w) = tokio::io::split(stream);
    let mut reader = FrameReader::new(r);
    let (out, out_rx) = mpsc::channel(OUT_QUEUE);
    let writer = tokio::spawn(write_frames(FrameWriter::new(w), out_rx));
    if hello(&mut reader, &out).await.is_some() {
        let (ended_tx, ended_rx) = mpsc::unbounded_channel();
        let (files_tx, files_rx) = mpsc::channel(16);
        let files_worker =
            tokio::spawn(crate::requests::run(daemon.clone(), files_rx, out.clone()));
        let mut c = Connection {
            daemon,
            out: out.clone(),
            streams: HashMap::new(),
            ended_tx,
            files_tx,
            files_worker,
        };
        if let Err(message) = c.run(&mut reader, ended_rx).await {
            tracing::warn!("closing connection: {message}");
            let _ = timeout(
                CLOSE_GRACE,
                out.send(Frame::Error {
                    req: 0,
                    code: ErrorCode::Protocol,
                    message,
                }),
            )
            .await;
        }
        c.close();
    }
    drop(out);
    let _ = timeout(CLOSE_GRACE, writer).await;
}

/// Reads the client's `Hello` and answers it; `None` if the connection must close.
async fn hello<R: AsyncRead + Unpin>(
    reader: &mut FrameReader<R>,
    out: &mpsc::Sender<Frame>,
) -> Option<()> {
    let refuse = |code, message: String| Frame::Error {
        req: 0,
        code,
        message,
    };
    let frame = match timeout(HELLO_TIMEOUT, reader.read_frame()).await {
        Err(_) => return None,
        Ok(Ok(Some(f))) => f,
        Ok(Ok(None)) => return None,
        Ok(Err(e)) => {
            let _ = out.send(refuse(ErrorCode::Protocol, e.to_string())).await;
            return None;
        }
    };
    let Frame::Hello {
        min_version,
        max_version,
        software,
    } = frame
    else {
        let _ = out
            .send(refuse(
                ErrorCode::Protocol,
                "the first frame must be Hello".into(),
            ))
            .await;
        return None;
    };
    let Some(version) = negotiate(min_version, max_version) else {
        let msg = format!("no common version: client speaks {min_version}..={max_version}");
        let _ = out.send(refuse(ErrorCode::UnsupportedVersion, msg)).await;
        return None;
    };
    tracing::debug!(%software, version, "client said hello");
    let reply = Frame::Hello {
        min_version: version,
        max_version: version,
        software: format!("pod-agent/{}", env!("CARGO_PKG_VERSION")),
    };
    out.send(reply).await.ok()
}

impl Connection {
    /// The frame loop. `Err` carries a protocol violation to report before closing.
    async fn run<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut FrameReader<R>,
        mut ended_rx: mpsc::UnboundedReceiver<(u32, Frame)>,
    ) -> Result<(), String> {
        loop {
            tokio::select! {
                frame = reader.read_frame() => match frame {
                    Ok(Some(frame)) => self.handle(frame).await?,
                    Ok(None) => return Ok(()),
                    Err(ReadError::Io(e)) => {
                        tracing::debug!("connection read: {e}");
                        return Ok(());
                    }
                    Err(e) => return Err(e.to_string()),
                },
                Some((stream, last)) = ended_rx.recv() => {
                    self.streams.remove(&stream);
                    self.reply(last).await;
                }
            }
        }
    }

    async fn reply(&self, frame: Frame) {
        let _ = self.out.send(frame).await;
    }

    async fn handle(&mut self, frame: Frame) -> Result<(), String> {
        match frame {
            Frame::Open {
                stream,
                terminal,
                cols,
                rows,
                window,
            } => self.open(stream, terminal, cols, rows, window).await,
            Frame::Input { stream, data } => {
                self.daemon.registry.activity.touch_input();
                if let Some(s) = self.stream(stream).await
                    && s.terminal.input(data).is_err()
                {
                    let message =
                        "input queue full: the shell is not reading; input dropped".into();
                    self.reply(Frame::Error {
                        req: stream,
                        code: ErrorCode::TooLarge,
                        message,
                    })
                    .await;
                }
            }
            Frame::Resize { stream, cols, rows } => {
                if let Some(s) = self.stream(stream).await
                    && let Err(e) = s.terminal.resize(cols, rows)
                {
                    self.reply(Frame::Error {
                        req: stream,
                        code: ErrorCode::Io,
                        message: e.to_string(),
                    })
                    .await;
                }
            }
            Frame::Credit { stream, bytes } => {
                // Credit for a stream that just ended is normal (it crossed the end on the
                // wire), so it is not an error.
                if let Some(s) = self.streams.get(&stream) {
                    s.outlet.add_credit(bytes);
                }
            }
            Frame::Detach { stream } => {
                if let Some(s) = self.stream(stream).await {
                    s.terminal.detach(&s.outlet);
                    s.outlet.detach("detached by the client");
                }
            }
            Frame::Close { req, terminal } => {
                let reply = if self.daemon.registry.close(&terminal) {
                    Frame::Ok { req }
                } else {
                    Frame::Error {
                        req,
                        code: ErrorCode::NotFound,
                        message: format!("no terminal {terminal:?}"),
                    }
                };
                self.reply(reply).await;
            }
            Frame::Ping { nonce } => self.reply(Frame::Pong { nonce }).await,
            Frame::Pong { .. } => {}
            Frame::QueryActivity { req } => {
                let registry = self.daemon.registry.clone();
                if let Ok(report) =
                    tokio::task::spawn_blocking(move || registry.activity_report(req)).await
                {
                    self.reply(report).await;
                }
            }
            f @ (Frame::Put { .. }
            | Frame::PutIf { .. }
            | Frame::Delete { .. }
            | Frame::DeleteIf { .. }
            | Frame::MakeDir { .. }
            | Frame::Move { .. }
            | Frame::Read { .. }
            | Frame::List { .. }
            | Frame::Watch { .. }
            | Frame::Flush { .. }) => {
                let _ = self.files_tx.send(f).await;
            }
            other => {
                return Err(format!(
                    "unexpected frame type 0x{:02x} from a client",
                    other.kind()
                ));
            }
        }
        Ok(())
    }

    /// The stream, or an `Error` sent to the client.
    async fn stream(&self, stream: u32) -> Option<&Stream> {
        let found = self.streams.get(&stream);
        if found.is_none() {
            let message = format!("stream {stream} is not open");
            self.reply(Frame::Error {
                req: stream,
                code: ErrorCode::BadStream,
                message,
            })
            .await;
        }
        found
    }

    async fn open(&mut self, stream: u32, id: String, cols: u16, rows: u16, window: u32) {
        let error = |code, message| Frame::Error {
            req: stream,
            code,
            message,
        };
        if self.streams.contains_key(&stream) {
            return self
                .reply(error(
                    ErrorCode::BadStream,
                    format!("stream {stream} is already open"),
                ))
                .await;
        }
        if id.is_empty() || id.len() > 256 {
            return self
                .reply(error(
                    ErrorCode::BadStream,
                    "terminal ids have 1 to 256 bytes".into(),
                ))
                .await;
        }
        let attached = match self.daemon.registry.open(&id, cols, rows, window) {
            Ok(a) => a,
            Err(e) => {
                return self
                    .reply(error(
                        ErrorCode::Spawn,
                        format!("cannot start the shell: {e}"),
                    ))
                    .await;
            }
        };
        if !attached.created {
            let _ = attached.terminal.resize(cols, rows);
        }
        let opened = Frame::Opened {
            stream,
            created: attached.created,
            pid: attached.terminal.pid,
            replay: attached.replay,
        };
        self.reply(opened).await;
        let forwarder = tokio::spawn(forward(
            stream,
            attached.outlet.clone(),
            self.out.clone(),
            self.ended_tx.clone(),
        ));
        self.streams.insert(
            stream,
            Stream {
                terminal: attached.terminal,
                outlet: attached.outlet,
                forwarder,
            },
        );
    }

    /// Detaches every stream (the terminals keep running) and stops the helpers.
    fn close(&mut self) {
        for (_, s) in self.streams.drain() {
            s.terminal.detach(&s.outlet);
            s.outlet.detach("connection closed");
            s.forwarder.abort();
        }
        self.files_worker.abort();
    }
}

/// Turns one outlet into `Output` frames, then hands its `Exited` or `Detached` to the
/// connection loop (which sends it after freeing the stream number).
async fn forward(
    stream: u32,
    outlet: Arc<Outlet>,
    out: mpsc::Sender<Frame>,
    ended: mpsc::UnboundedSender<(u32, Frame)>,
) {
    let last = loop {
        match outlet.next().await {
            Next::Data(data) => {
                if out.send(Frame::Output { stream, data }).await.is_err() {
                    return;
                }
            }
            Next::End(End::Exited(status)) => break Frame::Exited { stream, status },
            Next::End(End::Detached(reason)) => break Frame::Detached { stream, reason },
        }
    };
    let _ = ended.send((stream, last));
}

/// Owns the write half: writes queued frames, batching those already waiting.
async fn write_frames<W: AsyncWrite + Unpin>(mut w: FrameWriter<W>, mut rx: mpsc::Receiver<Frame>) {
    while let Some(frame) = rx.recv().await {
        feed(&mut w, &frame);
        while w.buffered() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(frame) => feed(&mut w, &frame),
                Err(_) => break,
            }
        }
        if let Err(e) = w.flush().await {
            tracing::debug!("connection write: {e}");
            return;
        }
    }
    let _ = w.get_mut().shutdown().await;
}

fn feed<W: AsyncWrite + Unpin>(w: &mut FrameWriter<W>, frame: &Frame) {
    if let Err(e) = w.feed(frame) {
        tracing::error!("dropping a frame of type 0x{:02x}: {e}", frame.kind());
    }
}
