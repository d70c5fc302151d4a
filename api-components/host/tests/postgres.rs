//! `spin:postgres` through a real component (`fixture`, route `/fixture/pg`) against a
//! real PostgreSQL: every column type the schema uses, NULLs, errors, many rows.

mod common;

use common::{Host, client, wasm};
use serde_json::{Value, json};
use test_support::PgCluster;

async fn host(pg: &PgCluster) -> Host {
    let db = pg.fresh_database().await.unwrap();
    let manifest = format!(
        r#"
spin_manifest_version = 2
[application]
name = "pg-fixture"
[variables]
database_url = {{ required = true }}
[[trigger.http]]
route = "/fixture/..."
component = "fixture"
[component.fixture]
source = "{}"
allowed_outbound_hosts = ["postgres://127.0.0.1:{}"]
[component.fixture.variables]
database_url = "{{{{ database_url }}}}"
"#,
        wasm("fixture"),
        pg.port()
    );
    Host::start(&manifest, &[("SPIN_VARIABLE_DATABASE_URL", db)], &[])
}

async fn pg(host: &Host, body: Value) -> (u16, Value) {
    let resp = client()
        .post(host.url("/fixture/pg"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn every_schema_type_round_trips() {
    let cluster = PgCluster::start().unwrap();
    let host = host(&cluster).await;
    let (status, body) = pg(
        &host,
        json!({"execute": true, "sql": "create table t (
            u uuid, b bytea, ts timestamptz, n int8, s text, f bool, j jsonb, i4 int4, i2 int2,
            d float8, num numeric, nothing text)"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let every_byte: Vec<u8> = (0..=255).collect();
    let (status, body) = pg(
        &host,
        json!({"execute": true,
        "sql": "insert into t values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        "params": [
            {"t": "uuid", "v": "0b9d3f4e-8a51-4c1e-9f0e-3d2c1b0a9f8e"},
            {"t": "binary", "v": every_byte},
            {"t": "datetime", "v": [2026, 11, 25, 22, 8, 10, 123456000]},
            {"t": "int64", "v": 9_007_199_254_740_000_i64},
            {"t": "str", "v": "grüße \u{1F600} 'quoted'"},
            {"t": "boolean", "v": true},
            {"t": "jsonb", "v": {"a": [1, 2, {"b": null}]}},
            {"t": "int32", "v": -5},
            {"t": "int16", "v": 7},
            {"t": "floating64", "v": 2.5},
            {"t": "decimal", "v": "12345.678"},
            {"t": "null"}
        ]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["affected"], 1);

    let (status, body) = pg(
        &host,
        json!({"sql": "select u, b, ts, n, s, f, j, i4, i2, d, num, nothing from t"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let row = &body["rows"][0];
    let cols: Vec<&str> = body["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(cols[0], "uuid");
    assert_eq!(
        row[0],
        json!({"t": "uuid", "v": "0b9d3f4e-8a51-4c1e-9f0e-3d2c1b0a9f8e"})
    );
    assert_eq!(row[1], json!({"t": "binary", "v": every_byte}));
    assert_eq!(
        row[2],
        json!({"t": "datetime", "v": [2026, 11, 25, 22, 8, 10, 123456000]})
    );
    assert_eq!(
        row[3],
        json!({"t": "int64", "v": 9_007_199_254_740_000_i64})
    );
    assert_eq!(row[4], json!({"t": "str", "v": "grüße \u{1F600} 'quoted'"}));
    assert_eq!(row[5], json!({"t": "boolean", "v": true}));
    assert_eq!(
        row[6],
        json!({"t": "jsonb", "v": {"a": [1, 2, {"b": null}]}})
    );
    assert_eq!(row[7], json!({"t": "int32", "v": -5}));
    assert_eq!(row[8], json!({"t": "int16", "v": 7}));
    assert_eq!(row[9], json!({"t": "floating64", "v": 2.5}));
    assert_eq!(row[10], json!({"t": "decimal", "v": "12345.678"}));
    assert_eq!(row[11], json!({"t": "null", "v": null}));
}

#[tokio::test]
async fn errors_carry_the_sqlstate_and_bad_parameters_are_rejected() {
    let cluster = PgCluster::start().unwrap();
    let host = host(&cluster).await;
    let (status, body) = pg(
        &host,
        json!({"execute": true, "sql": "create table k (id int primary key)"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let insert = json!({"execute": true, "sql": "insert into k values (1)"});
    assert_eq!(pg(&host, insert.clone()).await.0, 200);
    let (status, body) = pg(&host, insert).await;
    assert_eq!(status, 422);
    assert!(
        body["error"].as_str().unwrap().contains("23505"),
        "unique violation code: {body}"
    );
    let (status, body) = pg(
        &host,
        json!({"sql": "select $1::uuid", "params": [{"t": "uuid", "v": "not-a-uuid"}]}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = pg(&host, json!({"sql": "select from nowhere_at_all"})).await;
    assert_eq!(status, 422);
    assert!(body["error"].as_str().unwrap().contains("42P01"), "{body}");
    // The host and the instance keep working after errors.
    let (status, body) = pg(&host, json!({"sql": "select 1::int8 as one"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows"][0][0], json!({"t": "int64", "v": 1}));
}

#[tokio::test]
async fn many_rows_stream_through() {
    let cluster = PgCluster::start().unwrap();
    let host = host(&cluster).await;
    let (status, body) = pg(
        &host,
        json!({"sql": "select g::int8, repeat('x', 100) from generate_series(1, 20000) g"}),
    )
    .await;
    assert_eq!(status, 200);
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 20000);
    assert_eq!(rows[19999][0], json!({"t": "int64", "v": 20000}));
}
