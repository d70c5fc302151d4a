//! A minimal blocking HTTP/1.0 client for probing servers under test, with no dependencies.
//!
//! Blocking: use it for servers in other processes (or from `spawn_blocking`), never for a
//! server running on the same single-threaded runtime as the caller.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

/// What a server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// Header lines as sent, without the status line.
    pub headers: Vec<(String, String)>,
    /// The body, lossily decoded as UTF-8.
    pub body: String,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// `GET url` (plain `http://host:port/path` only) with HTTP/1.0, so the server closes the
/// connection and sends no chunked body. `timeout` bounds connecting and each read.
pub fn http_get(url: &str, timeout: Duration) -> anyhow::Result<HttpResponse> {
    let (addr, host, path) = parse_url(url)?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {addr} for GET {url}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    // One write: `write!` on an unbuffered stream would send each fragment separately.
    let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .with_context(|| format!("reading the response to GET {url}"))?;
    parse_response(&raw).with_context(|| format!("parsing the response to GET {url}"))
}

/// Polls `url` every 50 ms until the server answers anything (any status: it is up), and
/// returns that status. Fails once `timeout` has passed without an answer.
pub fn wait_for_http(url: &str, timeout: Duration) -> anyhow::Result<u16> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let attempt = http_get(
            url,
            left.clamp(Duration::from_millis(50), Duration::from_secs(2)),
        );
        match attempt {
            Ok(response) => return Ok(response.status),
            Err(err) if Instant::now() >= deadline => {
                return Err(err.context(format!("{url} did not answer within {timeout:?}")));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Splits `http://host[:port][/path]` into a socket address, the Host header and the path.
fn parse_url(url: &str) -> anyhow::Result<(SocketAddr, String, String)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("{url}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        bail!("{url}: no host");
    }
    let has_port = match authority.rfind(']') {
        Some(bracket) => authority[bracket..].contains(':'),
        None => authority.contains(':'),
    };
    let with_port = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .with_context(|| format!("resolving {with_port}"))?
        .next()
        .ok_or_else(|| anyhow!("{with_port} resolves to no address"))?;
    Ok((addr, authority.to_owned(), path.to_owned()))
}

fn parse_response(raw: &[u8]) -> anyhow::Result<HttpResponse> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("no end of headers in {} bytes", raw.len()))?;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/") {
        bail!("not an HTTP status line: {status_line:?}");
    }
    let status = parts
        .next()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow!("no status code in {status_line:?}"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let body = String::from_utf8_lossy(&raw[head_end + 4..]).into_owned();
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let (addr, host, path) = parse_url("http://127.0.0.1:3000/api/health?x=1").unwrap();
        assert_eq!(addr, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(host, "127.0.0.1:3000");
        assert_eq!(path, "/api/health?x=1");

        let (addr, _, path) = parse_url("http://[::1]:8001").unwrap();
        assert_eq!(addr, "[::1]:8001".parse().unwrap());
        assert_eq!(path, "/");

        assert!(parse_url("https://127.0.0.1/").is_err());
        assert!(parse_url("http:///x").is_err());
    }

    #[test]
    fn parses_responses() {
        let raw =
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\r\n{\"a\":1}";
        let response = parse_response(raw).unwrap();
        assert_eq!(response.status, 503);
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.body, "{\"a\":1}");
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn talks_to_a_real_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/ping", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut chunk = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = socket.read(&mut chunk).unwrap();
                assert!(n > 0, "connection closed mid-request");
                request.extend_from_slice(&chunk[..n]);
            }
            assert!(request.starts_with(b"GET /ping HTTP/1.0\r\n"));
            socket
                .write_all(b"HTTP/1.0 204 No Content\r\nX-Test: yes\r\n\r\n")
                .unwrap();
        });
        assert_eq!(wait_for_http(&url, Duration::from_secs(5)).unwrap(), 204);
        server.join().unwrap();
    }

    #[test]
    fn wait_for_http_gives_up() {
        let url = format!("http://127.0.0.1:{}/", crate::free_port());
        let started = Instant::now();
        assert!(wait_for_http(&url, Duration::from_millis(300)).is_err());
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
