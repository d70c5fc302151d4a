//! What survives the bridge: a shutdown flushes the last shell edits, and a new bridge over
//! the same running sandboxes merges what happened while none watched, losing nothing.

mod common;
mod sync_harness;

use std::time::Duration;

use sync_harness::{Backend, Harness, eventually, on_each_backend, quiet_config};
use terminal_bridge::workspaces::{SyncConfig, WorkspaceEvent};

on_each_backend! {
    shutdown_flush_saves_an_edit_made_just_before,
    a_restarted_bridge_merges_what_happened_meanwhile,
    a_stop_requested_while_no_bridge_ran_still_saves_the_last_edits,
}

async fn shutdown_flush_saves_an_edit_made_just_before(backend: Backend) {
    let mut h = Harness::start(backend, quiet_config()).await;
    let session = h.session().await;
    h.rest_write(session, "a.txt", b"before").await;
    h.workspaces.activate(session).await.unwrap();
    h.shell_write(session, "a.txt", b"saved by the shutdown flush");
    h.shell_write(session, "new.txt", b"also this");
    h.shut_down().await;
    assert_eq!(
        h.row(session, "a.txt").await.unwrap().1,
        b"saved by the shutdown flush"
    );
    assert_eq!(h.row(session, "new.txt").await.unwrap().1, b"also this");
    // The sandbox outlives the bridge.
    assert!(h.is_running(session).await);
}

async fn a_restarted_bridge_merges_what_happened_meanwhile(backend: Backend) {
    let mut h = Harness::start(backend, quiet_config()).await;
    let session = h.session().await;
    for (path, data) in [
        ("shell_edit.txt", "v1"),
        ("rest_edit.txt", "v1"),
        ("both.txt", "v1"),
        ("shell_deleted.txt", "v1"),
        ("rest_deleted.txt", "v1"),
        ("untouched.txt", "v1"),
    ] {
        h.rest_write(session, path, data.as_bytes()).await;
    }
    h.workspaces.activate(session).await.unwrap();
    h.shut_down().await;

    // No bridge watches now: the shell and the REST API both change things.
    h.shell_write(session, "shell_edit.txt", b"shell v2");
    h.shell_write(session, "shell_new.txt", b"made in the shell");
    h.shell_write(session, "both.txt", b"shell v2");
    std::fs::remove_file(h.dir(session).join("shell_deleted.txt")).unwrap();
    h.rest_write(session, "rest_edit.txt", b"rest v2").await;
    h.rest_write(session, "rest_new.txt", b"made through REST")
        .await;
    h.rest_write(session, "both.txt", b"rest v2").await;
    h.rest_delete(session, "rest_deleted.txt").await;
    let untouched = h.row(session, "untouched.txt").await.unwrap().0;

    // A new bridge finds the sandbox running (the periodic reconcile adopts it).
    h.restart(SyncConfig {
        reconcile_secs: 0.3,
        ..quiet_config()
    })
    .await;
    eventually("the adoption", || async {
        h.workspaces.is_active(session).then_some(())
    })
    .await;
    let file = |path: &'static str| {
        let h = &h;
        async move { h.row(session, path).await.map(|(_, c)| c) }
    };
    eventually("the merge", || async {
        (file("shell_new.txt").await.as_deref() == Some(b"made in the shell".as_slice()))
            .then_some(())
    })
    .await;
    assert_eq!(file("shell_edit.txt").await.unwrap(), b"shell v2");
    assert_eq!(file("shell_deleted.txt").await, None);
    assert_eq!(file("rest_edit.txt").await.unwrap(), b"rest v2");
    assert_eq!(file("rest_deleted.txt").await, None);
    assert_eq!(file("both.txt").await.unwrap(), b"rest v2");
    assert_eq!(
        file("both.shell-conflict-1.txt").await.unwrap(),
        b"shell v2"
    );
    assert_eq!(h.row(session, "untouched.txt").await.unwrap().0, untouched);
    // And the sandbox has the same.
    assert_eq!(h.shell_read(session, "rest_edit.txt").unwrap(), b"rest v2");
    assert_eq!(
        h.shell_read(session, "rest_new.txt").unwrap(),
        b"made through REST"
    );
    assert_eq!(h.shell_read(session, "rest_deleted.txt"), None);
    assert_eq!(h.shell_read(session, "both.txt").unwrap(), b"rest v2");
    assert_eq!(
        h.shell_read(session, "both.shell-conflict-1.txt").unwrap(),
        b"shell v2"
    );
    // Watching again: a new shell edit flows as usual.
    h.shell_write(session, "untouched.txt", b"now touched");
    eventually("a shell edit after the restart", || async {
        (file("untouched.txt").await.as_deref() == Some(b"now touched".as_slice())).then_some(())
    })
    .await;
    // Quiet: no version keeps moving.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let settled = h.items(session).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(h.items(session).await, settled);
    h.shut_down().await;
}

async fn a_stop_requested_while_no_bridge_ran_still_saves_the_last_edits(backend: Backend) {
    let mut h = Harness::start(backend, quiet_config()).await;
    let session = h.session().await;
    h.rest_write(session, "main.py", b"v1").await;
    h.workspaces.activate(session).await.unwrap();
    h.shut_down().await;

    // While no bridge runs: a shell edit, then a REST shutdown whose notification nobody hears.
    h.shell_write(session, "main.py", b"edited while no bridge watched");
    h.rest_shutdown(session).await;

    h.restart(SyncConfig {
        reconcile_secs: 0.3,
        ..quiet_config()
    })
    .await;
    h.event(
        Duration::from_secs(10),
        "stopped",
        |e| matches!(e, WorkspaceEvent::WorkspaceStatus { state, .. } if state == "stopped"),
    )
    .await;
    assert!(!h.is_running(session).await);
    assert_eq!(
        h.row(session, "main.py").await.unwrap().1,
        b"edited while no bridge watched"
    );
    assert_eq!(
        h.session_states(session).await,
        ("stopped".into(), "stopped".into())
    );
    h.shut_down().await;
}
