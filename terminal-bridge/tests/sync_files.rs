//! File sync between PostgreSQL and a real sandbox (the real `pod-agent` under the process
//! runtime, and in a pod of the fake API server reached over `pods/exec`): activation, shell
//! edits, REST edits, no echo, limits, conflicts.

mod common;
mod sync_harness;

use std::time::Duration;

use common::ws::metric;
use sync_harness::{Backend, Harness, Listener, eventually, on_each_backend, quiet_config};
use terminal_bridge::workspaces::{SyncConfig, WorkspaceEvent};

on_each_backend! {
    activation_pushes_files_and_shell_edits_come_back,
    rest_edits_reach_the_sandbox_without_echo,
    over_limit_shell_files_are_reported_not_saved,
    a_shell_edit_racing_a_rest_write_keeps_both,
    files_beyond_the_event_content_cap_are_read,
    empty_folders_made_through_rest_are_in_the_sandbox,
}

/// Within how long a shell edit must be in PostgreSQL (and announced).
const SHELL_TO_PG: Duration = Duration::from_secs(1);

async fn activation_pushes_files_and_shell_edits_come_back(backend: Backend) {
    let mut h = Harness::start(backend, quiet_config()).await;
    let session = h.session().await;
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    h.rest_write(session, "main.py", b"print('hi')\n").await;
    h.rest_write(session, "src/pkg/deep/mod.py", b"x = 1\n")
        .await;
    h.rest_write(session, "data/blob.bin", &binary).await;
    h.rest_write(session, "empty.txt", b"").await;
    // Left over in the workspace directory from an earlier sandbox: a fresh sandbox holds
    // exactly what PostgreSQL holds.
    h.shell_write(session, "stale.txt", b"old");

    let sandbox = h.workspaces.activate(session).await.unwrap();
    assert!(sandbox.created);
    assert_eq!(h.shell_read(session, "main.py").unwrap(), b"print('hi')\n");
    assert_eq!(
        h.shell_read(session, "src/pkg/deep/mod.py").unwrap(),
        b"x = 1\n"
    );
    assert_eq!(h.shell_read(session, "data/blob.bin").unwrap(), binary);
    assert_eq!(h.shell_read(session, "empty.txt").unwrap(), b"");
    assert_eq!(h.shell_read(session, "stale.txt"), None);
    assert_eq!(h.session_states(session).await.1, "running");
    h.event(
        Duration::from_secs(1),
        "running status",
        |e| matches!(e, WorkspaceEvent::WorkspaceStatus { state, .. } if state == "running"),
    )
    .await;

    // A shell edit: a new version in PostgreSQL, a notification and an event, within 1 s.
    let mut notes = Listener::new(&h.db.url, platform_contract::notify::ITEM_CHANNEL).await;
    let before = h.row(session, "main.py").await.unwrap().0;
    h.shell_write(session, "main.py", b"print('edited')\n");
    let event = h
        .event(SHELL_TO_PG, "shell FileChanged", |e| {
            matches!(e, WorkspaceEvent::FileChanged { path, origin, .. } if path == "main.py" && origin == "shell")
        })
        .await;
    let (version, content) = h.row(session, "main.py").await.unwrap();
    assert_eq!(content, b"print('edited')\n");
    assert_eq!(version, before + 1);
    let WorkspaceEvent::FileChanged {
        version: Some(v), ..
    } = event
    else {
        panic!("{event:?}")
    };
    assert_eq!(v, version);
    let note = notes.next(SHELL_TO_PG, |n| n["path"] == "main.py").await;
    assert_eq!(note["session"], session.to_string());
    assert_eq!(note["version"], version);
    assert_eq!(note["kind"], "file");
    assert_eq!(note["deleted"], false);
    assert_eq!(note["origin"], "shell");

    // A new nested file: parent folders as the REST side makes them; binary-exact.
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
    h.shell_write(session, "out/run1/result.bin", &bytes);
    eventually("the new shell file in PostgreSQL", || async {
        h.row(session, "out/run1/result.bin")
            .await
            .filter(|(_, c)| *c == bytes)
    })
    .await;
    let items = h.items(session).await;
    assert!(
        items.contains(&("out".into(), "folder".into(), 1)),
        "{items:?}"
    );
    assert!(
        items.contains(&("out/run1".into(), "folder".into(), 1)),
        "{items:?}"
    );

    // A shell deletion; the folders it leaves empty go too.
    std::fs::remove_dir_all(h.dir(session).join("out")).unwrap();
    eventually("the deletion in PostgreSQL", || async {
        let items = h.items(session).await;
        (!items.iter().any(|(p, _, _)| p.starts_with("out"))).then_some(())
    })
    .await;
    h.event(SHELL_TO_PG, "shell deletion event", |e| {
        matches!(e, WorkspaceEvent::FileChanged { path, deleted: true, origin, .. } if path == "out/run1/result.bin" && origin == "shell")
    })
    .await;

    // No echo: after a quiet second nothing changed any more.
    let settled = h.items(session).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(h.items(session).await, settled);
    let stats: std::collections::HashMap<_, _> = h.workspaces.stats().into_iter().collect();
    assert_eq!(stats["bridge_sandboxes_active"], 1.0);
    assert!(stats["bridge_files_synced_to_pg_total"] >= 3.0, "{stats:?}");
    assert!(stats["bridge_sync_lag_max_seconds"] > 0.0, "{stats:?}");
    assert!(stats["bridge_sync_lag_max_seconds"] < 1.0, "{stats:?}");
    h.shut_down().await;
}

async fn rest_edits_reach_the_sandbox_without_echo(backend: Backend) {
    let mut h = Harness::start(backend, quiet_config()).await;
    let session = h.session().await;
    h.rest_write(session, "a.txt", b"one").await;
    h.workspaces.activate(session).await.unwrap();

    let v2 = h.rest_write(session, "a.txt", b"two").await;
    eventually("the REST edit in the sandbox", || async {
        (h.shell_read(session, "a.txt").as_deref() == Some(b"two".as_slice())).then_some(())
    })
    .await;
    h.event(Duration::from_secs(5), "rest FileChanged", |e| {
        matches!(e, WorkspaceEvent::FileChanged { path, origin, version, .. } if path == "a.txt" && origin == "rest" && *version == Some(v2))
    })
    .await;
    h.rest_write(session, "new/dir/b.txt", b"bee").await;
    eventually("a REST-created nested file in the sandbox", || async {
        (h.shell_read(session, "new/dir/b.txt").as_deref() == Some(b"bee".as_slice())).then_some(())
    })
    .await;

    // The pushed files do not come back as new versions, however long we wait.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(h.row(session, "a.txt").await.unwrap().0, v2);
    assert_eq!(h.row(session, "new/dir/b.txt").await.unwrap().0, 1);

    // A REST deletion removes the file in the sandbox.
    h.rest_delete(session, "a.txt").await;
    eventually("the REST deletion in the sandbox", || async {
        h.shell_read(session, "a.txt").is_none().then_some(())
    })
    .await;
    // A recursive folder deletion removes the directory.
    h.rest_delete(session, "new").await;
    eventually("the folder gone from the sandbox", || async {
        (!h.dir(session).join("new").exists()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        h.row(session, "a.txt").await.is_none(),
        "deleted file came back"
    );
    assert!(
        h.items(session).await.is_empty(),
        "{:?}",
        h.items(session).await
    );
    h.shut_down().await;
}

async fn over_limit_shell_files_are_reported_not_saved(backend: Backend) {
    let config = SyncConfig {
        max_file_size: 1000,
        max_workspace_files: 3,
        ..quiet_config()
    };
    let mut h = Harness::start(backend, config).await;
    let session = h.session().await;
    h.rest_write(session, "keep.txt", b"small").await;
    h.workspaces.activate(session).await.unwrap();

    // Too large: a SyncError, and PostgreSQL keeps the old content.
    h.shell_write(session, "keep.txt", &[b'x'; 1001]);
    let error = h
        .event(Duration::from_secs(5), "a SyncError", |e| {
            matches!(e, WorkspaceEvent::SyncError { .. })
        })
        .await;
    let WorkspaceEvent::SyncError { path, code, .. } = error else {
        unreachable!()
    };
    assert_eq!(
        (path.as_str(), code.as_str()),
        ("keep.txt", "file_too_large")
    );
    assert_eq!(
        h.row(session, "keep.txt").await.unwrap(),
        (1, b"small".to_vec())
    );
    // The next REST edit of that path does not overwrite the shell's unsaved file either: its
    // push finds the file changed, and the merge reports it too large.
    let rest_version = h.rest_write(session, "keep.txt", b"from the editor").await;
    let error = h
        .event(
            Duration::from_secs(5),
            "the push's SyncError",
            |e| matches!(e, WorkspaceEvent::SyncError { path, .. } if path == "keep.txt"),
        )
        .await;
    let WorkspaceEvent::SyncError { code, .. } = error else {
        unreachable!()
    };
    assert_eq!(code, "file_too_large");
    assert_eq!(
        h.shell_read(session, "keep.txt").as_deref(),
        Some(&[b'x'; 1001][..])
    );
    assert_eq!(
        h.row(session, "keep.txt").await.unwrap(),
        (rest_version, b"from the editor".to_vec())
    );

    // Too many files: the fourth is refused.
    for name in ["b.txt", "c.txt"] {
        h.shell_write(session, name, b"ok");
        eventually(name, || async { h.row(session, name).await }).await;
    }
    h.shell_write(session, "d.txt", b"one too many");
    let error = h
        .event(
            Duration::from_secs(5),
            "a count SyncError",
            |e| matches!(e, WorkspaceEvent::SyncError { path, .. } if path == "d.txt"),
        )
        .await;
    let WorkspaceEvent::SyncError { code, .. } = error else {
        unreachable!()
    };
    assert_eq!(code, "too_many_files");
    assert!(h.row(session, "d.txt").await.is_none());
    let stats: std::collections::HashMap<_, _> = h.workspaces.stats().into_iter().collect();
    assert!(stats["bridge_sync_errors_total"] >= 2.0, "{stats:?}");
    h.shut_down().await;
}

/// Sync failures are counted by reason for `/metrics` (the event's code).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_failures_are_counted_by_reason() {
    let config = SyncConfig {
        max_file_size: 1000,
        ..quiet_config()
    };
    let mut h = Harness::start(Backend::Process, config).await;
    let session = h.session().await;
    h.workspaces.activate(session).await.unwrap();
    let name = "bridge_sync_failures_total{reason=\"file_too_large\"}";
    assert_eq!(metric(&h.workspaces.render_metrics(), name), 0.0);

    h.shell_write(session, "big.bin", &[b'x'; 1001]);
    h.event(Duration::from_secs(5), "a SyncError", |e| {
        matches!(e, WorkspaceEvent::SyncError { .. })
    })
    .await;
    let text = h.workspaces.render_metrics();
    assert!(metric(&text, name) >= 1.0, "{text}");
    h.shut_down().await;
}

async fn a_shell_edit_racing_a_rest_write_keeps_both(backend: Backend) {
    let h = Harness::start(backend, quiet_config()).await;
    let session = h.session().await;
    h.rest_write(session, "notes.md", b"base\n").await;
    h.workspaces.activate(session).await.unwrap();

    // A REST write is in flight (not committed) when the shell saves the same file; the
    // bridge's write of the shell edit waits for it, and finds the row changed.
    let mut rest = h.db.connect().await;
    let tx = rest.transaction().await.unwrap();
    let rest_version: i64 = tx
        .query_one(
            "update workspace_items set content = 'rest version', size = 12, \
             sha256 = sha256('rest version') where session_id = $1 and path = 'notes.md' \
             returning version",
            &[&session],
        )
        .await
        .unwrap()
        .get(0);
    h.shell_write(session, "notes.md", b"shell version\n");
    eventually(
        "the bridge waiting for the REST write's row lock",
        || async {
            let waiting: i64 = h
                .client
                .query_one("select count(*) from pg_locks where not granted", &[])
                .await
                .unwrap()
                .get(0);
            (waiting > 0).then_some(())
        },
    )
    .await;
    tx.execute(
        concat!(
            "select ",
            platform_contract::notify_item!(
                "$1::uuid",
                "'notes.md'",
                "$2::bigint",
                "'file'",
                "false"
            )
        ),
        &[&session, &rest_version],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let copy = "notes.shell-conflict-1.md";
    eventually("the conflict copy in PostgreSQL", || async {
        h.row(session, copy).await
    })
    .await;
    assert_eq!(h.row(session, copy).await.unwrap().1, b"shell version\n");
    // PostgreSQL's version stays at the path, in both places.
    assert_eq!(
        h.row(session, "notes.md").await.unwrap(),
        (rest_version, b"rest version".to_vec())
    );
    eventually("both versions in the sandbox", || async {
        (h.shell_read(session, "notes.md").as_deref() == Some(b"rest version".as_slice())
            && h.shell_read(session, copy).as_deref() == Some(b"shell version\n".as_slice()))
        .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(h.row(session, "notes.md").await.unwrap().0, rest_version);
    assert_eq!(h.row(session, copy).await.unwrap().0, 1);
    let stats: std::collections::HashMap<_, _> = h.workspaces.stats().into_iter().collect();
    assert_eq!(stats["bridge_sync_conflicts_total"], 1.0);
}

async fn files_beyond_the_event_content_cap_are_read(backend: Backend) {
    // The agent sends content only up to 1 MiB; a larger allowed file is read instead.
    let config = SyncConfig {
        max_file_size: 3 * 1024 * 1024,
        ..quiet_config()
    };
    let mut h = Harness::start(backend, config).await;
    let session = h.session().await;
    h.workspaces.activate(session).await.unwrap();
    let big: Vec<u8> = (0..(1024 * 1024 + 4096) as u32)
        .map(|i| (i % 251) as u8)
        .collect();
    h.shell_write(session, "big.bin", &big);
    h.event(
        Duration::from_secs(5),
        "the big file saved",
        |e| matches!(e, WorkspaceEvent::FileChanged { path, .. } if path == "big.bin"),
    )
    .await;
    assert_eq!(h.row(session, "big.bin").await.unwrap().1, big);
    h.shut_down().await;
}

/// A folder made in the editor holds no file yet: the sandbox gets the directory anyway, when
/// it starts and while it runs; a file in the way is reported, not overwritten.
async fn empty_folders_made_through_rest_are_in_the_sandbox(backend: Backend) {
    let mut h = Harness::start(backend, quiet_config()).await;
    let session = h.session().await;
    h.rest_folder(session, "data/raw").await;
    h.rest_write(session, "src/main.py", b"print(1)\n").await;
    h.workspaces.activate(session).await.unwrap();
    assert!(
        h.dir(session).join("data/raw").is_dir(),
        "made at the start"
    );
    assert!(h.dir(session).join("src/main.py").is_file());

    h.rest_folder(session, "models/v1").await;
    eventually("the new folder in the sandbox", || async {
        h.dir(session).join("models/v1").is_dir().then_some(())
    })
    .await;

    h.shell_write(session, "notes", b"a file, not a folder");
    eventually("the shell file saved", || async {
        h.row(session, "notes").await
    })
    .await;
    h.client
        .execute(
            "delete from workspace_items where session_id = $1 and path = 'notes'",
            &[&session],
        )
        .await
        .unwrap();
    h.rest_folder(session, "notes").await;
    let error = h
        .event(
            Duration::from_secs(5),
            "the folder's SyncError",
            |e| matches!(e, WorkspaceEvent::SyncError { path, .. } if path == "notes"),
        )
        .await;
    let WorkspaceEvent::SyncError { code, .. } = error else {
        unreachable!()
    };
    assert_eq!(code, "conflict");
    assert_eq!(
        h.shell_read(session, "notes").as_deref(),
        Some(&b"a file, not a folder"[..])
    );
    h.shut_down().await;
}
