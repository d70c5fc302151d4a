//! `GET /config.json`: what the page needs to know at run time, from Spin variables.

use serde_json::json;

/// The terminal-bridge's WebSocket URL as the browser must use it
/// (`terminal_bridge_public_url`, e.g. `wss://bridge.example.com/ws`). Empty or missing:
/// `null`, and the page uses its own host on port 8001, path `/ws`.
pub async fn body() -> Vec<u8> {
    let bridge = spin_sdk::variables::get("terminal_bridge_public_url")
        .await
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    json!({ "bridgeUrl": bridge }).to_string().into_bytes()
}
