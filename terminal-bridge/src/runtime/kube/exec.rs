//! The byte stream of an exec of `pod-agent connect`: the exec's stdout and stdin joined
//! into one `AsyncRead + AsyncWrite`. Shutting the stream's write side down ends the
//! process's stdin (a close signal with protocol v5, closing the WebSocket with v4);
//! dropping it ends the exec.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use kube::api::AttachedProcess;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf, ReadHalf, SimplexStream, WriteHalf};

/// Buffer of each direction of the exec (kube's default is 1 KiB).
pub const BUFFER: usize = 64 * 1024;
/// Bytes of the process's stderr kept for the log.
const STDERR_KEPT: usize = 4096;

/// See the module documentation.
pub struct ExecStream {
    stdout: ReadHalf<SimplexStream>,
    stdin: WriteHalf<SimplexStream>,
    /// Owns the task that pumps the WebSocket; dropping it ends the exec.
    _process: AttachedProcess,
}

impl ExecStream {
    /// Takes the process's streams; its stderr and exit status go to the log, under `pod`.
    pub fn new(mut process: AttachedProcess, pod: String) -> io::Result<ExecStream> {
        let missing = |what| io::Error::other(format!("the exec has no {what}"));
        let stdout = process.stdout().ok_or_else(|| missing("stdout"))?;
        let stdin = process.stdin().ok_or_else(|| missing("stdin"))?;
        if let Some(mut stderr) = process.stderr() {
            let pod = pod.clone();
            tokio::spawn(async move {
                // Always drained, or a chatty stderr would stall the exec's stdout.
                let mut kept = Vec::new();
                let mut buf = [0u8; 1024];
                while let Ok(n) = stderr.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let room = STDERR_KEPT.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
                if !kept.is_empty() {
                    tracing::warn!(%pod, "pod-agent connect: {}", String::from_utf8_lossy(&kept).trim());
                }
            });
        }
        if let Some(status) = process.take_status() {
            tokio::spawn(async move {
                if let Some(status) = status.await
                    && status.status.as_deref() != Some("Success")
                {
                    tracing::warn!(%pod, "pod-agent connect ended: {:?}", status.message);
                }
            });
        }
        Ok(ExecStream {
            stdout,
            stdin,
            _process: process,
        })
    }
}

impl AsyncRead for ExecStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for ExecStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stdin).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdin).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdin).poll_shutdown(cx)
    }
}
