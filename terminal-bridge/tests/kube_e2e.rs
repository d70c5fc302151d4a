//! `/ws` end to end over the kube runtime: real PostgreSQL, the bridge in-process, the real
//! `kube` client against `test_support::FakeKube` (a fake API server on loopback whose pods run
//! the real `pod-agent`), and real shells on real PTYs reached over `pods/exec`.
//!
//! Needs the `pod-agent` binary built (`cargo build --bins`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::ws::{Bridge, number_after};
use serde_json::json;
use terminal_bridge::runtime::kube::KubeRuntime;
use terminal_bridge::runtime::kube::settings::{ClientSource, KubeSettings};
use test_support::FakeKube;
use uuid::Uuid;

const NS: &str = "code-exec-workspaces";

/// The fake API server and a bridge whose runtime is a `KubeRuntime` against it.
async fn kube_bridge() -> (FakeKube, Bridge) {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let fake = FakeKube::start(&test_support::binary("pod-agent")).await;
    let mut settings = KubeSettings::for_namespace(NS);
    settings.warm_pool = 0;
    settings.start_timeout = Duration::from_secs(20);
    settings.terminating_timeout = Duration::from_secs(10);
    settings.poll_interval = Duration::from_millis(50);
    let config = kube::Config::new(fake.url().parse().unwrap());
    let runtime = Arc::new(KubeRuntime::new(settings, ClientSource::Config(config)));
    let bridge = Bridge::start_wrapped(Default::default(), move |_process| runtime).await;
    (fake, bridge)
}

/// A file row as the REST component writes it (top-level path, so no folder rows).
async fn file_row(bridge: &Bridge, session: Uuid, path: &str, content: &[u8]) {
    bridge
        .admin
        .execute(
            "insert into workspace_items (session_id, path, parent_path, kind, content, size, sha256)
             values ($1, $2, null, 'file', $3::bytea, octet_length($3::bytea), sha256($3::bytea))",
            &[&session, &path, &content],
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_runs_in_a_pod_files_are_pushed_and_a_reconnect_finds_the_same_shell() {
    let (fake, bridge) = kube_bridge().await;
    let (alice, token) = bridge.user("alice").await;
    let session = bridge.session(alice).await;
    file_row(&bridge, session, "hello.txt", b"pushed-from-postgres\n").await;

    let mut client = bridge.connect(&token).await;
    client
        .send(json!({"type": "terminal_input", "sessionId": session,
                     "input": "python3 -c \"print(6*7)\"\n"}))
        .await;
    let opened = client.next_of("opened").await;
    assert_eq!(opened["terminalId"], "main");
    assert_eq!(opened["created"], true);
    client.wait_output("main", "42\r\n").await;
    // The shell runs in the session's pod, made through the API server.
    assert!(
        fake.pod(NS, &format!("ws-{session}")).is_some(),
        "no pod for the session; requests: {:#?}",
        fake.requests()
    );
    // The file row was pushed into the pod's workspace on activation.
    client.type_in(session, "main", "cat hello.txt\n").await;
    client.wait_output("main", "pushed-from-postgres\r\n").await;
    client.type_in(session, "main", "echo \"pid:$$:\"\n").await;
    let first = client.wait_output("main", ":\r\n").await;
    let pid = number_after(&first, "pid:").expect("the shell printed its pid");
    assert!(pid > 1);
    drop(client);

    let mut again = bridge.connect(&token).await;
    let opened = again.open(session, "main").await;
    assert_eq!(opened["created"], false, "{opened}");
    assert!(opened["replayed"].as_u64().unwrap() > 0, "{opened}");
    again.wait_output("main", "42\r\n").await;
    again.wait_output("main", &format!("pid:{pid}:")).await;
    again.type_in(session, "main", "echo \"again:$$:\"\n").await;
    again.wait_output("main", &format!("again:{pid}:")).await;
    // Still one pod for the session.
    let pods = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with(&format!("POST /api/v1/namespaces/{NS}/pods")))
        .count();
    assert_eq!(pods, 1, "{:#?}", fake.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_share_a_pod_terminal_and_a_viewer_may_watch_but_not_type() {
    let (_fake, bridge) = kube_bridge().await;
    let (alice, alice_token) = bridge.user("alice").await;
    let (bob, bob_token) = bridge.user("bob").await;
    let session = bridge.session(alice).await;
    bridge.share(session, bob, "viewer").await;

    let mut owner = bridge.connect(&alice_token).await;
    let mut second = bridge.connect(&alice_token).await;
    let mut viewer = bridge.connect(&bob_token).await;
    owner.open(session, "main").await;
    second.open(session, "main").await;
    viewer.open(session, "main").await;

    owner
        .type_in(session, "main", "echo \"both-$((40+2))\"\n")
        .await;
    for client in [&mut owner, &mut second, &mut viewer] {
        client.wait_output("main", "both-42").await;
    }

    viewer
        .type_in(session, "main", "echo \"viewer-$((1+1))\"\n")
        .await;
    let error = viewer.next_of("error").await;
    assert_eq!(error["code"], "forbidden", "{error}");
    second
        .type_in(session, "main", "echo \"after-$((2+3))\"\n")
        .await;
    for client in [&mut owner, &mut viewer] {
        let seen = client.wait_output("main", "after-5").await;
        assert!(!seen.contains("viewer-2"), "{seen}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_terminals_of_one_pod_are_independent() {
    let (_fake, bridge) = kube_bridge().await;
    let (alice, token) = bridge.user("alice").await;
    let session = bridge.session(alice).await;
    let mut client = bridge.connect(&token).await;
    client
        .send(
            json!({"type": "open", "sessionId": session, "terminalId": "one",
                     "cols": 100, "rows": 30}),
        )
        .await;
    assert_eq!(client.next_of("opened").await["terminalId"], "one");
    client.open(session, "two").await;
    client
        .type_in(session, "one", "export MARK=one; stty size\n")
        .await;
    client.wait_output("one", "30 100").await;
    client
        .type_in(session, "two", "echo \"mark=[$MARK]\"\n")
        .await;
    client.wait_output("two", "mark=[]").await;
    client.type_in(session, "two", "exit 3\n").await;
    let exit = client.next_of("exit").await;
    assert_eq!(
        (&exit["terminalId"], &exit["code"]),
        (&json!("two"), &json!(3)),
        "{exit}"
    );
    client
        .type_in(session, "one", "echo \"still-$((3*3))\"\n")
        .await;
    client.wait_output("one", "still-9").await;
}
