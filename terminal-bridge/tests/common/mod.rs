//! Helpers shared by the integration tests: a migrated throwaway database and assertions on
//! PostgreSQL errors.

#![allow(dead_code)] // each test file uses a different subset

pub mod backend;
pub mod hooked;
pub mod kube;
pub mod term;
pub mod ws;

use test_support::PgCluster;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls};

/// A fresh cluster with one database.
pub struct TestDb {
    pub cluster: PgCluster,
    pub url: String,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let cluster = PgCluster::start().expect("starting PostgreSQL");
        let url = cluster
            .create_database("bridge")
            .await
            .expect("creating the test database");
        TestDb { cluster, url }
    }

    /// A fresh database with all migrations applied, and a connection to it.
    pub async fn migrated() -> (TestDb, Client) {
        let db = TestDb::new().await;
        let mut client = db.connect().await;
        terminal_bridge::migrate::run(&mut client)
            .await
            .expect("applying the migrations");
        (db, client)
    }

    pub async fn connect(&self) -> Client {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls)
            .await
            .expect("connecting to the test database");
        tokio::spawn(connection);
        client
    }
}

/// Asserts that `sql` fails with `state` reported against constraint `constraint`.
pub async fn assert_rejected(
    client: &Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    state: SqlState,
    constraint: &str,
) {
    let err = match client.execute(sql, params).await {
        Ok(rows) => panic!("expected {constraint} to reject {sql:?}, but it changed {rows} rows"),
        Err(err) => err,
    };
    let db_err = err
        .as_db_error()
        .unwrap_or_else(|| panic!("expected a database error for {sql:?}, got {err}"));
    assert_eq!(
        (db_err.code(), db_err.constraint()),
        (&state, Some(constraint)),
        "{sql:?} failed differently: {db_err}"
    );
}
