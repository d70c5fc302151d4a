//! Who is calling: the client's address (from the host's `spin-client-addr` header, which
//! clients cannot forge: hosts drop client-sent `spin-*` headers) and its `User-Agent`.

use http::HeaderMap;
use std::net::{IpAddr, SocketAddr};

/// Longest `User-Agent` stored with a token; longer values are cut (at a character boundary).
const USER_AGENT_MAX_BYTES: usize = 512;

/// What is known about the caller.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client's IP address without the port (`None` if the host did not say).
    pub addr: Option<String>,
    /// The `User-Agent` header (invalid UTF-8 replaced), at most [`USER_AGENT_MAX_BYTES`].
    pub user_agent: Option<String>,
}

impl ClientInfo {
    pub fn from_headers(headers: &HeaderMap) -> ClientInfo {
        let addr = headers
            .get("spin-client-addr")
            .and_then(|v| v.to_str().ok())
            .and_then(ip_of);
        // Not `to_str`: that refuses any non-ASCII byte, and user agents do carry UTF-8.
        let user_agent = headers
            .get(http::header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
            .map(|ua| truncate(ua.trim(), USER_AGENT_MAX_BYTES).to_owned())
            .filter(|ua| !ua.is_empty());
        ClientInfo { addr, user_agent }
    }
}

/// `"203.0.113.9:51234"` or `"[2001:db8::1]:443"` (or a bare address) to the address alone.
fn ip_of(value: &str) -> Option<String> {
    let value = value.trim();
    value
        .parse::<SocketAddr>()
        .map(|s| s.ip())
        .or_else(|_| value.parse::<IpAddr>())
        .ok()
        .map(|ip| ip.to_canonical().to_string())
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
