//! What a component sees of its host, through the `fixture` component, on both hosts
//! (`#[each_host]`: api-host always, the real Spin when found), so api-host is held to
//! what Spin does: routing and the `spin-*` request headers, variables, instance reuse,
//! concurrency and the outbound allow-list (HTTP and PostgreSQL).

mod common;

use common::{Served, client};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use test_support::{Host, each_host};

fn manifest(outbound: &str) -> String {
    common::fixture_manifest(outbound)
}

fn start(host: Host, outbound: &str) -> Served {
    Served::start(
        host,
        &manifest(outbound),
        &[("SPIN_VARIABLE_FROM_ENV", "yes".to_string())],
    )
}

async fn json(resp: reqwest::Response) -> Value {
    resp.json().await.expect("a JSON body")
}

/// What the fixture's echo saw: method, URI and headers.
async fn echo(served: &Served, path: &str, headers: &[(&str, &str)]) -> Value {
    let mut req = client().get(served.url(path));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    serde_json::from_str(resp.headers()["x-echo"].to_str().unwrap()).unwrap()
}

#[each_host]
async fn unknown_routes_are_404(host: Host) {
    let served = start(host, "");
    let resp = client().get(served.url("/nowhere")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
}

#[each_host]
async fn spin_headers_describe_the_route_and_cannot_be_spoofed(host: Host) {
    let served = start(host, "");
    let resp = client()
        .post(served.url("/fixture/echo?q=a%20b"))
        .header("spin-matched-route", "/spoofed")
        .header("spin-client-addr", "10.9.8.7:6")
        .header("spin-custom", "kept")
        .body((0u8..=255).collect::<Vec<u8>>())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let meta: Value = serde_json::from_str(resp.headers()["x-echo"].to_str().unwrap()).unwrap();
    let body = resp.bytes().await.unwrap();
    assert_eq!(body.to_vec(), (0u8..=255).collect::<Vec<u8>>());
    let h = &meta["headers"];
    assert_eq!(meta["method"], "POST");
    assert_eq!(meta["uri"], served.url("/fixture/echo?q=a%20b"));
    assert_eq!(h["spin-matched-route"], "/fixture/...", "{meta}");
    assert_eq!(h["spin-raw-component-route"], "/fixture/...");
    assert_eq!(h["spin-path-info"], "/echo");
    assert_eq!(h["spin-component-route"], "/fixture");
    assert_eq!(h["spin-base-path"], "/");
    assert_eq!(h["spin-full-url"], served.url("/fixture/echo?q=a%20b"));
    let addr = h["spin-client-addr"].as_str().unwrap();
    assert!(addr.starts_with("127.0.0.1:"), "{meta}");
    // Headers the host does not set go through, as Spin lets them.
    assert_eq!(h["spin-custom"], "kept", "{meta}");
}

#[each_host]
async fn routes_parameters_and_path_info_follow_spin(host: Host) {
    let served = start(host, "");
    let cases = [
        // (path, matched route, path info, :id)
        (
            "/fixture/users/7/files/echo",
            "/fixture/users/:id/files/...",
            "/echo",
            Some("7"),
        ),
        (
            "/fixture/users//files/x?echo=1",
            "/fixture/users/:id/files/...",
            "/x",
            Some(""),
        ),
        ("/fixture?echo=1", "/fixture/...", "", None),
        ("/fixture/?echo=1", "/fixture/...", "/", None),
        ("/fixture/a/?echo=1", "/fixture/...", "/a/", None),
        ("/fixture/a//b/echo", "/fixture/...", "/a//b/echo", None),
        (
            "/fixture//users/7/files/x?echo=1",
            "/fixture/...",
            "//users/7/files/x",
            None,
        ),
        ("//fixture/a?echo=1", "/fixture/...", "/a", None),
        ("/exact/echo/?echo=1", "/exact/echo", "", None),
    ];
    for (path, route, info, id) in cases {
        let meta = echo(&served, path, &[]).await;
        let h = &meta["headers"];
        assert_eq!(h["spin-matched-route"], route, "{path}: {meta}");
        assert_eq!(h["spin-path-info"], info, "{path}: {meta}");
        assert_eq!(h["spin-path-match-id"].as_str(), id, "{path}: {meta}");
    }
    let resp = client()
        .get(served.url("/exact//echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "an empty segment is a segment");
}

#[each_host]
async fn variables_resolve_from_environment_and_defaults(host: Host) {
    let served = start(host, "");
    let c = client();
    let get = |name: &str| c.get(served.url(&format!("/fixture/var/{name}"))).send();
    assert_eq!(
        json(get("greeting").await.unwrap()).await["value"],
        "hello from the default"
    );
    assert_eq!(
        json(get("from_env").await.unwrap()).await["value"],
        "env said yes"
    );
    // Application variables not mapped to the component are undefined.
    for (name, kind) in [
        ("port", "Undefined"),
        ("nope", "Undefined"),
        ("Bad-Name", "InvalidName"),
        ("a__b", "InvalidName"),
        ("x_", "InvalidName"),
        ("1a", "InvalidName"),
    ] {
        let resp = get(name).await.unwrap();
        assert_eq!(resp.status(), 404, "{name}");
        let error = json(resp).await["error"].as_str().unwrap().to_string();
        assert!(error.contains(kind), "{name}: {error}");
    }
}

#[each_host]
async fn a_required_variable_without_value_stops_start_up(host: Host) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spin.toml");
    std::fs::write(&path, manifest("")).unwrap();
    let listen = format!("127.0.0.1:{}", test_support::free_port());
    let mut cmd = match host {
        Host::ApiHost => {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_api-host"));
            cmd.arg("--manifest")
                .arg(&path)
                .arg("--listen")
                .arg(&listen);
            cmd
        }
        Host::Spin => {
            let mut cmd = std::process::Command::new(test_support::spin_find::find_spin().unwrap());
            cmd.arg("up")
                .arg("--from")
                .arg(&path)
                .arg("--listen")
                .arg(&listen);
            cmd.arg("--state-dir").arg(dir.path().join("state"));
            cmd
        }
    };
    let out = cmd.env_remove("SPIN_VARIABLE_FROM_ENV").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(stderr.contains("from_env"), "{stderr}");
}

#[each_host]
async fn a_trap_is_a_500_and_the_next_request_succeeds(host: Host) {
    let served = start(host, "");
    let c = client();
    let resp = c.get(served.url("/fixture/trap")).send().await.unwrap();
    assert_eq!(resp.status(), 500);
    let resp = c.get(served.url("/fixture/served")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[each_host]
async fn instances_are_reused(host: Host) {
    let served = start(host, "");
    let c = client();
    let mut counts = Vec::new();
    for _ in 0..5 {
        let body = json(c.get(served.url("/fixture/served")).send().await.unwrap()).await;
        counts.push(body["served"].as_u64().unwrap());
    }
    // One instance served them all, so its static counter kept counting.
    assert!(counts.windows(2).all(|w| w[1] > w[0]), "{counts:?}");
    assert!(counts[4] >= 5, "{counts:?}");
}

#[each_host(flavor = "multi_thread")]
async fn requests_run_concurrently(host: Host) {
    let served = start(host, "");
    let c = client();
    // Warm up so instantiation is not part of the measurement.
    c.get(served.url("/fixture/served")).send().await.unwrap();
    let started = Instant::now();
    let requests = (0..8).map(|_| c.get(served.url("/fixture/sleep?ms=500")).send());
    for resp in futures::future::join_all(requests).await {
        assert_eq!(resp.unwrap().status(), 200);
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(3000),
        "8 × 500 ms sleeps took {took:?}: not concurrent"
    );
}

/// Serves `204 No Content` to every request on `listener`.
async fn serve_204(listener: tokio::net::TcpListener) {
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

/// Asks the fixture to GET `url`: `Ok(status)` or `Err(error text)`.
async fn outbound(served: &Served, url: &str) -> Result<u64, String> {
    let resp = client()
        .get(served.url(&format!("/fixture/outbound?url={url}")))
        .send()
        .await
        .unwrap();
    let body = json(resp).await;
    match body["ok"].as_bool() {
        Some(true) => Ok(body["status"].as_u64().unwrap()),
        _ => Err(body["error"].to_string()),
    }
}

#[each_host(flavor = "multi_thread")]
async fn outbound_http_follows_the_allow_list(host: Host) {
    let mut ports = Vec::new();
    for _ in 0..3 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        ports.push(listener.local_addr().unwrap().port());
        tokio::spawn(serve_204(listener));
    }
    let (exact, ranged, other) = (ports[0], ports[1], ports[2]);
    let served = start(
        host,
        &format!(
            "\"http://127.0.0.1:{exact}\", \"http://localhost:{ranged}..{}\", \"https://*.example.com\"",
            ranged + 1
        ),
    );
    assert_eq!(
        outbound(&served, &format!("http://127.0.0.1:{exact}/")).await,
        Ok(204)
    );
    assert_eq!(
        outbound(&served, &format!("http://localhost:{ranged}/")).await,
        Ok(204)
    );
    for denied in [
        format!("http://127.0.0.1:{other}/"),
        format!("http://localhost:{exact}/"),
        format!("http://127.0.0.1:{ranged}/"),
    ] {
        let error = outbound(&served, &denied).await.unwrap_err();
        assert!(error.contains("HttpRequestDenied"), "{denied}: {error}");
    }
}

#[each_host(flavor = "multi_thread")]
async fn postgres_addresses_follow_the_allow_list(host: Host) {
    // Only loopback addresses: nothing listens on these ports.
    let served = start(
        host,
        "\"postgres://127.0.0.1:5999\", \"postgres://127.0.0.0/8:5997\"",
    );
    let pg = |address: &str| {
        client()
            .post(served.url("/fixture/pg"))
            .json(&json!({ "sql": "select 1", "address": address }))
            .send()
    };
    // Not allowed: refused before connecting, whatever the address form.
    for address in [
        "postgres://u@127.0.0.1:5998/db",
        "postgres://u@localhost:5999/db",
        "host=127.0.0.1 port=5432 user=u",
        "postgres://u@127.0.0.2:5999/db",
    ] {
        let body = json(pg(address).await.unwrap()).await;
        assert_eq!(
            body["error"]["kind"], "connection-failed",
            "{address}: {body}"
        );
        assert!(
            body["error"]["text"]
                .as_str()
                .unwrap()
                .contains("not permitted"),
            "{address}: {body}"
        );
    }
    // Allowed: the connection itself fails.
    for address in [
        "postgres://u@127.0.0.1:5999/db?connect_timeout=2",
        "postgres://u@127.0.0.9:5997/db?connect_timeout=2",
        "host=127.0.0.1 port=5999 user=u connect_timeout=2",
    ] {
        let body = json(pg(address).await.unwrap()).await;
        assert_eq!(
            body["error"]["kind"], "connection-failed",
            "{address}: {body}"
        );
        assert!(
            !body["error"]["text"]
                .as_str()
                .unwrap()
                .contains("not permitted"),
            "{address}: {body}"
        );
    }
}
