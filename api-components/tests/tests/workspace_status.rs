//! `GET /api/workspace/{uuid}/status`, `POST .../ensure-default` and the per-workspace caps
//! (`max_workspace_files`, `max_workspace_bytes`) of every writer, over HTTP against the real
//! `workspace` component in the real api-host and a migrated PostgreSQL.

mod common;
mod workspace_api;

use common::{Host, Reply, Stack, client, each_host};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::json;
use workspace_api::{
    Body, PASSWORD, assert_common_errors, call, content, put, session, share, tree,
};

async fn status(stack: &Stack, token: &str, id: &str) -> Reply {
    let r = call(
        stack,
        Method::GET,
        &format!("/api/workspace/{id}/status"),
        Some(token),
        &[],
        Body::None,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    r
}

async fn ensure_default(stack: &Stack, token: &str, id: &str) -> Reply {
    call(
        stack,
        Method::POST,
        &format!("/api/workspace/{id}/ensure-default"),
        Some(token),
        &[],
        Body::None,
    )
    .await
}

#[each_host(flavor = "multi_thread")]
async fn status_counts_and_the_default_project_is_made_once(host: Host) {
    let stack = Stack::with_variables(
        host,
        &[("max_file_size", "5000"), ("max_workspace_files", "77")],
    )
    .await;
    let alice = stack.user_with_token("alice", PASSWORD).await;
    let bob = stack.user_with_token("bob", PASSWORD).await;
    let carol = stack.user_with_token("carol", PASSWORD).await;
    let id = session(&stack, &alice).await;

    let r = status(&stack, &alice, &id).await;
    assert_eq!(r.body["session_id"], id.as_str());
    assert_eq!(r.body["initialized"], false);
    assert_eq!(
        (
            r.body["files"].clone(),
            r.body["folders"].clone(),
            r.body["bytes"].clone()
        ),
        (json!(0), json!(0), json!(0))
    );
    assert_eq!(r.body["desired_state"], "running");
    assert_eq!(r.body["observed_state"], "stopped");
    assert_eq!(r.body["observed_at"], json!(null));
    assert_eq!(
        r.body["limits"],
        json!({"max_file_size": 5000, "max_workspace_files": 77, "max_workspace_bytes": 104857600})
    );

    // The starter project, once.
    let r = ensure_default(&stack, &alice, &id).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["created"], true);
    let items = r.body["items"].as_array().unwrap();
    let paths: Vec<&str> = items.iter().map(|i| i["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["README.md", "main.py"]);
    let main = content(&stack, &alice, &id, "main.py").await.unwrap();
    assert!(
        String::from_utf8(main.clone())
            .unwrap()
            .contains("print(\"Hello"),
        "{main:?}"
    );
    let readme = content(&stack, &alice, &id, "README.md").await.unwrap();
    let r = ensure_default(&stack, &alice, &id).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, json!({"created": false, "items": []}));

    put(&stack, &alice, &id, "src/x.bin", &[9; 100]).await;
    let r = status(&stack, &alice, &id).await;
    assert_eq!(r.body["initialized"], true);
    assert_eq!(
        (r.body["files"].clone(), r.body["folders"].clone()),
        (json!(3), json!(1))
    );
    assert_eq!(r.body["bytes"], json!(main.len() + readme.len() + 100));

    // The sandbox states are the session's; the bridge's observations show through.
    let db = stack.db().await;
    db.execute(
        "update code_sessions set observed_state = 'running', observed_at = '2026-01-02T03:04:05Z' where id = $1::text::uuid",
        &[&id],
    )
    .await
    .unwrap();
    let r = call(
        &stack,
        Method::POST,
        &format!("/api/workspace/{id}/shutdown"),
        Some(&alice),
        &[],
        Body::None,
    )
    .await;
    assert_eq!(r.status, 202, "{r:?}");
    let r = status(&stack, &alice, &id).await;
    assert_eq!(r.body["desired_state"], "stopped");
    assert_eq!(r.body["observed_state"], "running");
    assert_eq!(r.body["observed_at"], "2026-01-02T03:04:05Z");

    // A workspace with anything in it gets no starter project.
    let other = session(&stack, &alice).await;
    let r = call(
        &stack,
        Method::POST,
        &format!("/api/workspace/{other}/folder/keep"),
        Some(&alice),
        &[],
        Body::None,
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let r = ensure_default(&stack, &alice, &other).await;
    assert_eq!(
        (r.status, r.body["created"].clone()),
        (200, json!(false)),
        "{r:?}"
    );
    assert_eq!(tree(&stack, &alice, &other).await.len(), 1);

    // A viewer sees the status but makes no project.
    share(&stack, &alice, &other, "bob", "viewer").await;
    assert_eq!(status(&stack, &bob, &other).await.body["folders"], 1);
    ensure_default(&stack, &bob, &other)
        .await
        .assert_error(403, "forbidden");
    assert_common_errors(&stack, &id, "status", Method::GET, Method::POST, &carol).await;
    assert_common_errors(
        &stack,
        &id,
        "ensure-default",
        Method::POST,
        Method::GET,
        &carol,
    )
    .await;
}

#[each_host(flavor = "multi_thread")]
async fn concurrent_ensure_default_calls_make_one_project(host: Host) {
    let stack = Stack::start(host).await;
    let alice = stack.user_with_token("alice", PASSWORD).await;
    let id = session(&stack, &alice).await;
    let calls = (0..10).map(|_| {
        let (url, token) = (
            stack.url(&format!("/api/workspace/{id}/ensure-default")),
            alice.clone(),
        );
        async move {
            let resp = client().post(url).bearer_auth(token).send().await.unwrap();
            resp.status().as_u16()
        }
    });
    let mut statuses = futures::future::join_all(calls).await;
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    let items = tree(&stack, &alice, &id).await;
    assert_eq!(
        items,
        vec![
            ("README.md".to_owned(), "file".to_owned(), 1),
            ("main.py".to_owned(), "file".to_owned(), 1)
        ]
    );
}

fn too_large(r: &Reply, cap: &str) {
    r.assert_error(413, "payload_too_large");
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(message.contains(cap), "{message}");
}

#[each_host(flavor = "multi_thread")]
async fn every_writer_keeps_to_the_workspace_caps(host: Host) {
    let stack = Stack::with_variables(
        host,
        &[
            ("max_file_size", "60"),
            ("max_workspace_files", "5"),
            ("max_workspace_bytes", "100"),
        ],
    )
    .await;
    let alice = stack.user_with_token("alice", PASSWORD).await;
    let id = session(&stack, &alice).await;
    let a = Some(alice.as_str());
    let file = |p: &str| format!("/api/workspace/{id}/file/{p}");
    for name in ["a", "b", "c"] {
        put(&stack, &alice, &id, name, &[1; 30]).await;
    }

    // Bytes: 90 + 20 > 100.
    let r = call(
        &stack,
        Method::PUT,
        &file("d"),
        a,
        &[],
        Body::Octets(vec![2; 20]),
    )
    .await;
    too_large(&r, "max_workspace_bytes");
    assert_eq!(content(&stack, &alice, &id, "d").await, None);
    // Growing a file past it too; shrinking one is fine, and makes room.
    let r = call(
        &stack,
        Method::PUT,
        &file("a"),
        a,
        &[],
        Body::Octets(vec![2; 45]),
    )
    .await;
    too_large(&r, "max_workspace_bytes");
    let r = call(
        &stack,
        Method::PUT,
        &file("a"),
        a,
        &[],
        Body::Octets(vec![2; 10]),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    put(&stack, &alice, &id, "d", &[3; 20]).await;
    // The fifth item fits (100 bytes, 5 items: both caps reached, neither passed).
    put(&stack, &alice, &id, "e", &[6; 10]).await;

    // Items: a folder with a new parent makes 7 > 5.
    let r = call(
        &stack,
        Method::POST,
        &format!("/api/workspace/{id}/folder/g/h"),
        a,
        &[],
        Body::None,
    )
    .await;
    too_large(&r, "max_workspace_files");
    // A file under a new folder likewise, an upload of two files likewise (none written).
    let r = call(
        &stack,
        Method::PUT,
        &file("n/e"),
        a,
        &[],
        Body::Octets(vec![4]),
    )
    .await;
    too_large(&r, "max_workspace_files");
    let form = Form::new()
        .part("x", Part::bytes(vec![5]).file_name("x"))
        .part("y", Part::bytes(vec![5]).file_name("y"));
    let r = Reply::of(
        client()
            .post(stack.url(&format!("/api/workspace/{id}/upload")))
            .bearer_auth(&alice)
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    too_large(&r, "max_workspace_files");
    // A move that must create a parent folder: 6 > 5; a plain rename is fine.
    let mv = |from: &str, to: &str| Body::Json(json!({"from": from, "to": to}));
    let path = format!("/api/workspace/{id}/move");
    let r = call(&stack, Method::POST, &path, a, &[], mv("b", "m/b")).await;
    too_large(&r, "max_workspace_files");
    let r = call(&stack, Method::POST, &path, a, &[], mv("b", "b2")).await;
    assert_eq!(r.status, 200, "{r:?}");
    let names: Vec<String> = tree(&stack, &alice, &id)
        .await
        .into_iter()
        .map(|t| t.0)
        .collect();
    assert_eq!(names, ["a", "b2", "c", "d", "e"]);

    // Concurrent writers of new files in a fresh workspace: exactly five get in.
    let fresh = session(&stack, &alice).await;
    let writers = (0..10).map(|n| {
        let (url, token) = (
            stack.url(&format!("/api/workspace/{fresh}/file/f{n}")),
            alice.clone(),
        );
        async move {
            let resp = client()
                .put(url)
                .bearer_auth(token)
                .header("content-type", "application/octet-stream")
                .body(vec![7u8; 3])
                .send()
                .await
                .unwrap();
            resp.status().as_u16()
        }
    });
    let mut statuses = futures::future::join_all(writers).await;
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 201, 201, 201, 201, 413, 413, 413, 413, 413]);
    assert_eq!(tree(&stack, &alice, &fresh).await.len(), 5);

    // The starter project (two files) does not fit in one item.
    let stack_small = Stack::with_variables(host, &[("max_workspace_files", "1")]).await;
    let zed = stack_small.user_with_token("zed", PASSWORD).await;
    let small = session(&stack_small, &zed).await;
    let r = ensure_default(&stack_small, &zed, &small).await;
    too_large(&r, "max_workspace_files");
    assert_eq!(
        status(&stack_small, &zed, &small).await.body["initialized"],
        false
    );
}
