//! The host's own behaviour, through the `fixture` component: routing and Spin's
//! request headers, variables, traps and memory exhaustion, timeouts, instance reuse,
//! concurrency, the outbound allow-list and request limits.

mod common;

use common::{Host, client, wasm};
use serde_json::Value;
use std::time::{Duration, Instant};

fn manifest(outbound: &str) -> String {
    format!(
        r#"
spin_manifest_version = 2
[application]
name = "fixture-app"
[variables]
greeting = {{ default = "hello from the default" }}
from_env = {{ required = true }}
port = {{ default = "1" }}
[[trigger.http]]
route = "/fixture/..."
component = "fixture"
[[trigger.http]]
route = "/fixture/users/:id/files/..."
component = "fixture"
[[trigger.http]]
route = {{ private = true }}
component = "fixture"
[component.fixture]
source = "{source}"
allowed_outbound_hosts = [{outbound}]
[component.fixture.variables]
greeting = "{{{{ greeting }}}}"
from_env = "env said {{{{ from_env }}}}"
"#,
        source = wasm("fixture"),
    )
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
async fn spin_headers_describe_the_route_and_cannot_be_spoofed() {
    let host = start("", &[]);
    let resp = client()
        .post(host.url("/fixture/echo?q=a%20b"))
        .header("spin-matched-route", "/spoofed")
        .body((0u8..=255).collect::<Vec<u8>>())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let meta: Value = serde_json::from_str(resp.headers()["x-echo"].to_str().unwrap()).unwrap();
    let body = resp.bytes().await.unwrap();
    assert_eq!(
        body.to_vec(),
        (0u8..=255).collect::<Vec<u8>>(),
        "binary body round-trips"
    );
    let h = &meta["headers"];
    assert_eq!(meta["method"], "POST");
    assert!(
        meta["uri"]
            .as_str()
            .unwrap()
            .ends_with("/fixture/echo?q=a%20b"),
        "{meta}"
    );
    assert_eq!(h["spin-matched-route"], "/fixture/...", "{meta}");
    assert_eq!(h["spin-path-info"], "/echo");
    assert_eq!(h["spin-component-route"], "/fixture");
    assert_eq!(h["spin-full-url"], host.url("/fixture/echo?q=a%20b"));
    assert!(
        h["spin-client-addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
}

#[tokio::test]
async fn the_most_specific_route_wins_and_parameters_reach_the_component() {
    let host = start("", &[]);
    let resp = client()
        .get(host.url("/fixture/users/7/files/echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let meta: Value = serde_json::from_str(resp.headers()["x-echo"].to_str().unwrap()).unwrap();
    let h = &meta["headers"];
    assert_eq!(
        h["spin-matched-route"], "/fixture/users/:id/files/...",
        "{meta}"
    );
    assert_eq!(h["spin-path-match-id"], "7", "{meta}");
    assert_eq!(h["spin-path-info"], "/echo", "{meta}");
}

#[tokio::test]
async fn variables_resolve_from_environment_and_defaults() {
    let host = start("", &[]);
    let c = client();
    let greeting = json(
        c.get(host.url("/fixture/var/greeting"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(greeting["value"], "hello from the default");
    let from_env = json(
        c.get(host.url("/fixture/var/from_env"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(from_env["value"], "env said yes");
    let resp = c.get(host.url("/fixture/var/port")).send().await.unwrap();
    assert_eq!(
        resp.status(),
        404,
        "application variables not mapped to the component are undefined"
    );
    let undefined = json(resp).await;
    assert!(
        undefined["error"].as_str().unwrap().contains("Undefined"),
        "{undefined}"
    );
    let resp = c
        .get(host.url("/fixture/var/Bad-Name"))
        .send()
        .await
        .unwrap();
    assert!(
        json(resp).await["error"]
            .as_str()
            .unwrap()
            .contains("InvalidName")
    );
}

#[tokio::test]
async fn a_required_variable_without_value_stops_start_up() {
    let path = test_support::target_dir()
        .join("test-manifests")
        .join("missing-var.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, manifest("")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_api-host"))
        .arg("--manifest")
        .arg(&path)
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", test_support::free_port()))
        .env_remove("SPIN_VARIABLE_FROM_ENV")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SPIN_VARIABLE_FROM_ENV"), "{stderr}");
}

#[tokio::test]
async fn a_trap_is_a_500_and_the_next_request_succeeds() {
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
async fn instances_are_reused_like_spin_does() {
    let host = start("", &[]);
    let c = client();
    let mut counts = Vec::new();
    for _ in 0..5 {
        let body = json(c.get(host.url("/fixture/served")).send().await.unwrap()).await;
        counts.push(body["served"].as_u64().unwrap());
    }
    // One instance served them all, so its static counter kept counting.
    assert!(counts.windows(2).all(|w| w[1] > w[0]), "{counts:?}");
    assert!(counts[4] >= 5, "{counts:?}");
}

#[tokio::test]
async fn requests_run_concurrently() {
    let host = start("", &[]);
    let c = client();
    // Warm up so instantiation is not part of the measurement.
    c.get(host.url("/fixture/served")).send().await.unwrap();
    let started = Instant::now();
    let requests = (0..8).map(|_| c.get(host.url("/fixture/sleep?ms=500")).send());
    for resp in futures::future::join_all(requests).await {
        assert_eq!(resp.unwrap().status(), 200);
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(3000),
        "8 × 500 ms sleeps took {took:?}: not concurrent"
    );
}

#[tokio::test]
async fn outbound_http_is_limited_to_allowed_hosts() {
    // A local server that the fixture may reach, and the same server on a port it may not.
    let allowed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let allowed_port = allowed.local_addr().unwrap().port();
    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_port = other.local_addr().unwrap().port();
    let app = axum_like_ok();
    tokio::spawn(serve_ok(allowed, app.clone()));
    tokio::spawn(serve_ok(other, app));

    let host = start(&format!("\"http://127.0.0.1:{allowed_port}\""), &[]);
    let c = client();
    let ok = c
        .get(host.url(&format!(
            "/fixture/outbound?url=http://127.0.0.1:{allowed_port}/"
        )))
        .send()
        .await
        .unwrap();
    let ok_status = ok.status();
    let ok = json(ok).await;
    assert_eq!(ok_status, 200, "{ok}");
    assert_eq!(ok["status"], 204);

    let denied = c
        .get(host.url(&format!(
            "/fixture/outbound?url=http://127.0.0.1:{other_port}/"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 502);
    let denied = json(denied).await;
    assert!(
        denied["error"]
            .as_str()
            .unwrap()
            .contains("HttpRequestDenied"),
        "{denied}"
    );
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

/// A minimal HTTP/1.1 server answering 204 to everything, on loopback.
#[derive(Clone)]
struct Ok204;

fn axum_like_ok() -> Ok204 {
    Ok204
}

async fn serve_ok(listener: tokio::net::TcpListener, _app: Ok204) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream
                .write_all(
                    b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
        });
    }
}
