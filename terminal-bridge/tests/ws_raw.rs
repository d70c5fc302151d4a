//! The raw terminal endpoint `/ws/sessions/{uuid}/terminals/{id}`: bytes both ways, text
//! frames as input, size from the query, scrollback on reconnect, HTTP errors before the
//! upgrade.

mod common;

use common::backend::{Backend, on_each_backend};
use common::ws::{Bridge, PATIENCE, close_code};
use futures_util::{SinkExt, StreamExt};
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::tungstenite::Message;

on_each_backend! {
    raw_bytes_round_trip_with_size_and_replay,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads binary output until it contains `needle`; returns all of it.
async fn wait_for(socket: &mut Socket, seen: &mut Vec<u8>, needle: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = String::from_utf8_lossy(seen).into_owned();
        if text.contains(needle) {
            return text;
        }
        match timeout_at(deadline, socket.next()).await {
            Ok(Some(Ok(Message::Binary(data)))) => seen.extend_from_slice(&data),
            Ok(Some(Ok(Message::Close(frame)))) => panic!("closed ({frame:?}); output: {text}"),
            Ok(Some(Ok(_))) => {}
            Ok(other) => panic!("{other:?}; output: {text}"),
            Err(_) => panic!("timed out waiting for {needle:?}; output: {text}"),
        }
    }
}

async fn status_of(url: String) -> u16 {
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        other => panic!("expected an HTTP error, got {other:?}"),
    }
}

async fn raw_bytes_round_trip_with_size_and_replay(backend: Backend) {
    let bridge = Bridge::start_on(backend).await;
    let (alice, token) = bridge.user("alice").await;
    let (bob, bob_token) = bridge.user("bob").await;
    let session = bridge.session(alice).await;
    bridge.share(session, bob, "viewer").await;
    let path = format!("/ws/sessions/{session}/terminals/raw");

    let url = bridge.url(&format!("{path}?token={token}&cols=90&rows=20"));
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut seen = Vec::new();
    socket
        .send(Message::binary(b"stty size\n".to_vec()))
        .await
        .unwrap();
    wait_for(&mut socket, &mut seen, "20 90").await;
    socket
        .send(Message::text("echo \"raw-$((2*21))\"\n"))
        .await
        .unwrap();
    wait_for(&mut socket, &mut seen, "raw-42").await;
    drop(socket);

    // Reconnect: the scrollback comes back before any input.
    let url = bridge.url(&format!("{path}?token={token}"));
    let (mut again, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut replay = Vec::new();
    wait_for(&mut again, &mut replay, "raw-42").await;

    // A viewer sees the output but typing closes the connection with 4403.
    let url = bridge.url(&format!("{path}?token={bob_token}"));
    let (mut viewer, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut viewed = Vec::new();
    wait_for(&mut viewer, &mut viewed, "raw-42").await;
    viewer.send(Message::text("id\n")).await.unwrap();
    let deadline = Instant::now() + PATIENCE;
    let frame = loop {
        match timeout_at(deadline, viewer.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(close_code(&frame), 4403, "{frame:?}");

    // The shell ending closes the socket normally, saying how it ended.
    again.send(Message::text("exit 7\n")).await.unwrap();
    let frame = loop {
        match timeout_at(deadline, again.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(close_code(&frame), 1000);
    assert!(frame.unwrap().reason.contains("code 7"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_refusals_are_http_errors() {
    let bridge = Bridge::start().await;
    let (alice, token) = bridge.user("alice").await;
    let (_, mallory) = bridge.user("mallory").await;
    let session = bridge.session(alice).await;
    let path = format!("/ws/sessions/{session}/terminals/main");

    assert_eq!(status_of(bridge.url(&path)).await, 401);
    assert_eq!(
        status_of(bridge.url(&format!("{path}?token=cep_nope"))).await,
        401
    );
    assert_eq!(
        status_of(bridge.url(&format!("{path}?token={mallory}"))).await,
        404
    );
    let unknown = format!("/ws/sessions/{}/terminals/main", uuid::Uuid::new_v4());
    assert_eq!(
        status_of(bridge.url(&format!("{unknown}?token={token}"))).await,
        404
    );
    let bad_id = format!("/ws/sessions/{session}/terminals/a%2Fb?token={token}");
    assert_eq!(status_of(bridge.url(&bad_id)).await, 400);
    let bad_size = format!("{path}?token={token}&cols=0&rows=10");
    assert_eq!(status_of(bridge.url(&bad_size)).await, 400);
}
