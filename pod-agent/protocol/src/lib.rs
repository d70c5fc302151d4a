//! The agent protocol: the frames exchanged between `pod-agent` (inside a sandbox) and its
//! client, the `terminal-bridge`, over one byte stream (the sandbox's unix socket, or the stdio
//! of a Kubernetes exec of `pod-agent connect`).
//!
//! Modules:
//! - [`frame`]: the [`Frame`] enum, its type codes and the value types it carries.
//! - [`encoder`] / [`decoder`]: [`encode`] and [`decode`], pure functions between frames and
//!   bytes.
//! - [`io`]: [`FrameReader`] / [`FrameWriter`] over tokio streams, and [`client_handshake`].
//! - [`error`]: [`DecodeError`] and [`EncodeError`].
//! - `client` (feature `client`, on by default): `Client`, the one client of
//!   the protocol: hello, requests and their waiters, terminal streams with output credit, the
//!   bounded queue of file events, and a clean close that fails every waiter. With feature
//!   `test-util`, `client::fake` is a scripted fake agent for tests.
//!
//! # Wire format (version 2)
//!
//! Every frame is `len: u32` (big-endian) followed by `len` bytes of *body*. The body starts
//! with one byte, the frame type, followed by the frame's fields in the order listed below.
//! `len` counts the type byte, so it is at least 1 and at most [`MAX_FRAME_LEN`] (16 MiB);
//! a longer length is a protocol error detected before any of the body is read. Field
//! encodings, all integers big-endian:
//!
//! | notation  | encoding                                                                |
//! |-----------|-------------------------------------------------------------------------|
//! | `u8`..`u64`, `i32` | fixed width                                                    |
//! | `bool`    | one byte, `0` or `1` (anything else is an error)                          |
//! | `str`     | `u32` byte length + UTF-8 (invalid UTF-8 is an error)                     |
//! | `bytes`   | `u32` length + raw bytes (binary-safe)                                    |
//! | `hash`    | 32 raw bytes of a SHA-256 digest                                          |
//! | `opt<T>`  | `u8` 0 (absent) or 1 followed by `T`                                      |
//!
//! A body with bytes left over after its last field, an unknown type byte, or a truncated
//! field is a protocol error: the receiver sends [`Frame::Error`] with
//! [`ErrorCode::Protocol`] and closes the connection.
//!
//! | type | frame          | direction | fields                                                   |
//! |------|----------------|-----------|----------------------------------------------------------|
//! | 0x01 | `Hello`        | both      | magic `b"PAGP"`, min_version u16, max_version u16, software str |
//! | 0x02 | `Ping`         | both      | nonce u64                                                |
//! | 0x03 | `Pong`         | both      | nonce u64                                                |
//! | 0x04 | `Error`        | agent→    | req u32, code u16, message str                           |
//! | 0x05 | `Ok`           | agent→    | req u32                                                  |
//! | 0x10 | `Open`         | →agent    | stream u32, terminal str, cols u16, rows u16, window u32 |
//! | 0x11 | `Opened`       | agent→    | stream u32, created bool, pid u32, replay u32            |
//! | 0x12 | `Input`        | →agent    | stream u32, data bytes                                   |
//! | 0x13 | `Output`       | agent→    | stream u32, data bytes                                   |
//! | 0x14 | `Resize`       | →agent    | stream u32, cols u16, rows u16                           |
//! | 0x15 | `Credit`       | →agent    | stream u32, bytes u32                                    |
//! | 0x16 | `Detach`       | →agent    | stream u32                                               |
//! | 0x17 | `Detached`     | agent→    | stream u32, reason str                                   |
//! | 0x18 | `Exited`       | agent→    | stream u32, kind u8 (0 exit code, 1 signal), value i32   |
//! | 0x19 | `Close`        | →agent    | req u32, terminal str                                    |
//! | 0x20 | `Put`          | →agent    | req u32, path str, data bytes                            |
//! | 0x21 | `Delete`       | →agent    | req u32, path str                                        |
//! | 0x22 | `Move`         | →agent    | req u32, from str, to str                                |
//! | 0x23 | `Read`         | →agent    | req u32, path str                                        |
//! | 0x24 | `Content`      | agent→    | req u32, sha256 hash, data bytes                         |
//! | 0x25 | `List`         | →agent    | req u32                                                  |
//! | 0x26 | `Listing`      | agent→    | req u32, count u32, count × (path str, size u64, sha256 hash) |
//! | 0x27 | `Watch`        | →agent    | req u32                                                  |
//! | 0x28 | `FileWritten`  | agent→    | path str, size u64, sha256 hash, content opt<bytes>      |
//! | 0x29 | `FileDeleted`  | agent→    | path str                                                 |
//! | 0x2a | `WatchOverflow`| agent→    | (none)                                                   |
//! | 0x2b | `Flush`        | →agent    | req u32                                                  |
//! | 0x2c | `PutIf`        | →agent    | req u32, path str, expect opt<hash>, data bytes (v2)     |
//! | 0x2d | `DeleteIf`     | →agent    | req u32, path str, expect hash (v2)                      |
//! | 0x2e | `MakeDir`      | →agent    | req u32, path str (v2)                                   |
//! | 0x30 | `QueryActivity`| →agent    | req u32                                                  |
//! | 0x31 | `Activity`     | agent→    | req u32, last_input_ago_ms opt<u64>, busy bool, processes u32, terminals u32, attachments u32 |
//!
//! # Conversation
//!
//! 1. The client sends `Hello` with the range of versions it speaks; the agent answers `Hello`
//!    with `min_version == max_version ==` the version chosen (the highest both speak), or
//!    `Error{code: UnsupportedVersion}` and closes. No other frame may precede `Hello`.
//! 2. Requests carry a client-chosen `req`, echoed by exactly one answer (`Ok`, `Content`,
//!    `Listing`, `Activity` or `Error`). File requests are executed in the order sent.
//! 3. Terminals are named by a client-chosen `terminal` id that outlives connections. `Open`
//!    attaches to that terminal, starting its shell if it is not running (two simultaneous
//!    first `Open`s start one shell), under a per-connection `stream` number chosen by the
//!    client. The agent answers `Opened` (or `Error` whose `req` is the stream), then
//!    `Output` frames: first `replay` bytes of scrollback, then live output, with no gap and no
//!    duplicate. The stream ends with `Exited` (the shell ended, output fully delivered) or
//!    `Detached` (the client detached, or the agent cut off a stalled attachment; the reason
//!    says which). The terminal keeps running after a detach.
//!
//! # Flow control
//!
//! Output is credit-based per stream: `Open.window` is the initial number of `Output` data
//! bytes the agent may send on that stream, and each `Credit` adds to it (`u32::MAX` as the
//! window means "unlimited"). A client therefore holds at most its window per stream in
//! memory however much a shell prints. On the agent side each attachment has its own bounded
//! queue; an attachment whose queue stays full (no credit, or a socket nobody reads) is cut off
//! with a `Detached` reason, so it cannot grow the agent's memory or stop the other
//! attachments for more than the agent's stall timeout.
//!
//! # File events
//!
//! After `Watch`, the connection receives `FileWritten` / `FileDeleted` for changes made inside
//! the workspace by anything other than the agent's own `Put` / `Delete` / `Move`. A rename is
//! reported as a deletion plus a write. `content` is absent when the file exceeds the agent's
//! size cap. `WatchOverflow` says events were dropped because the connection read too slowly;
//! the client should reconcile with `List`. `Flush` is answered with `Ok` once every change
//! made before it has been reported.
//!
//! # Conditional writes (version 2)
//!
//! A client that keeps a copy of the workspace elsewhere writes with `PutIf` / `DeleteIf`,
//! naming what it believes the path holds. If a program in the sandbox changed the file in the
//! meantime (its event may still be on the way), the agent writes nothing and answers
//! `Error{code: Changed}` (9); the client then sends `Flush`, handles the reports, and decides
//! again, so neither side's edit is overwritten unseen. The check and the write happen under
//! the lock the watcher takes, so only a change in the microseconds between them can slip by.
//! Version 2 is version 1 plus these two frames, that error code, and `MakeDir` (a directory
//! and its missing parents, for folders that hold no file yet); a client that negotiated
//! version 1 sends plain `Put` / `Delete` and no `MakeDir`.
//!
//! Paths are relative, `/`-separated, UTF-8, and never contain `..`, `.` or empty components.

#[cfg(feature = "client")]
pub mod client;
pub mod decoder;
pub mod encoder;
pub mod error;
pub mod frame;
pub mod io;

#[cfg(feature = "client")]
pub use client::{Client, ClientError, Closed};
pub use decoder::{decode, decode_body, decode_slice};
pub use encoder::{encode, encode_to_vec};
pub use error::{DecodeError, EncodeError};
pub use frame::{ErrorCode, ExitStatus, Frame, ListEntry, Sha256};
pub use io::{FrameReader, FrameWriter, HandshakeError, ReadError, client_handshake, negotiate};

/// The protocol version this crate speaks best.
pub const PROTOCOL_VERSION: u16 = 2;
/// The oldest protocol version this crate still speaks.
pub const MIN_PROTOCOL_VERSION: u16 = 1;
/// The largest allowed value of a frame's length prefix (type byte + fields).
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;
/// The first field of every `Hello`, so a stray stream is rejected at once.
pub const MAGIC: [u8; 4] = *b"PAGP";
/// Bytes of framing around the largest payload: length prefix, type, and the fields of
/// `Put`/`Content` other than the data. Payloads up to `MAX_FRAME_LEN - MAX_OVERHEAD` minus
/// the path length always fit.
pub const MAX_OVERHEAD: usize = 64;
