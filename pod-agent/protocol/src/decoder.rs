//! Bytes to frames, per the wire format in the crate docs. Every malformed input is a
//! [`DecodeError`]; nothing here panics or allocates more than the input it was given.

use bytes::{Buf, Bytes, BytesMut};

use crate::frame::{ErrorCode, ExitStatus, Frame, ListEntry, Sha256, kind};
use crate::{DecodeError, MAGIC, MAX_FRAME_LEN};

/// Takes one complete frame off the front of `buf`. Returns `Ok(None)` if `buf` does not yet
/// hold a whole frame, and an error as soon as the length prefix is invalid, before the body
/// has arrived. Nothing is allocated on the strength of a length prefix alone.
pub fn decode(buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
    let Some(len) = frame_len(buf)? else {
        return Ok(None);
    };
    if buf.len() < 4 + len {
        return Ok(None);
    }
    let mut body = buf.split_to(4 + len).freeze();
    body.advance(4);
    decode_body(body).map(Some)
}

/// Decodes the first frame of a byte slice: `Ok(Some((frame, bytes_used)))`, `Ok(None)` if
/// the slice holds only part of a frame.
pub fn decode_slice(buf: &[u8]) -> Result<Option<(Frame, usize)>, DecodeError> {
    let Some(len) = frame_len(buf)? else {
        return Ok(None);
    };
    if buf.len() < 4 + len {
        return Ok(None);
    }
    let frame = decode_body(Bytes::copy_from_slice(&buf[4..4 + len]))?;
    Ok(Some((frame, 4 + len)))
}

/// Reads and checks the length prefix, if there are 4 bytes.
fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    let Some(prefix) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(*prefix) as usize;
    if len == 0 {
        return Err(DecodeError::Empty);
    }
    if len > MAX_FRAME_LEN {
        return Err(DecodeError::TooLarge(len));
    }
    Ok(Some(len))
}

/// Decodes a body (type byte + fields), without the length prefix.
pub fn decode_body(mut body: Bytes) -> Result<Frame, DecodeError> {
    if body.is_empty() {
        return Err(DecodeError::Empty);
    }
    let kind = body.get_u8();
    let mut r = Reader { buf: body, kind };
    let frame = r.frame()?;
    if !r.buf.is_empty() {
        return Err(DecodeError::TrailingBytes {
            kind,
            extra: r.buf.len(),
        });
    }
    Ok(frame)
}

struct Reader {
    buf: Bytes,
    kind: u8,
}

impl Reader {
    fn need(&self, n: usize, field: &'static str) -> Result<(), DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated {
                kind: self.kind,
                field,
            });
        }
        Ok(())
    }
    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        self.need(1, field)?;
        Ok(self.buf.get_u8())
    }
    fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        self.need(2, field)?;
        Ok(self.buf.get_u16())
    }
    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.need(4, field)?;
        Ok(self.buf.get_u32())
    }
    fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.need(8, field)?;
        Ok(self.buf.get_u64())
    }
    fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::InvalidValue {
                kind: self.kind,
                field,
            }),
        }
    }
    fn hash(&mut self, field: &'static str) -> Result<Sha256, DecodeError> {
        self.need(32, field)?;
        let mut h = [0; 32];
        self.buf.copy_to_slice(&mut h);
        Ok(h)
    }
    fn bytes(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let len = self.u32(field)? as usize;
        self.need(len, field)?;
        Ok(self.buf.split_to(len))
    }
    fn str(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let raw = self.bytes(field)?;
        String::from_utf8(raw.to_vec()).map_err(|_| DecodeError::InvalidUtf8 {
            kind: self.kind,
            field,
        })
    }
    fn opt_flag(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        self.bool(field)
    }

    fn frame(&mut self) -> Result<Frame, DecodeError> {
        Ok(match self.kind {
            kind::HELLO => {
                self.need(4, "magic")?;
                if self.buf.split_to(4)[..] != MAGIC {
                    return Err(DecodeError::BadMagic);
                }
                Frame::Hello {
                    min_version: self.u16("min_version")?,
                    max_version: self.u16("max_version")?,
                    software: self.str("software")?,
                }
            }
            kind::PING => Frame::Ping {
                nonce: self.u64("nonce")?,
            },
            kind::PONG => Frame::Pong {
                nonce: self.u64("nonce")?,
            },
            kind::ERROR => Frame::Error {
                req: self.u32("req")?,
                code: ErrorCode::from_u16(self.u16("code")?),
                message: self.str("message")?,
            },
            kind::OK => Frame::Ok {
                req: self.u32("req")?,
            },
            kind::OPEN => Frame::Open {
                stream: self.u32("stream")?,
                terminal: self.str("terminal")?,
                cols: self.u16("cols")?,
                rows: self.u16("rows")?,
                window: self.u32("window")?,
            },
            kind::OPENED => Frame::Opened {
                stream: self.u32("stream")?,
                created: self.bool("created")?,
                pid: self.u32("pid")?,
                replay: self.u32("replay")?,
            },
            kind::INPUT => Frame::Input {
                stream: self.u32("stream")?,
                data: self.bytes("data")?,
            },
            kind::OUTPUT => Frame::Output {
                stream: self.u32("stream")?,
                data: self.bytes("data")?,
            },
            kind::RESIZE => Frame::Resize {
                stream: self.u32("stream")?,
                cols: self.u16("cols")?,
                rows: self.u16("rows")?,
            },
            kind::CREDIT => Frame::Credit {
                stream: self.u32("stream")?,
                bytes: self.u32("bytes")?,
            },
            kind::DETACH => Frame::Detach {
                stream: self.u32("stream")?,
            },
            kind::DETACHED => Frame::Detached {
                stream: self.u32("stream")?,
                reason: self.str("reason")?,
            },
            kind::EXITED => {
                let stream = self.u32("stream")?;
                let k = self.u8("status kind")?;
                let v = self.u32("status value")? as i32;
                let status = match k {
                    0 => ExitStatus::Code(v),
                    1 => ExitStatus::Signal(v),
                    _ => {
                        return Err(DecodeError::InvalidValue {
                            kind: self.kind,
                            field: "status kind",
                        });
                    }
                };
                Frame::Exited { stream, status }
            }
            kind::CLOSE => Frame::Close {
                req: self.u32("req")?,
                terminal: self.str("terminal")?,
            },
            kind::PUT => Frame::Put {
                req: self.u32("req")?,
                path: self.str("path")?,
                data: self.bytes("data")?,
            },
            kind::PUT_IF => Frame::PutIf {
                req: self.u32("req")?,
                path: self.str("path")?,
                expect: if self.opt_flag("expect flag")? {
                    Some(self.hash("expect")?)
                } else {
                    None
                },
                data: self.bytes("data")?,
            },
            kind::DELETE_IF => Frame::DeleteIf {
                req: self.u32("req")?,
                path: self.str("path")?,
                expect: self.hash("expect")?,
            },
            kind::MAKE_DIR => Frame::MakeDir {
                req: self.u32("req")?,
                path: self.str("path")?,
            },
            kind::DELETE => Frame::Delete {
                req: self.u32("req")?,
                path: self.str("path")?,
            },
            kind::MOVE => Frame::Move {
                req: self.u32("req")?,
                from: self.str("from")?,
                to: self.str("to")?,
            },
            kind::READ => Frame::Read {
                req: self.u32("req")?,
                path: self.str("path")?,
            },
            kind::CONTENT => Frame::Content {
                req: self.u32("req")?,
                sha256: self.hash("sha256")?,
                data: self.bytes("data")?,
            },
            kind::LIST => Frame::List {
                req: self.u32("req")?,
            },
            kind::LISTING => {
                let req = self.u32("req")?;
                let count = self.u32("count")? as usize;
                // Each entry takes at least 44 bytes, so this bounds the allocation by the
                // bytes actually received, whatever `count` claims.
                let mut entries = Vec::with_capacity(count.min(self.buf.len() / 44));
                for _ in 0..count {
                    entries.push(ListEntry {
                        path: self.str("entry path")?,
                        size: self.u64("entry size")?,
                        sha256: self.hash("entry sha256")?,
                    });
                }
                Frame::Listing { req, entries }
            }
            kind::WATCH => Frame::Watch {
                req: self.u32("req")?,
            },
            kind::FILE_WRITTEN => Frame::FileWritten {
                path: self.str("path")?,
                size: self.u64("size")?,
                sha256: self.hash("sha256")?,
                content: if self.opt_flag("content flag")? {
                    Some(self.bytes("content")?)
                } else {
                    None
                },
            },
            kind::FILE_DELETED => Frame::FileDeleted {
                path: self.str("path")?,
            },
            kind::WATCH_OVERFLOW => Frame::WatchOverflow,
            kind::FLUSH => Frame::Flush {
                req: self.u32("req")?,
            },
            kind::QUERY_ACTIVITY => Frame::QueryActivity {
                req: self.u32("req")?,
            },
            kind::ACTIVITY => Frame::Activity {
                req: self.u32("req")?,
                last_input_ago_ms: if self.opt_flag("last input flag")? {
                    Some(self.u64("last_input_ago_ms")?)
                } else {
                    None
                },
                busy: self.bool("busy")?,
                processes: self.u32("processes")?,
                terminals: self.u32("terminals")?,
                attachments: self.u32("attachments")?,
            },
            other => return Err(DecodeError::UnknownType(other)),
        })
    }
}
