//! `/api/workspace/{uuid}/files` and `/api/workspace/{uuid}/file/{path}` over HTTP: the real
//! `workspace` component in the real api-host against a migrated PostgreSQL.

mod common;

use common::{
    Body, Host, PASSWORD, Stack, call, client, each_host, listen, next_notification, raw_get,
    session,
};
use platform_contract::notify::ITEM_CHANNEL;
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[each_host(flavor = "multi_thread")]
async fn files_round_trip_conflicts_limits_and_access(host: Host) {
    let stack = Stack::with_variables(host, &[("max_file_size", "1000")]).await;
    let alice = stack.user_with_token("alice", PASSWORD).await;
    let bob = stack.user_with_token("bob", PASSWORD).await;
    let carol = stack.user_with_token("carol", PASSWORD).await;
    let id = session(&stack, &alice).await;
    let file = |p: &str| format!("/api/workspace/{id}/file/{p}");
    let a = Some(alice.as_str());

    // Text: create (201), read, update (200).
    let r = call(
        &stack,
        Method::PUT,
        &file("hello.txt"),
        a,
        &[],
        Body::Json(json!({"content": "héllo\n"})),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["version"], 1);
    assert_eq!(r.header("etag"), Some("\"1\""));
    let r = call(&stack, Method::GET, &file("hello.txt"), a, &[], Body::None).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["content"], "héllo\n");
    assert_eq!(r.body["encoding"], "utf-8");
    assert_eq!(r.body["size"], 7);
    assert_eq!(r.body["sha256"].as_str().unwrap().len(), 64);
    let r = call(
        &stack,
        Method::POST,
        &file("hello.txt"),
        a,
        &[],
        Body::Json(json!({"content": "bye", "encoding": "utf-8"})),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["version"], 2);

    // Binary, all 256 byte values, as JSON base64 and as octet-stream.
    let all: Vec<u8> = (0..=255u8).collect();
    let r = call(
        &stack,
        Method::PUT,
        &file("bin/a.dat"),
        a,
        &[],
        Body::Json(json!({"content": base64(&all), "encoding": "base64"})),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let r = call(&stack, Method::GET, &file("bin/a.dat"), a, &[], Body::None).await;
    assert_eq!(r.body["encoding"], "base64");
    assert_eq!(r.body["content"], base64(&all));
    let (status, headers, bytes) = raw_get(&stack, &file("bin/a.dat"), &alice).await;
    let etag = headers.get("etag").map(|v| v.to_str().unwrap());
    assert_eq!((status, etag), (200, Some("\"1\"")));
    assert_eq!(bytes, all);
    let reversed: Vec<u8> = all.iter().rev().copied().collect();
    let r = call(
        &stack,
        Method::PUT,
        &file("bin/b.dat"),
        a,
        &[],
        Body::Octets(reversed.clone()),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        raw_get(&stack, &file("bin/b.dat"), &alice).await.2,
        reversed
    );

    // Nested path: parent folders appear in the tree.
    let r = call(
        &stack,
        Method::PUT,
        &file("src/app/main.py"),
        a,
        &[],
        Body::Json(json!({"content": "print(1)\n"})),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let r = call(
        &stack,
        Method::GET,
        &format!("/api/workspace/{id}/files"),
        a,
        &[],
        Body::None,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let kinds: Vec<(String, String)> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["path"].as_str().unwrap().to_owned(),
                i["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (p, k) in [
        ("src", "folder"),
        ("src/app", "folder"),
        ("src/app/main.py", "file"),
        ("bin", "folder"),
        ("hello.txt", "file"),
    ] {
        assert!(
            kinds.contains(&(p.to_owned(), k.to_owned())),
            "{p} {k} in {kinds:?}"
        );
    }

    // If-Match: stale 412, fresh 200.
    let r = call(
        &stack,
        Method::PUT,
        &file("hello.txt"),
        a,
        &[("if-match", "\"1\"")],
        Body::Json(json!({"content": "x"})),
    )
    .await;
    r.assert_error(412, "precondition_failed");
    let r = call(
        &stack,
        Method::PUT,
        &file("hello.txt"),
        a,
        &[("if-match", "\"2\"")],
        Body::Json(json!({"content": "x"})),
    )
    .await;
    assert_eq!(
        (r.status, r.body["version"].clone()),
        (200, json!(3)),
        "{r:?}"
    );

    // Size limit (max_file_size = 1000 here).
    let r = call(
        &stack,
        Method::PUT,
        &file("big"),
        a,
        &[],
        Body::Octets(vec![7; 1001]),
    )
    .await;
    assert_eq!(r.status, 413, "{r:?}");
    let r = call(
        &stack,
        Method::PUT,
        &file("big"),
        a,
        &[],
        Body::Json(json!({"content": "y".repeat(1001)})),
    )
    .await;
    assert_eq!(r.status, 413, "{r:?}");
    let r = call(
        &stack,
        Method::PUT,
        &file("big"),
        a,
        &[],
        Body::Octets(vec![7; 1000]),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");

    // Invalid paths (escaped so the client does not normalise them).
    for bad in [
        "..%2Fx",
        "%2Fabs",
        "a%2F%2Fb",
        "a%2F.%2Fb",
        "a%00b",
        "x%2F%2E%2E",
    ] {
        let r = call(
            &stack,
            Method::PUT,
            &file(bad),
            a,
            &[],
            Body::Json(json!({"content": "z"})),
        )
        .await;
        r.assert_error(400, "invalid_path");
        let r = call(&stack, Method::GET, &file(bad), a, &[], Body::None).await;
        assert_eq!(r.status, 400, "{bad}: {r:?}");
    }

    // Kind conflicts, folder deletes.
    let r = call(
        &stack,
        Method::PUT,
        &file("src"),
        a,
        &[],
        Body::Json(json!({"content": "z"})),
    )
    .await;
    r.assert_error(409, "conflict");
    let r = call(
        &stack,
        Method::PUT,
        &file("hello.txt/inner"),
        a,
        &[],
        Body::Json(json!({"content": "z"})),
    )
    .await;
    r.assert_error(409, "conflict");
    let r = call(&stack, Method::DELETE, &file("src"), a, &[], Body::None).await;
    r.assert_error(409, "conflict");
    let r = call(
        &stack,
        Method::DELETE,
        &file("hello.txt"),
        a,
        &[("if-match", "1")],
        Body::None,
    )
    .await;
    r.assert_error(412, "precondition_failed");
    let r = call(
        &stack,
        Method::DELETE,
        &file("hello.txt"),
        a,
        &[("if-match", "3")],
        Body::None,
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = call(&stack, Method::GET, &file("hello.txt"), a, &[], Body::None).await;
    r.assert_error(404, "not_found");
    let r = call(
        &stack,
        Method::DELETE,
        &file("src?recursive=true"),
        a,
        &[],
        Body::None,
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = call(
        &stack,
        Method::GET,
        &file("src/app/main.py"),
        a,
        &[],
        Body::None,
    )
    .await;
    r.assert_error(404, "not_found");
    let r = call(
        &stack,
        Method::GET,
        &format!("/api/workspace/{id}/files"),
        a,
        &[],
        Body::None,
    )
    .await;
    assert!(!r.body.to_string().contains("src"), "{r:?}");

    // Bad input and access.
    let r = call(
        &stack,
        Method::PUT,
        &file("j"),
        a,
        &[],
        Body::Typed("application/json", b"{not json".to_vec()),
    )
    .await;
    r.assert_error(400, "invalid_json");
    let r = call(
        &stack,
        Method::GET,
        "/api/workspace/not-a-uuid/files",
        a,
        &[],
        Body::None,
    )
    .await;
    r.assert_error(400, "invalid_uuid");
    let r = call(
        &stack,
        Method::GET,
        &format!("/api/workspace/{id}/files"),
        None,
        &[],
        Body::None,
    )
    .await;
    assert_eq!(r.status, 401, "{r:?}");
    let r = call(&stack, Method::PATCH, &file("x"), a, &[], Body::None).await;
    assert_eq!(r.status, 405, "{r:?}");
    let r = call(
        &stack,
        Method::GET,
        &format!("/api/workspace/{id}/nope"),
        a,
        &[],
        Body::None,
    )
    .await;
    r.assert_error(404, "not_found");
    let r = call(
        &stack,
        Method::GET,
        &format!("/api/workspace/{id}/files"),
        Some(&carol),
        &[],
        Body::None,
    )
    .await;
    r.assert_error(404, "not_found");
    let r = call(
        &stack,
        Method::GET,
        &file("bin/a.dat"),
        Some(&carol),
        &[],
        Body::None,
    )
    .await;
    r.assert_error(404, "not_found");
    let r = call(
        &stack,
        Method::PUT,
        &format!("/api/sessions/{id}/members/bob"),
        a,
        &[],
        Body::Json(json!({"role": "viewer"})),
    )
    .await;
    assert!(r.status == 200 || r.status == 201, "{r:?}");
    let r = call(
        &stack,
        Method::GET,
        &file("bin/a.dat"),
        Some(&bob),
        &[],
        Body::None,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = call(
        &stack,
        Method::PUT,
        &file("bin/a.dat"),
        Some(&bob),
        &[],
        Body::Json(json!({"content": "no"})),
    )
    .await;
    r.assert_error(403, "forbidden");
    let r = call(
        &stack,
        Method::DELETE,
        &file("bin/a.dat"),
        Some(&bob),
        &[],
        Body::None,
    )
    .await;
    r.assert_error(403, "forbidden");
    // user_id is only a cross-check of the token.
    let r = call(
        &stack,
        Method::GET,
        &format!("/api/workspace/{id}/files?user_id=999999"),
        a,
        &[],
        Body::None,
    )
    .await;
    r.assert_error(403, "forbidden");
    // The shutdown route still belongs to sessions.
    let r = call(
        &stack,
        Method::POST,
        &format!("/api/workspace/{id}/shutdown"),
        a,
        &[],
        Body::None,
    )
    .await;
    assert_eq!(r.status, 202, "{r:?}");
}

#[each_host(flavor = "multi_thread")]
async fn concurrent_writers_with_the_same_version_have_one_winner(host: Host) {
    let stack = Stack::start(host).await;
    let alice = stack.user_with_token("alice", PASSWORD).await;
    let id = session(&stack, &alice).await;
    let path = format!("/api/workspace/{id}/file/race.txt");
    let r = call(
        &stack,
        Method::PUT,
        &path,
        Some(&alice),
        &[],
        Body::Json(json!({"content": "start"})),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");

    let writers = (0..20).map(|n| {
        let (url, token) = (stack.url(&path), alice.clone());
        async move {
            let resp = client()
                .put(url)
                .bearer_auth(token)
                .header("if-match", "\"1\"")
                .json(&json!({"content": format!("writer {n}")}))
                .send()
                .await
                .unwrap();
            (n, resp.status().as_u16())
        }
    });
    let results = futures::future::join_all(writers).await;
    let winners: Vec<usize> = results
        .iter()
        .filter(|(_, s)| *s == 200 || *s == 201)
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(
        results.iter().all(|(_, s)| [200, 201, 412].contains(s)),
        "{results:?}"
    );
    let r = call(&stack, Method::GET, &path, Some(&alice), &[], Body::None).await;
    assert_eq!(r.body["content"], format!("writer {}", winners[0]));
    assert_eq!(r.body["version"], 2);
}

#[each_host(flavor = "multi_thread")]
async fn a_write_is_notified(host: Host) {
    let stack = Stack::start(host).await;
    let alice = stack.user_with_token("alice", PASSWORD).await;
    let id = session(&stack, &alice).await;

    let (pg, mut rx) = listen(&stack, &[ITEM_CHANNEL]).await;

    let path = format!("/api/workspace/{id}/file/dir/n.txt");
    let r = call(
        &stack,
        Method::PUT,
        &path,
        Some(&alice),
        &[],
        Body::Json(json!({"content": "n"})),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let (channel, payload) = next_notification(&mut rx).await;
        assert_eq!(channel, ITEM_CHANNEL);
        seen.push(payload);
    }
    assert!(seen.contains(&json!({"session": id, "path": "dir/n.txt", "version": 1, "kind": "file", "deleted": false})), "{seen:?}");
    assert!(
        seen.contains(
            &json!({"session": id, "path": "dir", "version": 1, "kind": "folder", "deleted": false})
        ),
        "{seen:?}"
    );

    let r = call(&stack, Method::DELETE, &path, Some(&alice), &[], Body::None).await;
    assert_eq!(r.status, 204, "{r:?}");
    let (_, payload) = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        payload,
        json!({"session": id, "path": "dir/n.txt", "version": 1, "kind": "file", "deleted": true})
    );
    drop(pg);
}
