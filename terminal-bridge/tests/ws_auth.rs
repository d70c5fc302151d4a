//! Who may open `/ws`: tokens (header, query, first message; bad, expired, revoked, missing),
//! the `Origin` check, and the auth-failure metrics.

mod common;

use std::time::Duration;

use common::ws::{Bridge, WsClient, close_code, metric};
use serde_json::json;
use terminal_bridge::ws::WsConfig;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_accepted_in_three_places_and_bad_ones_are_closed_with_4401() {
    let bridge = Bridge::start_with(WsConfig {
        auth_timeout: Duration::from_millis(500),
        ..WsConfig::default()
    })
    .await;
    let (alice, token) = bridge.user("alice").await;
    let expired = bridge.token(alice, "-1 minute", false).await;
    let revoked = bridge.token(alice, "1 hour", true).await;

    // Header (Bridge::connect), query, first message.
    bridge.connect(&token).await;
    let mut by_query = WsClient::connect(bridge.url(&format!("/ws?token={token}"))).await;
    assert_eq!(by_query.next_of("ready").await["userId"], alice);
    let mut by_message = WsClient::connect(bridge.url("/ws")).await;
    by_message
        .send(json!({"type": "auth", "token": token}))
        .await;
    assert_eq!(by_message.next_of("ready").await["userId"], alice);

    for bad in [
        expired.as_str(),
        revoked.as_str(),
        "cep_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "nonsense",
    ] {
        let mut client = WsClient::connect(bridge.url(&format!("/ws?token={bad}"))).await;
        let frame = client.closed().await;
        assert_eq!(close_code(&frame), 4401, "{bad}: {frame:?}");
        let reason = frame.unwrap().reason.to_string();
        assert!(reason.contains("invalid, expired or revoked"), "{reason}");
    }

    // A bad token in the first message, and no token at all within the auth timeout.
    let mut client = WsClient::connect(bridge.url("/ws")).await;
    client.send(json!({"type": "auth", "token": expired})).await;
    assert_eq!(close_code(&client.closed().await), 4401);
    let mut silent = WsClient::connect(bridge.url("/ws")).await;
    let frame = silent.closed().await;
    assert_eq!(close_code(&frame), 4401);
    assert!(frame.unwrap().reason.contains("authentication required"));
    // A first message that is not `auth`.
    let mut rude = WsClient::connect(bridge.url("/ws")).await;
    rude.send(json!({"type": "ping"})).await;
    assert_eq!(close_code(&rude.closed().await), 4401);

    let metrics = bridge.metrics().await;
    assert_eq!(
        metric(&metrics, "bridge_auth_failures_total{reason=\"invalid\"}"),
        5.0,
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "bridge_auth_failures_total{reason=\"missing\"}"),
        2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_origins_are_refused_before_the_upgrade() {
    let bridge = Bridge::start_with(WsConfig {
        allowed_origins: terminal_bridge::ws::parse_origins(Some("https://app.example")),
        ..WsConfig::default()
    })
    .await;
    let (_, token) = bridge.user("alice").await;
    let with_origin = |origin: &str| {
        let mut request = bridge
            .url(&format!("/ws?token={token}"))
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        request
    };
    let refused = tokio_tungstenite::connect_async(with_origin("https://evil.example")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
            let body = String::from_utf8(response.body().clone().unwrap_or_default()).unwrap();
            assert!(body.contains("origin_not_allowed"), "{body}");
        }
        other => panic!("expected a 403, got {other:?}"),
    }
    let mut allowed = WsClient::connect(with_origin("https://app.example")).await;
    allowed.next_of("ready").await;
    // No Origin at all (websocat, scripts) is allowed.
    bridge.connect(&token).await;

    // Plain HTTP on the WebSocket endpoints gets the API's error shape.
    for path in ["/ws", "/ws/sessions/x/terminals/main"] {
        let url = bridge.http(path);
        let response = tokio::task::spawn_blocking(move || {
            test_support::http_get(&url, Duration::from_secs(5)).unwrap()
        })
        .await
        .unwrap();
        assert!((400..500).contains(&response.status), "{response:?}");
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(body["error"]["code"], "websocket_required", "{body}");
    }
}
