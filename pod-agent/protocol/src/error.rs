//! Errors of the codec. Decoding never panics: every malformed input maps to a variant here.

/// Why bytes could not be decoded into a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame length {0} exceeds the maximum of {max}", max = crate::MAX_FRAME_LEN)]
    TooLarge(usize),
    #[error("frame length 0: a frame has at least a type byte")]
    Empty,
    #[error("unknown frame type 0x{0:02x}")]
    UnknownType(u8),
    #[error("frame type 0x{kind:02x} truncated while reading {field}")]
    Truncated { kind: u8, field: &'static str },
    #[error("frame type 0x{kind:02x} has {extra} bytes after its last field")]
    TrailingBytes { kind: u8, extra: usize },
    #[error("frame type 0x{kind:02x}: {field} is not valid UTF-8")]
    InvalidUtf8 { kind: u8, field: &'static str },
    #[error("frame type 0x{kind:02x}: invalid value for {field}")]
    InvalidValue { kind: u8, field: &'static str },
    #[error("hello without the protocol magic")]
    BadMagic,
}

/// Why a frame could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("encoded frame would be {0} bytes, more than the maximum of {max}", max = crate::MAX_FRAME_LEN)]
    TooLarge(usize),
}
