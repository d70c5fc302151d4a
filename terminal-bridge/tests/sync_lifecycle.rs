//! The sandbox lifecycle against real parts: one start for concurrent activations, desired
//! state (notified, or missed and caught by the periodic reconcile), idle stop, deletion.

mod common;
mod sync_harness;

use std::time::Duration;

use common::backend::create_pod;
use sync_harness::{Backend, Harness, NS, eventually, on_each_backend, quiet_config};
use terminal_bridge::workspaces::{SyncConfig, WorkspaceEvent};
use test_support::Fate;

on_each_backend! {
    concurrent_activations_start_one_sandbox,
    shutdown_request_flushes_then_stops,
    missed_notifications_act_after_the_periodic_reconcile,
    idle_sandboxes_stop_after_the_timeout_unless_a_client_is_attached,
    deleting_the_session_stops_its_sandbox,
    activating_an_unknown_session_fails_clearly,
    a_notification_missed_while_the_listener_was_down_still_arrives,
    a_real_shell_edit_is_saved_and_an_attached_terminal_keeps_the_sandbox,
    sandboxes_of_unknown_sessions_are_stopped_by_the_reconcile,
    a_sandbox_that_dies_is_reported_and_restarts_on_the_next_activation,
}

fn is_status(e: &WorkspaceEvent, want: &str) -> bool {
    matches!(e, WorkspaceEvent::WorkspaceStatus { state, .. } if state == want)
}

async fn concurrent_activations_start_one_sandbox(backend: Backend) {
    let mut h = Harness::start(backend, quiet_config()).await;
    let session = h.session().await;
    h.rest_write(session, "f.txt", b"x").await;
    let calls = (0..8).map(|_| {
        let w = h.workspaces.clone();
        tokio::spawn(async move { w.activate(session).await.unwrap() })
    });
    let mut sandboxes = Vec::new();
    for call in calls {
        sandboxes.push(call.await.unwrap());
    }
    let created = sandboxes.iter().filter(|s| s.created).count();
    assert_eq!(created, 1, "{sandboxes:?}");
    assert!(sandboxes.iter().all(|s| s.id == sandboxes[0].id));
    assert_eq!(h.runtime_sandboxes().await, 1);
    h.event(Duration::from_secs(1), "running", |e| {
        is_status(e, "running")
    })
    .await;
    // Exactly one start: no second "starting".
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut starts = 0;
    while let Ok(e) = h.events.try_recv() {
        starts += usize::from(is_status(&e, "starting"));
    }
    assert_eq!(starts, 0);
    h.shut_down().await;
}

async fn shutdown_request_flushes_then_stops(backend: Backend) {
    let mut h = Harness::start(backend, quiet_config()).await;
    let session = h.session().await;
    h.rest_write(session, "work.py", b"v1").await;
    h.workspaces.activate(session).await.unwrap();

    // An edit a moment before the REST shutdown is saved before the sandbox goes.
    h.shell_write(session, "work.py", b"v2 saved at the last moment");
    h.rest_shutdown(session).await;
    h.event(Duration::from_secs(10), "stopped", |e| {
        is_status(e, "stopped")
    })
    .await;
    assert!(!h.is_running(session).await);
    assert_eq!(
        h.row(session, "work.py").await.unwrap().1,
        b"v2 saved at the last moment"
    );
    assert_eq!(
        h.session_states(session).await,
        ("stopped".into(), "stopped".into())
    );
    assert!(!h.workspaces.is_active(session));

    // Activating again starts a new sandbox with the saved file, and wants it running.
    let sandbox = h.workspaces.activate(session).await.unwrap();
    assert!(sandbox.created);
    assert_eq!(
        h.shell_read(session, "work.py").unwrap(),
        b"v2 saved at the last moment"
    );
    assert_eq!(h.session_states(session).await.0, "running");
    h.shut_down().await;
}

async fn missed_notifications_act_after_the_periodic_reconcile(backend: Backend) {
    let config = SyncConfig {
        reconcile_secs: 0.5,
        ..quiet_config()
    };
    let mut h = Harness::start(backend, config).await;
    let session = h.session().await;
    h.workspaces.activate(session).await.unwrap();

    // A file written without a notification still reaches the sandbox.
    h.client
        .execute(
            "insert into workspace_items (session_id, path, kind, content, size, sha256) \
             values ($1, 'quiet.txt', 'file', 'shh', 3, sha256('shh'))",
            &[&session],
        )
        .await
        .unwrap();
    eventually("the unannounced file in the sandbox", || async {
        (h.shell_read(session, "quiet.txt").as_deref() == Some(b"shh".as_slice())).then_some(())
    })
    .await;

    // A desired state set without a notification still stops the sandbox.
    h.client
        .execute(
            "update code_sessions set desired_state = 'stopped' where id = $1",
            &[&session],
        )
        .await
        .unwrap();
    h.event(Duration::from_secs(10), "stopped", |e| {
        is_status(e, "stopped")
    })
    .await;
    assert!(!h.is_running(session).await);
    assert_eq!(h.session_states(session).await.1, "stopped");
    h.shut_down().await;
}

async fn idle_sandboxes_stop_after_the_timeout_unless_a_client_is_attached(backend: Backend) {
    let config = SyncConfig {
        session_timeout_secs: 1.0,
        ..quiet_config()
    };
    let mut h = Harness::start(backend, config).await;
    let watched = h.session().await;
    let idle = h.session().await;
    let guard = h.workspaces.attach(watched);
    h.workspaces.activate(watched).await.unwrap();
    h.workspaces.activate(idle).await.unwrap();
    let started = tokio::time::Instant::now();

    let stopped = h
        .event(Duration::from_secs(10), "an idle stop", |e| {
            is_status(e, "stopped")
        })
        .await;
    assert_eq!(stopped.session(), idle);
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(!h.is_running(idle).await);
    assert_eq!(
        h.session_states(idle).await,
        ("stopped".into(), "stopped".into())
    );
    // The session with a client stays, well past the timeout.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(h.is_running(watched).await);
    let stats: std::collections::HashMap<_, _> = h.workspaces.stats().into_iter().collect();
    assert_eq!(stats["bridge_idle_stops_total"], 1.0);

    // Once the client leaves, it goes too.
    drop(guard);
    h.event(Duration::from_secs(10), "the second idle stop", |e| {
        is_status(e, "stopped") && e.session() == watched
    })
    .await;
    h.shut_down().await;
}

async fn deleting_the_session_stops_its_sandbox(backend: Backend) {
    let mut h = Harness::start(backend, quiet_config()).await;
    let session = h.session().await;
    h.rest_write(session, "f.txt", b"x").await;
    h.workspaces.activate(session).await.unwrap();
    h.client
        .query(
            concat!(
                "with d as (delete from code_sessions where id = $1 returning id) select ",
                platform_contract::notify_desired_state!("id", "'stopped'", "true"),
                " from d"
            ),
            &[&session],
        )
        .await
        .unwrap();
    h.event(Duration::from_secs(10), "stopped", |e| {
        is_status(e, "stopped")
    })
    .await;
    assert!(!h.is_running(session).await);
    h.shut_down().await;
}

async fn activating_an_unknown_session_fails_clearly(backend: Backend) {
    let h = Harness::start(backend, quiet_config()).await;
    let err = h
        .workspaces
        .activate(uuid::Uuid::new_v4())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert_eq!(h.runtime_sandboxes().await, 0);
}

async fn a_notification_missed_while_the_listener_was_down_still_arrives(backend: Backend) {
    // No periodic reconcile: only the listener's reconnect can catch up.
    let h = Harness::start(backend, quiet_config()).await;
    let session = h.session().await;
    h.workspaces.activate(session).await.unwrap();
    // Kill the listening connection and, in the same transaction, make a change and notify:
    // when it commits, nobody of the bridge listens.
    let mut client = h.db.connect().await;
    let tx = client.transaction().await.unwrap();
    let killed: i64 = tx
        .query_one(
            "select count(*) filter (where pg_terminate_backend(pid, 5000)) from pg_stat_activity \
             where query like 'listen %' and pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(killed, 1);
    tx.execute(
        concat!(
            "with f as (insert into workspace_items (session_id, path, kind, content, size, sha256) ",
            "values ($1, 'late.txt', 'file', 'late', 4, sha256('late')) ",
            "returning session_id, path, version, kind) select ",
            platform_contract::notify_item_changed!("false"),
            " from f"
        ),
        &[&session],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    eventually("the missed file in the sandbox", || async {
        (h.shell_read(session, "late.txt").as_deref() == Some(b"late".as_slice())).then_some(())
    })
    .await;
}

async fn a_real_shell_edit_is_saved_and_an_attached_terminal_keeps_the_sandbox(backend: Backend) {
    use agent_protocol::Client;
    let config = SyncConfig {
        session_timeout_secs: 1.0,
        ..quiet_config()
    };
    let mut h = Harness::start(backend, config).await;
    let session = h.session().await;
    h.workspaces.activate(session).await.unwrap();

    // A terminal, as the WebSocket layer would open one, running a real command.
    let stream = h.runtime.connect(session).await.unwrap();
    let (agent, _events) = Client::connect(stream, "test").await.unwrap();
    let (terminal, _) = agent.open("main", 80, 24, u32::MAX, |_| {}).await.unwrap();
    terminal
        .input("mkdir -p out && printf 'hi\\n' > out/x.txt\n".into())
        .unwrap();
    eventually("the shell's file in PostgreSQL", || async {
        h.row(session, "out/x.txt")
            .await
            .filter(|(_, c)| c == b"hi\n")
    })
    .await;

    // Attached: not idle, well past the timeout.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(h.is_running(session).await);

    // Detached (the shell keeps running, idle): stopped after the timeout.
    drop(terminal);
    drop(agent);
    h.event(Duration::from_secs(10), "an idle stop", |e| {
        is_status(e, "stopped")
    })
    .await;
    assert!(!h.is_running(session).await);
    h.shut_down().await;
}

async fn sandboxes_of_unknown_sessions_are_stopped_by_the_reconcile(backend: Backend) {
    let h = Harness::start(
        backend,
        SyncConfig {
            reconcile_secs: 0.3,
            ..quiet_config()
        },
    )
    .await;
    let stray = uuid::Uuid::new_v4();
    // Started (the reconcile may stop it as soon as it lists it, even before this returns).
    h.runtime.ensure(stray).await.unwrap();
    eventually("the stray sandbox stopped", || async {
        (!h.is_running(stray).await).then_some(())
    })
    .await;
    if let Some(fake) = h.fake() {
        let deletes = fake.deletes();
        assert!(
            deletes
                .iter()
                .any(|(name, uid)| *name == format!("ws-{stray}") && uid.is_some()),
            "{deletes:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_that_cannot_start_is_reported_failed() {
    use std::sync::Arc;
    use terminal_bridge::runtime::process::ProcessRuntime;
    use terminal_bridge::workspaces::Workspaces;

    let h = Harness::start(Backend::Process, quiet_config()).await;
    let session = h.session().await;
    let state = tempfile::tempdir().unwrap();
    let broken = Arc::new(ProcessRuntime::new(
        state.path().join("no-such-agent"),
        state.path().join("broken"),
    ));
    let database = terminal_bridge::config::database_config(&h.db.url).unwrap();
    let pool = terminal_bridge::db::pool(&database, 2).unwrap();
    let workspaces = Workspaces::new(broken, database, pool, quiet_config());
    let mut events = workspaces.subscribe();
    let err = workspaces.activate(session).await.unwrap_err();
    assert!(err.to_string().contains("no-such-agent"), "{err}");
    assert_eq!(
        failure_states(&mut events),
        [("starting".into(), false), ("failed".into(), true)]
    );
    assert_eq!(h.session_states(session).await.1, "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_whose_image_cannot_be_pulled_is_reported_failed_then_retried() {
    let mut h = Harness::start(Backend::Kube, quiet_config()).await;
    let session = h.session().await;
    h.rest_write(session, "keep.txt", b"kept").await;
    let fake = h.fake().unwrap();
    fake.set_fate(Fate::ImagePullBackOff);
    let mut events = h.workspaces.subscribe();
    let started = tokio::time::Instant::now();
    let err = h.workspaces.activate(session).await.unwrap_err();
    // Early, with the cluster's reason, not after the 20 s start timeout.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("ImagePull"), "{err}");
    assert_eq!(
        failure_states(&mut events),
        [("starting".into(), false), ("failed".into(), true)]
    );
    assert_eq!(h.session_states(session).await.1, "failed");
    // Once the image can be pulled, the next activation works and finds the files.
    fake.set_fate(Fate::Ready {
        after: Duration::from_millis(100),
    });
    h.workspaces.activate(session).await.unwrap();
    assert_eq!(h.shell_read(session, "keep.txt").unwrap(), b"kept");
    h.shut_down().await;
}

/// `(state, has a message)` of the status events received so far.
fn failure_states(
    events: &mut tokio::sync::broadcast::Receiver<WorkspaceEvent>,
) -> Vec<(String, bool)> {
    let mut states = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let WorkspaceEvent::WorkspaceStatus { state, message, .. } = e {
            states.push((state, message.is_some()));
        }
    }
    states
}

async fn a_sandbox_that_dies_is_reported_and_restarts_on_the_next_activation(backend: Backend) {
    let mut h = Harness::start(backend, quiet_config()).await;
    let session = h.session().await;
    h.rest_write(session, "keep.txt", b"kept").await;
    let sandbox = h.workspaces.activate(session).await.unwrap();
    // Its agent process is killed, or its pod removed under the live session.
    h.kill_sandbox(&sandbox);
    let stopped = h
        .event(Duration::from_secs(10), "stopped", |e| {
            is_status(e, "stopped")
        })
        .await;
    let WorkspaceEvent::WorkspaceStatus { message, .. } = stopped else {
        unreachable!()
    };
    assert!(message.unwrap().contains("unexpectedly"));
    assert!(!h.workspaces.is_active(session));
    let again = h.workspaces.activate(session).await.unwrap();
    assert!(again.created);
    if backend == Backend::Process {
        assert_ne!(again.id, sandbox.id);
    }
    assert_eq!(h.shell_read(session, "keep.txt").unwrap(), b"kept");
    h.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconcile_touches_watched_pods_and_reaps_ended_and_unlabelled_ones() {
    use serde_json::json;
    use terminal_bridge::runtime::kube::pod::{self, LAST_ACTIVITY, WORKSPACE_ID};
    use terminal_bridge::runtime::kube::settings::KubeSettings;

    // No periodic pass: this test runs the passes itself, so nothing races its setup.
    let h = Harness::start(Backend::Kube, quiet_config()).await;
    let fake = h.fake().unwrap();
    let stamp_of = |name: &str| {
        let pod = fake.pod(NS, name).expect("the pod exists");
        pod["metadata"]["annotations"][LAST_ACTIVITY]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
    };
    let long_ago = "2026-01-01T12:00:00Z";

    // A watched pod whose stamp is old gets a fresh one, and stays.
    let watched = h.session().await;
    h.workspaces.activate(watched).await.unwrap();
    let watched_pod = format!("ws-{watched}");
    fake.update_pod(NS, &watched_pod, |pod| {
        pod["metadata"]["annotations"][LAST_ACTIVITY] = json!(long_ago);
    });

    // A pod of an existing session that ended: not a running sandbox, so not adopted (which
    // would replace it), but deleted by the reaper (with its uid as the precondition).
    let ended = h.session().await;
    h.runtime.ensure(ended).await.unwrap();
    let ended_pod = format!("ws-{ended}");
    fake.update_pod(NS, &ended_pod, |pod| {
        pod["status"]["phase"] = json!("Failed");
    });
    // A managed pod that names no session (hand-made, or a label removed).
    let mut unlabelled = pod::workspace_pod(&KubeSettings::for_namespace(NS), uuid::Uuid::new_v4());
    unlabelled.metadata.name = Some("ws-unlabelled".into());
    unlabelled
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .remove(WORKSPACE_ID);
    create_pod(fake, &unlabelled).await;

    h.workspaces.reconcile_once().await;
    let age = jiff::Timestamp::now().duration_since(stamp_of(&watched_pod));
    assert!(
        age.as_secs() < 60,
        "the watched pod was not touched: {age:?}"
    );
    let mut deleted: Vec<String> = fake.deletes().into_iter().map(|(name, _)| name).collect();
    deleted.sort();
    let mut expected = vec![ended_pod.clone(), "ws-unlabelled".to_string()];
    expected.sort();
    assert_eq!(deleted, expected);
    assert!(
        fake.deletes().iter().all(|(_, uid)| uid.is_some()),
        "{:?}",
        fake.deletes()
    );
    let reaped = h
        .workspaces
        .stats()
        .into_iter()
        .find(|(name, _)| *name == "bridge_sandboxes_reaped_total")
        .unwrap()
        .1;
    assert_eq!(reaped, 2.0);
    // The watched pod is untouched by all that, and still in use.
    assert!(!fake.deletes().iter().any(|(name, _)| *name == watched_pod));
    assert!(h.workspaces.is_active(watched));
    assert!(h.is_running(watched).await);
    assert!(!h.is_running(ended).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_that_stays_pending_does_not_hold_up_the_reconcile() {
    use terminal_bridge::runtime::kube::pod;
    use terminal_bridge::runtime::kube::settings::KubeSettings;

    let mut h = Harness::start(
        Backend::Kube,
        SyncConfig {
            reconcile_secs: 0.3,
            ..quiet_config()
        },
    )
    .await;
    let fake = h.fake().unwrap();
    let (a, b) = (h.session().await, h.session().await);
    // The reconcile goes through sandboxes in session order: the pending pod comes first.
    let (pending, running) = if a < b { (a, b) } else { (b, a) };
    h.workspaces.activate(running).await.unwrap();
    // A pod nobody watches that never gets ready (an image still pulling, a full cluster):
    // the reconcile tries to adopt it, which waits up to the 20 s start timeout.
    fake.set_fate(Fate::Pending);
    let spec = pod::workspace_pod(&KubeSettings::for_namespace(NS), pending);
    create_pod(fake, &spec).await;

    // A desired state set without a notification: only the reconcile sees it.
    h.client
        .execute(
            "update code_sessions set desired_state = 'stopped' where id = $1",
            &[&running],
        )
        .await
        .unwrap();
    h.event(
        Duration::from_secs(10),
        "the stop, long before the start timeout",
        |e| {
            matches!(e, WorkspaceEvent::WorkspaceStatus { session, state, .. }
                 if *session == running && state == "stopped")
        },
    )
    .await;
    assert!(!h.is_running(running).await);
}
