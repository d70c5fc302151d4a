//! CORS over HTTP: the `cors_origins` variable (`SPIN_VARIABLE_CORS_ORIGINS`) in the real
//! api-host with the real components. Preflights answered before any route or method check,
//! disallowed origins refused, CORS headers on actual answers including errors, and nothing
//! at all when the variable is empty.

mod common;

use common::{Host, Reply, Stack, client, each_host};
use reqwest::Method;
use serde_json::json;

const ALLOWED: &str = "https://app.example.org";
const ALSO_ALLOWED: &str = "http://localhost:5173";
const OTHER: &str = "https://evil.example.net";
const SESSION: &str = "0b7c7c1e-58a4-4a9c-9d0e-2f4f4c0e8a11";

/// One path per component (and both shutdown routes, and every workspace endpoint), so every
/// entry point is covered.
fn paths() -> Vec<String> {
    vec![
        "/api/health".into(),
        "/api/users/login".into(),
        "/api/sessions/".into(),
        format!("/api/sessions/{SESSION}/members/bob"),
        format!("/api/workspace/{SESSION}/shutdown"),
        format!("/workspace/{SESSION}/shutdown"),
        format!("/api/workspace/{SESSION}/file/src/a.py"),
        format!("/api/workspace/{SESSION}/files"),
        format!("/api/workspace/{SESSION}/folder/src"),
        format!("/api/workspace/{SESSION}/move"),
        format!("/api/workspace/{SESSION}/upload?dir=src"),
        format!("/api/workspace/{SESSION}/download/src/a.py"),
        format!("/api/workspace/{SESSION}/zip"),
        format!("/api/workspace/{SESSION}/status"),
        format!("/api/workspace/{SESSION}/ensure-default"),
        "/api/openapi.json".into(),
    ]
}

async fn preflight(stack: &Stack, path: &str, origin: &str, method: &str) -> Reply {
    Reply::of(
        client()
            .request(Method::OPTIONS, stack.url(path))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header(
                "access-control-request-headers",
                "authorization,content-type,if-match",
            )
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn vary_has_origin(r: &Reply) -> bool {
    r.headers
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("origin"))
}

fn list_has(r: &Reply, header: &str, item: &str) -> bool {
    r.header(header)
        .is_some_and(|v| v.split(',').any(|x| x.trim().eq_ignore_ascii_case(item)))
}

#[each_host]
async fn cors_when_origins_are_configured(host: Host) {
    let stack = Stack::with_variables(
        host,
        &[("cors_origins", &format!("{ALLOWED}, {ALSO_ALLOWED}/"))],
    )
    .await;

    // Preflights from an allowed origin: 204 on every component, whatever the route's methods
    // (a 405 here would break every browser call).
    for path in paths() {
        for (origin, method) in [(ALLOWED, "PUT"), (ALSO_ALLOWED, "DELETE")] {
            let r = preflight(&stack, &path, origin, method).await;
            assert_eq!(r.status, 204, "{path} {origin}: {r:?}");
            assert_eq!(
                r.header("access-control-allow-origin"),
                Some(origin),
                "{path}: {r:?}"
            );
            assert!(vary_has_origin(&r), "{path}: {r:?}");
            for m in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
                assert!(
                    list_has(&r, "access-control-allow-methods", m),
                    "{path} {m}: {r:?}"
                );
            }
            for h in ["Authorization", "Content-Type", "If-Match"] {
                assert!(
                    list_has(&r, "access-control-allow-headers", h),
                    "{path} {h}: {r:?}"
                );
            }
            let max_age: u32 = r.header("access-control-max-age").unwrap().parse().unwrap();
            assert!(max_age > 0, "{r:?}");
            assert_eq!(r.body, serde_json::Value::Null, "a preflight has no body");
        }
    }

    // Preflights from another origin: 403, no CORS grant.
    for path in paths() {
        let r = preflight(&stack, &path, OTHER, "POST").await;
        r.assert_error(403, "forbidden");
        assert!(
            r.header("access-control-allow-origin").is_none(),
            "{path}: {r:?}"
        );
        assert!(
            r.header("access-control-allow-methods").is_none(),
            "{path}: {r:?}"
        );
        assert!(vary_has_origin(&r), "{path}: {r:?}");
    }

    // An OPTIONS that is not a preflight (no Access-Control-Request-Method) is an ordinary
    // request: the route's 405.
    let r = Reply::of(
        client()
            .request(Method::OPTIONS, stack.url("/api/users/me"))
            .header("origin", ALLOWED)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(405, "method_not_allowed");
    assert_eq!(r.header("access-control-allow-origin"), Some(ALLOWED));

    // Actual answers, successes and errors of every kind, carry the grant for an allowed
    // origin and only `Vary` for another.
    let token = stack
        .user_with_token("corsuser", "correct horse battery")
        .await;
    let created = Reply::of(
        client()
            .post(stack.url("/api/sessions/"))
            .bearer_auth(&token)
            .header("origin", ALLOWED)
            .json(&json!({"name": "cors"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.header("access-control-allow-origin"), Some(ALLOWED));
    let session = created.body["session_id"].as_str().unwrap().to_owned();
    let file = format!("/api/workspace/{session}/file/main.py");
    let put = client()
        .put(stack.url(&file))
        .bearer_auth(&token)
        .json(&json!({"content": "print(1)\n"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);

    let get = |path: String, origin: &'static str, token: Option<String>| {
        let stack = &stack;
        async move {
            let mut req = client().get(stack.url(&path)).header("origin", origin);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            Reply::of(req.send().await.unwrap()).await
        }
    };
    // (path, token, expected status)
    let cases: Vec<(String, Option<String>, u16)> = vec![
        ("/api/health".into(), None, 200),
        (file.clone(), Some(token.clone()), 200),
        ("/api/users/me".into(), None, 401),
        ("/api/users/nope".into(), None, 404),
        (format!("/api/sessions/{SESSION}"), Some(token.clone()), 404),
        ("/api/sessions/not-a-uuid".into(), Some(token.clone()), 400),
        (
            format!("/api/workspace/{session}/shutdown"),
            Some(token.clone()),
            405,
        ),
        ("/api/openapi.json".into(), None, 200),
    ];
    for (path, token, status) in cases {
        let r = get(path.clone(), ALLOWED, token.clone()).await;
        assert_eq!(r.status, status, "{path}: {r:?}");
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some(ALLOWED),
            "{path}: {r:?}"
        );
        for h in ["ETag", "Retry-After", "Content-Disposition", "Location"] {
            assert!(
                list_has(&r, "access-control-expose-headers", h),
                "{path} {h}: {r:?}"
            );
        }
        assert!(vary_has_origin(&r), "{path}: {r:?}");
        if status >= 400 {
            assert!(r.body["error"]["code"].is_string(), "{path}: {r:?}");
        }

        let r = get(path.clone(), OTHER, token).await;
        assert_eq!(
            r.status, status,
            "{path}: the origin does not change the answer: {r:?}"
        );
        assert!(
            r.header("access-control-allow-origin").is_none(),
            "{path}: {r:?}"
        );
        assert!(
            r.header("access-control-expose-headers").is_none(),
            "{path}: {r:?}"
        );
        assert!(vary_has_origin(&r), "{path}: {r:?}");
    }

    // The read's ETag is there for a script to see (it is in the exposed list above).
    let r = get(file, ALLOWED, Some(token.clone())).await;
    assert_eq!(r.header("etag"), Some("\"1\""), "{r:?}");
    assert_eq!(r.body["content"], "print(1)\n");

    // The workspace's other endpoints answer a browser too, successes with their headers.
    let ws = |rest: &str| stack.url(&format!("/api/workspace/{session}/{rest}"));
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("b.txt"),
    );
    let calls = vec![
        (client().put(ws("folder/lib")), 201),
        (client().post(ws("upload?dir=lib")).multipart(form), 201),
        (
            client()
                .post(ws("move"))
                .json(&json!({"from": "lib/b.txt", "to": "lib/c.txt"})),
            200,
        ),
        (client().get(ws("download/lib/c.txt")), 200),
        (client().get(ws("zip")), 200),
        (client().get(ws("status")), 200),
        (client().post(ws("ensure-default")), 200),
    ];
    for (req, status) in calls {
        let resp = req
            .bearer_auth(&token)
            .header("origin", ALLOWED)
            .send()
            .await
            .unwrap();
        let what = format!("{} {}", resp.url().path(), resp.status());
        assert_eq!(resp.status(), status, "{what}");
        let h = resp.headers();
        assert_eq!(h["access-control-allow-origin"], ALLOWED, "{what}");
        let exposed = h["access-control-expose-headers"].to_str().unwrap();
        for sent in ["etag", "content-disposition"] {
            if h.contains_key(sent) {
                assert!(
                    exposed
                        .split(',')
                        .any(|x| x.trim().eq_ignore_ascii_case(sent)),
                    "{what}: {sent} is sent but not exposed"
                );
            }
        }
    }

    // The playground (not wrapped in CORS: same origin) is unaffected by the configuration.
    for path in ["/", "/config.json"] {
        let resp = client()
            .get(stack.url(path))
            .header("origin", ALLOWED)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert!(
            !resp.headers().contains_key("access-control-allow-origin"),
            "{path}"
        );
    }
}

#[each_host]
async fn no_cors_headers_by_default(host: Host) {
    let stack = Stack::start(host).await;
    for path in paths() {
        let r = preflight(&stack, &path, ALLOWED, "POST").await;
        // Not a CORS endpoint: the preflight is an OPTIONS like any other.
        r.assert_error(405, "method_not_allowed");
        assert!(
            r.header("access-control-allow-origin").is_none(),
            "{path}: {r:?}"
        );
        assert!(!vary_has_origin(&r), "{path}: {r:?}");
    }
    let r = Reply::of(
        client()
            .get(stack.url("/api/users/me"))
            .header("origin", ALLOWED)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(401, "unauthorized");
    assert!(r.header("access-control-allow-origin").is_none(), "{r:?}");
    assert!(r.header("access-control-expose-headers").is_none(), "{r:?}");
    assert!(!vary_has_origin(&r), "{r:?}");
}
