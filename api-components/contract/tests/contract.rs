//! The contract against a real PostgreSQL migrated with the repository's migrations: the state
//! enums match the schema's check constraints, every notification encoder sends a payload its
//! decoder reads, and the shared statements do what their documentation says when run with
//! tokio-postgres's typed parameters (the bridge's and the tests' side; the components' side
//! runs them in the REST suites on both hosts).

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::StreamExt;
use platform_contract::notify::{self, ItemChanged, Notification};
use platform_contract::sql;
use platform_contract::state::{DesiredState, ItemKind, MemberRole, ObservedState};
use test_support::{PgCluster, workspace_root};
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, NoTls};
use uuid::Uuid;

/// A migrated database, a client, and the notifications it receives.
struct Db {
    _pg: PgCluster,
    client: Client,
    notes: mpsc::UnboundedReceiver<Notification>,
}

async fn migrated() -> Db {
    let pg = PgCluster::start().unwrap();
    let url = pg.fresh_database().await.unwrap();
    let (client, mut connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    let (tx, notes) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(n) = message {
                let decoded = Notification::decode(n.channel(), n.payload())
                    .unwrap_or_else(|e| panic!("{e}: {}", n.payload()))
                    .expect("a known channel");
                let _ = tx.send(decoded);
            }
        }
    });
    let mut files: Vec<_> = std::fs::read_dir(workspace_root().join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    // V1__..., V2__...: by version number.
    files.sort_by_key(|p| {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        name[1..name.find("__").unwrap()].parse::<u32>().unwrap()
    });
    for file in files {
        client
            .batch_execute(&std::fs::read_to_string(&file).unwrap())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
    client
        .batch_execute(&format!(
            "{}; listen {}",
            notify::BRIDGE_LISTEN_SQL,
            notify::MEMBER_CHANNEL
        ))
        .await
        .unwrap();
    Db {
        _pg: pg,
        client,
        notes,
    }
}

impl Db {
    async fn next(&mut self) -> Notification {
        tokio::time::timeout(Duration::from_secs(10), self.notes.recv())
            .await
            .expect("a notification within 10 s")
            .unwrap()
    }

    /// The quoted values a check constraint allows (`col = ANY (ARRAY['a'::text, ...])`).
    async fn allowed(&self, constraint: &str) -> BTreeSet<String> {
        let row = self
            .client
            .query_one(
                "select pg_get_constraintdef(oid) from pg_constraint where conname = $1",
                &[&constraint],
            )
            .await
            .unwrap();
        let def: String = row.get(0);
        def.split('\'')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    async fn session(&self) -> Uuid {
        let row = self
            .client
            .query_one(
                "with u as (insert into users (username, password_hash) \
                 values ('owner' || floor(random() * 1e9)::text, '$argon2id$x') returning id) \
                 insert into code_sessions (owner_id, name) select id, 's' from u returning id",
                &[],
            )
            .await
            .unwrap();
        row.get(0)
    }
}

fn strings<T: ToString>(all: &[T]) -> BTreeSet<String> {
    all.iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn the_state_enums_are_the_schemas_check_constraints() {
    let db = migrated().await;
    for (constraint, ours) in [
        (
            "code_sessions_desired_state_check",
            strings(DesiredState::ALL),
        ),
        (
            "code_sessions_observed_state_check",
            strings(ObservedState::ALL),
        ),
        ("session_members_role_check", strings(MemberRole::ALL)),
        ("workspace_items_kind_check", strings(ItemKind::ALL)),
    ] {
        assert_eq!(db.allowed(constraint).await, ours, "{constraint}");
    }
}

#[tokio::test]
async fn each_encoder_sends_what_its_decoder_reads() {
    let mut db = migrated().await;
    let session = db.session().await;
    let bridge = Uuid::new_v4();
    let statement = format!(
        "select {}, {}, {} from (values ($1::uuid, 'a/b.py', 4::bigint, 'file')) \
         as t(session_id, path, version, kind)",
        platform_contract::notify_desired_state!("session_id", "'stopped'", "true"),
        platform_contract::notify_member!("session_id", "7::bigint", "null::text"),
        platform_contract::notify_item_changed_from_shell!("true", "$2::text"),
    );
    db.client
        .execute(&statement, &[&session, &bridge.to_string()])
        .await
        .unwrap();
    let Notification::DesiredState(n) = db.next().await else {
        panic!("desired state first")
    };
    assert_eq!(
        (n.session, n.desired_state, n.deleted),
        (session, DesiredState::Stopped, true)
    );
    let Notification::Member(n) = db.next().await else {
        panic!("member second")
    };
    assert_eq!((n.session, n.user_id, n.role), (session, 7, None));
    let Notification::Item(n) = db.next().await else {
        panic!("item third")
    };
    assert_eq!(
        n,
        ItemChanged {
            session,
            path: "a/b.py".into(),
            version: Some(4),
            kind: ItemKind::File,
            deleted: true,
            origin: Some("shell".into()),
            bridge: Some(bridge),
        }
    );
}

#[tokio::test]
async fn the_shared_statements_write_read_delete_and_notify() {
    let mut db = migrated().await;
    let session = db.session().await;
    let content = b"print(1)\n".to_vec();
    let sha: [u8; 32] = platform_contract::token::token_sha256("print(1)\n");
    let row = db
        .client
        .query_one(
            sql::FILE_UPSERT_SQL,
            &[&session, &"src/app/main.py", &content, &sha.as_slice()],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, i64>("version"), row.get::<_, i64>("notified")),
        (1, 3)
    );
    let mut written = Vec::new();
    for _ in 0..3 {
        let Notification::Item(n) = db.next().await else {
            panic!("item notifications")
        };
        written.push((n.path, n.kind, n.origin));
    }
    written.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        written,
        [
            ("src".to_owned(), ItemKind::Folder, None),
            ("src/app".to_owned(), ItemKind::Folder, None),
            ("src/app/main.py".to_owned(), ItemKind::File, None),
        ]
    );
    // A file where a folder is: blocked, nothing written.
    let blocked = db
        .client
        .query_opt(
            sql::FILE_UPSERT_SQL,
            &[&session, &"src", &content, &sha.as_slice()],
        )
        .await
        .unwrap();
    assert!(blocked.is_none());

    let row = db
        .client
        .query_one(sql::ITEM_READ_SQL, &[&session, &"src/app/main.py"])
        .await
        .unwrap();
    assert_eq!(row.get::<_, Vec<u8>>("content"), content);
    assert_eq!(row.get::<_, String>("sha256").len(), 64);

    let row = db
        .client
        .query_one(sql::FOLDER_ENSURE_SQL, &[&session, &"docs/api"])
        .await
        .unwrap();
    assert!(row.get::<_, bool>("created"));
    assert_eq!(row.get::<_, i64>("notified"), 2);
    for _ in 0..2 {
        assert!(matches!(db.next().await, Notification::Item(_)));
    }

    let row = db
        .client
        .query_one(
            sql::ITEM_DELETE_SQL,
            &[&session, &"src", &true, &None::<i64>],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, i64>("target"), row.get::<_, i64>("notified")),
        (1, 3)
    );
    for _ in 0..3 {
        let Notification::Item(n) = db.next().await else {
            panic!("deletions")
        };
        assert!(n.deleted);
    }

    let owner: i64 = db
        .client
        .query_one(
            "select owner_id from code_sessions where id = $1",
            &[&session],
        )
        .await
        .unwrap()
        .get(0);
    let role = db
        .client
        .query_one(sql::SESSION_ROLE_SQL, &[&session, &owner])
        .await
        .unwrap();
    assert_eq!(role.get::<_, String>("role"), "owner");
    assert!(
        db.client
            .query_opt(sql::SESSION_ROLE_SQL, &[&session, &(owner + 1000)])
            .await
            .unwrap()
            .is_none()
    );

    db.client
        .execute(
            sql::SET_DESIRED_STATE_SQL,
            &[&session, &DesiredState::Stopped.as_str()],
        )
        .await
        .unwrap();
    let Notification::DesiredState(n) = db.next().await else {
        panic!("desired state")
    };
    assert_eq!(
        (n.session, n.desired_state),
        (session, DesiredState::Stopped)
    );
}
