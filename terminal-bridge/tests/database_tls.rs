//! The bridge's database connections over TLS, against a throwaway cluster serving TLS with a
//! certificate from a CA the test made (`PgCluster::start_tls`): `migrate` and `serve` with
//! `sslmode=require`/`verify-full` and `DATABASE_CA_FILE`, a wrong CA refused at once with a
//! message that says why, and `sslmode=disable` still connecting without TLS.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use test_support::{ChildGuard, PgCluster, free_port, http_get, wait_for_http};
use tokio_postgres::NoTls;

const BRIDGE: &str = env!("CARGO_BIN_EXE_terminal-bridge");

async fn cluster() -> PgCluster {
    let cluster = PgCluster::start_tls().expect("starting PostgreSQL with TLS");
    cluster.create_database("bridge").await.unwrap();
    cluster
}

fn migrate(url: &str, ca_file: Option<&Path>) -> Output {
    let mut cmd = Command::new(BRIDGE);
    cmd.arg("migrate")
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_CA_FILE")
        // The system's roots must not happen to trust the test's CA either way.
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
    if let Some(ca) = ca_file {
        cmd.env("DATABASE_CA_FILE", ca);
    }
    cmd.output().expect("running terminal-bridge migrate")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn migrate_over_tls_with_the_ca_file() {
    let cluster = cluster().await;
    let tls = cluster.tls().unwrap();
    let first = migrate(
        &cluster.url_with("bridge", "127.0.0.1", "require"),
        Some(&tls.ca_pem),
    );
    assert!(first.status.success(), "{}", text(&first));
    assert!(text(&first).contains("applied V1__initial_schema"));
    let again = migrate(
        &cluster.url_with("bridge", "localhost", "verify-full"),
        Some(&tls.ca_pem),
    );
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("up to date"), "{}", text(&again));
    let plain = migrate(&cluster.url_with("bridge", "127.0.0.1", "disable"), None);
    assert!(plain.status.success(), "{}", text(&plain));
}

#[tokio::test]
async fn a_wrong_ca_is_refused_at_once_saying_why() {
    let cluster = cluster().await;
    let tls = cluster.tls().unwrap();
    for (url, ca, reason) in [
        (
            cluster.url_with("bridge", "127.0.0.1", "require"),
            Some(&tls.other_ca_pem),
            "not signed by a trusted certificate authority; give its CA with DATABASE_CA_FILE",
        ),
        // No CA file: the system's roots, which do not know the test's CA.
        (
            cluster.url_for("bridge"),
            None,
            "not signed by a trusted certificate authority",
        ),
        (
            cluster.url_with("bridge", "db.invalid", "verify-full"),
            Some(&tls.ca_pem),
            "not valid for the host name of DATABASE_URL",
        ),
    ] {
        let started = Instant::now();
        let output = migrate(&url, ca.map(|p| p.as_path()));
        let said = text(&output);
        assert!(!output.status.success(), "{url}: {said}");
        assert!(said.contains("certificate"), "{url}: {said}");
        assert!(said.contains(reason), "{url}: {said}");
        // Not retried for half a minute like an unreachable server.
        assert!(started.elapsed() < Duration::from_secs(5), "{url}: {said}");
    }
    let garbage = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(garbage.path(), "not a certificate").unwrap();
    let output = migrate(&cluster.url_for("bridge"), Some(garbage.path()));
    assert!(!output.status.success());
    assert!(
        text(&output).contains("holds no PEM certificate"),
        "{}",
        text(&output)
    );
}

/// `serve`'s connections (the probe connection, the pool, the LISTEN connection) all use TLS.
#[tokio::test]
async fn serve_connects_over_tls() {
    let cluster = cluster().await;
    let listen = format!("127.0.0.1:{}", free_port());
    let sandboxes = tempfile::tempdir().unwrap();
    let _bridge = ChildGuard::spawn(
        Command::new(BRIDGE)
            .args(["serve", "--listen", &listen])
            .env(
                "DATABASE_URL",
                cluster.url_with("bridge", "127.0.0.1", "require"),
            )
            .env("DATABASE_CA_FILE", &cluster.tls().unwrap().ca_pem)
            .env("BRIDGE_SANDBOX_DIR", sandboxes.path())
            .env("RUST_LOG", "info"),
    )
    .unwrap();
    let base = format!("http://{listen}");
    wait_for_http(&format!("{base}/healthz"), Duration::from_secs(30)).unwrap();
    let ready = http_get(&format!("{base}/readyz"), Duration::from_secs(5)).unwrap();
    assert_eq!(ready.status, 200, "{ready:?}");

    let (client, connection) = tokio_postgres::connect(&cluster.url_for("bridge"), NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let row = client
            .query_one(
                "select count(*), coalesce(bool_and(s.ssl), false),
                        count(*) filter (where a.query ilike 'listen%')
                 from pg_stat_activity a join pg_stat_ssl s using (pid)
                 where a.application_name = 'terminal-bridge'",
                &[],
            )
            .await
            .unwrap();
        let (count, all_tls, listening): (i64, bool, i64) = (row.get(0), row.get(1), row.get(2));
        if count >= 2 && listening >= 1 {
            assert!(all_tls, "{count} connections, not all over TLS");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the bridge has {count} connections ({listening} listening)"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
