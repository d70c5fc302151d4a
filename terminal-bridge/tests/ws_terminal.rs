//! `/ws` end to end: real PostgreSQL, the bridge in-process, the real `pod-agent` with real
//! shells on real PTYs; on the process runtime, and on the kube runtime (pods of a fake API
//! server reached over `pods/exec`).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::backend::{Backend, NS, on_each_backend};
use common::ws::{Bridge, number_after};
use serde_json::json;
use terminal_bridge::runtime::process::ProcessRuntime;
use terminal_bridge::runtime::{AgentStream, Runtime, RuntimeError, Sandbox};
use uuid::Uuid;

on_each_backend! {
    the_original_input_message_runs_python_and_a_reconnect_finds_the_same_shell,
    two_clients_share_a_terminal_and_a_viewer_may_watch_but_not_type,
    terminals_are_independent_resizable_closable_and_report_their_exit,
    split_utf8_characters_arrive_whole_and_base64_is_exact,
}

async fn the_original_input_message_runs_python_and_a_reconnect_finds_the_same_shell(
    backend: Backend,
) {
    let bridge = Bridge::start_on(backend).await;
    let (alice, token) = bridge.user("alice").await;
    let session = bridge.session(alice).await;
    // A file row as the REST component writes it (top-level path, so no folder rows).
    let content = b"pushed-from-postgres\n".as_slice();
    bridge
        .admin
        .execute(
            "insert into workspace_items (session_id, path, parent_path, kind, content, size, sha256)
             values ($1, 'hello.txt', null, 'file', $2::bytea, octet_length($2::bytea), sha256($2::bytea))",
            &[&session, &content],
        )
        .await
        .unwrap();

    let mut client = bridge.connect(&token).await;
    // Exactly the original front end's message: no open, no terminal id.
    client
        .send(json!({"type": "terminal_input", "sessionId": session,
                     "input": "python3 -c \"print(6*7)\"\n"}))
        .await;
    let opened = client.next_of("opened").await;
    assert_eq!(opened["terminalId"], "main");
    assert_eq!(opened["created"], true);
    client.wait_output("main", "42\r\n").await;
    // The file row was pushed into the sandbox on activation.
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
    // The scrollback comes first: the earlier output is there without typing anything.
    again.wait_output("main", "42\r\n").await;
    again.wait_output("main", &format!("pid:{pid}:")).await;
    again.type_in(session, "main", "echo \"again:$$:\"\n").await;
    // The same shell: the same `$$` (a new shell would fail this wait, showing its output).
    again.wait_output("main", &format!("again:{pid}:")).await;
    if let Some(fake) = bridge.fake() {
        // One pod, made through the API server, served both connections.
        let created = fake
            .requests()
            .iter()
            .filter(|r| r.starts_with(&format!("POST /api/v1/namespaces/{NS}/pods")))
            .count();
        assert_eq!(created, 1, "{:#?}", fake.requests());
        assert!(fake.pod(NS, &format!("ws-{session}")).is_some());
    }
}

async fn two_clients_share_a_terminal_and_a_viewer_may_watch_but_not_type(backend: Backend) {
    let bridge = Bridge::start_on(backend).await;
    let (alice, alice_token) = bridge.user("alice").await;
    let (bob, bob_token) = bridge.user("bob").await;
    let session = bridge.session(alice).await;
    bridge.share(session, bob, "viewer").await;

    let mut owner = bridge.connect(&alice_token).await;
    let mut second = bridge.connect(&alice_token).await;
    let mut viewer = bridge.connect(&bob_token).await;
    owner
        .send(json!({"type": "open", "sessionId": session, "cols": 100, "rows": 30}))
        .await;
    owner.next_of("opened").await;
    second.open(session, "main").await;
    // The viewer's size is not applied: it would change the terminal for everyone.
    viewer
        .send(json!({"type": "open", "sessionId": session, "cols": 50, "rows": 10}))
        .await;
    viewer.next_of("opened").await;
    owner.type_in(session, "main", "stty size\n").await;
    owner.wait_output("main", "30 100").await;

    owner
        .type_in(session, "main", "echo \"both-$((40+2))\"\n")
        .await;
    for client in [&mut owner, &mut second, &mut viewer] {
        client.wait_output("main", "both-42").await;
    }

    // The viewer's input is refused with an error, and nothing reaches the shell.
    viewer
        .type_in(session, "main", "echo \"viewer-$((1+1))\"\n")
        .await;
    let error = viewer.next_of("error").await;
    assert_eq!(error["code"], "forbidden", "{error}");
    assert_eq!(error["sessionId"], session.to_string());
    viewer
        .send(
            json!({"type": "resize", "sessionId": session, "terminalId": "main",
                     "cols": 100, "rows": 10}),
        )
        .await;
    assert_eq!(viewer.next_of("error").await["code"], "forbidden");
    viewer
        .send(json!({"type": "close", "sessionId": session, "terminalId": "main"}))
        .await;
    assert_eq!(viewer.next_of("error").await["code"], "forbidden");
    owner
        .type_in(session, "main", "echo \"after-$((2+3))\"\n")
        .await;
    let seen = viewer.wait_output("main", "after-5").await;
    assert!(!seen.contains("viewer-2"), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_and_unknown_sessions_are_not_found() {
    let bridge = Bridge::start().await;
    let (alice, _) = bridge.user("alice").await;
    let (_, mallory_token) = bridge.user("mallory").await;
    let session = bridge.session(alice).await;

    let mut mallory = bridge.connect(&mallory_token).await;
    for target in [
        session.to_string(),
        uuid::Uuid::new_v4().to_string(),
        "not-a-uuid".into(),
    ] {
        mallory
            .send(json!({"type": "terminal_input", "sessionId": target, "input": "id\n"}))
            .await;
        let error = mallory.next_of("error").await;
        assert_eq!(error["code"], "not_found", "{error}");
        assert_eq!(error["sessionId"], target);
    }
    mallory
        .send(json!({"type": "open", "sessionId": session, "terminalId": "main"}))
        .await;
    assert_eq!(mallory.next_of("error").await["code"], "not_found");
    // Malformed messages get a clear error, and the connection stays usable.
    mallory.send(json!({"type": "launch_missiles"})).await;
    assert_eq!(mallory.next_of("error").await["code"], "bad_request");
    mallory.send(json!({"type": "ping"})).await;
    mallory.next_of("pong").await;
}

async fn terminals_are_independent_resizable_closable_and_report_their_exit(backend: Backend) {
    let bridge = Bridge::start_on(backend).await;
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
    assert!(!client.output["one"].contains("mark=["));

    client
        .send(
            json!({"type": "resize", "sessionId": session, "terminalId": "one",
                     "cols": 120, "rows": 40}),
        )
        .await;
    client.type_in(session, "one", "stty size\n").await;
    client.wait_output("one", "40 120").await;

    client.type_in(session, "two", "exit 3\n").await;
    let exit = client.next_of("exit").await;
    assert_eq!(
        (&exit["terminalId"], &exit["code"]),
        (&json!("two"), &json!(3)),
        "{exit}"
    );
    // `one` is unaffected.
    client
        .type_in(session, "one", "echo \"still-$((3*3))\"\n")
        .await;
    client.wait_output("one", "still-9").await;

    client
        .send(json!({"type": "close", "sessionId": session, "terminalId": "one"}))
        .await;
    let ended = client.next_of_any(&["exit", "closed"]).await;
    let other = client.next_of_any(&["exit", "closed"]).await;
    let exit = if ended["type"] == "exit" {
        ended
    } else {
        other
    };
    assert_eq!(exit["terminalId"], "one");
    assert!(exit["signal"].is_i64() || exit["code"].is_i64(), "{exit}");

    // A resize of a terminal this socket has not opened opens it, with that size.
    client
        .send(
            json!({"type": "resize", "sessionId": session, "terminalId": "three",
                     "cols": 70, "rows": 15}),
        )
        .await;
    assert_eq!(client.next_of("opened").await["terminalId"], "three");
    client.type_in(session, "three", "stty size\n").await;
    client.wait_output("three", "15 70").await;

    // Closing a terminal that does not exist is not_found.
    client
        .send(json!({"type": "close", "sessionId": session, "terminalId": "nope"}))
        .await;
    assert_eq!(client.next_of("error").await["code"], "not_found");
}

async fn split_utf8_characters_arrive_whole_and_base64_is_exact(backend: Backend) {
    let bridge = Bridge::start_on(backend).await;
    let (alice, token) = bridge.user("alice").await;
    let session = bridge.session(alice).await;
    let mut client = bridge.connect(&token).await;
    client.open(session, "main").await;
    // printf writes the two bytes of "é" with a pause between them, so they arrive in
    // separate output chunks.
    client
        .type_in(
            session,
            "main",
            "printf 'x\\303'; sleep 0.3; printf '\\251y\\n'\n",
        )
        .await;
    let text = client.wait_output("main", "y\r\n").await;
    assert!(text.contains("xéy"), "{text:?}");
    assert!(!text.contains('\u{fffd}'), "{text:?}");

    client
        .send(
            json!({"type": "open", "sessionId": session, "terminalId": "bin",
                     "encoding": "base64"}),
        )
        .await;
    client.next_of("opened").await;
    client
        .send(
            json!({"type": "terminal_input", "sessionId": session, "terminalId": "bin",
                     "data": "cHJpbnRmICdcMzc3XDM3NlxuJwo="}),
        )
        .await; // printf '\377\376\n'
    let bytes = client.wait_bytes("bin", &[0xff, 0xfe, b'\r', b'\n']).await;
    assert!(!bytes.is_empty());
}

/// The process runtime, but starting one chosen session's sandbox takes 3 s.
struct SlowStart {
    inner: Arc<ProcessRuntime>,
    slow: Arc<Mutex<Option<Uuid>>>,
}

#[async_trait::async_trait]
impl Runtime for SlowStart {
    fn name(&self) -> &'static str {
        "slow-start"
    }
    async fn ensure(&self, session: Uuid) -> Result<Sandbox, RuntimeError> {
        let slow = *self.slow.lock().unwrap() == Some(session);
        if slow {
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        self.inner.ensure(session).await
    }
    async fn connect(&self, session: Uuid) -> Result<AgentStream, RuntimeError> {
        self.inner.connect(session).await
    }
    async fn stop(&self, session: Uuid) -> Result<(), RuntimeError> {
        self.inner.stop(session).await
    }
    async fn list(&self) -> Result<Vec<Sandbox>, RuntimeError> {
        self.inner.list().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowly_starting_sandbox_does_not_hold_up_the_other_sessions_of_a_socket() {
    let slow = Arc::new(Mutex::new(None));
    let chosen = Arc::clone(&slow);
    let bridge = Bridge::start_wrapped(Default::default(), move |inner| {
        Arc::new(SlowStart {
            inner,
            slow: chosen,
        })
    })
    .await;
    let (alice, token) = bridge.user("alice").await;
    let fast = bridge.session(alice).await;
    let sluggish = bridge.session(alice).await;
    *slow.lock().unwrap() = Some(sluggish);

    let mut client = bridge.connect(&token).await;
    client.open(fast, "main").await;
    // Input for the slow session opens it implicitly; it is kept until the shell is there.
    client
        .send(
            json!({"type": "terminal_input", "sessionId": sluggish, "terminalId": "other",
                     "input": "echo \"slow-$((3+4))\"\n"}),
        )
        .await;
    client
        .type_in(fast, "main", "echo \"fast-$((2+3))\"\n")
        .await;
    client.wait_output("main", "fast-5").await;
    assert!(
        client.messages.iter().all(|m| m["type"] != "opened"),
        "{:?}",
        client.messages
    );

    let opened = client.next_of("opened").await;
    assert_eq!(opened["sessionId"], sluggish.to_string());
    assert_eq!(opened["terminalId"], "other");
    client.wait_output("other", "slow-7").await;
}

/// A regression guard for Nagle's algorithm on the kube runtime's API connections: with it
/// on, each keystroke's echo waited for a delayed ACK (44 ms p50 in `scripts/bench terminal`
/// with `BRIDGE_RUNTIME=kube`; 0.35 ms without). Not a benchmark: the bound is 2x below the
/// stall and far above an echo's round trip here, even in a debug build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keystrokes_over_the_kube_exec_echo_without_stalls() {
    let bridge = Bridge::start_on(Backend::Kube).await;
    let (alice, token) = bridge.user("alice").await;
    let session = bridge.session(alice).await;
    let mut client = bridge.connect(&token).await;
    client.open(session, "main").await;
    client.type_in(session, "main", "#nagle-").await;
    client.wait_output("main", "#nagle-").await;
    let mut typed = String::from("#nagle-");
    let mut rounds = Vec::new();
    for i in 0..21 {
        let key = char::from(b'a' + (i % 26) as u8);
        typed.push(key);
        let started = tokio::time::Instant::now();
        client.type_in(session, "main", &key.to_string()).await;
        client.wait_output("main", &typed).await;
        rounds.push(started.elapsed());
    }
    rounds.sort();
    let median = rounds[rounds.len() / 2];
    assert!(
        median < Duration::from_millis(20),
        "a keystroke's echo took {median:?} (median); all: {rounds:?}"
    );
}
