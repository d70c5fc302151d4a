//! A REST write committed while a shell edit of the same file is still unreported (the agent
//! waits for a file to be quiet before reporting it): pushing the REST write must not
//! overwrite the edit. The agent here waits 3 s, so the only way the edit is seen in time is
//! the flush the bridge makes before it pushes.

mod common;
mod sync_harness;

use std::time::Duration;

use sync_harness::{Backend, Harness, eventually, quiet_config};

#[test]
fn a_rest_write_does_not_overwrite_an_unreported_shell_edit() {
    // SAFETY: the only test of this binary, and the runtime's threads do not exist yet, so no
    // other thread reads the environment while it changes. The agents started later inherit it.
    unsafe { std::env::set_var("POD_AGENT_DEBOUNCE_MS", "3000") };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            race(Backend::Process).await;
            race(Backend::Kube).await;
        });
}

async fn race(backend: Backend) {
    let h = Harness::start(backend, quiet_config()).await;
    let session = h.session().await;
    h.rest_write(session, "app.py", b"v1").await;
    h.workspaces.activate(session).await.unwrap();

    h.shell_write(session, "app.py", b"shell edit");
    let started = tokio::time::Instant::now();
    let rest_version = h.rest_write(session, "app.py", b"rest edit").await;
    let copy = "app.shell-conflict-1.py";
    eventually("the conflict copy", || async { h.row(session, copy).await }).await;
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "the edit was only seen after the agent's own delay: {:?}",
        started.elapsed()
    );
    assert_eq!(h.row(session, copy).await.unwrap().1, b"shell edit");
    assert_eq!(
        h.row(session, "app.py").await.unwrap(),
        (rest_version, b"rest edit".to_vec())
    );
    // The setup holds: without a REST write in between, the agent reports an edit late.
    h.shell_write(session, "other.txt", b"later");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        h.row(session, "other.txt").await.is_none(),
        "the agent's delay is not in effect"
    );
    eventually("the late report", || async {
        h.row(session, "other.txt").await
    })
    .await;
    eventually("both in the sandbox", || async {
        (h.shell_read(session, "app.py").as_deref() == Some(b"rest edit".as_slice())
            && h.shell_read(session, copy).as_deref() == Some(b"shell edit".as_slice()))
        .then_some(())
    })
    .await;
}
