//! The frames and the small value types they carry. See the crate docs for the wire format.

use bytes::Bytes;

/// A SHA-256 digest.
pub type Sha256 = [u8; 32];

/// Every frame of the protocol. Field meanings are in the crate-level table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Version negotiation; the first frame in each direction.
    Hello {
        min_version: u16,
        max_version: u16,
        /// Free-form name and version of the sender, for logs.
        software: String,
    },
    Ping {
        nonce: u64,
    },
    Pong {
        nonce: u64,
    },
    /// A failed request (`req` is its `req`, or the `stream` of a stream frame), or with
    /// `req == 0` a connection-level error. `Protocol` and `UnsupportedVersion` are followed by
    /// the agent closing the connection.
    Error {
        req: u32,
        code: ErrorCode,
        message: String,
    },
    /// A request that needs no other answer succeeded.
    Ok {
        req: u32,
    },
    /// Open-or-attach the terminal `terminal` as stream `stream` of this connection.
    Open {
        stream: u32,
        terminal: String,
        cols: u16,
        rows: u16,
        /// Initial output credit in bytes; `u32::MAX` disables flow control for the stream.
        window: u32,
    },
    Opened {
        stream: u32,
        /// True if this `Open` started the shell, false if it attached to a running one.
        created: bool,
        /// Process id of the shell (inside the sandbox's pid namespace).
        pid: u32,
        /// How many of the first `Output` bytes are scrollback replay.
        replay: u32,
    },
    Input {
        stream: u32,
        data: Bytes,
    },
    Output {
        stream: u32,
        data: Bytes,
    },
    Resize {
        stream: u32,
        cols: u16,
        rows: u16,
    },
    /// Allow the agent to send `bytes` more output bytes on `stream`.
    Credit {
        stream: u32,
        bytes: u32,
    },
    Detach {
        stream: u32,
    },
    Detached {
        stream: u32,
        reason: String,
    },
    Exited {
        stream: u32,
        status: ExitStatus,
    },
    /// Kill the terminal (its shell and its jobs) whether or not anyone is attached.
    Close {
        req: u32,
        terminal: String,
    },
    Put {
        req: u32,
        path: String,
        data: Bytes,
    },
    Delete {
        req: u32,
        path: String,
    },
    /// `Put`, only if `path` still holds what the client last saw: the file whose content
    /// hashes to `expect`, or nothing when `expect` is `None`. Otherwise nothing is written and
    /// the answer is `Error{code: Changed}`. (Version 2.)
    PutIf {
        req: u32,
        path: String,
        expect: Option<Sha256>,
        data: Bytes,
    },
    /// Create the directory `path` and its missing parents; an existing directory is fine.
    /// (Version 2.)
    MakeDir {
        req: u32,
        path: String,
    },
    /// `Delete` of a file, only if its content still hashes to `expect`; otherwise
    /// `Error{code: Changed}`. A missing file is `NotFound`. (Version 2.)
    DeleteIf {
        req: u32,
        path: String,
        expect: Sha256,
    },
    Move {
        req: u32,
        from: String,
        to: String,
    },
    Read {
        req: u32,
        path: String,
    },
    Content {
        req: u32,
        sha256: Sha256,
        data: Bytes,
    },
    List {
        req: u32,
    },
    Listing {
        req: u32,
        entries: Vec<ListEntry>,
    },
    Watch {
        req: u32,
    },
    FileWritten {
        path: String,
        size: u64,
        sha256: Sha256,
        /// The file's bytes, absent when larger than the agent's event size cap.
        content: Option<Bytes>,
    },
    FileDeleted {
        path: String,
    },
    WatchOverflow,
    Flush {
        req: u32,
    },
    QueryActivity {
        req: u32,
    },
    Activity {
        req: u32,
        /// Milliseconds since the last `Input` on any terminal; `None` if there was none.
        last_input_ago_ms: Option<u64>,
        /// True if a foreground job runs in a terminal or `processes > 0`.
        busy: bool,
        /// Processes in the terminals' sessions other than the shells themselves.
        processes: u32,
        terminals: u32,
        attachments: u32,
    },
}

/// One regular file of the workspace, as listed by `Listing`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    pub path: String,
    pub size: u64,
    pub sha256: Sha256,
}

/// How a terminal's shell ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

/// Why a request failed. Unknown codes decode as [`ErrorCode::Other`] so that a newer peer's
/// codes are not a protocol error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Malformed or unexpected frame; the connection is closed.
    Protocol,
    /// No common protocol version; the connection is closed.
    UnsupportedVersion,
    /// The file or terminal does not exist.
    NotFound,
    /// The path is not allowed (absolute, `..`, or resolves outside the workspace).
    InvalidPath,
    /// An I/O error inside the sandbox.
    Io,
    /// The data exceeds a limit (frame size, input queue).
    TooLarge,
    /// The stream number is unknown, or already in use on this connection.
    BadStream,
    /// The terminal's shell could not be started.
    Spawn,
    /// A `PutIf`/`DeleteIf` found the path changed since the client last saw it.
    Changed,
    Other(u16),
}

impl ErrorCode {
    pub fn to_u16(self) -> u16 {
        match self {
            ErrorCode::Protocol => 1,
            ErrorCode::UnsupportedVersion => 2,
            ErrorCode::NotFound => 3,
            ErrorCode::InvalidPath => 4,
            ErrorCode::Io => 5,
            ErrorCode::TooLarge => 6,
            ErrorCode::BadStream => 7,
            ErrorCode::Spawn => 8,
            ErrorCode::Changed => 9,
            ErrorCode::Other(n) => n,
        }
    }

    pub fn from_u16(n: u16) -> Self {
        match n {
            1 => ErrorCode::Protocol,
            2 => ErrorCode::UnsupportedVersion,
            3 => ErrorCode::NotFound,
            4 => ErrorCode::InvalidPath,
            5 => ErrorCode::Io,
            6 => ErrorCode::TooLarge,
            7 => ErrorCode::BadStream,
            8 => ErrorCode::Spawn,
            9 => ErrorCode::Changed,
            n => ErrorCode::Other(n),
        }
    }
}

/// Frame type bytes, in one place.
pub mod kind {
    pub const HELLO: u8 = 0x01;
    pub const PING: u8 = 0x02;
    pub const PONG: u8 = 0x03;
    pub const ERROR: u8 = 0x04;
    pub const OK: u8 = 0x05;
    pub const OPEN: u8 = 0x10;
    pub const OPENED: u8 = 0x11;
    pub const INPUT: u8 = 0x12;
    pub const OUTPUT: u8 = 0x13;
    pub const RESIZE: u8 = 0x14;
    pub const CREDIT: u8 = 0x15;
    pub const DETACH: u8 = 0x16;
    pub const DETACHED: u8 = 0x17;
    pub const EXITED: u8 = 0x18;
    pub const CLOSE: u8 = 0x19;
    pub const PUT: u8 = 0x20;
    pub const DELETE: u8 = 0x21;
    pub const MOVE: u8 = 0x22;
    pub const READ: u8 = 0x23;
    pub const CONTENT: u8 = 0x24;
    pub const LIST: u8 = 0x25;
    pub const LISTING: u8 = 0x26;
    pub const WATCH: u8 = 0x27;
    pub const FILE_WRITTEN: u8 = 0x28;
    pub const FILE_DELETED: u8 = 0x29;
    pub const WATCH_OVERFLOW: u8 = 0x2a;
    pub const FLUSH: u8 = 0x2b;
    pub const PUT_IF: u8 = 0x2c;
    pub const DELETE_IF: u8 = 0x2d;
    pub const MAKE_DIR: u8 = 0x2e;
    pub const QUERY_ACTIVITY: u8 = 0x30;
    pub const ACTIVITY: u8 = 0x31;
}

impl Frame {
    /// The frame's type byte.
    pub fn kind(&self) -> u8 {
        use kind::*;
        match self {
            Frame::Hello { .. } => HELLO,
            Frame::Ping { .. } => PING,
            Frame::Pong { .. } => PONG,
            Frame::Error { .. } => ERROR,
            Frame::Ok { .. } => OK,
            Frame::Open { .. } => OPEN,
            Frame::Opened { .. } => OPENED,
            Frame::Input { .. } => INPUT,
            Frame::Output { .. } => OUTPUT,
            Frame::Resize { .. } => RESIZE,
            Frame::Credit { .. } => CREDIT,
            Frame::Detach { .. } => DETACH,
            Frame::Detached { .. } => DETACHED,
            Frame::Exited { .. } => EXITED,
            Frame::Close { .. } => CLOSE,
            Frame::Put { .. } => PUT,
            Frame::Delete { .. } => DELETE,
            Frame::Move { .. } => MOVE,
            Frame::Read { .. } => READ,
            Frame::Content { .. } => CONTENT,
            Frame::List { .. } => LIST,
            Frame::Listing { .. } => LISTING,
            Frame::Watch { .. } => WATCH,
            Frame::FileWritten { .. } => FILE_WRITTEN,
            Frame::FileDeleted { .. } => FILE_DELETED,
            Frame::WatchOverflow => WATCH_OVERFLOW,
            Frame::Flush { .. } => FLUSH,
            Frame::PutIf { .. } => PUT_IF,
            Frame::DeleteIf { .. } => DELETE_IF,
            Frame::MakeDir { .. } => MAKE_DIR,
            Frame::QueryActivity { .. } => QUERY_ACTIVITY,
            Frame::Activity { .. } => ACTIVITY,
        }
    }
}
