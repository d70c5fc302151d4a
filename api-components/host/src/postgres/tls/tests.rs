//! Unit tests of PostgreSQL TLS: address rewriting, guest roots, and connections through
//! [`PgPools`] to a throwaway cluster serving TLS (`PgCluster::start_tls`): which roots are
//! trusted for which component and host, and what a refused certificate says.

use super::*;
use crate::postgres::pool::{HostCheck, PgPools, PooledClient};
use crate::postgres::wit::Error;
use crate::runtime_config::RuntimeConfig;
use std::path::Path;
use std::time::Duration;
use test_support::PgCluster;

#[test]
fn verify_modes_become_require() {
    let cases = [
        (
            "postgres://h/d?sslmode=verify-full",
            "postgres://h/d?sslmode=require",
        ),
        (
            "postgres://h/d?a=1&sslmode=verify-ca&b=2",
            "postgres://h/d?a=1&sslmode=require&b=2",
        ),
        (
            "host=h sslmode = 'verify-full' user=u",
            "host=h sslmode = 'require' user=u",
        ),
        ("sslmode=verify-ca", "sslmode=require"),
        (
            "postgres://h/d?sslmode=require",
            "postgres://h/d?sslmode=require",
        ),
        (
            "postgres://h/d?sslmode=verify-fullish",
            "postgres://h/d?sslmode=verify-fullish",
        ),
        (
            "postgres://h/d?xsslmode=verify-full",
            "postgres://h/d?xsslmode=verify-full",
        ),
        ("postgres://h/d", "postgres://h/d"),
    ];
    for (address, expected) in cases {
        assert_eq!(normalize_sslmode(address), expected, "{address}");
    }
}

#[test]
fn guest_roots_need_a_pem_certificate() {
    assert!(GuestRoot::parse("not a certificate").is_err());
    let ca = test_support::pg_tls::TestCa::new("guest").unwrap();
    let root = GuestRoot::parse(&ca.cert_pem()).unwrap();
    assert_eq!(root.certs.len(), 1);
    let tls = PgTls::default();
    assert_ne!(tls.pool_key("c", Some(&root)), tls.pool_key("c", None));
    assert_eq!(tls.pool_key("a", None), tls.pool_key("b", None));
}

fn allow_all() -> HostCheck {
    Arc::new(|_, _, _| true)
}

/// A TLS cluster, a database on it, and pools whose component `trusting` trusts the
/// cluster's CA for hosts 127.0.0.1 and db.invalid (`[[client_tls]]`); others trust the
/// system's roots only.
async fn setup() -> (PgCluster, String, PgPools) {
    let cluster = tokio::task::spawn_blocking(PgCluster::start_tls)
        .await
        .unwrap()
        .expect("start PostgreSQL with TLS");
    cluster.create_database("tls").await.unwrap();
    let ca = cluster.tls().unwrap().ca_pem.clone();
    let rc = format!(
        "[[client_tls]]\ncomponent_ids = [\"trusting\"]\nhosts = [\"127.0.0.1\", \"db.invalid\"]\n\
         ca_roots_file = {:?}\n",
        ca.display().to_string()
    );
    let rules = RuntimeConfig::parse(&rc, Path::new("/"))
        .unwrap()
        .client_tls;
    let pools = PgPools::new(2, Duration::from_secs(5)).with_tls(PgTls::new(rules).unwrap());
    (cluster, "tls".into(), pools)
}

async fn uses_tls(client: &PooledClient) -> bool {
    let row = client
        .query_one(
            "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    row.get(0)
}

fn failure(result: Result<PooledClient, Error>) -> String {
    match result {
        Ok(_) => panic!("connected"),
        Err(Error::ConnectionFailed(message)) => message,
        Err(other) => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn client_tls_rules_guest_roots_and_refusals() {
    let (cluster, db, pools) = setup().await;
    let url = |mode: &str| cluster.url_with(&db, "127.0.0.1", mode);

    for mode in ["require", "verify-full", "prefer"] {
        let client = pools
            .connect(&url(mode), &allow_all(), "trusting", None)
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e:?}"));
        assert!(uses_tls(&client).await, "{mode}");
    }
    let plain = pools
        .connect(&url("disable"), &allow_all(), "other", None)
        .await
        .unwrap();
    assert!(!uses_tls(&plain).await);

    // Without a rule, only the system's roots: the cluster's CA is not among them.
    let message = failure(
        pools
            .connect(&url("require"), &allow_all(), "other", None)
            .await,
    );
    assert!(
        message.contains("not signed by a certificate authority"),
        "{message}"
    );
    assert!(message.contains("UnknownIssuer"), "{message}");

    // The guest's root makes it work, and a wrong one does not.
    let pem = |path: &Path| std::fs::read_to_string(path).unwrap();
    let files = cluster.tls().unwrap();
    let right = GuestRoot::parse(&pem(&files.ca_pem)).unwrap();
    let client = pools
        .connect(&url("require"), &allow_all(), "other", Some(&right))
        .await
        .unwrap();
    assert!(uses_tls(&client).await);
    let wrong = GuestRoot::parse(&pem(&files.other_ca_pem)).unwrap();
    let message = failure(
        pools
            .connect(&url("verify-full"), &allow_all(), "other", Some(&wrong))
            .await,
    );
    assert!(message.contains("UnknownIssuer"), "{message}");

    // A trusted certificate for another name: refused, saying so.
    let elsewhere = cluster.url_with(&db, "db.invalid", "require");
    let message = failure(
        pools
            .connect(&elsewhere, &allow_all(), "trusting", None)
            .await,
    );
    assert!(message.contains("not valid for the host name"), "{message}");
}
