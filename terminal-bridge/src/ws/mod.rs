//! The browsers' WebSockets.
//!
//! - `GET /ws`: the JSON protocol ([`json`], messages in [`protocol`]): many sessions and
//!   terminals per socket, file and workspace events.
//! - `GET /ws/sessions/{uuid}/terminals/{id}`: one terminal as raw bytes ([`raw`]), for
//!   `websocat` and scripts.
//!
//! Both check the `Origin` ([`origin_allowed`]) before the upgrade, authenticate with a bearer
//! token ([`auth`]), and apply the limits of [`WsConfig`] ([`limits`]). Whatever fails reaches
//! the client as a [`ClientError`] ([`error`]): an `error` message, a close frame or an HTTP
//! refusal, counted in `bridge_ws_errors_total`.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::HeaderMap;
use axum::http::header::{HOST, ORIGIN};

pub mod auth;
pub mod error;
pub mod json;
pub mod limits;
pub mod protocol;
pub mod raw;

pub use error::{
    CLOSE_DETACHED, CLOSE_FORBIDDEN, CLOSE_PING_TIMEOUT, CLOSE_RATE_LIMITED, CLOSE_RESTART,
    CLOSE_SERVER_ERROR, CLOSE_TOO_BIG, CLOSE_UNAUTHORIZED, ClientError,
};

/// Limits and timeouts of the WebSocket endpoints (see `ServeArgs` for their variables).
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// Largest message a client may send; larger ones close the connection with 1009.
    pub max_message_bytes: usize,
    /// Terminal input per connection, bytes per second (token bucket rate).
    pub input_rate: u64,
    /// Terminal input a connection may send at once (token bucket size).
    pub input_burst: u64,
    /// How often the server pings; a client silent for about two intervals is closed.
    pub ping_interval: Duration,
    /// How long `/ws` waits for the `auth` message when the token came neither in a header
    /// nor in the query.
    pub auth_timeout: Duration,
    /// Origins allowed to open WebSockets. `None`: only pages of the same host; `*` in the
    /// list allows all. Requests without `Origin` (not from a browser) are always allowed.
    pub allowed_origins: Option<Vec<String>>,
    /// Output bytes in flight per client per terminal (the agent-protocol credit window).
    pub output_window: u32,
    /// How long a shutdown waits for clients to be told before the process moves on.
    pub shutdown_grace: Duration,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            max_message_bytes: 64 * 1024,
            input_rate: 64 * 1024,
            input_burst: 256 * 1024,
            ping_interval: Duration::from_secs(20),
            auth_timeout: Duration::from_secs(10),
            allowed_origins: None,
            output_window: 256 * 1024,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Parses `CORS_ORIGINS` (comma-separated; blank entries ignored).
pub fn parse_origins(list: Option<&str>) -> Option<Vec<String>> {
    let list = list?.trim();
    if list.is_empty() {
        return None;
    }
    Some(
        list.split(',')
            .map(|origin| origin.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|origin| !origin.is_empty())
            .collect(),
    )
}

/// Whether a request may open a WebSocket, judged by its `Origin`.
pub fn origin_allowed(headers: &HeaderMap, allowed: Option<&[String]>) -> bool {
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    match allowed {
        Some(list) => list.iter().any(|entry| entry == "*" || *entry == origin),
        None => {
            // Same host (any port, so a front end on :3000 may reach the bridge on :8001).
            let origin_host = origin
                .split_once("://")
                .map(|(_, rest)| rest)
                .unwrap_or(&origin);
            let host = headers
                .get(HOST)
                .and_then(|host| host.to_str().ok())
                .unwrap_or_default()
                .to_ascii_lowercase();
            !host.is_empty() && hostname(origin_host) == hostname(&host)
        }
    }
}

/// `host[:port]` without the port (IPv6 literals keep their brackets).
fn hostname(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// Capacity of each socket's read buffer. tungstenite's default (128 KiB, allocated at the
/// upgrade) made an idle connection cost about 140 KiB of resident memory; clients send small
/// messages (keystrokes, control), and a larger message still arrives whole (the buffer grows
/// to the frame's length, up to `max_message_bytes`).
pub const READ_BUFFER_BYTES: usize = 4 * 1024;

/// How long a close frame may take to leave: the client may have stopped reading.
const CLOSE_SEND_LIMIT: Duration = Duration::from_secs(2);

/// Sends one message within `limit`; false if the client is gone or has not taken it in time
/// (a client that stopped reading must not hold its connection task forever).
pub async fn send(socket: &mut WebSocket, message: Message, limit: Duration) -> bool {
    matches!(
        tokio::time::timeout(limit, socket.send(message)).await,
        Ok(Ok(()))
    )
}

/// Sends a close frame (best effort: the client may be gone). Errors close through
/// [`error::close_with`], which counts them and picks the code.
pub async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    // Close reasons are limited to 123 bytes.
    let mut reason = reason.to_owned();
    while reason.len() > 123 {
        reason.pop();
    }
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    let _ = send(socket, frame, CLOSE_SEND_LIMIT).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: &str, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, origin.parse().unwrap());
        headers.insert(HOST, host.parse().unwrap());
        headers
    }

    #[test]
    fn origins_are_checked() {
        let list = parse_origins(Some(" https://app.example/ , http://localhost:3000")).unwrap();
        assert!(origin_allowed(
            &headers("https://app.example", "bridge"),
            Some(&list)
        ));
        assert!(origin_allowed(
            &headers("http://localhost:3000", "x"),
            Some(&list)
        ));
        assert!(!origin_allowed(
            &headers("https://evil.example", "app.example"),
            Some(&list)
        ));
        assert!(origin_allowed(&HeaderMap::new(), Some(&list)));
        // Unset: same host only.
        assert!(origin_allowed(
            &headers("http://localhost:3000", "localhost:8001"),
            None
        ));
        assert!(!origin_allowed(
            &headers("https://evil.example", "localhost:8001"),
            None
        ));
        assert!(origin_allowed(
            &headers("http://[::1]:3000", "[::1]:8001"),
            None
        ));
        let all = parse_origins(Some("*")).unwrap();
        assert!(origin_allowed(
            &headers("https://evil.example", "h"),
            Some(&all)
        ));
        assert_eq!(parse_origins(Some("  ")), None);
    }
}
