//! Certificates for a [`crate::PgCluster`] started with TLS ([`crate::PgCluster::start_tls`]):
//! a throwaway certificate authority, a server certificate it signed for `127.0.0.1` and
//! `localhost`, and a second, unrelated authority that signed nothing, for tests that expect a
//! certificate to be refused. Made fresh for every cluster with `rcgen`; nothing is cached.
//! [`TestCa`] makes more (e.g. client certificates) for tests that need them.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use crate::os_user::RunAs;

/// The names the server certificate is valid for: the cluster listens on 127.0.0.1 only, and
/// `localhost` is how a test would name it otherwise.
pub const SERVER_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// Where a TLS cluster's certificates are (all PEM).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The authority that signed the server's certificate: trust it and connecting works.
    pub ca_pem: PathBuf,
    /// An authority that signed nothing of this cluster's: trusting only it must fail.
    pub other_ca_pem: PathBuf,
    /// The server's certificate (leaf only), as the server presents it.
    pub server_cert_pem: PathBuf,
    /// The server's private key, readable by the server's user only (PostgreSQL insists).
    pub(crate) server_key_pem: PathBuf,
}

/// Makes the two authorities and the server certificate, and writes them into `dir`; the key
/// is handed to `owner` (the user the server runs as) and made private.
pub(crate) fn write(dir: &Path, owner: Option<&RunAs>) -> anyhow::Result<TlsFiles> {
    let ca = TestCa::new("test-support PgCluster CA")?;
    let other = TestCa::new("test-support unrelated CA")?;
    let (cert, key) = ca.issue(&SERVER_NAMES, Usage::Server)?;
    let files = TlsFiles {
        ca_pem: dir.join("ca.pem"),
        other_ca_pem: dir.join("other-ca.pem"),
        server_cert_pem: dir.join("server.crt"),
        server_key_pem: dir.join("server.key"),
    };
    write_file(&files.ca_pem, &ca.cert_pem(), 0o644)?;
    write_file(&files.other_ca_pem, &other.cert_pem(), 0o644)?;
    write_file(&files.server_cert_pem, &cert, 0o644)?;
    write_file(&files.server_key_pem, &key, 0o600)?;
    if let Some(user) = owner {
        for path in [&files.server_cert_pem, &files.server_key_pem] {
            std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
                .with_context(|| format!("handing {} to user {}", path.display(), user.name))?;
        }
    }
    Ok(files)
}

/// What a certificate from [`TestCa::issue`] is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    Server,
    Client,
}

/// A throwaway certificate authority that can sign server and client certificates.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    /// A self-signed authority whose common name is `name`.
    pub fn new(name: &str) -> anyhow::Result<TestCa> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().context("generating a CA key")?;
        let issuer = CertifiedIssuer::self_signed(params, key)
            .with_context(|| format!("making CA {name:?}"))?;
        Ok(TestCa { issuer })
    }

    /// The authority's own certificate, PEM.
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `names` (host names, IP addresses, or for a client the user name as
    /// the first), signed by this authority: `(certificate PEM, private key PEM)`.
    pub fn issue(&self, names: &[&str], usage: Usage) -> anyhow::Result<(String, String)> {
        let sans = match usage {
            Usage::Server => names.iter().map(|n| n.to_string()).collect(),
            Usage::Client => Vec::new(),
        };
        let mut params = CertificateParams::new(sans).context("certificate names")?;
        let common_name = names.first().copied().unwrap_or("test-support");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![match usage {
            Usage::Server => ExtendedKeyUsagePurpose::ServerAuth,
            Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        let key = KeyPair::generate().context("generating a key")?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .context("signing a certificate")?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

fn write_file(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
