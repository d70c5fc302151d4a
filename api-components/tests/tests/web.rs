//! The `web` component (the browser playground) in the real api-host beside the API
//! components: files of `web/dist` with their types and caching, client-side routes, the
//! gzip copies, `/config.json`, and that the catch-all `/...` route takes no `/api` path away
//! from the components that own it.

mod common;

use common::{Host, Stack, client, each_host};
use reqwest::header::{self, HeaderMap};
use std::path::PathBuf;

fn dist() -> PathBuf {
    test_support::workspace_root().join("web").join("dist")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
}

async fn get(stack: &Stack, path: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut req = client().get(stack.url(path));
    for (name, value) in extra {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap()
}

/// The `/assets/...` files index.html loads (Vite's hashed names).
fn hashed_assets(index: &str) -> Vec<String> {
    index
        .split('"')
        .filter(|s| s.starts_with("/assets/"))
        .map(str::to_owned)
        .collect()
}

#[each_host]
async fn the_page_and_client_side_routes_get_index_html_revalidated_each_time(host: Host) {
    let stack = Stack::start(host).await;
    let on_disk = std::fs::read(dist().join("index.html")).expect("web/dist is built");
    for path in [
        "/",
        "/index.html",
        "/s/0d8f4f51-9c1e-4a53-9a57-5b2d0c1f7c11",
        "/login",
    ] {
        let resp = get(&stack, path, &[]).await;
        assert_eq!(resp.status(), 200, "{path}");
        let h = resp.headers().clone();
        assert_eq!(
            header(&h, "content-type"),
            "text/html; charset=utf-8",
            "{path}"
        );
        assert_eq!(header(&h, "cache-control"), "no-cache", "{path}");
        assert_eq!(header(&h, "x-content-type-options"), "nosniff");
        assert!(header(&h, "etag").starts_with('"'), "{path}");
        assert!(h.get("content-encoding").is_none(), "{path}");
        assert_eq!(resp.bytes().await.unwrap().to_vec(), on_disk, "{path}");
    }
}

#[each_host]
async fn hashed_assets_are_typed_immutable_revalidatable_and_gzipped_on_request(host: Host) {
    let stack = Stack::start(host).await;
    let index = get(&stack, "/", &[]).await.text().await.unwrap();
    let assets = hashed_assets(&index);
    assert!(
        assets.iter().any(|a| a.ends_with(".js")) && assets.iter().any(|a| a.ends_with(".css")),
        "index.html loads a script and a stylesheet: {assets:?}"
    );
    for path in &assets {
        let plain = get(&stack, path, &[]).await;
        assert_eq!(plain.status(), 200, "{path}");
        let h = plain.headers().clone();
        let expected_type = if path.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else {
            "text/css; charset=utf-8"
        };
        assert_eq!(header(&h, "content-type"), expected_type, "{path}");
        assert_eq!(
            header(&h, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        assert!(h.get("content-encoding").is_none(), "{path}");
        let on_disk = std::fs::read(dist().join(path.trim_start_matches('/'))).unwrap();
        assert_eq!(plain.bytes().await.unwrap().to_vec(), on_disk, "{path}");

        // The same ETag back: 304 without a body.
        let etag = header(&h, "etag").to_owned();
        let again = get(&stack, path, &[("if-none-match", &etag)]).await;
        assert_eq!(again.status(), 304, "{path}");
        assert!(again.bytes().await.unwrap().is_empty());
        let other = get(&stack, path, &[("if-none-match", "\"something-else\"")]).await;
        assert_eq!(other.status(), 200, "{path}");

        // gzip when accepted (and a gzip copy exists, which compress.mjs writes for these).
        let gz_on_disk = std::fs::read(dist().join(format!("{}.gz", path.trim_start_matches('/'))));
        let gz = get(&stack, path, &[("accept-encoding", "br, gzip")]).await;
        assert_eq!(gz.status(), 200);
        let gh = gz.headers().clone();
        match gz_on_disk {
            Ok(gz_on_disk) => {
                assert_eq!(header(&gh, "content-encoding"), "gzip", "{path}");
                assert_ne!(
                    header(&gh, "etag"),
                    etag,
                    "the two encodings need two ETags"
                );
                assert!(header(&gh, "vary").contains("Accept-Encoding"));
                let body = gz.bytes().await.unwrap();
                assert_eq!(&body[..2], &[0x1f, 0x8b], "{path}: a gzip stream");
                assert_eq!(body.to_vec(), gz_on_disk, "{path}");
            }
            Err(_) => assert!(gh.get("content-encoding").is_none(), "{path}"),
        }
        let refused = get(&stack, path, &[("accept-encoding", "gzip;q=0")]).await;
        assert!(
            refused.headers().get("content-encoding").is_none(),
            "{path}"
        );
    }
}

#[each_host]
async fn missing_files_are_404_and_api_paths_stay_with_their_components(host: Host) {
    let stack = Stack::start(host).await;
    for path in ["/nope.js", "/assets/missing-abc123.css", "/favicon.ico"] {
        let resp = get(&stack, path, &[]).await;
        assert_eq!(resp.status(), 404, "{path}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
    }
    // Unknown /api paths keep the API's JSON 404, never the page.
    for path in ["/api", "/api/", "/api/nope", "/api/nope/deeper.js"] {
        let resp = get(&stack, path, &[]).await;
        assert_eq!(resp.status(), 404, "{path}");
        assert_eq!(
            header(resp.headers(), "content-type"),
            "application/json",
            "{path}"
        );
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
    }
    // The components' own routes are still theirs.
    let health = get(&stack, "/api/health", &[]).await;
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["status"], "healthy");
    let me = get(&stack, "/api/users/me", &[]).await;
    assert_eq!(me.status(), 401);
    let sessions = get(&stack, "/api/sessions/", &[]).await;
    assert_eq!(sessions.status(), 401);
    let files = get(&stack, "/api/workspace/not-a-uuid/files", &[]).await;
    assert_eq!(files.status(), 400);
    // Only GET and HEAD.
    let post = client().post(stack.url("/")).send().await.unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(header(post.headers(), "allow"), "GET, HEAD");
    let head = client().head(stack.url("/")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        header(head.headers(), header::CONTENT_TYPE.as_str()),
        "text/html; charset=utf-8"
    );
}

#[each_host]
async fn config_json_names_the_public_bridge_url_when_set(host: Host) {
    let stack = Stack::start(host).await;
    let resp = get(&stack, "/config.json", &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(resp.headers(), "cache-control"), "no-store");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"bridgeUrl": null}));
    drop(stack);

    let url = "wss://bridge.example.test/ws";
    let stack = Stack::with_variables(host, &[("terminal_bridge_public_url", url)]).await;
    let body: serde_json::Value = get(&stack, "/config.json", &[]).await.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"bridgeUrl": url}));
}
