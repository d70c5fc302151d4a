//! The `health` component in the real `spin.toml`, served by `api-host`, against a real
//! PostgreSQL migrated by the real `terminal-bridge migrate`, and the real bridge.

mod common;

use common::{Host, client, real_manifest};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};
use test_support::{ChildGuard, PgCluster, free_port, wait_for_http};

struct Stack {
    pg: PgCluster,
    bridge: Option<ChildGuard>,
    host: Host,
}

/// PostgreSQL (migrated), optionally the bridge, and api-host serving spin.toml.
/// `bridge_url` overrides where the health component looks for the bridge.
async fn stack(
    with_bridge: bool,
    database_host: Option<String>,
    bridge_url: Option<String>,
) -> Stack {
    let pg = PgCluster::start().expect("starting PostgreSQL");
    let db = pg.fresh_database().await.unwrap();
    let migrate = Command::new(test_support::binary("terminal-bridge"))
        .arg("migrate")
        .env("DATABASE_URL", &db)
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );

    let bridge_port = free_port();
    let bridge = with_bridge.then(|| {
        let child = ChildGuard::spawn(
            Command::new(test_support::binary("terminal-bridge"))
                .args(["serve", "--listen", &format!("127.0.0.1:{bridge_port}")])
                .env("DATABASE_URL", &db),
        )
        .unwrap();
        wait_for_http(
            &format!("http://127.0.0.1:{bridge_port}/healthz"),
            Duration::from_secs(30),
        )
        .expect("bridge up");
        child
    });
    let host = Host::start(
        &real_manifest(),
        &[
            ("SPIN_VARIABLE_DATABASE_URL", db.clone()),
            (
                "SPIN_VARIABLE_DATABASE_HOST",
                database_host.unwrap_or_else(|| format!("127.0.0.1:{}", pg.port())),
            ),
            (
                "SPIN_VARIABLE_TERMINAL_BRIDGE_URL",
                bridge_url.unwrap_or_else(|| format!("http://127.0.0.1:{bridge_port}")),
            ),
        ],
        &[],
    );
    Stack { pg, bridge, host }
}

async fn detailed(host: &Host) -> (u16, Value, Duration) {
    let started = Instant::now();
    let resp = client()
        .get(host.url("/api/health/detailed"))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    (status, body, started.elapsed())
}

fn check<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()
}

#[tokio::test]
async fn liveness_answers_on_both_paths() {
    let s = stack(true, None, None).await;
    for path in ["/api/health", "/api/health/"] {
        let resp = client().get(s.host.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["status"], "healthy");
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    }
    let resp = client()
        .post(s.host.url("/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn detailed_is_200_when_everything_is_up() {
    let s = stack(true, None, None).await;
    let (status, body, _) = detailed(&s.host).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "healthy");
    let db = check(&body, "database");
    assert_eq!(db["status"], "healthy", "{body}");
    assert_eq!(
        db["details"]["migration_version"],
        newest_migration(),
        "{body}"
    );
    assert!(
        db["details"]["server_version"]
            .as_str()
            .unwrap()
            .starts_with("15"),
        "{body}"
    );
    assert!(db["latency_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(
        check(&body, "terminal_bridge")["status"],
        "healthy",
        "{body}"
    );
    assert!(s.bridge.is_some());
}

#[tokio::test]
async fn a_stopped_database_is_503_naming_it_within_2_s_and_recovers() {
    let s = stack(true, None, None).await;
    assert_eq!(detailed(&s.host).await.0, 200);
    s.pg.stop().unwrap();
    let (status, body, took) = detailed(&s.host).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["failing"], serde_json::json!(["database"]), "{body}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    s.pg.start_again().unwrap();
    let mut last = Value::Null;
    for _ in 0..20 {
        let (status, body, _) = detailed(&s.host).await;
        if status == 200 {
            return;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("did not recover after the database came back: {last}");
}

#[tokio::test]
async fn a_missing_bridge_is_503_naming_it() {
    let s = stack(false, None, None).await;
    let (status, body, _) = detailed(&s.host).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["failing"],
        serde_json::json!(["terminal_bridge"]),
        "{body}"
    );
    assert_eq!(check(&body, "database")["status"], "healthy");
}

/// Accepts connections and never answers: a dependency that hangs.
async fn black_hole() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    port
}

#[tokio::test]
async fn hanging_dependencies_still_answer_within_2_s() {
    let bridge = black_hole().await;
    let s = stack(true, None, Some(format!("http://127.0.0.1:{bridge}"))).await;
    let (status, body, took) = detailed(&s.host).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["failing"],
        serde_json::json!(["terminal_bridge"]),
        "{body}"
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

#[tokio::test]
async fn a_database_outside_allowed_outbound_hosts_is_refused() {
    // The allow-list names another port than the database's, so the connection is refused
    // by the host before any packet is sent.
    let s = stack(true, Some(format!("127.0.0.1:{}", free_port())), None).await;
    let (status, body, _) = detailed(&s.host).await;
    assert_eq!(status, 503, "{body}");
    let db = check(&body, "database");
    assert!(
        db["details"]["error"]
            .as_str()
            .unwrap()
            .contains("not permitted"),
        "{body}"
    );
    assert!(s.pg.is_running());
}

/// The highest `V<n>__*.sql` in `migrations/`: what `terminal-bridge migrate` leaves applied.
fn newest_migration() -> u64 {
    std::fs::read_dir(test_support::workspace_root().join("migrations"))
        .expect("reading migrations/")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_prefix('V')?.split_once("__")?.0.parse().ok()
        })
        .max()
        .expect("no migrations found")
}
