//! The schema of `../migrations`, applied to a real PostgreSQL: what exists, that applying is
//! idempotent, that everything is documented, and that the constraints hold.

mod common;

use std::process::Command;

use common::{TestDb, assert_rejected};
use tokio_postgres::error::SqlState;

const TABLES: [&str; 7] = [
    "auth_tokens",
    "code_sessions",
    "login_attempts",
    "session_members",
    "users",
    "workspace_items",
    "workspace_sync_state",
];

/// Inserts user alice and one session of hers.
const ALICE_AND_A_SESSION: &str = "
    insert into users (username, password_hash) values ('alice', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA');
    insert into code_sessions (owner_id, name) select id, 'first' from users where username = 'alice';
";

/// The id of alice's session, for use in statements.
const SESSION: &str = "(select id from code_sessions where name = 'first')";

#[tokio::test]
async fn creates_all_tables() {
    let (_db, client) = TestDb::migrated().await;
    let rows = client
        .query(
            "select table_name::text from information_schema.tables
             where table_schema = 'public' and table_type = 'BASE TABLE' order by 1",
            &[],
        )
        .await
        .unwrap();
    let tables: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    for table in TABLES {
        assert!(
            tables.iter().any(|t| t == table),
            "{table} missing: {tables:?}"
        );
    }
    assert!(tables.iter().any(|t| t == "refinery_schema_history"));
}

#[tokio::test]
async fn migrate_twice_is_a_no_op() {
    let db = TestDb::new().await;
    let migrate = || {
        let output = Command::new(env!("CARGO_BIN_EXE_terminal-bridge"))
            .arg("migrate")
            .env("DATABASE_URL", &db.url)
            .env("RUST_LOG", "warn")
            .output()
            .expect("running terminal-bridge migrate");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "migrate failed: {stdout}{stderr}");
        stdout
    };

    let first = migrate();
    assert!(first.contains("applied V1__initial_schema"), "{first}");
    let second = migrate();
    assert!(
        !second.contains("applied"),
        "second run applied something: {second}"
    );
    let newest = terminal_bridge::migrate::embedded().pop().unwrap();
    assert!(
        second.contains(&format!("up to date at {newest}")),
        "{second}"
    );

    // The library says the same, and the history holds each migration once.
    let mut client = db.connect().await;
    let report = terminal_bridge::migrate::run(&mut client).await.unwrap();
    assert!(report.applied.is_empty());
    let latest = terminal_bridge::migrate::embedded().pop();
    assert_eq!(report.current, latest);
    let rows: i64 = client
        .query_one("select count(*) from refinery_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, terminal_bridge::migrate::embedded().len() as i64);
}

/// Tables, columns and functions of the public schema without a comment (refinery's own table
/// excepted).
const UNDOCUMENTED: &str = "select format('table %s', c.relname)
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'f')
      and c.relname <> 'refinery_schema_history'
      and obj_description(c.oid, 'pg_class') is null
    union all
    select format('column %s.%s', c.relname, a.attname)
    from pg_attribute a
    join pg_class c on c.oid = a.attrelid
    join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'f')
      and c.relname <> 'refinery_schema_history'
      and a.attnum > 0 and not a.attisdropped
      and col_description(c.oid, a.attnum) is null
    union all
    select format('function %s', p.oid::regprocedure)
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'public' and obj_description(p.oid, 'pg_proc') is null
    order by 1";

async fn undocumented(client: &tokio_postgres::Client) -> Vec<String> {
    let rows = client.query(UNDOCUMENTED, &[]).await.unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

#[tokio::test]
async fn every_table_column_and_function_has_a_comment() {
    let (_db, client) = TestDb::migrated().await;
    let missing = undocumented(&client).await;
    assert!(
        missing.is_empty(),
        "add a `comment on` in a new migration for: {missing:#?}"
    );

    // The check notices an uncommented column.
    client
        .batch_execute("begin; alter table users add column nickname text;")
        .await
        .unwrap();
    assert_eq!(undocumented(&client).await, ["column users.nickname"]);
    client.batch_execute("rollback").await.unwrap();

    // The check above must actually see the columns.
    let columns: i64 = client
        .query_one(
            "select count(*) from information_schema.columns where table_schema = 'public'
             and table_name <> 'refinery_schema_history'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(columns >= 40, "only {columns} columns seen");
}

#[tokio::test]
async fn users_are_unique_case_insensitively_and_validated() {
    let (_db, client) = TestDb::migrated().await;
    client.batch_execute(ALICE_AND_A_SESSION).await.unwrap();
    let insert = "insert into users (username, password_hash) values ($1, $2)";
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

    for name in ["ALICE", "Alice"] {
        assert_rejected(
            &client,
            insert,
            &[&name, &hash],
            SqlState::UNIQUE_VIOLATION,
            "users_username_lower_key",
        )
        .await;
    }
    let too_long = "a".repeat(65);
    for (name, constraint) in [
        ("al", "users_username_length"),
        (too_long.as_str(), "users_username_length"),
        ("bob smith", "users_username_chars"),
        ("bob/..", "users_username_chars"),
    ] {
        assert_rejected(
            &client,
            insert,
            &[&name, &hash],
            SqlState::CHECK_VIOLATION,
            constraint,
        )
        .await;
    }
    assert_rejected(
        &client,
        insert,
        &[&"bob", &"plaintext"],
        SqlState::CHECK_VIOLATION,
        "users_password_hash_argon2id",
    )
    .await;
    client
        .execute(insert, &[&"Bob.B-2_x", &hash])
        .await
        .unwrap();

    let set_email = "update users set email = $1 where username = 'alice'";
    for email in ["alice", "a b@example.org", "a@b@c"] {
        assert_rejected(
            &client,
            set_email,
            &[&email],
            SqlState::CHECK_VIOLATION,
            "users_email_shape",
        )
        .await;
    }
    client
        .execute(set_email, &[&"alice@example.org"])
        .await
        .unwrap();

    // Identity ids are generated, never supplied.
    let err = client
        .execute(
            "insert into users (id, username, password_hash) values (99, 'carol', $1)",
            &[&hash],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::GENERATED_ALWAYS));
}

#[tokio::test]
async fn code_sessions_check_states_and_stamp_updates() {
    let (_db, client) = TestDb::migrated().await;
    client.batch_execute(ALICE_AND_A_SESSION).await.unwrap();

    let row = client
        .query_one(
            "select desired_state, observed_state, updated_at = created_at from code_sessions",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>(0), "running");
    assert_eq!(row.get::<_, &str>(1), "stopped");
    assert!(row.get::<_, bool>(2));

    assert_rejected(
        &client,
        "update code_sessions set desired_state = 'bogus'",
        &[],
        SqlState::CHECK_VIOLATION,
        "code_sessions_desired_state_check",
    )
    .await;
    assert_rejected(
        &client,
        "update code_sessions set observed_state = 'exploded'",
        &[],
        SqlState::CHECK_VIOLATION,
        "code_sessions_observed_state_check",
    )
    .await;
    assert_rejected(
        &client,
        "update code_sessions set name = ''",
        &[],
        SqlState::CHECK_VIOLATION,
        "code_sessions_name_length",
    )
    .await;
    for state in ["starting", "running", "stopping", "failed", "stopped"] {
        client
            .execute(
                "update code_sessions set observed_state = $1, observed_at = now()",
                &[&state],
            )
            .await
            .unwrap();
    }

    // updated_at moves on update (now() is the transaction's start time, so use a new one).
    let stamped: bool = client
        .query_one(
            "update code_sessions set desired_state = 'stopped'
             returning updated_at > created_at",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(stamped);

    // Deleting the owner deletes the session.
    client.execute("delete from users", &[]).await.unwrap();
    let left: i64 = client
        .query_one("select count(*) from code_sessions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

#[tokio::test]
async fn workspace_items_keep_paths_sizes_hashes_and_versions_consistent() {
    let (_db, client) = TestDb::migrated().await;
    client.batch_execute(ALICE_AND_A_SESSION).await.unwrap();
    let insert_file = format!(
        "insert into workspace_items (session_id, path, parent_path, kind, content, size, sha256)
         values ({SESSION}, $1, $2, 'file', $3, $4, sha256($3))"
    );
    let insert_folder = format!(
        "insert into workspace_items (session_id, path, parent_path, kind)
         values ({SESSION}, $1, $2, 'folder')"
    );
    let none: Option<&str> = None;
    let hello = b"print('hi')\n".as_slice();
    let hello_len = hello.len() as i64;

    client
        .execute(&insert_folder, &[&"src", &none])
        .await
        .unwrap();
    client
        .execute(
            &insert_file,
            &[&"src/main.py", &Some("src"), &hello, &hello_len],
        )
        .await
        .unwrap();
    client
        .execute(&insert_file, &[&"README.md", &none, &b"".as_slice(), &0i64])
        .await
        .unwrap();

    // One path per session.
    assert_rejected(
        &client,
        &insert_file,
        &[&"src/main.py", &Some("src"), &hello, &hello_len],
        SqlState::UNIQUE_VIOLATION,
        "workspace_items_session_path_key",
    )
    .await;
    // size must be the content's length.
    assert_rejected(
        &client,
        &insert_file,
        &[&"b.py", &none, &hello, &(hello_len + 1)],
        SqlState::CHECK_VIOLATION,
        "workspace_items_file_shape",
    )
    .await;
    // sha256 must be the content's hash.
    assert_rejected(
        &client,
        &format!(
            "insert into workspace_items (session_id, path, kind, content, size, sha256)
             values ({SESSION}, 'c.py', 'file', 'x', 1, sha256('y'))"
        ),
        &[],
        SqlState::CHECK_VIOLATION,
        "workspace_items_file_shape",
    )
    .await;
    // Folders hold no content.
    assert_rejected(
        &client,
        &format!(
            "insert into workspace_items (session_id, path, kind, content, size)
             values ({SESSION}, 'd', 'folder', 'x', 1)"
        ),
        &[],
        SqlState::CHECK_VIOLATION,
        "workspace_items_folder_shape",
    )
    .await;
    assert_rejected(
        &client,
        &format!(
            "insert into workspace_items (session_id, path, kind) values ({SESSION}, 'l', 'link')"
        ),
        &[],
        SqlState::CHECK_VIOLATION,
        "workspace_items_kind_check",
    )
    .await;
    // Paths stay inside the workspace.
    for path in [
        "",
        "/etc/passwd",
        "a/",
        "a//b",
        "..",
        "../x",
        "a/../b",
        "./a",
        "a/.",
    ] {
        // A parent_path consistent with the path, so only the path's shape is wrong.
        let parent = path
            .rfind('/')
            .map(|i| &path[..i])
            .filter(|p| !p.is_empty());
        assert_rejected(
            &client,
            &insert_folder,
            &[&path, &parent],
            SqlState::CHECK_VIOLATION,
            "workspace_items_path_shape",
        )
        .await;
    }
    // parent_path is derived from path.
    for (path, parent) in [("x/y", None), ("x/y", Some("z")), ("top", Some(""))] {
        assert_rejected(
            &client,
            &insert_folder,
            &[&path, &parent],
            SqlState::CHECK_VIOLATION,
            "workspace_items_parent_path_matches",
        )
        .await;
    }
    client
        .execute(&insert_folder, &[&"x/y/z", &Some("x/y")])
        .await
        .unwrap();
    client
        .execute(&insert_folder, &[&"...hidden", &none])
        .await
        .unwrap();

    // Every update bumps the version by one, whatever the statement set.
    let update = "update workspace_items
                  set content = $1::bytea, size = octet_length($1::bytea), sha256 = sha256($1::bytea),
                      version = $2
                  where path = 'src/main.py' returning version";
    let v2: i64 = client
        .query_one(update, &[&b"a".as_slice(), &1i64])
        .await
        .unwrap()
        .get(0);
    let v3: i64 = client
        .query_one(update, &[&b"bb".as_slice(), &100i64])
        .await
        .unwrap()
        .get(0);
    assert_eq!((v2, v3), (2, 3));

    // The same path may exist in another session.
    client
        .batch_execute(
            "insert into code_sessions (owner_id, name) select id, 'second' from users;
             insert into workspace_items (session_id, path, kind)
             select id, 'src', 'folder' from code_sessions where name = 'second';",
        )
        .await
        .unwrap();

    // Directory listings use the (session_id, parent_path) index.
    let children: i64 = client
        .query_one(
            &format!(
                "select count(*) from workspace_items
                 where session_id = {SESSION} and parent_path is not distinct from $1"
            ),
            &[&none],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(children, 3, "top level: src, README.md, ...hidden");

    // Deleting a session deletes its items.
    client
        .execute("delete from code_sessions where name = 'first'", &[])
        .await
        .unwrap();
    let left: i64 = client
        .query_one("select count(*) from workspace_items", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 1);
}

#[tokio::test]
async fn tokens_members_and_login_attempts_are_checked() {
    let (_db, client) = TestDb::migrated().await;
    client.batch_execute(ALICE_AND_A_SESSION).await.unwrap();

    let insert_token = "insert into auth_tokens (user_id, token_sha256, expires_at)
                        select id, $1, now() + interval '1 day' from users";
    client
        .execute(insert_token, &[&vec![7u8; 32]])
        .await
        .unwrap();
    assert_rejected(
        &client,
        insert_token,
        &[&vec![7u8; 32]],
        SqlState::UNIQUE_VIOLATION,
        "auth_tokens_token_sha256_key",
    )
    .await;
    assert_rejected(
        &client,
        insert_token,
        &[&b"the raw token".to_vec()],
        SqlState::CHECK_VIOLATION,
        "auth_tokens_token_sha256_length",
    )
    .await;

    let share = format!(
        "insert into session_members (session_id, user_id, role)
         select {SESSION}, id, $1 from users where username = 'bob'"
    );
    client
        .execute(
            "insert into users (username, password_hash) values ('bob', '$argon2id$x')",
            &[],
        )
        .await
        .unwrap();
    assert_rejected(
        &client,
        &share,
        &[&"owner"],
        SqlState::CHECK_VIOLATION,
        "session_members_role_check",
    )
    .await;
    client.execute(&share, &[&"viewer"]).await.unwrap();
    assert_rejected(
        &client,
        &share,
        &[&"editor"],
        SqlState::UNIQUE_VIOLATION,
        "session_members_pkey",
    )
    .await;

    client
        .execute(
            "insert into login_attempts (key, failures) values ('user:alice', 1)",
            &[],
        )
        .await
        .unwrap();
    assert_rejected(
        &client,
        "insert into login_attempts (key, failures) values ('addr:127.0.0.1', -1)",
        &[],
        SqlState::CHECK_VIOLATION,
        "login_attempts_failures_nonnegative",
    )
    .await;

    // Deleting a user removes their tokens and memberships.
    client
        .execute("delete from users where username = 'bob'", &[])
        .await
        .unwrap();
    let members: i64 = client
        .query_one("select count(*) from session_members", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(members, 0);
}
