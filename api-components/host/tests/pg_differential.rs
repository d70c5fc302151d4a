//! The differential test of `spin:postgres`: one table of statements
//! (`tests/data/pg_differential.json`), each with the answer the real Spin gave through
//! the `fixture` component (column names and types and the values, or the error's kind,
//! its SQLSTATE for database errors, and where it came: `open`, `query`, `execute` or
//! `rows`). It runs on both hosts: api-host always, so api-host is checked against
//! Spin's recorded answers even where Spin is absent, and the real Spin when found, so
//! the recording stays true.
//!
//! The table covers every type of the WIT, NULLs, arrays, ranges, `timestamptz`,
//! `numeric` (NaN, big, rounded), jsonb re-serialisation, types Spin leaves `other`,
//! every parameter case on the placeholder types it is accepted for and a refused one,
//! unconvertible parameters, database errors, both the asynchronous and synchronous
//! functions, and the connection allow-list.
//!
//! Not in the table: a synchronous `query` whose result has no rows, which never returns
//! on Spin 4.1 and leaves the application hanging for every later request (api-host
//! answers no columns and no rows; `postgres::db_tests` checks that).
//!
//! To record again after changing the table, run the Spin test with
//! `PG_DIFFERENTIAL_RECORD=<file>`: it writes the table with Spin's answers there.

mod common;

use common::{Served, client};
use serde_json::{Value, json};
use test_support::{Host, PgCluster, each_host, free_port};

const CASES: &str = include_str!("data/pg_differential.json");

/// Run before the cases: what their statements use.
const SETUP: &[&str] = &[
    "create type mood as enum ('happy', 'sad')",
    "create table k (id int4 primary key)",
    "insert into k values (1)",
    "create table t (i int4, s text)",
];

fn manifest(pg_port: u16) -> String {
    common::pg_fixture_manifest(
        "pg-differential",
        &[format!("postgres://127.0.0.1:{pg_port}")],
    )
}

/// What a case is compared on: the answer, with an error reduced to its kind, its
/// SQLSTATE (database errors) and its stage (the texts differ between hosts), and a
/// failed request to its status.
fn comparable(status: u16, body: Value) -> Value {
    match status {
        200 => body,
        422 => {
            let e = &body["error"];
            let mut error = json!({ "kind": e["kind"] });
            for key in ["query_error", "code"] {
                if let Some(v) = e.get(key) {
                    error[key] = v.clone();
                }
            }
            let mut out = json!({ "error": error, "stage": body["stage"] });
            for key in ["columns", "rows"] {
                if let Some(v) = body.get(key) {
                    out[key] = v.clone();
                }
            }
            out
        }
        // A trap: the bodies of the two hosts differ (api-host's JSON error shape).
        other => json!({ "status": other }),
    }
}

async fn run(served: &Served, request: &Value) -> Value {
    let resp = client()
        .post(served.url("/fixture/pg"))
        .json(request)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    comparable(
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The request of a case: the case without its name and answer, with `{pg_port}` and
/// `{other_port}` filled in.
fn request(case: &Value, pg_port: u16, other_port: u16) -> Value {
    let mut request = case.clone();
    let fields = request.as_object_mut().expect("a case is an object");
    fields.remove("name");
    fields.remove("expect");
    let text = request
        .to_string()
        .replace("{pg_port}", &pg_port.to_string())
        .replace("{other_port}", &other_port.to_string());
    serde_json::from_str(&text).unwrap()
}

/// A throwaway PostgreSQL and `host` serving the fixture with access to it.
async fn start(host: Host) -> (PgCluster, Served) {
    let cluster = PgCluster::start().unwrap();
    let db = cluster.fresh_database().await.unwrap();
    let served = Served::start(
        host,
        &manifest(cluster.port()),
        &[("SPIN_VARIABLE_DATABASE_URL", db)],
    );
    (cluster, served)
}

/// The end of a long log.
fn tail(log: &str) -> &str {
    let start = log.len().saturating_sub(4000);
    let start = (start..log.len())
        .find(|&i| log.is_char_boundary(i))
        .unwrap_or(0);
    &log[start..]
}

#[each_host(flavor = "multi_thread")]
async fn every_case_answers_as_spin_answered(host: Host) {
    let cases: Vec<Value> = serde_json::from_str(CASES).expect("the table is valid JSON");
    let (cluster, served) = start(host).await;
    for sql in SETUP {
        let answer = run(&served, &json!({ "sql": sql, "execute": true })).await;
        assert!(answer.get("affected").is_some(), "{sql}: {answer}");
    }
    let other_port = free_port();
    let mut differences = Vec::new();
    let mut recorded = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().expect("every case has a name");
        let got = run(&served, &request(case, cluster.port(), other_port)).await;
        if case.get("expect") != Some(&got) {
            differences.push(format!(
                "{name}:\n  recorded {}\n  got      {got}",
                case.get("expect").unwrap_or(&Value::Null)
            ));
        }
        let mut case = case.clone();
        case["expect"] = got;
        recorded.push(case.to_string());
    }
    if let Ok(path) = std::env::var("PG_DIFFERENTIAL_RECORD") {
        std::fs::write(&path, format!("[\n{}\n]\n", recorded.join(",\n"))).unwrap();
    }
    assert!(
        differences.is_empty(),
        "{} of {} cases differ on {} from the answers recorded from Spin:\n{}\n--- host log ---\n{}",
        differences.len(),
        cases.len(),
        host.label(),
        differences.join("\n"),
        tail(&served.process.log())
    );
}

#[each_host(flavor = "multi_thread")]
async fn many_rows_stream_through(host: Host) {
    let (_cluster, served) = start(host).await;
    let sql = "select g::int8, repeat('x', 100) from generate_series(1, 20000) g";
    let answer = run(&served, &json!({ "sql": sql })).await;
    let rows = answer["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 20000);
    assert_eq!(rows[19999][0], json!({"t": "int64", "v": 20000}));
}
