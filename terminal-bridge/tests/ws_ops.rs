//! Operations: metrics, message size and input rate limits, pings, slow clients, losing the
//! agent, and a graceful shutdown that leaves the shells running for the next bridge.

mod common;

use std::time::Duration;

use common::backend::{Backend, on_each_backend};
use common::hooked::Hooked;
use common::ws::{Bridge, PATIENCE, WsClient, close_code, metric, number_after};
use futures_util::SinkExt;
use serde_json::json;
use terminal_bridge::runtime::{AgentStream, Runtime};
use terminal_bridge::ws::WsConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::Message;

on_each_backend! {
    losing_the_agent_is_reported_and_the_next_open_reconnects,
    a_graceful_shutdown_asks_clients_to_reconnect_and_keeps_the_shell,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_connections_bytes_and_errors() {
    let bridge = Bridge::start().await;
    let (alice, token) = bridge.user("alice").await;
    let (bob, bob_token) = bridge.user("bob").await;
    let session = bridge.session(alice).await;
    bridge.share(session, bob, "viewer").await;
    let before = bridge.metrics().await;
    assert_eq!(metric(&before, "bridge_terminal_input_bytes_total"), 0.0);

    let mut client = bridge.connect(&token).await;
    let mut viewer = bridge.connect(&bob_token).await;
    client.open(session, "main").await;
    client
        .type_in(session, "main", "echo \"m-$((5*5))\"\n")
        .await;
    client.wait_output("main", "m-25").await;
    viewer.type_in(session, "main", "x").await;
    assert_eq!(viewer.next_of("error").await["code"], "forbidden");

    let text = bridge.metrics().await;
    assert_eq!(metric(&text, "bridge_ws_connections"), 2.0, "{text}");
    assert_eq!(metric(&text, "bridge_ws_connections_total"), 2.0);
    assert_eq!(metric(&text, "bridge_terminals_attached"), 1.0);
    assert_eq!(metric(&text, "bridge_agent_connections"), 1.0);
    assert_eq!(
        metric(&text, "bridge_terminal_input_bytes_total"),
        "echo \"m-$((5*5))\"\n".len() as f64
    );
    assert!(metric(&text, "bridge_terminal_output_bytes_total") >= 5.0);
    assert_eq!(
        metric(&text, "bridge_ws_errors_total{code=\"forbidden\"}"),
        1.0
    );

    drop(client);
    drop(viewer);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let text = bridge.metrics().await;
        if metric(&text, "bridge_ws_connections") == 0.0
            && metric(&text, "bridge_terminals_attached") == 0.0
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Errors sent to clients are counted by code, and failed reconcile steps by reason. The
/// reconcile fails through the fake API server's fault injection (no sandbox is needed for
/// any of it: the kube runtime only lists pods here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_counted_by_code_and_reconcile_failures_by_reason() {
    let bridge = Bridge::start_on(Backend::Kube).await;
    let (alice, token) = bridge.user("alice").await;
    let (bob, bob_token) = bridge.user("bob").await;
    let session = bridge.session(alice).await;
    bridge.share(session, bob, "viewer").await;
    let mut client = bridge.connect(&token).await;
    let mut viewer = bridge.connect(&bob_token).await;

    client
        .socket
        .send(Message::text("{not json"))
        .await
        .unwrap();
    assert_eq!(client.next_of("error").await["code"], "bad_request");
    client
        .send(json!({"type": "detach", "sessionId": session, "terminalId": "nope"}))
        .await;
    let error = client.next_of("error").await;
    assert_eq!(
        (&error["code"], &error["terminalId"]),
        (&json!("not_found"), &json!("nope")),
        "{error}"
    );
    viewer.type_in(session, "main", "id\n").await;
    assert_eq!(viewer.next_of("error").await["code"], "forbidden");

    // The next request to the API server (the reconcile's listing) is refused; a 403 is not
    // retried.
    bridge.fake().unwrap().fail_next(1, 403, Some("GET"));
    let workspaces = &bridge.instance.state.workspaces;
    workspaces.reconcile_once().await;

    let text = bridge.metrics().await;
    for code in ["bad_request", "not_found", "forbidden"] {
        let name = format!("bridge_ws_errors_total{{code=\"{code}\"}}");
        assert_eq!(metric(&text, &name), 1.0, "{name}: {text}");
    }
    let failed = "bridge_reconcile_failures_total{reason=\"list_sandboxes\"}";
    assert_eq!(metric(&text, failed), 1.0, "{text}");
    assert!(
        text.contains("# TYPE bridge_sync_failures_total counter\n"),
        "{text}"
    );

    // A pass that works counts no failure.
    workspaces.reconcile_once().await;
    let text = bridge.metrics().await;
    assert_eq!(metric(&text, "bridge_reconciles_total"), 2.0, "{text}");
    assert_eq!(metric(&text, failed), 1.0, "{text}");
    assert!(
        !text.contains("bridge_reconcile_failures_total{reason=\"read_sessions\"}"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_close_and_fast_input_is_rate_limited() {
    let bridge = Bridge::start_with(WsConfig {
        max_message_bytes: 4096,
        input_rate: 100,
        input_burst: 1000,
        ..WsConfig::default()
    })
    .await;
    let (alice, token) = bridge.user("alice").await;
    let session = bridge.session(alice).await;

    let mut client = bridge.connect(&token).await;
    client.open(session, "main").await;
    let burst = format!("echo {}\n", "y".repeat(900));
    client.type_in(session, "main", &burst).await;
    client.type_in(session, "main", &burst).await;
    let error = client.next_of("error").await;
    assert_eq!(error["code"], "rate_limited", "{error}");

    let huge = json!({"type": "terminal_input", "sessionId": session, "input": "x".repeat(10_000)});
    client.send(huge).await;
    let frame = client.closed().await;
    assert_eq!(close_code(&frame), 1009, "{frame:?}");
    let text = bridge.metrics().await;
    assert_eq!(
        metric(&text, "bridge_ws_errors_total{code=\"too_large\"}"),
        1.0,
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_answers_pings_is_closed() {
    let bridge = Bridge::start_with(WsConfig {
        ping_interval: Duration::from_millis(300),
        ..WsConfig::default()
    })
    .await;
    let (_, token) = bridge.user("alice").await;
    let mut client = bridge.connect(&token).await;
    // tungstenite answers pings only while it reads: not reading is not answering.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The server gave up on it: a 4408 close, or (when our pong to a closed socket races the
    // close frame) just the end of the connection; the metric says which it was.
    let frame = client.closed().await;
    assert!(matches!(close_code(&frame), 0 | 4408), "{frame:?}");
    let text = bridge.metrics().await;
    assert_eq!(
        metric(&text, "bridge_ws_errors_total{code=\"ping_timeout\"}"),
        1.0,
        "{text}"
    );

    // One that reads stays open over the same time.
    let mut reading = bridge.connect(&token).await;
    let quiet = tokio::time::timeout(Duration::from_secs(3), reading.closed()).await;
    assert!(quiet.is_err(), "closed: {quiet:?}");
    let text = bridge.metrics().await;
    assert_eq!(
        metric(&text, "bridge_ws_errors_total{code=\"ping_timeout\"}"),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_does_not_hold_up_the_others() {
    let bridge = Bridge::start_with(WsConfig {
        output_window: 16 * 1024,
        ..WsConfig::default()
    })
    .await;
    let (alice, token) = bridge.user("alice").await;
    let session = bridge.session(alice).await;
    let mut active = bridge.connect(&token).await;
    let mut stalled = bridge.connect(&token).await;
    active.open(session, "main").await;
    stalled.open(session, "main").await;

    // About 20 MB of output; the stalled client reads none of it.
    active
        .type_in(
            session,
            "main",
            "head -c 20000000 /dev/zero | tr '\\0' 'z'; echo; echo \"done-$((6*7))\"\n",
        )
        .await;
    active.wait_output("main", "done-42").await;
    // Keep memory of the test bounded: forget what was received.
    active.output.clear();

    // The stalled client was cut off with a reason it can read once it reads again.
    let detached = stalled.next_of("detached").await;
    assert_eq!(detached["terminalId"], "main");
    assert!(
        !detached["reason"].as_str().unwrap().is_empty(),
        "{detached}"
    );
    // It can attach again.
    stalled.open(session, "main").await;
}

async fn losing_the_agent_is_reported_and_the_next_open_reconnects(backend: Backend) {
    let bridge = Bridge::start_on(backend).await;
    let (alice, token) = bridge.user("alice").await;
    let session = bridge.session(alice).await;
    let mut client = bridge.connect(&token).await;
    client.open(session, "main").await;

    bridge.served.stop(session).await.unwrap();
    let error = client.next_of("error").await;
    assert_eq!(error["code"], "unavailable", "{error}");
    assert_eq!(error["terminalId"], "main");

    let opened = client.open(session, "main").await;
    assert_eq!(
        opened["created"], true,
        "a new sandbox, a new shell: {opened}"
    );
    client
        .type_in(session, "main", "echo \"back-$((1+1))\"\n")
        .await;
    client.wait_output("main", "back-2").await;
}

async fn a_graceful_shutdown_asks_clients_to_reconnect_and_keeps_the_shell(backend: Backend) {
    let mut bridge = Bridge::start_on(backend).await;
    let (alice, token) = bridge.user("alice").await;
    let session = bridge.session(alice).await;
    let mut client = bridge.connect(&token).await;
    client.open(session, "main").await;
    client.type_in(session, "main", "echo \"pid:$$:\"\n").await;
    let text = client.wait_output("main", ":\r\n").await;
    let pid = number_after(&text, "pid:").unwrap();

    let old_metrics = bridge.instance.state.metrics.clone();
    bridge.restart().await;
    let reconnect = client.next_of("reconnect").await;
    assert!(!reconnect["reason"].as_str().unwrap().is_empty());
    let frame = client.closed().await;
    assert_eq!(close_code(&frame), 1012, "{frame:?}");
    assert_eq!(
        old_metrics
            .agent_connections
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "the old instance closed its agent connections"
    );

    // The new instance re-attaches to the same shell, which kept its scrollback.
    let mut again = bridge.connect(&token).await;
    let opened = again.open(session, "main").await;
    assert_eq!(opened["created"], false, "{opened}");
    again.wait_output("main", &format!("pid:{pid}:")).await;
    again.type_in(session, "main", "echo \"now:$$:\"\n").await;
    again.wait_output("main", &format!("now:{pid}:")).await;

    // Raw clients get the same close code.
    let url = bridge.url(&format!(
        "/ws/sessions/{session}/terminals/main?token={token}"
    ));
    let (mut raw, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    raw.send(Message::text("true\n")).await.unwrap();
    bridge.restart().await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let frame = loop {
        use futures_util::StreamExt;
        match tokio::time::timeout_at(deadline, raw.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(close_code(&frame), 1012);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_on_the_real_binary_asks_clients_to_reconnect_and_exits_cleanly() {
    let bridge = Bridge::start().await;
    let (alice, token) = bridge.user("alice").await;
    let session = bridge.session(alice).await;
    let sandboxes = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", test_support::free_port());
    let mut process = test_support::ChildGuard::spawn(
        std::process::Command::new(env!("CARGO_BIN_EXE_terminal-bridge"))
            .args(["serve", "--listen", &listen])
            .env("DATABASE_URL", &bridge.db.url)
            .env("BRIDGE_RUNTIME", "process")
            .env("BRIDGE_AGENT_BIN", test_support::binary("pod-agent"))
            .env("BRIDGE_SANDBOX_DIR", sandboxes.path())
            .env("RUST_LOG", "info"),
    )
    .unwrap();
    let health = format!("http://{listen}/healthz");
    tokio::task::spawn_blocking(move || test_support::wait_for_http(&health, PATIENCE))
        .await
        .unwrap()
        .unwrap();

    let mut client = WsClient::connect(format!("ws://{listen}/ws?token={token}")).await;
    client.next_of("ready").await;
    client.open(session, "main").await;
    client
        .type_in(session, "main", "echo \"up-$((4*4))\"\n")
        .await;
    client.wait_output("main", "up-16").await;

    let status = tokio::task::spawn_blocking(move || {
        let status = process.terminate(PATIENCE);
        (status, process.log())
    });
    let reconnect = client.next_of("reconnect").await;
    assert!(!reconnect["reason"].as_str().unwrap().is_empty());
    assert_eq!(close_code(&client.closed().await), 1012);
    let (status, log) = status.await.unwrap();
    let status = status.unwrap().expect("the bridge exited by itself");
    assert!(status.success(), "{status}: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_that_cannot_start_is_reported_and_the_socket_stays_usable() {
    let state_dir = tempfile::tempdir().unwrap();
    let dir = state_dir.path().to_path_buf();
    let bridge = Bridge::start_wrapped(WsConfig::default(), move |_| {
        std::sync::Arc::new(terminal_bridge::runtime::process::ProcessRuntime::new(
            "/nonexistent/pod-agent".into(),
            dir,
        ))
    })
    .await;
    let (alice, token) = bridge.user("alice").await;
    let session = bridge.session(alice).await;
    let mut client = bridge.connect(&token).await;
    client
        .send(json!({"type": "open", "sessionId": session, "terminalId": "main"}))
        .await;
    let error = client.next_of("error").await;
    assert_eq!(error["code"], "unavailable", "{error}");
    assert_eq!(error["sessionId"], session.to_string());
    assert!(!error["message"].as_str().unwrap().is_empty());
    client.send(json!({"type": "ping"})).await;
    client.next_of("pong").await;
    let text = bridge.metrics().await;
    assert_eq!(
        metric(&text, "bridge_ws_errors_total{code=\"unavailable\"}"),
        1.0
    );
}

/// A stream whose end (EOF or a read error) is reported 3 s after it happened.
struct LateEnd {
    inner: AgentStream,
    end: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl AsyncRead for LateEnd {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        if self.end.is_none() {
            let before = buf.filled().len();
            match self.inner.as_mut().poll_read(cx, buf) {
                Poll::Ready(Ok(())) if buf.filled().len() > before => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
                _ => self.end = Some(Box::pin(tokio::time::sleep(Duration::from_secs(3)))),
            }
        }
        self.end.as_mut().unwrap().as_mut().poll(cx).map(Ok)
    }
}

impl AsyncWrite for LateEnd {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.inner.as_mut().poll_write(cx, data)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.inner.as_mut().poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.inner.as_mut().poll_shutdown(cx)
    }
}

/// The terminal's agent connection may learn that the sandbox is gone before the session
/// layer's sync connection does (CI saw it on kube). An open in between must start a new
/// sandbox, not answer "not running" because the session layer still thinks it watches one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_right_after_the_sandbox_vanished_starts_a_new_one() {
    // The first agent connection handed out is the session layer's sync connection.
    let delayed = std::sync::atomic::AtomicBool::new(false);
    let bridge = Bridge::start_wrapped(WsConfig::default(), |inner| {
        Hooked::runtime(inner, move |stream| {
            if delayed.swap(true, std::sync::atomic::Ordering::SeqCst) {
                return stream;
            }
            Box::pin(LateEnd {
                inner: stream,
                end: None,
            })
        })
    })
    .await;
    let (alice, token) = bridge.user("alice").await;
    let session = bridge.session(alice).await;
    let mut client = bridge.connect(&token).await;
    client.open(session, "main").await;

    bridge.runtime.stop(session).await.unwrap();
    let error = client.next_of("error").await;
    assert_eq!(error["code"], "unavailable", "{error}");

    let opened = client.open(session, "main").await;
    assert_eq!(opened["created"], true, "{opened}");
    client
        .type_in(session, "main", "echo \"again-$((2+3))\"\n")
        .await;
    client.wait_output("main", "again-5").await;
}
