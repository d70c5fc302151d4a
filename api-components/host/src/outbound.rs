//! `allowed_outbound_hosts`: which `scheme://host:port` a component may reach, in Spin's
//! syntax (`*` for any scheme, host or port; `*.example.com`; `8000..8010` port ranges;
//! a default port per scheme when none is written).

use anyhow::{Context, Result, bail};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `*.example.com`: any subdomain (not the bare domain).
    Subdomains(String),
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    /// Inclusive start, exclusive end, as Spin's `a..b`.
    Range(u16, u16),
    Exact(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

/// A component's outbound allow-list; empty means nothing is allowed.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    entries: Vec<Allowed>,
}

pub fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        "postgres" | "postgresql" => 5432,
        "mysql" => 3306,
        "redis" => 6379,
        "mqtt" => 1883,
        _ => return None,
    })
}

impl AllowedHosts {
    /// Parses already-rendered entries (templates expanded by the caller).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<AllowedHosts> {
        let entries = entries
            .iter()
            .map(|e| {
                parse_entry(e.as_ref())
                    .with_context(|| format!("allowed_outbound_hosts entry {:?}", e.as_ref()))
            })
            .collect::<Result<_>>()?;
        Ok(AllowedHosts { entries })
    }

    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.entries.iter().any(|e| {
            e.scheme
                .as_deref()
                .is_none_or(|s| s == scheme || (s == "postgres" && scheme == "postgresql"))
                && match &e.host {
                    HostPattern::Any => true,
                    HostPattern::Exact(h) => *h == host,
                    HostPattern::Subdomains(d) => host
                        .strip_suffix(d.as_str())
                        .is_some_and(|p| p.ends_with('.')),
                }
                && match e.port {
                    PortPattern::Any => true,
                    PortPattern::Exact(p) => p == port,
                    PortPattern::Range(a, b) => (a..b).contains(&port),
                }
        })
    }

    /// The check as a shareable closure, for host interfaces that take one.
    pub fn into_check(self) -> crate::postgres::HostCheck {
        Arc::new(move |scheme, host, port| self.allows(scheme, host, port))
    }
}

fn parse_entry(entry: &str) -> Result<Allowed> {
    let (scheme, rest) = entry
        .split_once("://")
        .context("must be of the form scheme://host[:port]")?;
    if scheme.is_empty() || rest.is_empty() {
        bail!("must be of the form scheme://host[:port]");
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') || rest.contains('@') || rest.contains('?') {
        bail!("must not contain a path, user or query");
    }
    let scheme = (scheme != "*").then(|| scheme.to_ascii_lowercase());
    let (host, port) = split_host_port(rest)?;
    let host = match host {
        "*" => HostPattern::Any,
        h if h.starts_with("*.") => HostPattern::Subdomains(h[2..].to_ascii_lowercase()),
        h if h.contains('*') => bail!("'*' may only stand for the whole host or a leading label"),
        h => HostPattern::Exact(h.to_ascii_lowercase()),
    };
    let port = match port {
        Some("*") => PortPattern::Any,
        Some(p) if p.contains("..") => {
            let (a, b) = p.split_once("..").unwrap_or_default();
            let (a, b): (u16, u16) = (a.parse()?, b.parse()?);
            if a >= b {
                bail!("empty port range {p}");
            }
            PortPattern::Range(a, b)
        }
        Some(p) => PortPattern::Exact(p.parse().with_context(|| format!("bad port {p:?}"))?),
        None => match scheme.as_deref().and_then(default_port) {
            Some(p) => PortPattern::Exact(p),
            None => bail!("a port is needed: the scheme has no default port"),
        },
    };
    Ok(Allowed { scheme, host, port })
}

fn split_host_port(rest: &str) -> Result<(&str, Option<&str>)> {
    if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']').context("unclosed '['")?;
        return Ok((host, after.strip_prefix(':')));
    }
    Ok(match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_wildcards_ranges_and_defaults() {
        let a = AllowedHosts::parse(&[
            "http://127.0.0.1:8001",
            "postgres://db.internal",
            "https://*.example.com",
            "*://cache:*",
            "http://[::1]:9000..9002",
        ])
        .unwrap();
        assert!(a.allows("http", "127.0.0.1", 8001));
        assert!(!a.allows("http", "127.0.0.1", 8002));
        assert!(!a.allows("https", "127.0.0.1", 8001));
        assert!(a.allows("postgres", "db.internal", 5432));
        assert!(a.allows("postgresql", "DB.internal", 5432));
        assert!(!a.allows("postgres", "db.internal", 5433));
        assert!(a.allows("https", "api.example.com", 443));
        assert!(!a.allows("https", "example.com", 443));
        assert!(!a.allows("https", "evilexample.com", 443));
        assert!(a.allows("redis", "cache", 1));
        assert!(a.allows("http", "::1", 9001));
        assert!(a.allows("http", "[::1]", 9000));
        assert!(!a.allows("http", "::1", 9002));
    }

    #[test]
    fn empty_list_allows_nothing_and_bad_entries_fail() {
        assert!(!AllowedHosts::default().allows("http", "localhost", 80));
        for bad in [
            "localhost",
            "http://",
            "http://a/b",
            "http://u@a",
            "foo://a",
            "http://a:x",
            "http://a*b:1",
            "http://a:5..5",
        ] {
            assert!(AllowedHosts::parse(&[bad]).is_err(), "{bad}");
        }
    }
}
