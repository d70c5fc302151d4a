//! `/api/users/...`: the `users` component in the real `spin.toml`, served by `api-host`,
//! against a real, migrated PostgreSQL.

mod common;

use common::{Host, Reply, Stack, client, client_from, each_host};
use platform_core::token::{VERIFY_TOKEN_SQL, generate, token_sha256};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery";

#[each_host]
async fn register_answers_201_without_the_hash_and_409_for_a_taken_name_in_any_case(host: Host) {
    let s = Stack::start(host).await;
    let r = s
        .post_json(
            &client(),
            "/api/users/register",
            &json!({"username": "Alice", "email": "alice@example.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let user = r.body.as_object().unwrap();
    let mut keys: Vec<&str> = user.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["created_at", "email", "id", "username"], "{r:?}");
    assert_eq!(r.body["username"], "Alice");
    assert_eq!(r.body["email"], "alice@example.org");
    assert!(r.body["id"].as_i64().unwrap() > 0);
    chrono::DateTime::parse_from_rfc3339(r.body["created_at"].as_str().unwrap()).unwrap();
    let text = r.body.to_string();
    assert!(
        !text.contains("argon2") && !text.contains(PASSWORD),
        "{text}"
    );

    // The hash is stored (argon2id), never the password.
    let db = s.db().await;
    let row = db
        .query_one(
            "select password_hash from users where username = 'Alice'",
            &[],
        )
        .await
        .unwrap();
    let hash: String = row.get(0);
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );

    // Concurrent registrations of one name: exactly one wins.
    let racers = (0..5).map(|i| {
        let s = &s;
        async move {
            s.register(&format!("Racer{}", "R".repeat(i)), PASSWORD)
                .await
                .status
        }
    });
    assert_eq!(futures::future::join_all(racers).await, [201; 5]);
    let racers = (0..5).map(|i| {
        let s = &s;
        let name = if i % 2 == 0 { "samename" } else { "SameName" };
        async move { s.register(name, PASSWORD).await.status }
    });
    let mut statuses = futures::future::join_all(racers).await;
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409, 409]);

    for taken in ["Alice", "alice", "ALICE"] {
        let r = s.register(taken, "another password").await;
        r.assert_error(409, "conflict");
    }
    // Without an email, and with an empty one.
    let r = s.register("bob", PASSWORD).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["email"], Value::Null);
    let r = s
        .post_json(
            &client(),
            "/api/users/register",
            &json!({"username": "carol", "email": "", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["email"], Value::Null);
}

#[each_host]
async fn login_token_works_on_me_until_logout_revokes_it(host: Host) {
    let s = Stack::start(host).await;
    let registered = s.register("dave", PASSWORD).await;
    assert_eq!(registered.status, 201);

    let started = chrono::Utc::now();
    // Any letter case logs in.
    let r = s.login("DAVE", PASSWORD).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["token_type"], "bearer");
    assert_eq!(r.body["user"], registered.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let token = r.body["access_token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("cep_") && token.len() == 47, "{token}");
    // Expires after session_timeout (3600 s by default).
    let expires_at = chrono::DateTime::parse_from_rfc3339(r.body["expires_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let lifetime = (expires_at - started).num_seconds();
    assert!((3500..=3700).contains(&lifetime), "lifetime {lifetime} s");

    let me = s.me(&token).await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.body, registered.body);

    // Only the hash is stored, with the client's user agent and address.
    let db = s.db().await;
    let row = db
        .query_one(
            "select token_sha256, user_agent, client_addr from auth_tokens",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Vec<u8>>(0), token_sha256(&token).to_vec());
    let user_agent: Option<String> = row.get(1);
    assert_eq!(user_agent, None, "reqwest sends no User-Agent by default");
    assert_eq!(
        row.get::<_, Option<String>>(2).as_deref(),
        Some("127.0.0.1")
    );

    let logout = Reply::of(
        client()
            .post(s.url("/api/users/logout"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(logout.status, 204, "{logout:?}");
    assert_eq!(logout.body, Value::Null);

    let me = s.me(&token).await;
    me.assert_error(401, "unauthorized");
    assert_eq!(me.header("www-authenticate"), Some("Bearer"));
    // Logging out twice: the token is no longer valid.
    let again = Reply::of(
        client()
            .post(s.url("/api/users/logout"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    again.assert_error(401, "unauthorized");

    // A new login gives a new, working token.
    let r = s.login("dave", PASSWORD).await;
    let second = r.body["access_token"].as_str().unwrap();
    assert_ne!(second, token);
    assert_eq!(s.me(second).await.status, 200);
}

#[each_host]
async fn user_agent_is_stored_with_the_token(host: Host) {
    let s = Stack::start(host).await;
    s.register("erin", PASSWORD).await;
    let c = reqwest::Client::builder()
        .user_agent("api-tests/1.0 (überprüfung)")
        .build()
        .unwrap();
    let r = s.login_from(&c, "erin", PASSWORD).await;
    assert_eq!(r.status, 200, "{r:?}");
    let row = s
        .db()
        .await
        .query_one("select user_agent from auth_tokens", &[])
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, Option<String>>(0).as_deref(),
        Some("api-tests/1.0 (überprüfung)")
    );
}

#[each_host]
async fn expired_and_unknown_tokens_are_refused(host: Host) {
    let s = Stack::with_variables(host, &[("session_timeout", "1")]).await;
    let token = s.user_with_token("frank", PASSWORD).await;
    let db = s.db().await;

    // A token that expired an hour ago, inserted directly.
    let expired = generate().unwrap();
    db.execute(
        "insert into auth_tokens (user_id, token_sha256, created_at, expires_at)
         select id, $1, now() - interval '2 hours', now() - interval '1 hour'
         from users where username = 'frank'",
        &[&token_sha256(&expired).as_slice()],
    )
    .await
    .unwrap();
    s.me(&expired).await.assert_error(401, "unauthorized");

    // A well-formed token nobody issued, and garbage.
    s.me(&generate().unwrap())
        .await
        .assert_error(401, "unauthorized");
    s.me("not-a-token").await.assert_error(401, "unauthorized");

    // The login token lives session_timeout = 1 s. Wait for its expires_at to be well in the
    // past (by the database's clock), however slow the machine is.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let row = db
            .query_one(
                "select bool_and(expires_at < now() - interval '1 second') from auth_tokens
                 where token_sha256 = $1",
                &[&token_sha256(&token).as_slice()],
            )
            .await
            .unwrap();
        if row.get::<_, Option<bool>>(0) == Some(true) {
            break;
        }
        assert!(Instant::now() < deadline, "token did not expire");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let me = s.me(&token).await;
    me.assert_error(401, "unauthorized");
    assert_eq!(me.header("www-authenticate"), Some("Bearer"));
}

#[each_host]
async fn missing_or_malformed_authorization_is_401_with_www_authenticate(host: Host) {
    let s = Stack::start(host).await;
    let r = Reply::of(client().get(s.url("/api/users/me")).send().await.unwrap()).await;
    r.assert_error(401, "unauthorized");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    for value in [
        "Basic YWxpY2U6cHc=",
        "Bearer",
        "Bearer  ",
        "cep_abc",
        "Bearer cep_short",
    ] {
        let r = Reply::of(
            client()
                .get(s.url("/api/users/me"))
                .header("authorization", value)
                .send()
                .await
                .unwrap(),
        )
        .await;
        r.assert_error(401, "unauthorized");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{value}");
    }
    let r = Reply::of(
        client()
            .post(s.url("/api/users/logout"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(401, "unauthorized");
}

#[each_host]
async fn wrong_password_and_unknown_user_answer_the_same_401(host: Host) {
    let s = Stack::start(host).await;
    s.register("grace", PASSWORD).await;
    let wrong = s.login("grace", "not the password").await;
    wrong.assert_error(401, "unauthorized");
    let unknown = s.login("nobody", PASSWORD).await;
    unknown.assert_error(401, "unauthorized");
    assert_eq!(wrong.body, unknown.body);
    let empty = s.login("grace", "").await;
    empty.assert_error(401, "unauthorized");
    // Both count as failures, per username and per address.
    let rows = s
        .db()
        .await
        .query("select key, failures from login_attempts order by key", &[])
        .await
        .unwrap();
    let counts: Vec<(String, i32)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        counts,
        [
            ("addr:127.0.0.1".to_owned(), 3),
            ("user:grace".to_owned(), 2),
            ("user:nobody".to_owned(), 1)
        ]
    );
}

/// Asserts a 429 with a sensible `Retry-After`.
fn assert_limited(r: &Reply, lockout: u64) {
    r.assert_error(429, "too_many_requests");
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=lockout).contains(&retry), "Retry-After {retry}");
}

#[each_host]
async fn failed_logins_are_limited_per_username(host: Host) {
    let s = Stack::start(host).await;
    s.register("heidi", PASSWORD).await;
    // Five failures, each from another address, so only the username's count reaches 5.
    for n in 2..7 {
        let r = s
            .login_from(&client_from(n), "heidi", "wrong password")
            .await;
        r.assert_error(401, "unauthorized");
    }
    // Locked: even the right password, from a fresh address, in any letter case.
    let r = s.login_from(&client_from(7), "HEIDI", PASSWORD).await;
    assert_limited(&r, 300);
    // Other users are not affected.
    s.register("ivan", PASSWORD).await;
    assert_eq!(
        s.login_from(&client_from(8), "ivan", PASSWORD).await.status,
        200
    );
}

#[each_host]
async fn failed_logins_are_limited_per_address(host: Host) {
    let s = Stack::start(host).await;
    s.register("judy", PASSWORD).await;
    let attacker = client_from(9);
    // Five failures from one address, each for another username.
    for name in ["u1x", "u2x", "u3x", "u4x", "u5x"] {
        let r = s.login_from(&attacker, name, "wrong password").await;
        r.assert_error(401, "unauthorized");
    }
    // That address is locked, even for a right password of another account...
    let r = s.login_from(&attacker, "judy", PASSWORD).await;
    assert_limited(&r, 300);
    // ...while the same account logs in from elsewhere.
    assert_eq!(
        s.login_from(&client_from(10), "judy", PASSWORD)
            .await
            .status,
        200
    );
}

#[each_host]
async fn a_successful_login_clears_the_username_count_and_locks_expire(host: Host) {
    let s = Stack::with_variables(
        host,
        &[("login_max_failures", "3"), ("login_lockout_seconds", "2")],
    )
    .await;
    s.register("mallory", PASSWORD).await;
    let mut n = 20;
    let mut next_client = || {
        n += 1;
        client_from(n)
    };
    for _ in 0..2 {
        let r = s.login_from(&next_client(), "mallory", "wrong").await;
        r.assert_error(401, "unauthorized");
    }
    assert_eq!(
        s.login_from(&next_client(), "mallory", PASSWORD)
            .await
            .status,
        200
    );
    // The count restarted: two more failures are still 401, not 429.
    for _ in 0..2 {
        let r = s.login_from(&next_client(), "mallory", "wrong").await;
        r.assert_error(401, "unauthorized");
    }
    // The third locks it; the next attempt is refused.
    s.login_from(&next_client(), "mallory", "wrong")
        .await
        .assert_error(401, "unauthorized");
    let r = s.login_from(&next_client(), "mallory", PASSWORD).await;
    assert_limited(&r, 2);
    // After the lockout the right password works again.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let r = s.login_from(&next_client(), "mallory", PASSWORD).await;
        if r.status == 200 {
            break;
        }
        assert_limited(&r, 2);
        assert!(Instant::now() < deadline, "lock did not expire");
    }
}

#[each_host]
async fn bad_input_answers_400_with_the_error_shape(host: Host) {
    let s = Stack::start(host).await;
    let send = |path: &'static str, content_type: Option<&'static str>, body: Vec<u8>| {
        let s = &s;
        async move {
            let mut req = client().post(s.url(path)).body(body);
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            Reply::of(req.send().await.unwrap()).await
        }
    };
    let json_ct = Some("application/json");
    for path in ["/api/users/register", "/api/users/login"] {
        for (body, code) in [
            (&b"{not json"[..], "invalid_json"),
            (b"", "invalid_json"),
            (b"   ", "invalid_json"),
            (b"null", "invalid_json"),
            (b"[]", "invalid_json"),
            (b"\"text\"", "invalid_json"),
            (b"{}", "invalid_json"),
            (b"{\"username\": \"kim\"}", "invalid_json"),
            (
                b"{\"username\": 5, \"password\": \"12345678\"}",
                "invalid_json",
            ),
            (b"\xff\xfe", "invalid_json"),
            (
                b"{\"username\": \"a\", \"password\": \"12345678\"}",
                "bad_request",
            ),
            (
                b"{\"username\": \"has space\", \"password\": \"12345678\"}",
                "bad_request",
            ),
            (
                b"{\"username\": \"nul\\u0000name\", \"password\": \"12345678\"}",
                "bad_request",
            ),
        ] {
            let r = send(path, json_ct, body.to_vec()).await;
            r.assert_error(400, code);
        }
        // A content type that is not JSON.
        let r = send(
            path,
            Some("application/x-www-form-urlencoded"),
            b"username=kim&password=12345678".to_vec(),
        )
        .await;
        r.assert_error(415, "unsupported_media_type");
        // Too large a body.
        let big = format!(
            "{{\"username\": \"kim\", \"password\": \"{}\"}}",
            "x".repeat(100_000)
        );
        send(path, json_ct, big.into_bytes())
            .await
            .assert_error(413, "payload_too_large");
        // Over-long passwords are refused before any hashing.
        let long = json!({"username": "kimberly", "password": "p".repeat(1025)});
        s.post_json(&client(), path, &long)
            .await
            .assert_error(400, "bad_request");
    }
    // Registration rules.
    for body in [
        json!({"username": "kim", "password": "short"}),
        json!({"username": "kim", "password": "1234567"}),
        json!({"username": "x".repeat(65), "password": PASSWORD}),
        json!({"username": "émile", "password": PASSWORD}),
        json!({"username": "kim", "password": PASSWORD, "email": "not-an-email"}),
        json!({"username": "kim", "password": PASSWORD, "email": "a b@c.d"}),
    ] {
        s.post_json(&client(), "/api/users/register", &body)
            .await
            .assert_error(400, "bad_request");
    }
    // A charset parameter and no content type at all are both fine.
    let body = br#"{"username": "kim", "password": "12345678"}"#.to_vec();
    let r = send(
        "/api/users/register",
        Some("application/json; charset=utf-8"),
        body.clone(),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let r = send("/api/users/login", None, body).await;
    assert_eq!(r.status, 200, "{r:?}");
    // Nothing above was a server error.
    assert_eq!(
        s.component_errors("users"),
        Vec::<String>::new(),
        "{}",
        s.host_log()
    );
}

#[each_host]
async fn unknown_routes_are_404_and_wrong_methods_405_with_allow(host: Host) {
    let s = Stack::start(host).await;
    for path in [
        "/api/users",
        "/api/users/nope",
        "/api/users/me/extra",
        "/api/users/login/x",
    ] {
        let r = Reply::of(client().get(s.url(path)).send().await.unwrap()).await;
        r.assert_error(404, "not_found");
    }
    for (method, path, allow) in [
        (reqwest::Method::GET, "/api/users/register", "POST"),
        (reqwest::Method::PUT, "/api/users/login", "POST"),
        (reqwest::Method::GET, "/api/users/logout", "POST"),
        (reqwest::Method::POST, "/api/users/me", "GET"),
        (reqwest::Method::DELETE, "/api/users/me", "GET"),
    ] {
        let r = Reply::of(
            client()
                .request(method.clone(), s.url(path))
                .send()
                .await
                .unwrap(),
        )
        .await;
        r.assert_error(405, "method_not_allowed");
        assert_eq!(r.header("allow"), Some(allow), "{method} {path}");
    }
    // A trailing slash is the same route.
    let r = s
        .post_json(
            &client(),
            "/api/users/register/",
            &json!({"username": "liam", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
}

/// The terminal-bridge's path: the shared statement, run with tokio-postgres, names the same
/// user as `/api/users/me`, and refuses the token once it is revoked.
#[each_host]
async fn the_shared_verify_statement_agrees_with_the_api(host: Host) {
    let s = Stack::start(host).await;
    let token = s.user_with_token("nina", PASSWORD).await;
    let me = s.me(&token).await;
    assert_eq!(me.status, 200);
    let db = s.db().await;

    let hash = token_sha256(&token);
    let row = db
        .query_opt(VERIFY_TOKEN_SQL, &[&hash.as_slice()])
        .await
        .unwrap()
        .expect("a row for a valid token");
    let user_id: i64 = row.get("user_id");
    let username: String = row.get("username");
    let token_id: i64 = row.get("token_id");
    let expires_at: chrono::NaiveDateTime = row.get("expires_at");
    assert_eq!(user_id, me.body["id"].as_i64().unwrap());
    assert_eq!(username, "nina");
    assert!(expires_at > chrono::Utc::now().naive_utc());
    // It stamped last_used_at (the API's call already did; at most once a minute).
    let used: Option<chrono::DateTime<chrono::Utc>> = db
        .query_one(
            "select last_used_at from auth_tokens where id = $1",
            &[&token_id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(used.is_some());

    let logout = client()
        .post(s.url("/api/users/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let row = db
        .query_opt(VERIFY_TOKEN_SQL, &[&hash.as_slice()])
        .await
        .unwrap();
    assert!(row.is_none(), "a revoked token must not verify");
    let unknown = token_sha256(&generate().unwrap());
    assert!(
        db.query_opt(VERIFY_TOKEN_SQL, &[&unknown.as_slice()])
            .await
            .unwrap()
            .is_none()
    );
}

/// Without a database the API answers 503 in the usual shape, without details, and logs why.
#[each_host]
async fn a_missing_database_is_503_without_details(host: Host) {
    let s = Stack::start(host).await;
    let token = s.user_with_token("paul", PASSWORD).await;
    s.stop_database();
    let r = s.login("paul", PASSWORD).await;
    r.assert_error(503, "service_unavailable");
    let text = r.body.to_string();
    assert!(
        !text.contains("127.0.0.1") && !text.contains("postgres"),
        "{text}"
    );
    s.me(&token).await.assert_error(503, "service_unavailable");
    s.register("quinn", PASSWORD)
        .await
        .assert_error(503, "service_unavailable");
    assert!(
        s.component_errors("users")
            .iter()
            .any(|line| line.starts_with("users: service unavailable")),
        "{}",
        s.host_log()
    );
}

/// Concurrent failures are all counted: the counter is one atomic upsert, not a read followed
/// by a write.
#[each_host]
async fn concurrent_failures_are_all_counted(host: Host) {
    let s = Stack::with_variables(host, &[("login_max_failures", "1000")]).await;
    s.register("olivia", PASSWORD).await;
    let attempts = (0..20u8).map(|n| {
        let s = &s;
        async move {
            s.login_from(&client_from(100 + n), "olivia", "wrong")
                .await
                .status
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    assert!(statuses.iter().all(|&st| st == 401), "{statuses:?}");
    let row = s
        .db()
        .await
        .query_one(
            "select failures from login_attempts where key = 'user:olivia'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 20);
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Prints what registration (one argon2id hash) and login (one verification) cost through
/// api-host, the figures behind the parameters in `platform_core::password`, and checks that a
/// login for an unknown user does the same hashing work as one with a wrong password. Only loose
/// bounds are asserted: the machine may be busy.
#[each_host]
async fn password_hashing_cost(host: Host) {
    let s = Stack::with_variables(host, &[("login_max_failures", "1000")]).await;
    // Warm up: the first request instantiates the component.
    s.register("warmup", PASSWORD).await;
    let (mut register, mut login, mut wrong, mut unknown) = (vec![], vec![], vec![], vec![]);
    for i in 0..7u8 {
        let name = format!("timing{i}");
        let t = Instant::now();
        assert_eq!(s.register(&name, PASSWORD).await.status, 201);
        register.push(t.elapsed());
        let t = Instant::now();
        assert_eq!(s.login(&name, PASSWORD).await.status, 200);
        login.push(t.elapsed());
        let t = Instant::now();
        let r = s.login_from(&client_from(200 + i), &name, "wrong").await;
        assert_eq!(r.status, 401);
        wrong.push(t.elapsed());
        let t = Instant::now();
        let r = s
            .login_from(&client_from(200 + i), &format!("ghost{i}"), "wrong")
            .await;
        assert_eq!(r.status, 401);
        unknown.push(t.elapsed());
    }
    let (register, login, wrong, unknown) = (
        median(register),
        median(login),
        median(wrong),
        median(unknown),
    );
    eprintln!(
        "argon2id m=19456 t=2 p=1 through api-host (medians of 7): register {register:?}, \
         login {login:?}, wrong password {wrong:?}, unknown user {unknown:?}"
    );
    assert!(login < Duration::from_secs(5), "{login:?}");
    // Without the dummy verification an unknown user would answer in a fraction of the time.
    assert!(
        unknown * 4 > wrong && wrong * 4 > unknown,
        "unknown user {unknown:?} vs wrong password {wrong:?}"
    );
}
