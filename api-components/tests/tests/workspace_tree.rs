//! Folders and moves over HTTP: `PUT`/`POST /api/workspace/{uuid}/folder/{path}` and
//! `POST /api/workspace/{uuid}/move`, with their notifications, against the real `workspace`
//! component in the real api-host and a migrated PostgreSQL.

mod common;
mod workspace_api;

use common::{Host, Stack, each_host, listen, next_notification};
use platform_contract::notify::ITEM_CHANNEL;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use workspace_api::{
    Body, PASSWORD, assert_common_errors, call, content, put, session, share, tree,
};

fn entry(path: &str, kind: &str, version: i64) -> (String, String, i64) {
    (path.to_owned(), kind.to_owned(), version)
}

#[each_host(flavor = "multi_thread")]
async fn folders_are_created_with_their_parents_once_and_never_over_files(host: Host) {
    let stack = Stack::start(host).await;
    let alice = stack.user_with_token("alice", PASSWORD).await;
    let bob = stack.user_with_token("bob", PASSWORD).await;
    let carol = stack.user_with_token("carol", PASSWORD).await;
    let id = session(&stack, &alice).await;
    let a = Some(alice.as_str());
    let folder = |p: &str| format!("/api/workspace/{id}/folder/{p}");

    let r = call(&stack, Method::POST, &folder("a/b/c"), a, &[], Body::None).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        r.body,
        json!({"path": "a/b/c", "kind": "folder", "version": 1, "created": true})
    );
    assert_eq!(
        tree(&stack, &alice, &id).await,
        vec![
            entry("a", "folder", 1),
            entry("a/b", "folder", 1),
            entry("a/b/c", "folder", 1)
        ]
    );
    // Again, with either method: there already, nothing changes.
    for method in [Method::POST, Method::PUT] {
        let r = call(&stack, method, &folder("a/b/c"), a, &[], Body::None).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body["created"], false);
        assert_eq!(r.body["version"], 1);
    }
    let r = call(&stack, Method::PUT, &folder("a/b%20d"), a, &[], Body::None).await;
    assert_eq!((r.status, r.body["path"].clone()), (201, json!("a/b d")));
    assert_eq!(tree(&stack, &alice, &id).await.len(), 4);

    // Files block folders: at the path, and among its parents.
    put(&stack, &alice, &id, "f.txt", b"x").await;
    let r = call(&stack, Method::POST, &folder("f.txt"), a, &[], Body::None).await;
    r.assert_error(409, "conflict");
    let r = call(
        &stack,
        Method::POST,
        &folder("f.txt/sub"),
        a,
        &[],
        Body::None,
    )
    .await;
    r.assert_error(409, "conflict");
    assert_eq!(tree(&stack, &alice, &id).await.len(), 5);
    // ...and a folder blocks a file.
    let r = call(
        &stack,
        Method::PUT,
        &format!("/api/workspace/{id}/file/a/b"),
        a,
        &[],
        Body::Octets(b"no".to_vec()),
    )
    .await;
    r.assert_error(409, "conflict");

    for bad in ["..%2Fx", "a%2F%2Fb", "x%2F.", "%2Fabs", "a%00b"] {
        let r = call(&stack, Method::POST, &folder(bad), a, &[], Body::None).await;
        r.assert_error(400, "invalid_path");
    }

    share(&stack, &alice, &id, "bob", "viewer").await;
    let r = call(
        &stack,
        Method::POST,
        &folder("v"),
        Some(&bob),
        &[],
        Body::None,
    )
    .await;
    r.assert_error(403, "forbidden");
    share(&stack, &alice, &id, "bob", "editor").await;
    let r = call(
        &stack,
        Method::POST,
        &folder("e"),
        Some(&bob),
        &[],
        Body::None,
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_common_errors(&stack, &id, "folder/z", Method::POST, Method::GET, &carol).await;
}

/// The setup of the move tests: a small tree with nested files, an empty folder, two files.
async fn tree_to_move(stack: &Stack, token: &str, id: &str) {
    put(stack, token, id, "src/app/main.py", b"print(1)\n").await;
    put(stack, token, id, "src/app/util.py", &[0, 159, 255, 1]).await;
    put(stack, token, id, "src/readme.md", b"# src\n").await;
    let r = call(
        stack,
        Method::POST,
        &format!("/api/workspace/{id}/folder/src/empty"),
        Some(token),
        &[],
        Body::None,
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    put(stack, token, id, "a.txt", b"A").await;
    put(stack, token, id, "b.txt", b"B").await;
}

#[each_host(flavor = "multi_thread")]
async fn moves_rename_files_and_carry_whole_folders(host: Host) {
    let stack = Stack::start(host).await;
    let alice = stack.user_with_token("alice", PASSWORD).await;
    let bob = stack.user_with_token("bob", PASSWORD).await;
    let carol = stack.user_with_token("carol", PASSWORD).await;
    let id = session(&stack, &alice).await;
    let a = Some(alice.as_str());
    tree_to_move(&stack, &alice, &id).await;
    let mv = |body: Value| Body::Json(body);
    let path = format!("/api/workspace/{id}/move");

    // Rename a file.
    let r = call(
        &stack,
        Method::POST,
        &path,
        a,
        &[],
        mv(json!({"from": "a.txt", "to": "c.txt"})),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body,
        json!({"from": "a.txt", "to": "c.txt", "kind": "file", "version": 2, "moved": 1})
    );
    assert_eq!(r.header("etag"), Some("\"2\""));
    assert_eq!(content(&stack, &alice, &id, "a.txt").await, None);
    assert_eq!(
        content(&stack, &alice, &id, "c.txt").await,
        Some(b"A".to_vec())
    );

    // Move a folder with everything under it into a folder that does not exist yet.
    let r = call(
        &stack,
        Method::POST,
        &path,
        a,
        &[],
        mv(json!({"from": "src", "to": "lib/v1/src"})),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        (r.body["kind"].clone(), r.body["moved"].clone()),
        (json!("folder"), json!(6))
    );
    assert_eq!(
        tree(&stack, &alice, &id).await,
        vec![
            entry("b.txt", "file", 1),
            entry("c.txt", "file", 2),
            entry("lib", "folder", 1),
            entry("lib/v1", "folder", 1),
            entry("lib/v1/src", "folder", 2),
            entry("lib/v1/src/app", "folder", 2),
            entry("lib/v1/src/app/main.py", "file", 2),
            entry("lib/v1/src/app/util.py", "file", 2),
            entry("lib/v1/src/empty", "folder", 2),
            entry("lib/v1/src/readme.md", "file", 2),
        ]
    );
    assert_eq!(
        content(&stack, &alice, &id, "lib/v1/src/app/util.py").await,
        Some(vec![0, 159, 255, 1])
    );
    // The moved file is still writable under its new path, with If-Match on its new version.
    let r = call(
        &stack,
        Method::PUT,
        &format!("/api/workspace/{id}/file/lib/v1/src/readme.md"),
        a,
        &[("if-match", "\"2\"")],
        Body::Octets(b"# lib\n".to_vec()),
    )
    .await;
    assert_eq!(
        (r.status, r.body["version"].clone()),
        (200, json!(3)),
        "{r:?}"
    );

    // Missing source.
    let r = call(
        &stack,
        Method::POST,
        &path,
        a,
        &[],
        mv(json!({"from": "nope", "to": "x"})),
    )
    .await;
    r.assert_error(404, "not_found");
    // Destination exists: a file over a file needs overwrite; never over a folder.
    let r = call(
        &stack,
        Method::POST,
        &path,
        a,
        &[],
        mv(json!({"from": "b.txt", "to": "c.txt"})),
    )
    .await;
    r.assert_error(409, "conflict");
    let r = call(
        &stack,
        Method::POST,
        &path,
        a,
        &[],
        mv(json!({"from": "b.txt", "to": "lib", "overwrite": true})),
    )
    .await;
    r.assert_error(409, "conflict");
    let r = call(
        &stack,
        Method::POST,
        &path,
        a,
        &[],
        mv(json!({"from": "lib", "to": "c.txt", "overwrite": true})),
    )
    .await;
    r.assert_error(409, "conflict");
    let r = call(
        &stack,
        Method::POST,
        &path,
        a,
        &[],
        mv(json!({"from": "lib/v1", "to": "lib/v1/src/deeper"})),
    )
    .await;
    r.assert_error(400, "bad_request");
    let r = call(
        &stack,
        Method::POST,
        &path,
        a,
        &[],
        mv(json!({"from": "c.txt", "to": "c.txt"})),
    )
    .await;
    r.assert_error(400, "bad_request");
    // A file among the destination's parents.
    let r = call(
        &stack,
        Method::POST,
        &path,
        a,
        &[],
        mv(json!({"from": "b.txt", "to": "c.txt/b.txt"})),
    )
    .await;
    r.assert_error(409, "conflict");
    // None of the refused moves changed anything.
    assert_eq!(tree(&stack, &alice, &id).await.len(), 10);
    assert_eq!(
        content(&stack, &alice, &id, "b.txt").await,
        Some(b"B".to_vec())
    );

    // If-Match on the source: stale 412, current 200 (with overwrite of c.txt).
    let r = call(
        &stack,
        Method::POST,
        &path,
        a,
        &[("if-match", "\"7\"")],
        mv(json!({"from": "b.txt", "to": "c.txt", "overwrite": true})),
    )
    .await;
    r.assert_error(412, "precondition_failed");
    let r = call(
        &stack,
        Method::POST,
        &path,
        a,
        &[("if-match", "\"1\"")],
        mv(json!({"from": "b.txt", "to": "c.txt", "overwrite": true})),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        content(&stack, &alice, &id, "c.txt").await,
        Some(b"B".to_vec())
    );
    assert_eq!(content(&stack, &alice, &id, "b.txt").await, None);

    // Bad bodies.
    for (body, code) in [
        (
            Body::Typed("application/json", b"{not json".to_vec()),
            "invalid_json",
        ),
        (mv(json!({"from": "c.txt"})), "invalid_json"),
        (
            mv(json!({"from": "c.txt", "to": "d", "extra": 1})),
            "invalid_json",
        ),
        (mv(json!({"from": "../c.txt", "to": "d"})), "invalid_path"),
        (mv(json!({"from": "c.txt", "to": "/d"})), "invalid_path"),
        (mv(json!({"from": "c.txt", "to": "d//e"})), "invalid_path"),
    ] {
        let r = call(&stack, Method::POST, &path, a, &[], body).await;
        r.assert_error(400, code);
    }
    let r = call(
        &stack,
        Method::POST,
        &path,
        a,
        &[],
        Body::Typed("text/plain", b"x".to_vec()),
    )
    .await;
    r.assert_error(415, "unsupported_media_type");

    share(&stack, &alice, &id, "bob", "viewer").await;
    let r = call(
        &stack,
        Method::POST,
        &path,
        Some(&bob),
        &[],
        mv(json!({"from": "c.txt", "to": "d.txt"})),
    )
    .await;
    r.assert_error(403, "forbidden");
    assert_common_errors(&stack, &id, "move", Method::POST, Method::GET, &carol).await;
    assert_eq!(
        content(&stack, &alice, &id, "c.txt").await,
        Some(b"B".to_vec())
    );
}

#[each_host(flavor = "multi_thread")]
async fn a_move_announces_old_paths_deleted_and_new_paths_and_a_refused_one_nothing(host: Host) {
    let stack = Stack::start(host).await;
    let alice = stack.user_with_token("alice", PASSWORD).await;
    let id = session(&stack, &alice).await;
    put(&stack, &alice, &id, "d/f.txt", b"f").await;
    put(&stack, &alice, &id, "g.txt", b"g").await;
    let (pg, mut rx) = listen(&stack, &[ITEM_CHANNEL]).await;

    let move_ = |from: &str, to: &str| Body::Json(json!({"from": from, "to": to}));
    let path = format!("/api/workspace/{id}/move");
    let r = call(
        &stack,
        Method::POST,
        &path,
        Some(&alice),
        &[],
        move_("d", "e/d2"),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let (channel, payload) = next_notification(&mut rx).await;
        assert_eq!(channel, ITEM_CHANNEL);
        seen.push(payload);
    }
    let n = |path: &str, version: i64, kind: &str, deleted: bool| json!({"session": id, "path": path, "version": version, "kind": kind, "deleted": deleted});
    for expected in [
        n("d", 1, "folder", true),
        n("d/f.txt", 1, "file", true),
        n("e", 1, "folder", false),
        n("e/d2", 2, "folder", false),
        n("e/d2/f.txt", 2, "file", false),
    ] {
        assert!(seen.contains(&expected), "{expected} not in {seen:?}");
    }

    // A refused move (destination exists) announces nothing: the next notification is the
    // write that follows it.
    let r = call(
        &stack,
        Method::POST,
        &path,
        Some(&alice),
        &[],
        move_("g.txt", "e/d2/f.txt"),
    )
    .await;
    r.assert_error(409, "conflict");
    put(&stack, &alice, &id, "marker", b"m").await;
    let (_, payload) = next_notification(&mut rx).await;
    assert_eq!(payload, n("marker", 1, "file", false));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rx.recv())
            .await
            .is_err(),
        "nothing else"
    );
    drop(pg);
}
