//! `/api/sessions/...` and the shutdown routes over HTTP: the real `sessions` component in the
//! real api-host against a migrated PostgreSQL, with the notifications the bridge would hear
//! read by a real `LISTEN` connection.

mod common;

use common::{Host, PASSWORD, Reply, Stack, call, client, each_host, listen, next_notification};
use platform_contract::notify::{DESIRED_STATE_CHANNEL, MEMBER_CHANNEL};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// Creates a session named `name` as the owner of `token`; returns its id.
async fn create(stack: &Stack, token: &str, name: &str) -> String {
    let r = call(
        stack,
        Method::POST,
        "/api/sessions/",
        Some(token),
        &[],
        Some(json!({"name": name, "language": "python"})),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    r.body["session_id"].as_str().unwrap().to_owned()
}

/// The id of the user of `token`.
async fn user_id(stack: &Stack, token: &str) -> i64 {
    stack.me(token).await.body["id"].as_i64().unwrap()
}

#[each_host(flavor = "multi_thread")]
async fn create_list_get_rename_delete_with_pagination_and_bad_input(host: Host) {
    let stack = Stack::start(host).await;
    let alice = stack.user_with_token("alice", PASSWORD).await;
    let alice_id = user_id(&stack, &alice).await;

    // Create: default name, no language; then named ones.
    let r = call(
        &stack,
        Method::POST,
        "/api/sessions/",
        Some(&alice),
        &[],
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let first = r.body["session_id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["session"]["id"], first.as_str());
    assert_eq!(r.body["session"]["name"], "Untitled session");
    assert_eq!(r.body["session"]["language"], Value::Null);
    assert_eq!(r.body["session"]["role"], "owner");
    assert_eq!(r.body["session"]["owner_id"], alice_id);
    assert_eq!(r.body["session"]["owner_username"], "alice");
    assert_eq!(r.body["session"]["desired_state"], "running");
    assert_eq!(r.body["session"]["observed_state"], "stopped");
    let second = create(&stack, &alice, "second").await;
    let third = create(&stack, &alice, "third").await;

    // Get.
    let r = call(
        &stack,
        Method::GET,
        &format!("/api/sessions/{second}"),
        Some(&alice),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["name"], "second");
    assert_eq!(r.body["language"], "python");
    assert_eq!(r.body["role"], "owner");
    // Upper-case ids are the same id.
    let upper = second.to_uppercase();
    let r = call(
        &stack,
        Method::GET,
        &format!("/api/sessions/{upper}"),
        Some(&alice),
        &[],
        None,
    )
    .await;
    assert_eq!(r.body["id"], second.as_str(), "{r:?}");

    // List: newest first, paginated (both with and without the trailing slash).
    let r = call(
        &stack,
        Method::GET,
        "/api/sessions/",
        Some(&alice),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let ids: Vec<&str> = r.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [third.as_str(), second.as_str(), first.as_str()]);
    assert_eq!(r.body["limit"], 50);
    assert_eq!(r.body["next_offset"], Value::Null);
    let r = call(
        &stack,
        Method::GET,
        "/api/sessions?limit=2",
        Some(&alice),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["sessions"][0]["id"], third.as_str());
    assert_eq!(r.body["sessions"][1]["id"], second.as_str());
    assert_eq!(r.body["next_offset"], 2);
    let r = call(
        &stack,
        Method::GET,
        "/api/sessions/?limit=2&offset=2",
        Some(&alice),
        &[],
        None,
    )
    .await;
    assert_eq!(r.body["sessions"].as_array().unwrap().len(), 1, "{r:?}");
    assert_eq!(r.body["sessions"][0]["id"], first.as_str());
    assert_eq!(r.body["next_offset"], Value::Null);
    for bad in ["limit=0", "limit=201", "limit=x", "offset=-1"] {
        let r = call(
            &stack,
            Method::GET,
            &format!("/api/sessions/?{bad}"),
            Some(&alice),
            &[],
            None,
        )
        .await;
        r.assert_error(400, "bad_request");
    }

    // The user_id cross-check: the token's own id passes, another is 403, junk is 400.
    let r = call(
        &stack,
        Method::GET,
        &format!("/api/sessions/?user_id={alice_id}"),
        Some(&alice),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let other = alice_id + 1000;
    let r = call(
        &stack,
        Method::GET,
        &format!("/api/sessions/?user_id={other}"),
        Some(&alice),
        &[],
        None,
    )
    .await;
    r.assert_error(403, "forbidden");
    let r = call(
        &stack,
        Method::POST,
        &format!("/workspace/{first}/shutdown?user_id={other}"),
        Some(&alice),
        &[],
        None,
    )
    .await;
    r.assert_error(403, "forbidden");
    let r = call(
        &stack,
        Method::GET,
        "/api/sessions/?user_id=abc",
        Some(&alice),
        &[],
        None,
    )
    .await;
    r.assert_error(400, "bad_request");

    // Rename (and language), then check.
    let path = format!("/api/sessions/{second}");
    let r = call(
        &stack,
        Method::PATCH,
        &path,
        Some(&alice),
        &[],
        Some(json!({"name": "  renamed "})),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["name"], "renamed");
    assert_eq!(r.body["language"], "python");
    let r = call(
        &stack,
        Method::PATCH,
        &path,
        Some(&alice),
        &[],
        Some(json!({"language": ""})),
    )
    .await;
    assert_eq!(r.body["language"], Value::Null, "{r:?}");
    assert_eq!(r.body["name"], "renamed");
    let r = call(
        &stack,
        Method::PATCH,
        &path,
        Some(&alice),
        &[],
        Some(json!({})),
    )
    .await;
    r.assert_error(400, "bad_request");
    let r = call(
        &stack,
        Method::PATCH,
        &path,
        Some(&alice),
        &[],
        Some(json!({"name": ""})),
    )
    .await;
    r.assert_error(400, "bad_request");
    let r = call(
        &stack,
        Method::PATCH,
        &path,
        Some(&alice),
        &[],
        Some(json!({"name": "x".repeat(201)})),
    )
    .await;
    r.assert_error(400, "bad_request");

    // Malformed JSON and wrong JSON.
    let r = Reply::of(
        client()
            .patch(stack.url(&path))
            .bearer_auth(&alice)
            .header("content-type", "application/json")
            .body("{\"name\": ")
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(400, "invalid_json");
    let r = call(
        &stack,
        Method::POST,
        "/api/sessions/",
        Some(&alice),
        &[],
        Some(json!({"name": 5})),
    )
    .await;
    r.assert_error(400, "invalid_json");

    // Bad UUIDs, unknown routes, wrong methods.
    for bad in [
        "nope",
        "1234",
        "0b7c7c1e-58a4-4a9c-9d0e-2f4f4c0e8a1g",
        "%00",
    ] {
        let r = call(
            &stack,
            Method::GET,
            &format!("/api/sessions/{bad}"),
            Some(&alice),
            &[],
            None,
        )
        .await;
        r.assert_error(400, "invalid_uuid");
        let r = call(
            &stack,
            Method::POST,
            &format!("/api/workspace/{bad}/shutdown"),
            Some(&alice),
            &[],
            None,
        )
        .await;
        r.assert_error(400, "invalid_uuid");
    }
    let r = call(
        &stack,
        Method::GET,
        &format!("/api/sessions/{first}/nope"),
        Some(&alice),
        &[],
        None,
    )
    .await;
    r.assert_error(404, "not_found");
    let r = call(
        &stack,
        Method::POST,
        &format!("/api/sessions/{first}"),
        Some(&alice),
        &[],
        None,
    )
    .await;
    r.assert_error(405, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET, PATCH, DELETE"));
    let r = call(
        &stack,
        Method::GET,
        &format!("/workspace/{first}/shutdown"),
        Some(&alice),
        &[],
        None,
    )
    .await;
    r.assert_error(405, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("POST"));
    let r = call(
        &stack,
        Method::DELETE,
        "/api/sessions/",
        Some(&alice),
        &[],
        None,
    )
    .await;
    assert_eq!(r.header("allow"), Some("GET, POST"));

    // Odd input is a 4xx, never a 500.
    let r = call(
        &stack,
        Method::POST,
        "/api/sessions/",
        Some(&alice),
        &[],
        Some(json!({"name": "a\u{0}b"})),
    )
    .await;
    r.assert_error(400, "bad_request");
    let r = call(
        &stack,
        Method::POST,
        "/api/sessions/",
        Some(&alice),
        &[],
        Some(json!({"language": "x; drop table users"})),
    )
    .await;
    r.assert_error(400, "bad_request");
    let r = call(
        &stack,
        Method::POST,
        "/api/sessions/",
        Some(&alice),
        &[],
        Some(json!([1, 2])),
    )
    .await;
    r.assert_error(400, "invalid_json");
    let r = call(
        &stack,
        Method::GET,
        "/api/sessions/?limit=99999999999999999999999",
        Some(&alice),
        &[],
        None,
    )
    .await;
    r.assert_error(400, "bad_request");
    for name in ["a%2Fb", "a", "x%00y", "%20bob"] {
        let path = format!("/api/sessions/{first}/members/{name}");
        let r = call(
            &stack,
            Method::PUT,
            &path,
            Some(&alice),
            &[],
            Some(json!({"role": "viewer"})),
        )
        .await;
        r.assert_error(404, "not_found");
    }
    // Other paths under /api/workspace/ are not this component's (the `workspace` component
    // has no such route either).
    let r = call(
        &stack,
        Method::POST,
        &format!("/api/workspace/{first}/nope"),
        Some(&alice),
        &[],
        None,
    )
    .await;
    r.assert_error(404, "not_found");

    // A session that does not exist.
    let missing = "00000000-0000-4000-8000-000000000000";
    let r = call(
        &stack,
        Method::GET,
        &format!("/api/sessions/{missing}"),
        Some(&alice),
        &[],
        None,
    )
    .await;
    r.assert_error(404, "not_found");

    // No token: 401 with the shape on every endpoint.
    let member = format!("/api/sessions/{first}/members/bob");
    let endpoints: Vec<(Method, String)> = vec![
        (Method::GET, "/api/sessions/".into()),
        (Method::POST, "/api/sessions/".into()),
        (Method::GET, format!("/api/sessions/{first}")),
        (Method::PATCH, format!("/api/sessions/{first}")),
        (Method::DELETE, format!("/api/sessions/{first}")),
        (Method::GET, format!("/api/sessions/{first}/members")),
        (Method::PUT, member.clone()),
        (Method::DELETE, member),
        (Method::POST, format!("/api/workspace/{first}/shutdown")),
        (Method::POST, format!("/workspace/{first}/shutdown")),
    ];
    for (method, path) in endpoints {
        let r = call(
            &stack,
            method.clone(),
            &path,
            None,
            &[],
            Some(json!({"role": "viewer"})),
        )
        .await;
        r.assert_error(401, "unauthorized");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer"),
            "{method} {path}"
        );
        let r = call(
            &stack,
            method.clone(),
            &path,
            Some("cep_not-a-real-token"),
            &[],
            None,
        )
        .await;
        r.assert_error(401, "unauthorized");
    }

    // Delete removes the session and, by cascade, its files.
    let db = stack.db().await;
    db.execute(
        "insert into workspace_items (session_id, path, parent_path, kind, content, size, sha256) \
         select $1::text::uuid, 'main.py', null, 'file', c, octet_length(c), sha256(c) \
         from (select convert_to('print(1)', 'UTF8') as c) as x",
        &[&third],
    )
    .await
    .unwrap();
    let count = "select count(*) from workspace_items where session_id = $1::text::uuid";
    let n: i64 = db.query_one(count, &[&third]).await.unwrap().get(0);
    assert_eq!(n, 1);
    let r = call(
        &stack,
        Method::DELETE,
        &format!("/api/sessions/{third}"),
        Some(&alice),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let n: i64 = db.query_one(count, &[&third]).await.unwrap().get(0);
    assert_eq!(n, 0);
    let r = call(
        &stack,
        Method::GET,
        &format!("/api/sessions/{third}"),
        Some(&alice),
        &[],
        None,
    )
    .await;
    r.assert_error(404, "not_found");
    let r = call(
        &stack,
        Method::DELETE,
        &format!("/api/sessions/{third}"),
        Some(&alice),
        &[],
        None,
    )
    .await;
    r.assert_error(404, "not_found");
    // No request above was a server error (the component logs those as `sessions: ...`).
    assert_eq!(
        stack.component_errors("sessions"),
        Vec::<String>::new(),
        "{}",
        stack.host_log()
    );
}

#[each_host(flavor = "multi_thread")]
async fn sharing_roles_and_shutdown(host: Host) {
    let stack = Stack::start(host).await;
    let alice = stack.user_with_token("alice", PASSWORD).await;
    let bob = stack.user_with_token("bob", PASSWORD).await;
    let carol = stack.user_with_token("carol", PASSWORD).await;
    let bob_id = user_id(&stack, &bob).await;
    let id = create(&stack, &alice, "shared").await;
    let one = format!("/api/sessions/{id}");
    let members = format!("/api/sessions/{id}/members");
    let shutdown = format!("/api/workspace/{id}/shutdown");

    // Not shared yet: bob sees nothing, on every endpoint (404, as if it did not exist).
    let r = call(&stack, Method::GET, "/api/sessions/", Some(&bob), &[], None).await;
    assert_eq!(r.body["sessions"], json!([]), "{r:?}");
    for (method, path, body) in [
        (Method::GET, one.clone(), None),
        (Method::PATCH, one.clone(), Some(json!({"name": "mine"}))),
        (Method::DELETE, one.clone(), None),
        (Method::GET, members.clone(), None),
        (
            Method::PUT,
            format!("{members}/bob"),
            Some(json!({"role": "editor"})),
        ),
        (Method::POST, shutdown.clone(), None),
    ] {
        let r = call(&stack, method.clone(), &path, Some(&bob), &[], body).await;
        r.assert_error(404, "not_found");
    }

    // Share with bob as viewer.
    let r = call(
        &stack,
        Method::PUT,
        &format!("{members}/BOB"),
        Some(&alice),
        &[],
        Some(json!({"role": "viewer"})),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["user_id"], bob_id);
    assert_eq!(r.body["username"], "bob");
    assert_eq!(r.body["role"], "viewer");

    // Unknown user, the owner, a bad role, a member changing membership.
    let r = call(
        &stack,
        Method::PUT,
        &format!("{members}/nobody"),
        Some(&alice),
        &[],
        Some(json!({"role": "viewer"})),
    )
    .await;
    r.assert_error(404, "not_found");
    let r = call(
        &stack,
        Method::PUT,
        &format!("{members}/alice"),
        Some(&alice),
        &[],
        Some(json!({"role": "viewer"})),
    )
    .await;
    r.assert_error(400, "bad_request");
    let r = call(
        &stack,
        Method::PUT,
        &format!("{members}/carol"),
        Some(&alice),
        &[],
        Some(json!({"role": "owner"})),
    )
    .await;
    r.assert_error(400, "invalid_json");
    let r = call(
        &stack,
        Method::PUT,
        &format!("{members}/carol"),
        Some(&bob),
        &[],
        Some(json!({"role": "viewer"})),
    )
    .await;
    r.assert_error(403, "forbidden");

    // The viewer reads but does not change.
    let r = call(&stack, Method::GET, &one, Some(&bob), &[], None).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["role"], "viewer");
    let r = call(&stack, Method::GET, "/api/sessions/", Some(&bob), &[], None).await;
    assert_eq!(r.body["sessions"][0]["id"], id.as_str(), "{r:?}");
    assert_eq!(r.body["sessions"][0]["role"], "viewer");
    let r = call(&stack, Method::GET, &members, Some(&bob), &[], None).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["owner_username"], "alice");
    assert_eq!(r.body["members"][0]["username"], "bob");
    let r = call(
        &stack,
        Method::PATCH,
        &one,
        Some(&bob),
        &[],
        Some(json!({"name": "mine"})),
    )
    .await;
    r.assert_error(403, "forbidden");
    let r = call(&stack, Method::DELETE, &one, Some(&bob), &[], None).await;
    r.assert_error(403, "forbidden");
    let r = call(&stack, Method::POST, &shutdown, Some(&bob), &[], None).await;
    r.assert_error(403, "forbidden");
    let r = call(
        &stack,
        Method::POST,
        &format!("/workspace/{id}/shutdown"),
        Some(&bob),
        &[],
        None,
    )
    .await;
    r.assert_error(403, "forbidden");
    // Carol, not a member, still sees nothing.
    let r = call(&stack, Method::GET, &one, Some(&carol), &[], None).await;
    r.assert_error(404, "not_found");

    // As editor, bob may shut the workspace down; still not rename.
    let r = call(
        &stack,
        Method::PUT,
        &format!("{members}/bob"),
        Some(&alice),
        &[],
        Some(json!({"role": "editor"})),
    )
    .await;
    assert_eq!(r.body["role"], "editor", "{r:?}");
    let r = call(
        &stack,
        Method::PATCH,
        &one,
        Some(&bob),
        &[],
        Some(json!({"name": "mine"})),
    )
    .await;
    r.assert_error(403, "forbidden");
    let r = call(&stack, Method::POST, &shutdown, Some(&bob), &[], None).await;
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(
        r.body,
        json!({"session_id": id, "desired_state": "stopped"})
    );
    let db = stack.db().await;
    let state: String = db
        .query_one(
            "select desired_state from code_sessions where id = $1::text::uuid",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(state, "stopped");
    // The original path, by the owner.
    let r = call(
        &stack,
        Method::POST,
        &format!("/workspace/{id}/shutdown/"),
        Some(&alice),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 202, "{r:?}");

    // Unshare: bob loses access; removing him again is 404.
    let r = call(
        &stack,
        Method::DELETE,
        &format!("{members}/bob"),
        Some(&alice),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = call(&stack, Method::GET, &one, Some(&bob), &[], None).await;
    r.assert_error(404, "not_found");
    let r = call(
        &stack,
        Method::DELETE,
        &format!("{members}/bob"),
        Some(&alice),
        &[],
        None,
    )
    .await;
    r.assert_error(404, "not_found");
    let r = call(&stack, Method::GET, &members, Some(&alice), &[], None).await;
    assert_eq!(r.body["members"], json!([]), "{r:?}");

    // A member may leave on their own, but not remove others.
    for name in ["bob", "carol"] {
        let r = call(
            &stack,
            Method::PUT,
            &format!("{members}/{name}"),
            Some(&alice),
            &[],
            Some(json!({"role": "viewer"})),
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    let r = call(
        &stack,
        Method::DELETE,
        &format!("{members}/carol"),
        Some(&bob),
        &[],
        None,
    )
    .await;
    r.assert_error(403, "forbidden");
    let r = call(
        &stack,
        Method::DELETE,
        &format!("{members}/bob"),
        Some(&bob),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");

    // Deleting the session removes its memberships.
    let r = call(&stack, Method::DELETE, &one, Some(&alice), &[], None).await;
    assert_eq!(r.status, 204, "{r:?}");
    let n: i64 = db
        .query_one(
            "select count(*) from session_members where session_id = $1::text::uuid",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    let r = call(&stack, Method::GET, &one, Some(&carol), &[], None).await;
    r.assert_error(404, "not_found");
    // No request above was a server error (the component logs those as `sessions: ...`).
    assert_eq!(
        stack.component_errors("sessions"),
        Vec::<String>::new(),
        "{}",
        stack.host_log()
    );
}

#[each_host(flavor = "multi_thread")]
async fn changes_are_notified_on_the_reserved_channels(host: Host) {
    let stack = Stack::start(host).await;
    let alice = stack.user_with_token("alice", PASSWORD).await;
    let bob = stack.user_with_token("bob", PASSWORD).await;
    let bob_id = user_id(&stack, &bob).await;
    let (_listener, mut rx) = listen(&stack, &[DESIRED_STATE_CHANNEL, MEMBER_CHANNEL]).await;

    let id = create(&stack, &alice, "watched").await;
    let (channel, payload) = next_notification(&mut rx).await;
    assert_eq!(channel, DESIRED_STATE_CHANNEL);
    assert_eq!(
        payload,
        json!({"session": id, "desired_state": "running", "deleted": false})
    );

    let r = call(
        &stack,
        Method::PUT,
        &format!("/api/sessions/{id}/members/bob"),
        Some(&alice),
        &[],
        Some(json!({"role": "editor"})),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let (channel, payload) = next_notification(&mut rx).await;
    assert_eq!(channel, MEMBER_CHANNEL);
    assert_eq!(
        payload,
        json!({"session": id, "user_id": bob_id, "role": "editor"})
    );

    // A refused change sends nothing: the next notification is the editor's shutdown.
    let r = call(
        &stack,
        Method::PATCH,
        &format!("/api/sessions/{id}"),
        Some(&bob),
        &[],
        Some(json!({"name": "x"})),
    )
    .await;
    r.assert_error(403, "forbidden");
    let r = call(
        &stack,
        Method::POST,
        &format!("/api/workspace/{id}/shutdown"),
        Some(&bob),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 202, "{r:?}");
    let (channel, payload) = next_notification(&mut rx).await;
    assert_eq!(channel, DESIRED_STATE_CHANNEL);
    assert_eq!(
        payload,
        json!({"session": id, "desired_state": "stopped", "deleted": false})
    );

    let r = call(
        &stack,
        Method::DELETE,
        &format!("/api/sessions/{id}/members/bob"),
        Some(&alice),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let (channel, payload) = next_notification(&mut rx).await;
    assert_eq!(channel, MEMBER_CHANNEL);
    assert_eq!(
        payload,
        json!({"session": id, "user_id": bob_id, "role": null})
    );

    let r = call(
        &stack,
        Method::DELETE,
        &format!("/api/sessions/{id}"),
        Some(&alice),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let (channel, payload) = next_notification(&mut rx).await;
    assert_eq!(channel, DESIRED_STATE_CHANNEL);
    assert_eq!(
        payload,
        json!({"session": id, "desired_state": "stopped", "deleted": true})
    );

    // Nothing else was sent.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), rx.recv())
            .await
            .is_err(),
        "unexpected extra notification"
    );
}
