//! Small per-connection guards: the input rate limit, the message size limit, and the UTF-8
//! reassembly of output. Going over a limit is a [`LimitError`].

use std::time::{Duration, Instant};

/// A limit a client went over. Clients see it as a [`ClientError`](super::ClientError)
/// (`rate_limited` or `too_large`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// Terminal input faster than the connection's rate; the input was dropped.
    #[error("input faster than {rate} bytes/s")]
    InputRate { rate: u64 },
    /// A message larger than the limit; the connection is closed.
    #[error("message larger than {limit} bytes")]
    MessageSize { limit: usize },
}

impl LimitError {
    /// The label of the limit, as counted in `bridge_ws_errors_total` (the client error's code).
    pub fn metric_label(&self) -> &'static str {
        match self {
            LimitError::InputRate { .. } => "rate_limited",
            LimitError::MessageSize { .. } => "too_large",
        }
    }
}

/// [`LimitError::MessageSize`] if a failed read failed because the message (or a frame of
/// it) was over `limit`; `None` for other read errors. tungstenite says so only in its
/// message text ("Message too long", "Space limit exceeded"), so it is matched here, once.
pub fn oversized(err: &axum::Error, limit: usize) -> Option<LimitError> {
    let text = err.to_string();
    (text.contains("too long") || text.contains("Space limit"))
        .then_some(LimitError::MessageSize { limit })
}

/// A token bucket over bytes: `rate` bytes per second, at most `burst` at once.
#[derive(Debug)]
pub struct TokenBucket {
    /// The configured rate, for the error message.
    per_second: u64,
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: u64, burst: u64) -> TokenBucket {
        let burst = burst.max(rate).max(1) as f64;
        TokenBucket {
            per_second: rate,
            rate: rate as f64,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes `bytes` if the bucket holds them now; otherwise takes nothing.
    pub fn take(&mut self, bytes: usize) -> bool {
        self.take_at(bytes, Instant::now())
    }

    /// [`TokenBucket::take`], as a result: [`LimitError::InputRate`] when refused.
    pub fn admit(&mut self, bytes: usize) -> Result<(), LimitError> {
        if self.take(bytes) {
            Ok(())
        } else {
            Err(LimitError::InputRate {
                rate: self.per_second,
            })
        }
    }

    fn take_at(&mut self, bytes: usize, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.burst);
        let bytes = bytes as f64;
        if bytes <= self.tokens {
            self.tokens -= bytes;
            true
        } else {
            false
        }
    }
}

/// Turns a byte stream into text without breaking a multi-byte character split across two
/// chunks: an incomplete sequence at the end of a chunk is kept for the next one. Bytes that
/// can never be UTF-8 become U+FFFD.
#[derive(Debug, Default)]
pub struct Utf8Stream {
    /// At most 3 bytes: the start of a character whose rest has not arrived yet.
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// The text of `chunk` (with what was pending before), holding back an incomplete tail.
    pub fn push(&mut self, chunk: &[u8]) -> String {
        let mut bytes = std::mem::take(&mut self.pending);
        bytes.extend_from_slice(chunk);
        let mut out = String::with_capacity(bytes.len());
        let mut rest = &bytes[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    out.push_str(valid);
                    break;
                }
                Err(err) => {
                    let (valid, after) = rest.split_at(err.valid_up_to());
                    // `valid_up_to` guarantees that this prefix is UTF-8.
                    out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match err.error_len() {
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[bad..];
                        }
                        None => {
                            self.pending = after.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        out
    }
}

/// How long a connection may go without any frame from the client before it is closed.
pub fn liveness_deadline(ping_interval: Duration) -> Duration {
    ping_interval * 2 + Duration::from_secs(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refuses_over_the_burst_and_refills() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(100, 100);
        bucket.last = start;
        assert!(bucket.take_at(60, start));
        assert!(!bucket.take_at(60, start));
        assert!(bucket.take_at(40, start));
        assert!(!bucket.take_at(1, start));
        assert!(bucket.take_at(50, start + Duration::from_millis(500)));
        assert!(!bucket.take_at(200, start + Duration::from_secs(60)));
    }

    #[test]
    fn a_refusal_names_the_rate() {
        let mut bucket = TokenBucket::new(100, 100);
        assert_eq!(bucket.admit(100), Ok(()));
        let refused = bucket.admit(100).unwrap_err();
        assert_eq!(refused, LimitError::InputRate { rate: 100 });
        assert_eq!(refused.metric_label(), "rate_limited");
        assert!(refused.to_string().contains("100 bytes/s"), "{refused}");
    }

    #[test]
    fn split_characters_are_reassembled() {
        let text = "é€😀";
        let bytes = text.as_bytes();
        for cut in 0..=bytes.len() {
            let mut stream = Utf8Stream::default();
            let mut out = stream.push(&bytes[..cut]);
            out += &stream.push(&bytes[cut..]);
            assert_eq!(out, text, "cut at {cut}");
        }
        let mut stream = Utf8Stream::default();
        let mut out = String::new();
        for byte in bytes {
            out += &stream.push(std::slice::from_ref(byte));
        }
        assert_eq!(out, text);
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut stream = Utf8Stream::default();
        assert_eq!(stream.push(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(stream.push(b"\xe2\x82"), "");
        assert_eq!(stream.push(b"\xac!"), "€!");
    }
}
