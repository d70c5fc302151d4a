//! `allowed_outbound_hosts`: which `scheme://host:port` a component may reach, with
//! Spin's parsing and matching (checked against the real Spin by
//! `tests/outbound_allow_list.rs`):
//!
//! - An entry is `scheme://host[:port][/]`. The scheme is `*` or letters only, compared
//!   exactly (`postgres` does not cover `postgresql`). The host is `*`, `*.domain` (any
//!   name ending in `.domain`), an IP address or CIDR network (`10.0.0.0/8`), `self`
//!   (never matches a full URL), or a name compared exactly (not case-folded; an entry
//!   with a user part, `u@host`, is accepted and matches nothing). The port is `*`, a
//!   number, `a..b` (a to b, b excluded), or absent: then the scheme's well-known port
//!   (`http` 80, `https` 443, `postgres` 5432, `mysql` 3306, `redis` 6379, `mqtt` 1883;
//!   another scheme without a port is an error).
//! - A request matches an entry when its scheme, host and port (its own or its scheme's
//!   well-known one) all do.

use anyhow::{Context, Result, bail, ensure};
use std::net::IpAddr;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `*.example.com`, kept as `.example.com`.
    Suffix(String),
    /// `self`: only relative URLs, which this host does not serve.
    ToSelf,
    Network(IpAddr, u8),
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
    /// `None` for `*`.
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

/// A component's outbound allow-list; empty means nothing is allowed.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    entries: Vec<Allowed>,
}

/// The port a URL of `scheme` without one goes to, as far as the allow-list knows.
pub fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "http" => 80,
        "https" => 443,
        "postgres" => 5432,
        "mysql" => 3306,
        "redis" => 6379,
        "mqtt" => 1883,
        _ => return None,
    })
}

impl AllowedHosts {
    /// Parses already-rendered entries (templates expanded by the caller).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<AllowedHosts> {
        if let [only] = entries
            && only.as_ref() == "insecure:allow-all"
        {
            bail!("'insecure:allow-all' is not allowed: use '*://*:*' to allow everything");
        }
        let entries = entries
            .iter()
            .map(|e| {
                parse_entry(e.as_ref())
                    .with_context(|| format!("allowed_outbound_hosts entry {:?}", e.as_ref()))
            })
            .collect::<Result<_>>()?;
        Ok(AllowedHosts { entries })
    }

    /// Whether `scheme://host:port` may be reached. `host` as a URL parser gives it
    /// (lower-cased for `http` and `https`, IPv6 addresses in brackets).
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.entries.iter().any(|e| {
            e.scheme.as_deref().is_none_or(|s| s == scheme)
                && match &e.host {
                    HostPattern::Any => true,
                    HostPattern::Suffix(suffix) => host.ends_with(suffix.as_str()),
                    HostPattern::ToSelf => false,
                    HostPattern::Exact(h) => h == host,
                    HostPattern::Network(net, len) => host
                        .parse::<IpAddr>()
                        .is_ok_and(|ip| in_network(ip, *net, *len)),
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
    let entry = entry.trim();
    let (scheme, rest) = entry
        .split_once("://")
        .context("must be of the form scheme://host[:port] (with '*' wildcards)")?;
    let (host, port) = rest.rsplit_once(':').unwrap_or((rest, ""));
    let port = match port.split_once('/') {
        Some((_, path)) if !path.is_empty() => bail!("must not have a path"),
        Some((port, _)) => port,
        None => port,
    };
    let scheme = match scheme {
        "*" => None,
        s if s.starts_with('{') => bail!("scheme lists are not supported"),
        s if !s.chars().all(char::is_alphabetic) => {
            bail!("scheme {s:?} contains a non-alphabetic character")
        }
        s => Some(s.to_owned()),
    };
    Ok(Allowed {
        host: parse_host(host)?,
        port: parse_port(port, scheme.as_deref().unwrap_or("*"))?,
        scheme,
    })
}

fn parse_host(host: &str) -> Result<HostPattern> {
    let host = host.trim();
    Ok(match host {
        "*" => HostPattern::Any,
        "self" | "self.alt" => HostPattern::ToSelf,
        h if h.starts_with('{') => bail!("host lists are not supported"),
        h => {
            if let Some((net, len)) = parse_network(h) {
                return Ok(HostPattern::Network(net, len));
            }
            if h.split('/').nth(1).is_some_and(|path| !path.is_empty()) {
                bail!("hosts must not contain paths");
            }
            if let Some(domain) = h.strip_prefix("*.") {
                ensure!(
                    !domain.contains('*'),
                    "wildcards are allowed only as prefixes"
                );
                return Ok(HostPattern::Suffix(format!(".{domain}")));
            }
            ensure!(!h.contains('*'), "wildcards are allowed only as subdomains");
            HostPattern::Exact(h.trim_end_matches('/').to_owned())
        }
    })
}

/// `ip` or `ip/prefix-length` (host bits ignored).
fn parse_network(text: &str) -> Option<(IpAddr, u8)> {
    let (ip, len) = match text.split_once('/') {
        Some((ip, len)) => (ip.parse::<IpAddr>().ok()?, Some(len.parse::<u8>().ok()?)),
        None => (text.parse::<IpAddr>().ok()?, None),
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((ip, len))
}

fn in_network(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    let bits = |a: IpAddr| -> Option<(u128, u8)> {
        match a {
            IpAddr::V4(v) => Some((u32::from(v).into(), 32)),
            IpAddr::V6(v) => Some((u128::from(v), 128)),
        }
    };
    let (Some((a, width)), Some((b, net_width))) = (bits(ip), bits(net)) else {
        return false;
    };
    if width != net_width {
        return false;
    }
    let shift = u32::from(width - len);
    let (a, b) = (a >> shift.min(127), b >> shift.min(127));
    len == 0 || a == b
}

fn parse_port(port: &str, scheme: &str) -> Result<PortPattern> {
    Ok(match port {
        "" => PortPattern::Exact(default_port(scheme).with_context(|| {
            format!("no port was given and the scheme {scheme:?} has no well-known port")
        })?),
        "*" => PortPattern::Any,
        p if p.starts_with('{') => bail!("port lists are not supported"),
        p => match p.split_once("..") {
            Some((a, b)) => PortPattern::Range(
                a.parse()
                    .with_context(|| format!("port range {p:?} has a non-number"))?,
                b.parse()
                    .with_context(|| format!("port range {p:?} has a non-number"))?,
            ),
            None => PortPattern::Exact(
                p.parse()
                    .with_context(|| format!("port {p:?} is not a number"))?,
            ),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_wildcards_ranges_networks_and_defaults() {
        let a = AllowedHosts::parse(&[
            "http://127.0.0.1:8001",
            "postgres://db.internal",
            "https://*.example.com",
            "*://cache:*",
            "http://[::1]:9000..9002",
            "mysql://10.1.0.0/16:*",
            "http://self",
        ])
        .unwrap();
        assert!(a.allows("http", "127.0.0.1", 8001));
        assert!(!a.allows("http", "127.0.0.1", 8002));
        assert!(!a.allows("https", "127.0.0.1", 8001));
        assert!(a.allows("postgres", "db.internal", 5432));
        assert!(
            !a.allows("postgresql", "db.internal", 5432),
            "no scheme alias"
        );
        assert!(
            !a.allows("postgres", "DB.internal", 5432),
            "no case folding"
        );
        assert!(!a.allows("postgres", "db.internal", 5433));
        assert!(a.allows("https", "api.example.com", 443));
        assert!(!a.allows("https", "example.com", 443));
        assert!(!a.allows("https", "evilexample.com", 443));
        assert!(a.allows("redis", "cache", 1));
        assert!(a.allows("http", "[::1]", 9001));
        assert!(!a.allows("http", "[::1]", 9002));
        assert!(a.allows("mysql", "10.1.200.3", 1));
        assert!(!a.allows("mysql", "10.2.0.1", 1));
        assert!(!a.allows("http", "self", 80));
    }

    #[test]
    fn empty_list_allows_nothing_and_entries_parse_as_in_spin() {
        assert!(!AllowedHosts::default().allows("http", "localhost", 80));
        for bad in [
            "localhost",
            "foo://a",
            "postgresql://a",
            "*://a",
            "http://a:x",
            "http://a*b:1",
            "http://*.a*:1",
            "http://a/b",
            "http://a:80/b",
            "git+ssh://a:1",
            "http://{a,b}:80",
        ] {
            assert!(AllowedHosts::parse(&[bad]).is_err(), "{bad}");
        }
        assert!(AllowedHosts::parse(&["insecure:allow-all"]).is_err());
        // Accepted by Spin, matching nothing (or the empty range).
        for odd in [
            "http://u@a",
            "http://a:5..5",
            "http://a/",
            "http://a:80/",
            "http://*",
        ] {
            AllowedHosts::parse(&[odd]).unwrap_or_else(|e| panic!("{odd}: {e:#}"));
        }
        let all = AllowedHosts::parse(&["*://*:*"]).unwrap();
        assert!(all.allows("gopher", "anything", 7));
    }

    #[test]
    fn networks() {
        assert_eq!(
            parse_network("10.1.2.3/8"),
            Some(("10.1.2.3".parse().unwrap(), 8))
        );
        assert!(in_network(
            "10.200.0.1".parse().unwrap(),
            "10.1.2.3".parse().unwrap(),
            8
        ));
        assert!(in_network(
            "1.2.3.4".parse().unwrap(),
            "0.0.0.0".parse().unwrap(),
            0
        ));
        assert!(!in_network(
            "::1".parse().unwrap(),
            "127.0.0.1".parse().unwrap(),
            32
        ));
        assert_eq!(parse_network("10.0.0.0/33"), None);
    }
}
