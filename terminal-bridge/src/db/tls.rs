//! TLS for every database connection of the bridge (pooled queries, the LISTEN connection,
//! `migrate`), the way the REST hosts (api-host and Spin) connect to the same database:
//!
//! - `sslmode=disable` in `DATABASE_URL`: no TLS. Any other mode (`prefer`, the default, or
//!   `require`): TLS when the server offers it (`require`: or fail), and the server's
//!   certificate is always verified, chain and host name (also for an IP address). Unlike
//!   libpq, `require` does not mean "encrypt without checking". libpq's `verify-ca` and
//!   `verify-full`, which tokio-postgres's parser refuses, are taken as `require`.
//! - Trusted authorities: the system's store (`SSL_CERT_FILE` / `SSL_CERT_DIR` replace it, as
//!   for OpenSSL and Spin), plus the certificates of `--database-ca-file` / `DATABASE_CA_FILE`.
//! - A refused certificate is reported in words ([`describe`]) and not retried
//!   ([`is_certificate_error`]): waiting does not fix it.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{CertificateError, ClientConfig, RootCertStore};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The connector: the system's roots plus `extra` (from the CA file).
pub fn connector(extra: &[CertificateDer<'static>]) -> anyhow::Result<MakeRustlsConnect> {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "reading the system's certificate authorities");
    }
    let mut roots = RootCertStore::empty();
    let (system, _) = roots.add_parsable_certificates(found.certs);
    for (i, cert) in extra.iter().enumerate() {
        roots
            .add(cert.clone())
            .with_context(|| format!("CA certificate {} of DATABASE_CA_FILE", i + 1))?;
    }
    if roots.is_empty() {
        tracing::warn!(
            "no certificate authority to trust (no system store, no DATABASE_CA_FILE): \
             database connections over TLS will fail"
        );
    }
    tracing::debug!(
        system,
        extra = extra.len(),
        "database certificate authorities"
    );
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// The certificates of a PEM file; an error if it cannot be read or holds none.
pub fn ca_file(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("reading DATABASE_CA_FILE {}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading PEM certificates from {}", path.display()))?;
    if certs.is_empty() {
        bail!(
            "DATABASE_CA_FILE {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        );
    }
    Ok(certs)
}

/// `sslmode=verify-ca` / `verify-full` as `require` (see the module docs), in URLs and
/// `key=value` strings alike.
pub fn normalize_sslmode(url: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = url[search..].find("sslmode") {
        let key = search + found;
        search = key + "sslmode".len();
        let starts_key = url[..key]
            .chars()
            .next_back()
            .is_none_or(|c| matches!(c, '?' | '&') || c.is_whitespace());
        let value = url[search..]
            .trim_start()
            .strip_prefix('=')
            .map(str::trim_start)
            .map(|v| v.strip_prefix('\'').unwrap_or(v));
        let Some(value) = value.filter(|_| starts_key) else {
            continue;
        };
        let start = url.len() - value.len();
        let mode = ["verify-full", "verify-ca"].into_iter().find(|mode| {
            value.strip_prefix(mode).is_some_and(|tail| {
                tail.chars()
                    .next()
                    .is_none_or(|c| matches!(c, '&' | '#' | '\'') || c.is_whitespace())
            })
        });
        if let Some(mode) = mode {
            out.push_str(&url[copied..start]);
            out.push_str("require");
            copied = start + mode.len();
            search = copied;
        }
    }
    if copied == 0 {
        return Cow::Borrowed(url);
    }
    out.push_str(&url[copied..]);
    Cow::Owned(out)
}

/// tokio-postgres's message with its cause, and for a refused certificate what is wrong.
pub fn describe(error: &tokio_postgres::Error) -> String {
    let mut text = error.to_string();
    if let Some(cause) = std::error::Error::source(error).map(ToString::to_string)
        && !text.contains(&cause)
    {
        text = format!("{text}: {cause}");
    }
    let hint = match refused_certificate(error) {
        None => return text,
        Some(CertificateError::UnknownIssuer) => {
            "the database server's certificate is not signed by a trusted certificate \
             authority; give its CA with DATABASE_CA_FILE"
        }
        Some(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => "the database server's certificate is not valid for the host name of DATABASE_URL",
        Some(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
            "the database server's certificate has expired"
        }
        Some(_) => "the database server's certificate was refused",
    };
    format!("{text} ({hint})")
}

/// Whether connecting failed because the server's certificate was refused.
pub fn is_certificate_error(error: &tokio_postgres::Error) -> bool {
    refused_certificate(error).is_some()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_modes_become_require() {
        for (url, expected) in [
            (
                "postgres://h/d?sslmode=verify-full",
                "postgres://h/d?sslmode=require",
            ),
            (
                "postgres://h/d?sslmode=verify-ca&x=1",
                "postgres://h/d?sslmode=require&x=1",
            ),
            ("host=h sslmode='verify-ca'", "host=h sslmode='require'"),
            (
                "postgres://h/d?sslmode=disable",
                "postgres://h/d?sslmode=disable",
            ),
            (
                "postgres://h/d?xsslmode=verify-ca",
                "postgres://h/d?xsslmode=verify-ca",
            ),
        ] {
            assert_eq!(normalize_sslmode(url), expected);
        }
    }

    #[test]
    fn a_ca_file_needs_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "nothing").unwrap();
        let err = format!("{:#}", ca_file(&empty).unwrap_err());
        assert!(err.contains("holds no PEM certificate"), "{err}");
        let err = format!(
            "{:#}",
            ca_file(&dir.path().join("missing.pem")).unwrap_err()
        );
        assert!(err.contains("missing.pem"), "{err}");
        let ca = dir.path().join("ca.pem");
        let pem = test_support::pg_tls::TestCa::new("bridge unit test").unwrap();
        std::fs::write(&ca, pem.cert_pem()).unwrap();
        assert_eq!(ca_file(&ca).unwrap().len(), 1);
        assert!(connector(&ca_file(&ca).unwrap()).is_ok());
    }
}
