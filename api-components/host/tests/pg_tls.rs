//! PostgreSQL over TLS through the `fixture` component's `/fixture/pg`, on api-host and on
//! the real Spin (`#[each_host]`), against a throwaway cluster serving TLS with a certificate
//! from a CA the test made (`PgCluster::start_tls`).
//!
//! What both hosts do alike: `sslmode=require` and the default `prefer` use TLS and verify
//! the certificate (chain and host name, also for 127.0.0.1) against the system's roots,
//! which `SSL_CERT_FILE` replaces; a wrong CA or a certificate for another name is refused
//! with a connection error that says so; `sslmode=disable` connects without TLS. Where they
//! differ, each test says so: Spin 4.1 refuses `sslmode=verify-full` as an invalid address,
//! and does not apply the runtime configuration's `[[client_tls]]` to PostgreSQL.

mod common;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use test_support::{Host, PgCluster, each_host};

/// A TLS cluster with database `tls`, and a manifest serving `fixture` whose `database_url`
/// comes from `SPIN_VARIABLE_DATABASE_URL`.
struct Setup {
    cluster: PgCluster,
    dir: tempfile::TempDir,
    manifest: PathBuf,
}

impl Setup {
    async fn new() -> Setup {
        let cluster = PgCluster::start_tls().expect("starting PostgreSQL with TLS");
        cluster.create_database("tls").await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("spin.toml");
        let port = cluster.port();
        let text = common::pg_fixture_manifest(
            "pg-tls",
            &[
                format!("postgres://127.0.0.1:{port}"),
                format!("postgres://db.invalid:{port}"),
            ],
        );
        std::fs::write(&manifest, text).unwrap();
        Setup {
            cluster,
            dir,
            manifest,
        }
    }

    fn url(&self, sslmode: &str) -> String {
        self.cluster.url_with("tls", "127.0.0.1", sslmode)
    }

    fn ca(&self) -> &Path {
        &self.cluster.tls().unwrap().ca_pem
    }

    fn other_ca(&self) -> &Path {
        &self.cluster.tls().unwrap().other_ca_pem
    }

    /// Starts `host` with `url` as the database, `trust` (if any) as `SSL_CERT_FILE` and the
    /// extra arguments `args`, and asks the component whether its connection uses TLS:
    /// `Ok(uses_tls)`, or `Err("<error kind>: <text>")`.
    async fn uses_tls(
        &self,
        host: Host,
        url: &str,
        trust: Option<&Path>,
        args: &[String],
    ) -> Result<bool, String> {
        let mut env = vec![("SPIN_VARIABLE_DATABASE_URL".to_owned(), url.to_owned())];
        if let Some(ca) = trust {
            env.push(("SSL_CERT_FILE".to_owned(), ca.display().to_string()));
        }
        let process = host.start(&self.manifest, &env, args);
        let response = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap()
            .post(process.url("/fixture/pg"))
            .json(&json!({"sql": "select ssl::text from pg_stat_ssl where pid = pg_backend_pid()"}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        match status {
            200 => Ok(body["rows"][0][0]["v"] == "true"),
            // `{"error": {"kind": "connection-failed", "text": ...}}` (see the fixture's pg.rs).
            _ => Err(format!(
                "{}: {}",
                body["error"]["kind"].as_str().unwrap_or_default(),
                body["error"]["text"].as_str().unwrap_or_default()
            )),
        }
    }

    /// A runtime configuration file whose `[[client_tls]]` makes `fixture` trust `ca` for
    /// 127.0.0.1, and the arguments that give it to either host.
    fn runtime_config(&self, ca: &Path) -> Vec<String> {
        let path = self.dir.path().join("runtime-config.toml");
        std::fs::copy(ca, self.dir.path().join("db-ca.pem")).unwrap();
        std::fs::write(
            &path,
            "[[client_tls]]\ncomponent_ids = [\"fixture\"]\nhosts = [\"127.0.0.1\"]\n\
             ca_roots_file = \"db-ca.pem\"\n",
        )
        .unwrap();
        vec!["--runtime-config-file".into(), path.display().to_string()]
    }
}

#[each_host]
async fn tls_is_used_and_verified_unless_disabled(host: Host) {
    let s = Setup::new().await;
    let ca = Some(s.ca());
    assert_eq!(s.uses_tls(host, &s.url("require"), ca, &[]).await, Ok(true));
    let default = s.cluster.url_for("tls");
    assert_eq!(s.uses_tls(host, &default, ca, &[]).await, Ok(true));
    assert_eq!(
        s.uses_tls(host, &s.url("disable"), None, &[]).await,
        Ok(false)
    );
}

#[each_host]
async fn a_certificate_from_an_untrusted_ca_is_refused(host: Host) {
    let s = Setup::new().await;
    for (url, trust) in [
        (s.url("require"), Some(s.other_ca())),
        // Without SSL_CERT_FILE, the system's roots: the test's CA is not among them.
        (s.url("require"), None),
        (s.cluster.url_for("tls"), Some(s.other_ca())),
    ] {
        let error = s.uses_tls(host, &url, trust, &[]).await.unwrap_err();
        assert!(error.starts_with("connection-failed: "), "{error}");
        let reason = match host {
            Host::ApiHost => "not signed by a certificate authority this host trusts",
            Host::Spin => "unable to get local issuer certificate",
        };
        assert!(error.contains(reason), "{url} {trust:?}: {error}");
    }
}

#[each_host]
async fn a_certificate_for_another_host_name_is_refused(host: Host) {
    let s = Setup::new().await;
    // db.invalid reaches the cluster through hostaddr=127.0.0.1; its certificate does not
    // name db.invalid.
    let url = s.cluster.url_with("tls", "db.invalid", "require");
    let error = s.uses_tls(host, &url, Some(s.ca()), &[]).await.unwrap_err();
    let reason = match host {
        Host::ApiHost => "not valid for the host name",
        Host::Spin => "hostname mismatch",
    };
    assert!(error.contains(reason), "{error}");
}

#[each_host]
async fn sslmode_verify_full(host: Host) {
    let s = Setup::new().await;
    let outcome = s
        .uses_tls(host, &s.url("verify-full"), Some(s.ca()), &[])
        .await;
    match host {
        // libpq's verify-full is require here: host names are always verified.
        Host::ApiHost => assert_eq!(outcome, Ok(true)),
        // Spin's tokio-postgres knows only disable, prefer and require.
        Host::Spin => assert!(
            outcome
                .as_ref()
                .is_err_and(|e| e.contains("invalid connection string")),
            "{outcome:?}"
        ),
    }
    let wrong = s
        .uses_tls(host, &s.url("verify-full"), Some(s.other_ca()), &[])
        .await;
    assert!(wrong.is_err(), "{wrong:?}");
}

#[each_host]
async fn client_tls_of_the_runtime_config(host: Host) {
    let s = Setup::new().await;
    let args = s.runtime_config(s.ca());
    let outcome = s.uses_tls(host, &s.url("require"), None, &args).await;
    match host {
        Host::ApiHost => assert_eq!(outcome, Ok(true)),
        // Spin 4.1 accepts the same file but its PostgreSQL client ignores [[client_tls]].
        Host::Spin => assert!(
            outcome
                .as_ref()
                .is_err_and(|e| e.contains("certificate verify failed")),
            "{outcome:?}"
        ),
    }
    // The rule's roots replace the system's: its CA decides, SSL_CERT_FILE does not help.
    let args = s.runtime_config(s.other_ca());
    let outcome = s
        .uses_tls(host, &s.url("require"), Some(s.ca()), &args)
        .await;
    match host {
        Host::ApiHost => assert!(
            outcome.as_ref().is_err_and(|e| e.contains("UnknownIssuer")),
            "{outcome:?}"
        ),
        Host::Spin => assert_eq!(outcome, Ok(true)),
    }
}
