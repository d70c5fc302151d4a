//! Tests of pools and statements against a throwaway PostgreSQL (the conversions, and
//! the host functions around them, are exercised through a real component, against
//! the real Spin too, by `tests/pg_differential.rs`).

use super::pool::{HostCheck, PgPools, PooledClient};
use super::statement;
use super::wit::{DbValue, Error};
use std::sync::Arc;
use std::time::{Duration, Instant};
use test_support::PgCluster;

fn allow_all() -> HostCheck {
    Arc::new(|_, _, _| true)
}

async fn setup(pool_size: usize) -> (PgCluster, String, PgPools) {
    let cluster = tokio::task::spawn_blocking(PgCluster::start)
        .await
        .unwrap()
        .expect("start PostgreSQL");
    let url = cluster.fresh_database().await.unwrap();
    (
        cluster,
        url,
        PgPools::new(pool_size, Duration::from_secs(2)),
    )
}

async fn connect(pools: &PgPools, url: &str) -> PooledClient {
    pools
        .connect(url, &allow_all(), "test", None)
        .await
        .expect("connect")
}

/// Debug output without the generated `DbValue::` prefixes.
fn shown(v: &impl std::fmt::Debug) -> String {
    format!("{v:?}").replace("DbValue::", "")
}

async fn one_row(client: &PooledClient, sql: &str) -> Vec<DbValue> {
    let set = statement::query_all(client, sql, &[]).await.expect(sql);
    assert_eq!(set.rows.len(), 1, "{sql}");
    set.rows.into_iter().next().unwrap()
}

/// Spin 4.1 never answers this one (see `tests/pg_differential.rs`); without rows there
/// are no columns, as in Spin's `query-async`.
#[tokio::test]
async fn a_synchronous_query_without_rows_has_no_columns() {
    let (_cluster, url, pools) = setup(1).await;
    let c = connect(&pools, &url).await;
    let set = statement::query_all(&c, "select 1::int4 as a where false", &[])
        .await
        .unwrap();
    assert!(set.columns.is_empty() && set.rows.is_empty());
    assert!(matches!(
        one_row(&c, "select 1::int4").await[0],
        DbValue::Int32(1)
    ));
}

#[tokio::test]
async fn stale_cached_statements_are_prepared_again() {
    let (_cluster, url, pools) = setup(1).await;
    let c = connect(&pools, &url).await;
    statement::execute(&c, "create table s (a int)", &[])
        .await
        .unwrap();
    statement::execute(&c, "insert into s values (1)", &[])
        .await
        .unwrap();
    assert_eq!(one_row(&c, "select * from s").await.len(), 1);
    statement::execute(&c, "alter table s add column b text default 'x'", &[])
        .await
        .unwrap();
    // The cached plan's result type changed: prepared again, transparently.
    assert_eq!(one_row(&c, "select * from s").await.len(), 2);
    statement::execute(&c, "deallocate all", &[]).await.unwrap();
    assert_eq!(one_row(&c, "select * from s").await.len(), 2);
}

#[tokio::test]
async fn returned_connections_are_reset() {
    let (_cluster, url, pools) = setup(1).await;
    let c = connect(&pools, &url).await;
    statement::execute(&c, "create table r (x int)", &[])
        .await
        .unwrap();
    let pid = one_row(&c, "select pg_backend_pid()").await;
    for sql in [
        "begin",
        "insert into r values (1)",
        "set search_path to nowhere",
        "create temp table tmp (x int)",
        "select pg_advisory_lock(42)",
    ] {
        statement::execute(&c, sql, &[]).await.unwrap();
    }
    drop(c);
    // The pool has one connection: this is the same one, once its reset finished.
    let c = connect(&pools, &url).await;
    assert_eq!(
        shown(&one_row(&c, "select pg_backend_pid()").await),
        shown(&pid)
    );
    let row = one_row(
        &c,
        "select current_setting('search_path'), to_regclass('pg_temp.tmp') is null, \
         (select count(*)::int4 from pg_locks where locktype = 'advisory'), \
         (select count(*)::int4 from public.r)",
    )
    .await;
    assert!(
        matches!(row[0], DbValue::Str(ref s) if s.contains("public")),
        "{row:?}"
    );
    assert!(
        matches!(row[1], DbValue::Boolean(true)),
        "temp table dropped: {row:?}"
    );
    assert!(
        matches!(row[2], DbValue::Int32(0)),
        "advisory lock released: {row:?}"
    );
    assert!(
        matches!(row[3], DbValue::Int32(0)),
        "open transaction rolled back: {row:?}"
    );
}

#[tokio::test]
async fn without_session_reset_a_connection_goes_back_as_it_is() {
    let (_cluster, url, pools) = setup(1).await;
    let pools = pools.with_session_reset(false);
    let c = connect(&pools, &url).await;
    let pid = one_row(&c, "select pg_backend_pid()").await;
    statement::execute(&c, "set search_path to nowhere", &[])
        .await
        .unwrap();
    drop(c);
    let c = connect(&pools, &url).await;
    assert_eq!(
        shown(&one_row(&c, "select pg_backend_pid()").await),
        shown(&pid)
    );
    let row = one_row(&c, "select current_setting('search_path')").await;
    assert!(
        matches!(row[0], DbValue::Str(ref s) if s == "nowhere"),
        "the setting stays: {row:?}"
    );
}

#[tokio::test]
async fn resets_need_no_rollback_outside_transactions_and_survive_failed_ones() {
    let (cluster, url, pools) = setup(1).await;
    for _ in 0..3 {
        let c = connect(&pools, &url).await;
        assert!(matches!(
            one_row(&c, "select 1").await[0],
            DbValue::Int32(1)
        ));
    }
    assert!(
        !cluster.log().contains("no transaction in progress"),
        "{}",
        cluster.log()
    );
    let c = connect(&pools, &url).await;
    statement::execute(&c, "begin", &[]).await.unwrap();
    assert!(statement::execute(&c, "select 1/0", &[]).await.is_err());
    drop(c);
    let c = connect(&pools, &url).await;
    assert!(matches!(
        one_row(&c, "select 2").await[0],
        DbValue::Int32(2)
    ));
}

#[tokio::test]
async fn an_exhausted_pool_fails_after_the_timeout() {
    let (_cluster, url, _) = setup(1).await;
    let pools = PgPools::new(1, Duration::from_millis(300));
    let _held = connect(&pools, &url).await;
    let started = Instant::now();
    match pools.connect(&url, &allow_all(), "test", None).await {
        Err(Error::ConnectionFailed(m)) => {
            assert!(m.contains("all 1 pooled connections are in use"), "{m}")
        }
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("a second connection from a pool of one"),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_busy_pool_waits_past_the_connect_timeout_with_a_longer_pool_wait() {
    let (_cluster, url, _) = setup(1).await;
    let connect_timeout = Duration::from_millis(300);
    let pools = PgPools::new(1, connect_timeout).with_pool_wait(Duration::from_secs(10));
    let held = connect(&pools, &url).await;
    let started = Instant::now();
    let release = async {
        tokio::time::sleep(connect_timeout * 3).await;
        drop(held);
    };
    let allowed = allow_all();
    let (second, ()) = tokio::join!(pools.connect(&url, &allowed, "test", None), release);
    let second = second.expect("the freed connection");
    assert!(started.elapsed() >= connect_timeout * 3);
    assert!(matches!(
        one_row(&second, "select 3").await[0],
        DbValue::Int32(3)
    ));
}

#[tokio::test]
async fn a_stopped_database_fails_fast() {
    let (cluster, url, pools) = setup(2).await;
    drop(connect(&pools, &url).await);
    cluster.stop().unwrap();
    let started = Instant::now();
    match pools.connect(&url, &allow_all(), "test", None).await {
        Err(Error::ConnectionFailed(_)) => {}
        Err(e) => panic!("{e:?}"),
        Ok(c) => {
            // A pooled connection that has not noticed yet: its first statement fails.
            assert!(matches!(
                statement::query_all(&c, "select 1", &[]).await,
                Err(Error::QueryFailed(_))
            ));
        }
    }
    assert!(started.elapsed() < Duration::from_secs(3));
}
