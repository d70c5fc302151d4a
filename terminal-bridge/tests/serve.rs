//! `terminal-bridge serve` as a real process against a real PostgreSQL, and the router served
//! in-process.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::TestDb;
use test_support::{ChildGuard, free_port, http_get, wait_for_http};

const BRIDGE: &str = env!("CARGO_BIN_EXE_terminal-bridge");

fn get(url: &str) -> test_support::HttpResponse {
    http_get(url, Duration::from_secs(5)).unwrap_or_else(|err| panic!("GET {url}: {err:#}"))
}

#[tokio::test]
async fn serve_migrates_answers_probes_and_follows_the_database() {
    let db = TestDb::new().await;
    let listen = format!("127.0.0.1:{}", free_port());
    let sandboxes = tempfile::tempdir().unwrap();
    let mut bridge = ChildGuard::spawn(
        Command::new(BRIDGE)
            .args(["serve", "--listen", &listen])
            .env("DATABASE_URL", &db.url)
            .env("BRIDGE_SANDBOX_DIR", sandboxes.path())
            .env("RUST_LOG", "info"),
    )
    .unwrap();
    let base = format!("http://{listen}");
    wait_for_http(&format!("{base}/healthz"), Duration::from_secs(30)).unwrap();

    let health = get(&format!("{base}/healthz"));
    assert_eq!(health.status, 200, "{health:?}");
    let body: serde_json::Value = serde_json::from_str(&health.body).unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));

    let ready = get(&format!("{base}/readyz"));
    assert_eq!(ready.status, 200, "{ready:?}");

    // serve applied the migrations before listening.
    let applied: i64 = db
        .connect()
        .await
        .query_one("select count(*) from refinery_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    assert!(applied >= 1);

    // Database gone: 503 naming it, well within 2 s.
    db.cluster.stop().unwrap();
    let started = Instant::now();
    let ready = get(&format!("{base}/readyz"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(ready.status, 503, "{ready:?}");
    let body: serde_json::Value = serde_json::from_str(&ready.body).unwrap();
    assert_eq!(body["failing"], "database", "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    // Liveness does not depend on the database.
    assert_eq!(get(&format!("{base}/healthz")).status, 200);

    // Database back: ready again, without restarting the bridge.
    db.cluster.start_again().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = get(&format!("{base}/readyz")).status;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz stayed {status} after the database came back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // SIGTERM: a clean exit.
    let status = bridge.terminate(Duration::from_secs(10)).unwrap();
    assert!(
        status.is_some_and(|s| s.success()),
        "exit: {status:?}\n{}",
        bridge.log()
    );
    assert!(bridge.log().contains("shutting down"), "{}", bridge.log());
}

#[tokio::test]
async fn waits_for_a_database_that_starts_late() {
    let db = TestDb::new().await;
    db.cluster.stop().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let sandboxes = tempfile::tempdir().unwrap();
    let _bridge = ChildGuard::spawn(
        Command::new(BRIDGE)
            .args(["serve", "--listen", &listen])
            .env("DATABASE_URL", &db.url)
            .env("BRIDGE_SANDBOX_DIR", sandboxes.path()),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    db.cluster.start_again().unwrap();
    let status =
        wait_for_http(&format!("http://{listen}/readyz"), Duration::from_secs(30)).unwrap();
    assert_eq!(status, 200);
}

#[test]
fn missing_database_url_is_a_clear_error() {
    let output = Command::new(BRIDGE)
        .arg("migrate")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DATABASE_URL is not set"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_serves_in_process_on_an_ephemeral_port() {
    // A database URL where nothing listens: liveness is fine, readiness is not.
    let config = terminal_bridge::config::database_config(&format!(
        "postgres://nobody@127.0.0.1:{}/none",
        free_port()
    ))
    .unwrap();
    let pool = terminal_bridge::db::pool(&config, 2).unwrap();
    let runtime = std::sync::Arc::new(terminal_bridge::runtime::process::ProcessRuntime::new(
        "/nonexistent/pod-agent".into(),
        std::env::temp_dir().join("bridge-serve-test"),
    ));
    let state = terminal_bridge::AppState::new(
        terminal_bridge::db::Db::new(config.clone()),
        pool.clone(),
        terminal_bridge::workspaces::Workspaces::new(
            runtime,
            config.clone(),
            pool.clone(),
            Default::default(),
        ),
        terminal_bridge::ws::WsConfig::default(),
        std::sync::Arc::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(terminal_bridge::serve::serve(
        listener,
        terminal_bridge::router(state),
        async {
            let _ = stopped.await;
        },
    ));

    let (health, ready, missing) = tokio::task::spawn_blocking(move || {
        (
            get(&format!("{base}/healthz")),
            get(&format!("{base}/readyz")),
            get(&format!("{base}/nope")),
        )
    })
    .await
    .unwrap();
    assert_eq!(health.status, 200);
    assert_eq!(ready.status, 503);
    assert_eq!(missing.status, 404);

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
