//! The OpenAPI document over HTTP, kept honest against the real app: the `docs` component
//! serves exactly `platform_core::openapi::json()`, it is valid OpenAPI 3.1, every route of
//! `spin.toml` and every method the components take is documented, every documented
//! operation is served (neither a missing route nor 405, nor the web catch-all), the statuses
//! seen are documented, and real answers of every operation decode into the documented
//! schemas. `/docs` and `/redoc` are the pages.

mod common;

use common::{Host, Reply, Stack, client, each_host};
use platform_core::openapi::{lint, schemas};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Routes of spin.toml that are not part of the API, with the component that must own each:
/// the description and its pages (which FastAPI leaves out of its document too), and the
/// browser playground's catch-all (its pages, assets and `/config.json` are the page's, not
/// the API's; it answers the `/api/...` paths no API component routes with the JSON 404
/// that [`is_route_missing`] recognises).
const UNDOCUMENTED_ROUTES: &[(&str, &str)] = &[
    ("/api/openapi.json", "docs"),
    ("/docs", "docs"),
    ("/redoc", "docs"),
    ("/...", "web"),
];

const PLACEHOLDER_SESSION: &str = "0b7c7c1e-58a4-4a9c-9d0e-2f4f4c0e8a11";

/// `(METHOD, path template)` of every documented operation.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in lint::METHODS {
            if item.get(method).is_some() {
                out.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// A template with its parameters filled with placeholders of the right shape.
fn fill(template: &str) -> String {
    template
        .split('/')
        .map(|seg| match seg {
            "{session_id}" => PLACEHOLDER_SESSION,
            "{path}" => "dir/a.txt",
            "{username}" => "nobody",
            s if s.starts_with('{') => panic!("no placeholder for {s} in {template}"),
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Path segments with parameters (`:id`, `{id}`) made alike, for comparing routes.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|s| {
            if s.starts_with(':') || s.starts_with('{') {
                "{}"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Public routes of spin.toml: (route, component).
fn manifest_routes() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(test_support::workspace_root().join("spin.toml")).unwrap();
    let manifest: toml::Value = toml::from_str(&text).unwrap();
    let triggers = manifest["trigger"]["http"].as_array().unwrap();
    triggers
        .iter()
        .filter_map(|t| {
            let route = t["route"].as_str()?; // `{ private = true }` is a table
            Some((route.to_owned(), t["component"].as_str()?.to_owned()))
        })
        .collect()
}

/// Whether no API component took the request: a component's own "no route" 404, the web
/// catch-all's (for `/api/...`), or anything that is not the API's JSON (the catch-all's page,
/// for a path outside `/api`). Every documented operation answers JSON to these requests,
/// which carry no token.
fn is_route_missing(r: &Reply) -> bool {
    let not_json = !r
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json"));
    let no_route = r.status == 404
        && r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("no route"));
    not_json || no_route
}

async fn request(stack: &Stack, method: &str, path: &str, token: Option<&str>) -> Reply {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let has_body = [Method::POST, Method::PUT, Method::PATCH].contains(&method);
    let mut req = client().request(method, stack.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if has_body {
        req = req.json(&json!({}));
    }
    Reply::of(req.send().await.unwrap()).await
}

#[each_host]
async fn the_document_matches_the_served_api(host: Host) {
    let stack = Stack::start(host).await;

    // Served as generated, and valid 3.1.
    let r = Reply::of(
        client()
            .get(stack.url("/api/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc = r.body;
    let generated: Value = serde_json::from_str(&platform_core::openapi::json()).unwrap();
    assert_eq!(doc, generated, "the served document is the generated one");
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(lint::problems(&doc), Vec::<String>::new());
    let ops = operations(&doc);
    assert!(ops.len() >= 20, "{ops:?}");

    // (a) Every public route of spin.toml leads to documented paths.
    let documented: Vec<String> = ops.iter().map(|(_, p)| shape(p)).collect();
    for (route, component) in manifest_routes() {
        if let Some((_, owner)) = UNDOCUMENTED_ROUTES.iter().find(|(r, _)| *r == route) {
            assert_eq!(component, *owner, "{route}");
            continue;
        }
        let covered = match route.strip_suffix("...") {
            Some(prefix) => documented
                .iter()
                .any(|p| p.starts_with(prefix) || *p == prefix.trim_end_matches('/')),
            None => documented.contains(&shape(&route)),
        };
        assert!(
            covered,
            "route {route} ({component}) has no documented operation"
        );
    }

    // (a) Every method a documented path takes is documented: the 405's `Allow` (asked with
    // an OPTIONS that is not a preflight) lists exactly the documented methods.
    let paths: BTreeSet<&String> = ops.iter().map(|(_, p)| p).collect();
    for path in paths {
        let documented: BTreeSet<String> = ops
            .iter()
            .filter(|(_, p)| p == path)
            .map(|(m, _)| m.clone())
            .collect();
        let r = request(&stack, "OPTIONS", &fill(path), None).await;
        r.assert_error(405, "method_not_allowed");
        let allowed: BTreeSet<String> = r
            .header("allow")
            .unwrap_or_else(|| panic!("{path}: 405 without Allow: {r:?}"))
            .split(',')
            .map(|m| m.trim().to_owned())
            .collect();
        assert_eq!(allowed, documented, "{path}: methods served vs documented");
    }

    // (b) Every documented operation is served, and what it answers without a token (or
    // with an empty body where it needs none) is one of its documented statuses.
    for (method, path) in &ops {
        let r = request(&stack, method, &fill(path), None).await;
        let served = !is_route_missing(&r) && r.status != 405;
        assert!(
            served,
            "{method} {path} is documented but not served: {r:?}"
        );
        let statuses = &doc["paths"][path][method.to_lowercase()]["responses"];
        assert!(
            statuses.get(r.status.to_string()).is_some(),
            "{method} {path} answered {} which is not documented: {r:?}",
            r.status
        );
        let schema =
            &statuses[r.status.to_string()]["content"]["application/json"]["schema"]["$ref"];
        if schema == "#/components/schemas/ErrorBody" && method != "HEAD" {
            r.assert_error(
                r.status,
                r.body["error"]["code"].as_str().unwrap_or("missing"),
            );
        }
    }

    // The served-check is not fooled by the web catch-all: a path no API component routes
    // counts as missing whether a component's wildcard (its "no route" 404), the catch-all's
    // `/api` 404, or the catch-all's page (outside `/api`) answers it.
    for path in [
        format!("/api/workspace/{PLACEHOLDER_SESSION}/nope"),
        "/api/sessions/a/b/c/d".to_owned(),
        "/api/nope/deeper".to_owned(),
        "/nope/deeper".to_owned(),
    ] {
        for method in ["GET", "POST"] {
            let r = request(&stack, method, &path, None).await;
            assert!(
                is_route_missing(&r) || r.status == 405,
                "{method} {path} would count as served: {r:?}"
            );
        }
    }
}

#[each_host]
async fn real_answers_fit_the_documented_schemas(host: Host) {
    let stack = Stack::start(host).await;
    let doc: Value = serde_json::from_str(&platform_core::openapi::json()).unwrap();
    let documented = |method: &str, path: &str, status: u16| {
        doc["paths"][path][method]["responses"]
            .get(status.to_string())
            .is_some()
    };

    let r = Reply::of(client().get(stack.url("/api/health")).send().await.unwrap()).await;
    assert_eq!(r.status, 200);
    serde_json::from_value::<schemas::Liveness>(r.body).unwrap();
    // No terminal-bridge runs here: 503, with the report shape.
    let r = Reply::of(
        client()
            .get(stack.url("/api/health/detailed"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(documented("get", "/api/health/detailed", r.status), "{r:?}");
    let report: schemas::HealthReport = serde_json::from_value(r.body).unwrap();
    assert_eq!(report.checks.len(), 2);

    let token = stack
        .user_with_token("schemauser", "correct horse battery")
        .await;
    let auth = |req: reqwest::RequestBuilder| req.bearer_auth(&token);
    let r = Reply::of(
        auth(client().post(stack.url("/api/sessions/")))
            .json(&json!({"name": "s"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let session = r.body["session_id"].as_str().unwrap().to_owned();
    let file = format!("/api/workspace/{session}/file/src/main.py");
    let r = Reply::of(
        auth(client().put(stack.url(&file)))
            .json(&json!({"content": "print(1)\n"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(documented(
        "put",
        "/api/workspace/{session_id}/file/{path}",
        r.status
    ));
    let written: schemas::WriteResult = serde_json::from_value(r.body).unwrap();
    assert_eq!(written.version, 1);

    let r = Reply::of(
        auth(client().get(stack.url(&format!("/api/workspace/{session}/files"))))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let items: Vec<schemas::WorkspaceItem> = serde_json::from_value(r.body).unwrap();
    assert_eq!(items.len(), 2, "the folder src and the file");
    assert_eq!(items[0].kind, schemas::ItemKind::Folder);
    assert!(items[0].sha256.is_none() && items[1].sha256.is_some());

    let r = Reply::of(auth(client().get(stack.url(&file))).send().await.unwrap()).await;
    assert_eq!(r.status, 200, "{r:?}");
    let content: schemas::FileContent = serde_json::from_value(r.body).unwrap();
    assert_eq!(content.encoding, schemas::ContentEncoding::Utf8);
    assert_eq!(content.content, "print(1)\n");

    // A JSON write body the document describes is one the component takes (base64 too).
    let body = schemas::WriteFileRequest {
        content: "AAEC".into(),
        encoding: Some(schemas::ContentEncoding::Base64),
    };
    let r = Reply::of(
        auth(client().put(stack.url(&file)))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["size"], 3);

    // Folders, PUT and POST: 201 then 200, with the ETag.
    let ws = |rest: &str| stack.url(&format!("/api/workspace/{session}/{rest}"));
    let folder_op = "/api/workspace/{session_id}/folder/{path}";
    let r = Reply::of(auth(client().put(ws("folder/lib"))).send().await.unwrap()).await;
    assert!(documented("put", folder_op, r.status), "{r:?}");
    assert_eq!(r.status, 201, "{r:?}");
    assert!(r.header("etag").is_some(), "{r:?}");
    let folder: schemas::FolderResult = serde_json::from_value(r.body).unwrap();
    assert!(folder.created && folder.kind == schemas::ItemKind::Folder);
    let r = Reply::of(auth(client().post(ws("folder/lib"))).send().await.unwrap()).await;
    assert!(documented("post", folder_op, r.status), "{r:?}");
    let folder: schemas::FolderResult = serde_json::from_value(r.body).unwrap();
    assert!(!folder.created);

    // A move body the document describes is one the component takes.
    let body = schemas::MoveRequest {
        from: "src/main.py".into(),
        to: "lib/main.py".into(),
        overwrite: Some(false),
    };
    let r = Reply::of(
        auth(client().post(ws("move")))
            .header("if-match", "\"2\"")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        documented("post", "/api/workspace/{session_id}/move", r.status),
        "{r:?}"
    );
    assert_eq!(r.status, 200, "{r:?}");
    let moved: schemas::MoveResult = serde_json::from_value(r.body).unwrap();
    assert_eq!((moved.kind, moved.moved), (schemas::ItemKind::File, 1));

    // An upload with the documented form (a `dir` field and file parts).
    let form = reqwest::multipart::Form::new()
        .text("dir", "up")
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"a".to_vec()).file_name("a.txt"),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"bb".to_vec()).file_name("b/b.txt"),
        );
    let r = Reply::of(
        auth(client().post(ws("upload")))
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        documented("post", "/api/workspace/{session_id}/upload", r.status),
        "{r:?}"
    );
    assert_eq!(r.status, 201, "{r:?}");
    let uploaded: schemas::UploadResult = serde_json::from_value(r.body).unwrap();
    let paths: Vec<&str> = uploaded.items.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(paths, ["up/a.txt", "up/b/b.txt"]);
    assert!(uploaded.items.iter().all(|i| i.created));

    // Download and zip: the documented headers are there.
    for (rest, op, headers) in [
        (
            "download/lib/main.py",
            "/api/workspace/{session_id}/download/{path}",
            &["Content-Disposition", "ETag", "X-Content-Type-Options"][..],
        ),
        (
            "zip",
            "/api/workspace/{session_id}/zip",
            &["Content-Disposition"][..],
        ),
    ] {
        let resp = auth(client().get(ws(rest))).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{rest}");
        let response = &doc["paths"][op]["get"]["responses"]["200"];
        let media = response["content"].as_object().unwrap();
        assert_eq!(media.len(), 1, "{op}");
        let content_type = resp.headers()["content-type"].to_str().unwrap();
        if rest == "zip" {
            assert!(media.contains_key(content_type), "{op}: {content_type}");
        }
        for h in headers {
            assert!(response["headers"][h].is_object(), "{op}: {h} documented");
            assert!(resp.headers().contains_key(*h), "{op}: {h} sent");
        }
        assert!(
            resp.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment; filename=\""),
            "{rest}"
        );
    }

    let r = Reply::of(auth(client().get(ws("status"))).send().await.unwrap()).await;
    assert_eq!(r.status, 200, "{r:?}");
    let status: schemas::WorkspaceStatus = serde_json::from_value(r.body).unwrap();
    assert_eq!(status.session_id, session);
    assert_eq!((status.files, status.folders), (3, 4), "{status:?}");
    assert!(status.initialized && status.limits.max_file_size > 0);

    // The starter project: 200 on this workspace, 201 with its files on a fresh one.
    let ensure_op = "/api/workspace/{session_id}/ensure-default";
    let r = Reply::of(
        auth(client().post(ws("ensure-default")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(documented("post", ensure_op, r.status), "{r:?}");
    let ensured: schemas::EnsureDefaultResult = serde_json::from_value(r.body).unwrap();
    assert!(!ensured.created && ensured.items.is_empty());
    let r = Reply::of(
        auth(client().post(stack.url("/api/sessions/")))
            .json(&json!({"name": "fresh"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let fresh = r.body["session_id"].as_str().unwrap().to_owned();
    let r = Reply::of(
        auth(client().post(stack.url(&format!("/api/workspace/{fresh}/ensure-default"))))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(documented("post", ensure_op, r.status), "{r:?}");
    assert_eq!(r.status, 201, "{r:?}");
    let ensured: schemas::EnsureDefaultResult = serde_json::from_value(r.body).unwrap();
    assert!(ensured.created && ensured.items.len() == 2, "{ensured:?}");
}

#[each_host]
async fn docs_pages_load_pinned_scripts_and_the_document(host: Host) {
    let stack = Stack::start(host).await;
    for (path, script) in [
        ("/docs", "swagger-ui-dist@5.35.0/swagger-ui-bundle.js"),
        ("/redoc", "redoc@2.5.4/bundles/redoc.standalone.js"),
    ] {
        let r = client().get(stack.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "text/html; charset=utf-8"
        );
        let html = r.text().await.unwrap();
        assert!(html.starts_with("<!DOCTYPE html>"), "{path}");
        assert!(html.contains("/api/openapi.json"), "{path}");
        let tag = html
            .lines()
            .find(|l| l.contains(script))
            .unwrap_or_else(|| panic!("{path} does not load {script}:\n{html}"));
        assert!(tag.contains("integrity=\"sha384-"), "{tag}");
        assert!(tag.contains("crossorigin=\"anonymous\""), "{tag}");
    }
    let r = Reply::of(client().post(stack.url("/docs")).send().await.unwrap()).await;
    r.assert_error(405, "method_not_allowed");
}
