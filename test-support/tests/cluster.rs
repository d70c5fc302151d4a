//! A PgCluster starts, answers queries, survives a stop/start cycle and cleans up after itself.

use std::time::Duration;

use test_support::PgCluster;
use tokio_postgres::{Client, NoTls};

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|err| panic!("connecting to {url}: {err}"));
    tokio::spawn(connection);
    client
}

#[tokio::test]
async fn starts_answers_stops_and_starts_again() {
    let cluster = PgCluster::start().expect("starting a PostgreSQL cluster");
    assert!(cluster.is_running());
    assert!(cluster.url().starts_with("postgres://postgres@127.0.0.1:"));

    let url = cluster.create_database("cluster_test").await.unwrap();
    let client = connect(&url).await;
    client
        .batch_execute("create table t (v int); insert into t values (42);")
        .await
        .unwrap();
    let row = client.query_one("select v from t", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 42);
    let version: String = client
        .query_one("show server_version", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!version.is_empty());

    cluster.stop().unwrap();
    assert!(!cluster.is_running());
    let refused = tokio_postgres::connect(&url, NoTls).await;
    assert!(
        refused.is_err(),
        "a stopped cluster must refuse connections"
    );

    cluster.start_again().unwrap();
    let client = connect(&url).await;
    let row = client.query_one("select v from t", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 42, "data survives a restart");
}

#[tokio::test]
async fn fresh_databases_are_distinct_and_names_are_checked() {
    let cluster = PgCluster::start().unwrap();
    let a = cluster.fresh_database().await.unwrap();
    let b = cluster.fresh_database().await.unwrap();
    assert_ne!(a, b);
    connect(&a).await.batch_execute("select 1").await.unwrap();
    assert!(cluster.create_database("bad\"name").await.is_err());
}

#[test]
fn drop_stops_the_server_and_removes_its_directory() {
    let cluster = PgCluster::start().unwrap();
    let data_dir = cluster.data_dir();
    let port = cluster.port();
    assert!(data_dir.join("PG_VERSION").is_file());
    drop(cluster);
    assert!(!data_dir.exists(), "the temporary directory is removed");
    let connect = std::net::TcpStream::connect_timeout(
        &([127, 0, 0, 1], port).into(),
        Duration::from_millis(500),
    );
    assert!(connect.is_err(), "nothing listens on the port any more");
}

#[tokio::test]
async fn a_tls_cluster_serves_tls_with_its_own_ca_and_still_allows_plain_connections() {
    let cluster = PgCluster::start_tls().unwrap();
    let tls = cluster.tls().expect("certificate files");
    for pem in [&tls.ca_pem, &tls.other_ca_pem, &tls.server_cert_pem] {
        let text = std::fs::read_to_string(pem).unwrap();
        assert!(
            text.starts_with("-----BEGIN CERTIFICATE-----"),
            "{}",
            pem.display()
        );
    }
    // NoTls falls back to a plain connection (sslmode=prefer): pg_hba.conf allows both.
    let client = connect(&cluster.url()).await;
    let ssl: String = client.query_one("show ssl", &[]).await.unwrap().get(0);
    assert_eq!(ssl, "on");
    assert!(PgCluster::start().unwrap().tls().is_none());
    assert_eq!(
        cluster.url_with("d", "localhost", "require"),
        format!(
            "postgres://postgres@localhost:{}/d?sslmode=require&hostaddr=127.0.0.1",
            cluster.port()
        )
    );
}
