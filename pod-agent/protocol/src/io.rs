//! Framing over tokio byte streams, and the client side of the hello.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{
    DecodeError, EncodeError, Frame, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, decode, encode,
};

/// How much the reader asks the stream for at a time. The buffer grows by what actually
/// arrives, so a peer cannot make us allocate a large frame by announcing it.
const READ_CHUNK: usize = 64 * 1024;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed frame: {0}")]
    Decode(#[from] DecodeError),
    #[error("stream ended in the middle of a frame")]
    UnexpectedEof,
}

/// Reads frames from a byte stream.
pub struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        FrameReader {
            inner,
            buf: BytesMut::new(),
        }
    }

    /// The next frame; `Ok(None)` on a clean end of stream (between frames).
    /// Cancel-safe: a frame partly read stays buffered for the next call.
    pub async fn read_frame(&mut self) -> Result<Option<Frame>, ReadError> {
        loop {
            if let Some(frame) = decode(&mut self.buf)? {
                return Ok(Some(frame));
            }
            self.buf.reserve(READ_CHUNK);
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(ReadError::UnexpectedEof)
                };
            }
        }
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// Writes frames to a byte stream, batching those fed before a flush.
pub struct FrameWriter<W> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    pub fn new(inner: W) -> Self {
        FrameWriter {
            inner,
            buf: Vec::new(),
        }
    }

    /// Encodes `frame` into the buffer without writing it yet.
    pub fn feed(&mut self, frame: &Frame) -> Result<(), EncodeError> {
        encode(frame, &mut self.buf)
    }

    /// Bytes fed but not yet flushed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Writes everything fed so far and flushes the stream.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            self.inner.write_all(&self.buf).await?;
            self.buf.clear();
            // Do not keep a large buffer around after one big frame.
            self.buf.shrink_to(READ_CHUNK);
        }
        self.inner.flush().await
    }

    /// Feeds and flushes one frame.
    pub async fn send(&mut self, frame: &Frame) -> std::io::Result<()> {
        self.feed(frame).map_err(std::io::Error::other)?;
        self.flush().await
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The stream, dropping anything fed but not flushed.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

/// Why the hello failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("the agent closed the connection during the hello")]
    Closed,
    #[error("the agent refused the hello: {0}")]
    Refused(String),
    #[error("unexpected answer to hello: {0:?}")]
    Unexpected(Box<Frame>),
    /// The agent's `Hello` did not name one version, or named one this side does not speak.
    #[error(
        "the agent chose versions {min}..={max}, not one version of {lo}..={hi}",
        lo = MIN_PROTOCOL_VERSION,
        hi = PROTOCOL_VERSION
    )]
    Version { min: u16, max: u16 },
}

/// Sends our `Hello` and waits for the agent's. Returns the negotiated version and the agent's
/// software string. An answer that is not exactly one version we speak is refused.
pub async fn client_handshake<R, W>(
    reader: &mut FrameReader<R>,
    writer: &mut FrameWriter<W>,
    software: &str,
) -> Result<(u16, String), HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    writer
        .send(&Frame::Hello {
            min_version: MIN_PROTOCOL_VERSION,
            max_version: PROTOCOL_VERSION,
            software: software.to_owned(),
        })
        .await?;
    match reader.read_frame().await? {
        Some(Frame::Hello {
            min_version,
            max_version,
            software,
        }) => {
            let spoken = MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION;
            if min_version != max_version || !spoken.contains(&max_version) {
                return Err(HandshakeError::Version {
                    min: min_version,
                    max: max_version,
                });
            }
            Ok((max_version, software))
        }
        Some(Frame::Error { message, .. }) => Err(HandshakeError::Refused(message)),
        Some(other) => Err(HandshakeError::Unexpected(Box::new(other))),
        None => Err(HandshakeError::Closed),
    }
}

/// The version an agent should choose for a client speaking `min..=max`, if any.
pub fn negotiate(min: u16, max: u16) -> Option<u16> {
    let v = max.min(PROTOCOL_VERSION);
    (v >= min && v >= MIN_PROTOCOL_VERSION).then_some(v)
}
