//! Frames to bytes, per the wire format in the crate docs.

use crate::frame::{ExitStatus, Frame};
use crate::{EncodeError, MAGIC, MAX_FRAME_LEN};

/// Appends `frame`, with its length prefix, to `out`. On error `out` is left unchanged.
pub fn encode(frame: &Frame, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.push(frame.kind());
    let mut w = Writer {
        out,
        too_large: false,
    };
    w.fields(frame);
    let too_large = w.too_large;
    let body_len = out.len() - start - 4;
    if body_len > MAX_FRAME_LEN || too_large {
        out.truncate(start);
        return Err(EncodeError::TooLarge(body_len));
    }
    out[start..start + 4].copy_from_slice(&(body_len as u32).to_be_bytes());
    Ok(())
}

/// Encodes one frame into a fresh buffer.
pub fn encode_to_vec(frame: &Frame) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode(frame, &mut out)?;
    Ok(out)
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
    /// Set when a single field cannot be described by a `u32` length or exceeds the maximum;
    /// checked once at the end so the field writers stay infallible.
    too_large: bool,
}

impl Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    fn bool(&mut self, v: bool) {
        self.u8(v as u8);
    }
    fn bytes(&mut self, v: &[u8]) {
        if v.len() > MAX_FRAME_LEN {
            self.too_large = true;
            return;
        }
        self.u32(v.len() as u32);
        self.out.extend_from_slice(v);
    }
    fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }

    fn fields(&mut self, frame: &Frame) {
        match frame {
            Frame::Hello {
                min_version,
                max_version,
                software,
            } => {
                self.out.extend_from_slice(&MAGIC);
                self.u16(*min_version);
                self.u16(*max_version);
                self.str(software);
            }
            Frame::Ping { nonce } | Frame::Pong { nonce } => self.u64(*nonce),
            Frame::Error { req, code, message } => {
                self.u32(*req);
                self.u16(code.to_u16());
                self.str(message);
            }
            Frame::Ok { req }
            | Frame::List { req }
            | Frame::Watch { req }
            | Frame::Flush { req }
            | Frame::QueryActivity { req } => self.u32(*req),
            Frame::Open {
                stream,
                terminal,
                cols,
                rows,
                window,
            } => {
                self.u32(*stream);
                self.str(terminal);
                self.u16(*cols);
                self.u16(*rows);
                self.u32(*window);
            }
            Frame::Opened {
                stream,
                created,
                pid,
                replay,
            } => {
                self.u32(*stream);
                self.bool(*created);
                self.u32(*pid);
                self.u32(*replay);
            }
            Frame::Input { stream, data } | Frame::Output { stream, data } => {
                self.u32(*stream);
                self.bytes(data);
            }
            Frame::Resize { stream, cols, rows } => {
                self.u32(*stream);
                self.u16(*cols);
                self.u16(*rows);
            }
            Frame::Credit { stream, bytes } => {
                self.u32(*stream);
                self.u32(*bytes);
            }
            Frame::Detach { stream } => self.u32(*stream),
            Frame::Detached { stream, reason } => {
                self.u32(*stream);
                self.str(reason);
            }
            Frame::Exited { stream, status } => {
                self.u32(*stream);
                let (k, v) = match status {
                    ExitStatus::Code(c) => (0, *c),
                    ExitStatus::Signal(s) => (1, *s),
                };
                self.u8(k);
                self.u32(v as u32);
            }
            Frame::Close { req, terminal } => {
                self.u32(*req);
                self.str(terminal);
            }
            Frame::Put { req, path, data } => {
                self.u32(*req);
                self.str(path);
                self.bytes(data);
            }
            Frame::PutIf {
                req,
                path,
                expect,
                data,
            } => {
                self.u32(*req);
                self.str(path);
                match expect {
                    None => self.u8(0),
                    Some(sha) => {
                        self.u8(1);
                        self.out.extend_from_slice(sha);
                    }
                }
                self.bytes(data);
            }
            Frame::DeleteIf { req, path, expect } => {
                self.u32(*req);
                self.str(path);
                self.out.extend_from_slice(expect);
            }
            Frame::Delete { req, path }
            | Frame::Read { req, path }
            | Frame::MakeDir { req, path } => {
                self.u32(*req);
                self.str(path);
            }
            Frame::Move { req, from, to } => {
                self.u32(*req);
                self.str(from);
                self.str(to);
            }
            Frame::Content { req, sha256, data } => {
                self.u32(*req);
                self.out.extend_from_slice(sha256);
                self.bytes(data);
            }
            Frame::Listing { req, entries } => {
                self.u32(*req);
                if entries.len() > MAX_FRAME_LEN {
                    self.too_large = true;
                    return;
                }
                self.u32(entries.len() as u32);
                for e in entries {
                    self.str(&e.path);
                    self.u64(e.size);
                    self.out.extend_from_slice(&e.sha256);
                }
            }
            Frame::FileWritten {
                path,
                size,
                sha256,
                content,
            } => {
                self.str(path);
                self.u64(*size);
                self.out.extend_from_slice(sha256);
                match content {
                    None => self.u8(0),
                    Some(c) => {
                        self.u8(1);
                        self.bytes(c);
                    }
                }
            }
            Frame::FileDeleted { path } => self.str(path),
            Frame::WatchOverflow => {}
            Frame::Activity {
                req,
                last_input_ago_ms,
                busy,
                processes,
                terminals,
                attachments,
            } => {
                self.u32(*req);
                match last_input_ago_ms {
                    None => self.u8(0),
                    Some(ms) => {
                        self.u8(1);
                        self.u64(*ms);
                    }
                }
                self.bool(*busy);
                self.u32(*processes);
                self.u32(*terminals);
                self.u32(*attachments);
            }
        }
    }
}
