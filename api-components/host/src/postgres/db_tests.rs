//! Tests of pools, statements and conversions against a throwaway PostgreSQL (the
//! host functions around them are exercised through real components by the crate's
//! integration tests).

use super::pool::{HostCheck, PgPools, PooledClient};
use super::statement;
use super::wit::{
    DbDataType, DbValue, Error, Interval, ParameterValue as P, QueryError, RangeBoundKind,
};
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

/// Debug output without the generated `DbValue::`/`DbDataType::` prefixes.
fn shown(v: &impl std::fmt::Debug) -> String {
    format!("{v:?}")
        .replace("DbValue::", "")
        .replace("DbDataType::", "")
}

async fn one_row(client: &PooledClient, sql: &str, params: &[P]) -> Vec<DbValue> {
    let set = statement::query_all(client, sql, params).await.expect(sql);
    assert_eq!(set.rows.len(), 1, "{sql}");
    set.rows.into_iter().next().unwrap()
}

#[tokio::test]
async fn values_round_trip_through_postgres() {
    let (_cluster, url, pools) = setup(2).await;
    let c = connect(&pools, &url).await;
    statement::execute(
        &c,
        "create table t (b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, s text, v varchar(10), \
         c char(3), by bytea, d date, tm time, ts timestamp, tz timestamptz, u uuid, j jsonb, js json, \
         n numeric, ai int4[], al int8[], at text[], an numeric[], iv interval, r4 int4range, r8 int8range, \
         rn numrange)",
        &[],
    )
    .await
    .unwrap();
    let params = vec![
        P::Boolean(true),
        P::Int16(-2),
        P::Int32(40),
        P::Int32(7), // widened to int8
        P::Floating32(1.5),
        P::Floating64(-2.25),
        P::Str("héllo".into()),
        P::Str("var".into()),
        P::Str("ab".into()),
        P::Binary(vec![0, 1, 255]),
        P::Date((2024, 2, 29)),
        P::Time((23, 59, 58, 123_456_000)),
        P::Datetime((1999, 12, 31, 23, 59, 59, 500_000_000)),
        P::Timestamp(1_700_000_000),
        P::Uuid("6F1C1C4E-8A4B-4F7E-9D7E-1B2C3D4E5F60".into()),
        P::Jsonb(br#"{"a": [1, 2]}"#.to_vec()),
        P::Jsonb(br#"{"b":  true}"#.to_vec()),
        P::Decimal("-12345678901234567890.000120".into()),
        P::ArrayInt32(vec![Some(1), None]),
        P::ArrayInt64(vec![Some(i64::MAX)]),
        P::ArrayStr(vec![Some("x".into()), None]),
        P::ArrayDecimal(vec![Some("0.5".into())]),
        P::Interval(Interval {
            micros: 1_000_001,
            days: -2,
            months: 13,
        }),
        P::RangeInt32((
            Some((1, RangeBoundKind::Exclusive)),
            Some((5, RangeBoundKind::Inclusive)),
        )),
        P::RangeInt64((None, Some((9, RangeBoundKind::Exclusive)))),
        P::RangeDecimal((Some(("1.5".into(), RangeBoundKind::Inclusive)), None)),
    ];
    let placeholders = (1..=params.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let n = statement::execute(
        &c,
        &format!("insert into t values ({placeholders})"),
        &params,
    )
    .await
    .unwrap();
    assert_eq!(n, 1);

    let set = statement::query_all(&c, "select * from t", &[])
        .await
        .unwrap();
    let types: Vec<String> = set
        .columns
        .iter()
        .map(|c| format!("{}:{}", c.name, shown(&c.data_type)))
        .collect();
    assert_eq!(
        types.join(" "),
        "b:Boolean i2:Int16 i4:Int32 i8:Int64 f4:Floating32 f8:Floating64 s:Str v:Str c:Str by:Binary \
         d:Date tm:Time ts:Datetime tz:Datetime u:Uuid j:Jsonb js:Jsonb n:Decimal ai:ArrayInt32 \
         al:ArrayInt64 at:ArrayStr an:ArrayDecimal iv:Interval r4:RangeInt32 r8:RangeInt64 rn:RangeDecimal"
    );
    let row = &set.rows[0];
    let values: Vec<String> = row.iter().map(shown).collect();
    let expected = [
        "Boolean(true)",
        "Int16(-2)",
        "Int32(40)",
        "Int64(7)",
        "Floating32(1.5)",
        "Floating64(-2.25)",
        "Str(\"héllo\")",
        "Str(\"var\")",
        "Str(\"ab \")",
        "Binary([0, 1, 255])",
        "Date((2024, 2, 29))",
        "Time((23, 59, 58, 123456000))",
        "Datetime((1999, 12, 31, 23, 59, 59, 500000000))",
        "Datetime((2023, 11, 14, 22, 13, 20, 0))",
        "Uuid(\"6f1c1c4e-8a4b-4f7e-9d7e-1b2c3d4e5f60\")",
        // jsonb comes back normalised by PostgreSQL, json verbatim.
        &format!("Jsonb({:?})", br#"{"a": [1, 2]}"#.to_vec()),
        &format!("Jsonb({:?})", br#"{"b":  true}"#.to_vec()),
        "Decimal(\"-12345678901234567890.000120\")",
        "ArrayInt32([Some(1), None])",
        "ArrayInt64([Some(9223372036854775807)])",
        "ArrayStr([Some(\"x\"), None])",
        "ArrayDecimal([Some(\"0.5\")])",
        "Interval(Interval { micros: 1000001, days: -2, months: 13 })",
        // int ranges come back canonical: (1,5] = [2,6)
        "RangeInt32((Some((2, RangeBoundKind::Inclusive)), Some((6, RangeBoundKind::Exclusive))))",
        "RangeInt64((None, Some((9, RangeBoundKind::Exclusive))))",
        "RangeDecimal((Some((\"1.5\", RangeBoundKind::Inclusive)), None))",
    ];
    assert_eq!(values, expected);

    // NULLs, and what has no WIT type.
    let row = one_row(
        &c,
        "select null::int4, null::text, '10.1.2.3'::inet, 'a'::\"char\", 'x'::name",
        &[],
    )
    .await;
    assert!(matches!(row[0], DbValue::DbNull) && matches!(row[1], DbValue::DbNull));
    assert!(matches!(row[2], DbValue::Unsupported(ref b) if !b.is_empty()));
    assert!(matches!(row[3], DbValue::Int8(97)));
    assert!(matches!(row[4], DbValue::Str(ref s) if s == "x"));
    // db-null binds to any type; numeric specials; timestamptz is UTC whatever the session zone.
    let row = one_row(
        &c,
        "select $1::uuid is null, 'NaN'::numeric, 1e-20::numeric",
        &[P::DbNull],
    )
    .await;
    assert!(matches!(row[0], DbValue::Boolean(true)));
    assert!(matches!(row[1], DbValue::Decimal(ref s) if s == "NaN"));
    assert!(matches!(row[2], DbValue::Decimal(ref s) if s == "0.00000000000000000001"));
    statement::execute(&c, "set time zone 'Asia/Kolkata'", &[])
        .await
        .unwrap();
    let row = one_row(&c, "select '2024-01-01 00:00:00+00'::timestamptz", &[]).await;
    assert!(
        matches!(row[0], DbValue::Datetime((2024, 1, 1, 0, 0, 0, 0))),
        "{row:?}"
    );
    // Columns are reported even without rows.
    let set = statement::query_all(&c, "select 1::int8 as one where false", &[])
        .await
        .unwrap();
    assert!(set.rows.is_empty() && matches!(set.columns[0].data_type, DbDataType::Int64));
}

#[tokio::test]
async fn errors_are_values_with_details() {
    let (_cluster, url, pools) = setup(2).await;
    let c = connect(&pools, &url).await;
    match statement::query_all(&c, "select 1/0", &[]).await {
        Err(Error::QueryFailed(QueryError::DbError(e))) => {
            assert_eq!(
                (e.code.as_str(), e.severity.as_str(), e.message.as_str()),
                ("22012", "ERROR", "division by zero")
            );
        }
        other => panic!("{other:?}"),
    }
    statement::execute(&c, "create table k (id int primary key)", &[])
        .await
        .unwrap();
    statement::execute(&c, "insert into k values (1)", &[])
        .await
        .unwrap();
    match statement::execute(&c, "insert into k values ($1)", &[P::Int32(1)]).await {
        Err(Error::QueryFailed(QueryError::DbError(e))) => {
            assert_eq!(e.code, "23505");
            assert!(e.detail.is_some_and(|d| d.contains("(id)=(1)")));
            assert!(
                e.extras
                    .iter()
                    .any(|(k, v)| k == "constraint" && v == "k_pkey")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        statement::query_all(&c, "select $1::uuid", &[P::Uuid("nope".into())]).await,
        Err(Error::BadParameter(ref m)) if m.contains("invalid UUID")
    ));
    assert!(matches!(
        statement::query_all(&c, "select $1::int4", &[P::Str("1".into())]).await,
        Err(Error::BadParameter(ref m)) if m == "parameter $1: a str value cannot be sent as PostgreSQL type int4"
    ));
    assert!(matches!(
        statement::query_all(&c, "select $1::int4", &[]).await,
        Err(Error::BadParameter(ref m)) if m.contains("1 parameter(s) but 0")
    ));
    assert!(matches!(
        statement::query_all(&c, "select 'infinity'::timestamptz", &[]).await,
        Err(Error::ValueConversionFailed(_))
    ));
    // The connection is still usable after all that.
    assert!(matches!(
        one_row(&c, "select 1", &[]).await[0],
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
    assert_eq!(one_row(&c, "select * from s", &[]).await.len(), 1);
    statement::execute(&c, "alter table s add column b text default 'x'", &[])
        .await
        .unwrap();
    // The cached plan's result type changed: prepared again, transparently.
    assert_eq!(one_row(&c, "select * from s", &[]).await.len(), 2);
    statement::execute(&c, "deallocate all", &[]).await.unwrap();
    assert_eq!(one_row(&c, "select * from s", &[]).await.len(), 2);
}

#[tokio::test]
async fn returned_connections_are_reset() {
    let (_cluster, url, pools) = setup(1).await;
    let c = connect(&pools, &url).await;
    statement::execute(&c, "create table r (x int)", &[])
        .await
        .unwrap();
    let pid = one_row(&c, "select pg_backend_pid()", &[]).await;
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
        shown(&one_row(&c, "select pg_backend_pid()", &[]).await),
        shown(&pid)
    );
    let row = one_row(
        &c,
        "select current_setting('search_path'), to_regclass('pg_temp.tmp') is null, \
         (select count(*)::int4 from pg_locks where locktype = 'advisory'), \
         (select count(*)::int4 from public.r)",
        &[],
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
    let pid = one_row(&c, "select pg_backend_pid()", &[]).await;
    statement::execute(&c, "set search_path to nowhere", &[])
        .await
        .unwrap();
    drop(c);
    let c = connect(&pools, &url).await;
    assert_eq!(
        shown(&one_row(&c, "select pg_backend_pid()", &[]).await),
        shown(&pid)
    );
    let row = one_row(&c, "select current_setting('search_path')", &[]).await;
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
            one_row(&c, "select 1", &[]).await[0],
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
        one_row(&c, "select 2", &[]).await[0],
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
        one_row(&second, "select 3", &[]).await[0],
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
