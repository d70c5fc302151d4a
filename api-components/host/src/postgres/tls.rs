//! TLS for the components' PostgreSQL connections, as Spin 4.1 does it (checked against
//! `spin up`):
//!
//! - `sslmode=disable` connects without TLS; any other mode (`prefer`, the default, and
//!   `require`) uses TLS when the server offers it (`require`: or fails), and always
//!   verifies the server's certificate: its chain up to a trusted authority, and that it
//!   names the host of the address (also for `127.0.0.1`). Unlike libpq, `require` does not
//!   mean "encrypt without checking". `verify-ca` and `verify-full`, which Spin's parser
//!   refuses, are taken as `require` here (the host name is checked all the same).
//! - Trusted authorities: the system's store (`rustls-native-certs`; `SSL_CERT_FILE` and
//!   `SSL_CERT_DIR` replace it, as they do for the OpenSSL that Spin uses, so one setting
//!   works on both hosts), plus the certificate a guest gives with
//!   `connection-builder.set-ca-root` (as Spin). `api-host` additionally applies the
//!   `[[client_tls]]` entries of the runtime configuration (see `runtime_config`) to
//!   PostgreSQL: for a matching component and host, their roots (and client certificate)
//!   replace the system store. Spin 4.1 reads those entries but not for PostgreSQL.
//! - A refused certificate is a `connection-failed` error that says what was wrong with it
//!   ([`describe`]).

use crate::runtime_config::{ClientCert, ClientTls, Roots};
use anyhow::{Context, Result};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{CertificateError, ClientConfig, RootCertStore};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use tokio_postgres::Socket;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The `[[client_tls]]` rules of the runtime configuration, by component, then host; the
/// first entry naming a (component, host) pair wins, as in Spin.
#[derive(Default)]
pub struct PgTls {
    rules: HashMap<String, HashMap<String, Arc<Rule>>>,
}

struct Rule {
    roots: Roots,
    client_cert: Option<ClientCert>,
}

/// A root certificate a guest gave with `set-ca-root`, trusted for that connection in
/// addition to the others.
#[derive(Clone)]
pub struct GuestRoot {
    certs: Vec<CertificateDer<'static>>,
    /// SHA-256 of the PEM text: connections with different roots get different pools.
    hash: String,
}

impl GuestRoot {
    /// Reads every PEM certificate of `pem`; an error (for the guest) if there is none.
    pub fn parse(pem: &str) -> Result<GuestRoot, String> {
        let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("invalid root certificate: {e}"))?;
        if certs.is_empty() {
            return Err("invalid root certificate: no PEM certificate found".into());
        }
        let hash = hex::encode(Sha256::digest(pem.as_bytes()));
        Ok(GuestRoot { certs, hash })
    }
}

impl PgTls {
    /// The rules of `entries`; builds each one's TLS settings once, so a certificate or key
    /// that rustls refuses stops the host at start-up rather than at the first connection.
    pub fn new(entries: Vec<ClientTls>) -> Result<PgTls> {
        let mut rules: HashMap<String, HashMap<String, Arc<Rule>>> = HashMap::new();
        for (i, entry) in entries.into_iter().enumerate() {
            let rule = Arc::new(Rule {
                roots: entry.roots,
                client_cert: entry.client_cert,
            });
            rule.client_config(None)
                .with_context(|| format!("[[client_tls]] entry {}", i + 1))?;
            for component in &entry.component_ids {
                let hosts = rules.entry(component.clone()).or_default();
                for host in &entry.hosts {
                    hosts.entry(host.clone()).or_insert_with(|| rule.clone());
                }
            }
        }
        Ok(PgTls { rules })
    }

    /// The components that have rules.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.rules.keys().map(String::as_str)
    }

    /// What distinguishes `component`'s connections from others' to the same address: its
    /// id if it has rules, else nothing (such components share pools); plus the guest root.
    pub(crate) fn pool_key(&self, component: &str, root: Option<&GuestRoot>) -> String {
        let component = if self.rules.contains_key(component) {
            component
        } else {
            ""
        };
        format!("{component}\u{0}{}", root.map_or("", |r| r.hash.as_str()))
    }

    /// The connector for `component`'s connections to `hosts` (the address's host names).
    pub(crate) fn connector(
        &self,
        component: &str,
        hosts: &[String],
        root: Option<&GuestRoot>,
    ) -> Result<PgMakeTls> {
        let system = Rule {
            roots: Roots {
                platform: true,
                ..Roots::default()
            },
            client_cert: None,
        };
        let default = MakeRustlsConnect::new(system.client_config(root)?);
        let mut by_host = HashMap::new();
        if let Some(rules) = self.rules.get(component) {
            for host in hosts {
                let host = host.to_ascii_lowercase();
                if let Some(rule) = rules.get(&host) {
                    let config = MakeRustlsConnect::new(rule.client_config(root)?);
                    by_host.insert(host, config);
                }
            }
        }
        Ok(PgMakeTls {
            by_host: Arc::new(by_host),
            default,
        })
    }
}

impl Rule {
    fn client_config(&self, guest: Option<&GuestRoot>) -> Result<ClientConfig> {
        let mut store = RootCertStore::empty();
        if self.roots.platform {
            store.roots.extend(platform_roots().roots.iter().cloned());
        }
        if self.roots.webpki {
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        let extra = self.roots.extra.iter();
        for (i, cert) in extra
            .chain(guest.into_iter().flat_map(|g| &g.certs))
            .enumerate()
        {
            store
                .add(cert.clone())
                .with_context(|| format!("root certificate {} is not usable", i + 1))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(store);
        Ok(match &self.client_cert {
            Some(cert) => builder
                .with_client_auth_cert(cert.chain.clone(), cert.key.clone_key())
                .context("the client certificate and key do not go together")?,
            None => builder.with_no_client_auth(),
        })
    }
}

/// The system's trusted authorities, read once.
fn platform_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::warn!(%error, "reading the system's certificate authorities");
        }
        let mut store = RootCertStore::empty();
        let (added, ignored) = store.add_parsable_certificates(found.certs);
        if added == 0 {
            tracing::warn!(
                "no system certificate authority found (install ca-certificates, or set \
                 SSL_CERT_FILE): PostgreSQL over TLS trusts only configured roots"
            );
        }
        tracing::debug!(added, ignored, "system certificate authorities");
        store
    })
}

/// Picks the TLS settings by the host being connected to: a `[[client_tls]]` rule's, else
/// the default (system roots).
#[derive(Clone)]
pub(crate) struct PgMakeTls {
    by_host: Arc<HashMap<String, MakeRustlsConnect>>,
    default: MakeRustlsConnect,
}

impl MakeTlsConnect<Socket> for PgMakeTls {
    type Stream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;
    type TlsConnect = <MakeRustlsConnect as MakeTlsConnect<Socket>>::TlsConnect;
    type Error = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Self::TlsConnect, Self::Error> {
        let mut chosen = self
            .by_host
            .get(&domain.to_ascii_lowercase())
            .unwrap_or(&self.default)
            .clone();
        MakeTlsConnect::<Socket>::make_tls_connect(&mut chosen, domain)
    }
}

/// `verify-ca` and `verify-full` (libpq's, refused by tokio-postgres's parser) as `require`,
/// in URLs (`?sslmode=verify-full`) and `key=value` addresses alike.
pub(crate) fn normalize_sslmode(address: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = address[search..].find("sslmode") {
        let key = search + found;
        search = key + "sslmode".len();
        if let Some((start, end)) = verify_value(address, key) {
            out.push_str(&address[copied..start]);
            out.push_str("require");
            copied = end;
            search = end;
        }
    }
    if copied == 0 {
        return Cow::Borrowed(address);
    }
    out.push_str(&address[copied..]);
    Cow::Owned(out)
}

/// Where the `verify-ca`/`verify-full` value of the `sslmode` key at byte `key` is.
fn verify_value(address: &str, key: usize) -> Option<(usize, usize)> {
    let starts_key = address[..key]
        .chars()
        .next_back()
        .is_none_or(|c| matches!(c, '?' | '&') || c.is_whitespace());
    if !starts_key {
        return None;
    }
    let after = &address[key + "sslmode".len()..];
    let value = after.trim_start().strip_prefix('=')?.trim_start();
    let value = value.strip_prefix('\'').unwrap_or(value);
    let start = address.len() - value.len();
    ["verify-full", "verify-ca"].iter().find_map(|mode| {
        let tail = value.strip_prefix(mode)?;
        let ends = tail
            .chars()
            .next()
            .is_none_or(|c| matches!(c, '&' | '#' | '\'') || c.is_whitespace());
        ends.then_some((start, start + mode.len()))
    })
}

/// A connection error as the guest sees it: tokio-postgres's message, its cause (e.g.
/// "invalid peer certificate: UnknownIssuer"), and for a refused server certificate, what
/// was wrong with it in plain words.
pub(crate) fn describe(error: &tokio_postgres::Error) -> String {
    let mut text = error.to_string();
    if let Some(cause) = std::error::Error::source(error).map(ToString::to_string)
        && !text.contains(&cause)
    {
        text = format!("{text}: {cause}");
    }
    match refused_certificate(error) {
        Some(problem) => format!("{text} ({})", explain(problem)),
        None => text,
    }
}

fn refused_certificate(error: &tokio_postgres::Error) -> Option<&CertificateError> {
    let mut source = std::error::Error::source(error);
    while let Some(error) = source {
        // tokio-rustls wraps rustls's error in an io::Error, whose `source` skips it.
        let rustls_error = error.downcast_ref::<rustls::Error>().or_else(|| {
            error
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(rustls::Error::InvalidCertificate(problem)) = rustls_error {
            return Some(problem);
        }
        source = error.source();
    }
    None
}

fn explain(problem: &CertificateError) -> &'static str {
    match problem {
        CertificateError::UnknownIssuer => {
            "the server's certificate is not signed by a certificate authority this host \
             trusts; trust its CA with SSL_CERT_FILE, set-ca-root, or a [[client_tls]] \
             ca_roots_file in the runtime configuration"
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "the server's certificate is not valid for the host name of the address"
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the server's certificate has expired"
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet"
        }
        _ => "the server's certificate was refused",
    }
}

#[cfg(test)]
mod tests;
