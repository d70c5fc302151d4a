//! The runtime configuration file (`--runtime-config-file`), in Spin's format, so one file
//! serves both `api-host` and `spin up --runtime-config-file`.
//!
//! Only `[[client_tls]]` is read: which certificate authorities (and client certificate)
//! the PostgreSQL connections of some components to some hosts use. Like Spin, the file is
//! refused at start-up when it has keys nobody reads (here: anything but `client_tls`), an
//! entry has an unknown field, an empty `component_ids` or `hosts`, a component id that is
//! not kebab-case, a host with a port or scheme, no root at all, half a client
//! certificate, or a file that cannot be read. Relative paths are relative to the file's
//! directory, as in Spin.
//!
//! ```toml
//! [[client_tls]]
//! component_ids = ["users", "sessions"]
//! hosts = ["db.example.com"]            # host names or addresses, no ports
//! ca_roots_file = "db-ca.pem"           # PEM, one or more certificates
//! ca_use_platform_roots = false         # default: true unless ca_roots_file is given
//! ca_use_webpki_roots = false           # default: false (Mozilla's roots, built in)
//! client_cert_file = "client.pem"       # both or neither
//! client_private_key_file = "client.key"
//! ```
//!
//! Spin 4.1 parses `[[client_tls]]` the same way but does not apply it to PostgreSQL (its
//! PostgreSQL client trusts OpenSSL's default roots, which `SSL_CERT_FILE` replaces); see
//! `postgres::tls`.

use anyhow::{Context, Result, bail, ensure};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// What the runtime configuration file says.
#[derive(Debug, Default)]
pub struct RuntimeConfig {
    /// The `[[client_tls]]` entries, in file order (the first matching one wins).
    pub client_tls: Vec<ClientTls>,
}

/// One `[[client_tls]]` entry.
#[derive(Debug)]
pub struct ClientTls {
    pub component_ids: Vec<String>,
    /// Lower-cased host names or IP addresses.
    pub hosts: Vec<String>,
    pub roots: Roots,
    pub client_cert: Option<ClientCert>,
}

/// The certificate authorities a connection trusts.
#[derive(Debug, Clone, Default)]
pub struct Roots {
    /// The system's store (`SSL_CERT_FILE` / `SSL_CERT_DIR` replace it, as for OpenSSL).
    pub platform: bool,
    /// Mozilla's roots, built into the binary.
    pub webpki: bool,
    /// Certificates from `ca_roots_file`.
    pub extra: Vec<CertificateDer<'static>>,
}

/// A client certificate chain and its key, for servers that ask for one.
#[derive(Debug)]
pub struct ClientCert {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientTlsToml {
    component_ids: Vec<String>,
    hosts: Vec<String>,
    ca_use_platform_roots: Option<bool>,
    ca_use_webpki_roots: Option<bool>,
    ca_roots_file: Option<PathBuf>,
    client_cert_file: Option<PathBuf>,
    client_private_key_file: Option<PathBuf>,
}

impl RuntimeConfig {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<RuntimeConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading runtime config {}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, dir).with_context(|| format!("runtime config {}", path.display()))
    }

    /// Parses `text`, reading the files it names relative to `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<RuntimeConfig> {
        let mut table: toml::Table = toml::from_str(text).context("not valid TOML")?;
        let client_tls = table.remove("client_tls");
        if !table.is_empty() {
            let keys: Vec<&str> = table.keys().map(String::as_str).collect();
            bail!(
                "unsupported runtime config key(s): {} (api-host reads only [[client_tls]])",
                keys.join(", ")
            );
        }
        let Some(client_tls) = client_tls else {
            return Ok(RuntimeConfig::default());
        };
        let entries: Vec<ClientTlsToml> = client_tls
            .try_into()
            .context("failed to parse [[client_tls]]")?;
        let client_tls = entries
            .into_iter()
            .enumerate()
            .map(|(i, entry)| {
                load_entry(entry, dir).with_context(|| format!("[[client_tls]] entry {}", i + 1))
            })
            .collect::<Result<_>>()?;
        Ok(RuntimeConfig { client_tls })
    }
}

fn load_entry(entry: ClientTlsToml, dir: &Path) -> Result<ClientTls> {
    ensure!(
        !entry.component_ids.is_empty(),
        "'component_ids' may not be empty"
    );
    ensure!(!entry.hosts.is_empty(), "'hosts' may not be empty");
    for id in &entry.component_ids {
        check_component_id(id).with_context(|| format!("component id {id:?}"))?;
    }
    let hosts = entry
        .hosts
        .iter()
        .map(|host| check_host(host).with_context(|| format!("invalid TLS host {host:?}")))
        .collect::<Result<Vec<_>>>()?;
    // As Spin: an explicit root file turns the system's store off unless asked for.
    let roots = Roots {
        platform: entry
            .ca_use_platform_roots
            .unwrap_or(entry.ca_use_webpki_roots.is_none() && entry.ca_roots_file.is_none()),
        webpki: entry.ca_use_webpki_roots.unwrap_or(false),
        extra: match &entry.ca_roots_file {
            Some(file) => certificates(&dir.join(file))?,
            None => Vec::new(),
        },
    };
    ensure!(
        roots.platform || roots.webpki || !roots.extra.is_empty(),
        "no certificate authority to trust: set ca_use_platform_roots, ca_use_webpki_roots \
         or a ca_roots_file holding at least one PEM certificate"
    );
    let client_cert = match (&entry.client_cert_file, &entry.client_private_key_file) {
        (Some(cert), Some(key)) => Some(ClientCert {
            chain: certificates(&dir.join(cert))?,
            key: PrivateKeyDer::from_pem_file(dir.join(key))
                .with_context(|| format!("reading a PEM private key from {}", key.display()))?,
        }),
        (None, None) => None,
        (Some(_), None) => bail!("client_cert_file is given without client_private_key_file"),
        (None, Some(_)) => bail!("client_private_key_file is given without client_cert_file"),
    };
    Ok(ClientTls {
        component_ids: entry.component_ids,
        hosts,
        roots,
        client_cert,
    })
}

/// Every PEM certificate in `path` (none is not an error here; the caller decides).
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading certificates {}", path.display()))?;
    CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading PEM certificates from {}", path.display()))
}

/// Spin's component ids: words of ASCII letters and digits joined by `-`, each word all
/// lower or all upper case, the first starting with a letter.
fn check_component_id(id: &str) -> Result<()> {
    ensure!(!id.is_empty(), "empty");
    ensure!(!id.contains('_'), "words are joined with '-', not '_'");
    for (i, word) in id.split('-').enumerate() {
        let Some(first) = word.chars().next() else {
            bail!("empty word between '-'");
        };
        ensure!(
            first.is_ascii_alphabetic() || (i > 0 && first.is_ascii_digit()),
            "a word starts with {first:?}; words start with an ASCII letter (or digit, after the first)"
        );
        ensure!(
            word.chars().all(|c| c.is_ascii_alphanumeric()),
            "word {word:?} has a character other than an ASCII letter or digit"
        );
        ensure!(
            !(word.chars().any(|c| c.is_ascii_lowercase())
                && word.chars().any(|c| c.is_ascii_uppercase())),
            "word {word:?} mixes lower and upper case"
        );
    }
    Ok(())
}

/// A host name or address without port or scheme, lower-cased (names match without case).
fn check_host(host: &str) -> Result<String> {
    let authority: http::uri::Authority = host.parse().context("not a host name or address")?;
    ensure!(
        authority.port().is_none(),
        "ports are not supported (Spin refuses them too): give the host alone"
    );
    Ok(authority
        .host()
        .trim_matches(['[', ']'])
        .to_ascii_lowercase())
}

#[cfg(test)]
mod tests;
