//! What only api-host has, through the `fixture` component: its JSON error bodies and
//! its limits (memory, time, body size).
//! What a component sees of its host, on both hosts, is in `spin_visible.rs`.

mod common;

use common::{Host, client};
use serde_json::Value;
use std::time::{Duration, Instant};

fn manifest(outbound: &str) -> String {
    common::fixture_manifest(outbound)
}

fn start(outbound: &str, args: &[&str]) -> Host {
    Host::start(
        &manifest(outbound),
        &[("SPIN_VARIABLE_FROM_ENV", "yes".to_string())],
        args,
    )
}

async fn json(resp: reqwest::Response) -> Value {
    resp.json().await.expect("a JSON body")
}

#[tokio::test]
async fn unknown_routes_are_404_with_the_json_error_shape() {
    let host = start("", &[]);
    let resp = client().get(host.url("/nowhere")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let body = json(resp).await;
    assert_eq!(body["error"]["code"], "not_found", "{body}");
}

#[tokio::test]
async fn a_trap_answers_the_json_error_shape() {
    let host = start("", &[]);
    let c = client();
    let resp = c.get(host.url("/fixture/trap")).send().await.unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(json(resp).await["error"]["code"], "component_failed");
    let resp = c.get(host.url("/fixture/served")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn memory_exhaustion_is_a_500_and_the_host_keeps_serving() {
    let host = start("", &["--memory-limit-mib", "32"]);
    let c = client();
    let resp = c.get(host.url("/fixture/oom")).send().await.unwrap();
    assert_eq!(resp.status(), 500);
    let resp = c.get(host.url("/fixture/served")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_spinning_component_times_out_and_the_host_keeps_serving() {
    let host = start("", &["--request-timeout-ms", "1000"]);
    let c = client();
    let started = Instant::now();
    let resp = c.get(host.url("/fixture/spin")).send().await.unwrap();
    assert_eq!(resp.status(), 504);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let resp = c.get(host.url("/fixture/served")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let host = start("", &["--max-body-bytes", "1024"]);
    let resp = client()
        .post(host.url("/fixture/echo"))
        .body(vec![7u8; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(json(resp).await["error"]["code"], "payload_too_large");
}
