//! The kube runtime against `test_support::FakeKube`, a fake API server on loopback, through
//! the real `kube` client: pod shape, create-or-reuse races, failure reporting, retries,
//! deletion with uid preconditions, waiting on pods by watching them, and shells over
//! `pods/exec` (WebSocket protocols v5 and v4) whose far end is the real `pod-agent`. The
//! reaper and the warm pool are in `kube_upkeep.rs`.
//!
//! Needs the `pod-agent` binary built (`cargo build --bins`).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::term::{Agent, Term};
use kube::api::{DeleteParams, PostParams, WatchEvent, WatchParams};
use serde_json::{Value, json};
use terminal_bridge::runtime::kube::KubeRuntime;
use terminal_bridge::runtime::kube::settings::{ClientSource, KubeSettings};
use terminal_bridge::runtime::{Runtime, RuntimeError};
use test_support::Fate;
use tokio::io::AsyncReadExt;
use uuid::Uuid;

use common::kube::{Fixture, NS, eventually, runtime, unavailable};

/// The pod the runtime makes with the settings of `k8s/terminal-bridge-config.yaml` is
/// exactly `k8s/workspace-pod.example.yaml` (but for the session and the time), and every
/// `KUBERNETES_*` name of the ConfigMap is one the runtime reads.
#[test]
fn the_pod_matches_the_example_manifest_with_the_config_maps_settings() {
    use clap::{Args, Command};
    use terminal_bridge::runtime::kube::settings::KubeArgs;
    let root = test_support::workspace_root().join("k8s");
    let read = |name: &str| -> Value {
        let text = std::fs::read_to_string(root.join(name)).unwrap();
        serde_yaml::from_str(&text).unwrap()
    };
    let config = read("terminal-bridge-config.yaml");
    let mut example = read("workspace-pod.example.yaml");
    let command = KubeArgs::augment_args(Command::new("kube"));
    let mut argv = vec!["kube".to_string()];
    for (key, value) in config["data"].as_object().unwrap() {
        if !key.starts_with("KUBERNETES_") {
            continue;
        }
        let arg = command
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|env| env == key.as_str()))
            .unwrap_or_else(|| panic!("the runtime does not read {key}"));
        argv.push(format!(
            "--{}={}",
            arg.get_long().unwrap(),
            value.as_str().unwrap()
        ));
    }
    let matches = command.try_get_matches_from(argv).unwrap();
    let args = <KubeArgs as clap::FromArgMatches>::from_arg_matches(&matches).unwrap();
    assert!(args.in_cluster);
    let session: Uuid = example["metadata"]["labels"]["code-exec.dev/workspace-id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let pod =
        terminal_bridge::runtime::kube::pod::workspace_pod(&args.settings().unwrap(), session);
    let mut pod = serde_json::to_value(pod).unwrap();
    // The time differs; the comment-free YAML has the rest.
    let at = "code-exec.dev/last-activity";
    assert!(pod["metadata"]["annotations"][at].is_string());
    pod["metadata"]["annotations"][at] = example["metadata"]["annotations"][at].clone();
    // YAML quantities such as `cpu: "1"` and JSON agree once both are strings.
    example["spec"]["containers"][0]["resources"]["limits"]["cpu"] = json!("1");
    assert_eq!(pod, example);
}

#[tokio::test]
async fn ensure_creates_one_hardened_pod() {
    let fx = Fixture::new().await;
    let session = Uuid::new_v4();
    let sandbox = fx.rt.ensure(session).await.unwrap();
    assert!(sandbox.created);
    assert_eq!(sandbox.id, format!("ws-{session}"));
    let pods = fx.fake.pods(NS);
    assert_eq!(pods.len(), 1);
    let pod = &pods[0];
    let labels = &pod["metadata"]["labels"];
    assert_eq!(labels["app.kubernetes.io/managed-by"], "terminal-bridge");
    assert_eq!(labels["app.kubernetes.io/component"], "workspace");
    assert_eq!(labels["code-exec.dev/workspace-id"], session.to_string());
    let activity = pod["metadata"]["annotations"]["code-exec.dev/last-activity"]
        .as_str()
        .unwrap();
    assert!(activity.parse::<jiff::Timestamp>().is_ok(), "{activity}");
    let spec = &pod["spec"];
    assert_eq!(spec["automountServiceAccountToken"], false);
    assert_eq!(spec["enableServiceLinks"], false);
    assert_eq!(spec["restartPolicy"], "Never");
    assert_eq!(spec["activeDeadlineSeconds"], 43200);
    assert!(spec.get("runtimeClassName").is_none());
    assert_eq!(
        spec["securityContext"],
        json!({"runAsNonRoot": true, "runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000,
               "seccompProfile": {"type": "RuntimeDefault"}})
    );
    let container = &spec["containers"][0];
    assert_eq!(
        container["command"],
        json!([
            "pod-agent",
            "daemon",
            "--workspace",
            "/workspace",
            "--socket",
            "/run/pod-agent/agent.sock"
        ])
    );
    assert_eq!(
        container["securityContext"],
        json!({"runAsNonRoot": true, "allowPrivilegeEscalation": false,
               "readOnlyRootFilesystem": true, "privileged": false,
               "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}})
    );
    assert_eq!(container["resources"]["limits"]["memory"], "1Gi");
    assert_eq!(container["resources"]["requests"]["cpu"], "250m");
    assert_eq!(
        spec["volumes"],
        json!([
            {"name": "workspace", "emptyDir": {"sizeLimit": "1Gi"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
            {"name": "home", "emptyDir": {"sizeLimit": "128Mi"}},
            {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
        ])
    );
    // A second ensure reuses it.
    let again = fx.rt.ensure(session).await.unwrap();
    assert!(!again.created);
    assert_eq!(fx.post_count(), 1);
}

#[tokio::test]
async fn concurrent_ensures_make_one_pod() {
    let fx = Fixture::new().await;
    let other_bridge = Arc::new(runtime(&fx.fake));
    let session = Uuid::new_v4();
    let (a, b, c, d) = tokio::join!(
        fx.rt.ensure(session),
        fx.rt.ensure(session),
        other_bridge.ensure(session),
        other_bridge.ensure(session)
    );
    let all = [a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()];
    assert_eq!(all.iter().filter(|s| s.created).count(), 1, "{all:?}");
    assert!(all.iter().all(|s| s.id == format!("ws-{session}")));
    assert_eq!(fx.fake.pods(NS).len(), 1);
    assert!(fx.post_count() <= 2, "at most one create per bridge");
}

async fn shell_over(protocols: &[&'static str]) {
    let fx = Fixture::new().await;
    fx.fake.set_exec_protocols(protocols);
    let session = Uuid::new_v4();
    fx.rt.ensure(session).await.unwrap();
    let mut term = Term::open(fx.rt.as_ref(), session, "main").await;
    assert!(term.created);
    assert_eq!(term.run("echo $((6*7))").await, "42");
    // The file the shell writes is in the pod's workspace.
    term.run("echo hello > from-shell.txt").await;
    let dir = fx.fake.workspace_dir(NS, &format!("ws-{session}")).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("from-shell.txt")).unwrap(),
        "hello\n"
    );
    // A second connection attaches to the same shell.
    drop(term);
    let mut again = Term::open(fx.rt.as_ref(), session, "main").await;
    assert!(!again.created);
    assert_eq!(again.run("echo $((6*7))").await, "42");
    let execs = fx
        .fake
        .requests()
        .iter()
        .filter(|r| r.contains("/exec?"))
        .count();
    assert_eq!(execs, 2);
}

#[tokio::test]
async fn a_shell_runs_over_exec_v5() {
    shell_over(&["v5.channel.k8s.io"]).await;
}

#[tokio::test]
async fn a_shell_runs_over_exec_v4() {
    shell_over(&["v4.channel.k8s.io"]).await;
}

#[tokio::test]
async fn every_byte_value_crosses_the_exec_unchanged() {
    let fx = Fixture::new().await;
    let session = Uuid::new_v4();
    fx.rt.ensure(session).await.unwrap();
    let mut agent = Agent::connect(fx.rt.as_ref(), session).await;
    // All 256 byte values, several times, more than one exec buffer.
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 256) as u8).collect();
    let back = agent.put_and_read("bytes.bin", &data).await;
    assert_eq!(back.len(), data.len());
    assert!(back == data, "the content changed in transit");
    let dir = fx.fake.workspace_dir(NS, &format!("ws-{session}")).unwrap();
    assert!(std::fs::read(dir.join("bytes.bin")).unwrap() == data);
}

#[tokio::test]
async fn an_image_pull_error_fails_fast_with_its_reason() {
    let fx = Fixture::new().await;
    fx.fake.set_fate(Fate::ImagePullBackOff);
    let started = Instant::now();
    let message = unavailable(fx.rt.ensure(Uuid::new_v4()).await);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(message.contains("image"), "{message}");
    assert!(
        message.contains("ErrImagePull") || message.contains("ImagePullBackOff"),
        "{message}"
    );
    // The broken pod is removed, so the next attempt starts afresh.
    eventually("the pod's deletion", || fx.fake.pods(NS).is_empty()).await;
}

#[tokio::test]
async fn an_unschedulable_pod_fails_fast_with_the_schedulers_message() {
    let fx = Fixture::new().await;
    fx.fake.set_fate(Fate::Unschedulable);
    let started = Instant::now();
    let message = unavailable(fx.rt.ensure(Uuid::new_v4()).await);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(message.contains("unschedulable"), "{message}");
    assert!(message.contains("Insufficient memory"), "{message}");
}

#[tokio::test]
async fn a_failed_pod_is_reported() {
    let fx = Fixture::new().await;
    fx.fake.set_fate(Fate::Failed);
    let message = unavailable(fx.rt.ensure(Uuid::new_v4()).await);
    assert!(message.contains("failed"), "{message}");
    assert!(message.contains("exited with code 1"), "{message}");
}

#[tokio::test]
async fn a_pod_that_never_gets_ready_times_out() {
    let fx = Fixture::new().await;
    fx.fake.set_fate(Fate::Pending);
    let mut settings = fx.rt.settings().clone();
    settings.start_timeout = Duration::from_millis(500);
    let config = kube::Config::new(fx.fake.url().parse().unwrap());
    let rt = KubeRuntime::new(settings, ClientSource::Config(config));
    let message = unavailable(rt.ensure(Uuid::new_v4()).await);
    assert!(message.contains("did not become ready"), "{message}");
    assert!(message.contains("Pending"), "{message}");
}

#[tokio::test]
async fn a_pod_left_by_another_bridge_is_reused() {
    let fx = Fixture::new().await;
    let session = Uuid::new_v4();
    fx.rt.ensure(session).await.unwrap();
    let uid = fx.pod(session)["metadata"]["uid"].clone();
    let restarted = runtime(&fx.fake);
    let sandbox = restarted.ensure(session).await.unwrap();
    assert!(!sandbox.created);
    assert_eq!(fx.pod(session)["metadata"]["uid"], uid);
    assert_eq!(fx.post_count(), 1);
}

#[tokio::test]
async fn a_create_that_finds_the_pod_reuses_it() {
    let fx = Fixture::new().await;
    let session = Uuid::new_v4();
    // Another party created the pod, so the runtime's create gets 409 AlreadyExists: the
    // runtime's first get is made to miss by creating it between get and create is racy, so
    // instead the pod is created before, and a 404 is injected into the first get.
    let pod = terminal_bridge::runtime::kube::pod::workspace_pod(fx.rt.settings(), session);
    fx.pods()
        .create(&PostParams::default(), &pod)
        .await
        .unwrap();
    fx.fake.fail_next(1, 404, Some("GET"));
    let sandbox = fx.rt.ensure(session).await.unwrap();
    assert!(!sandbox.created);
    assert_eq!(fx.fake.pods(NS).len(), 1);
    assert_eq!(
        fx.post_count(),
        2,
        "the runtime tried once and got AlreadyExists"
    );
}

#[tokio::test]
async fn a_terminating_pod_is_waited_out_then_replaced() {
    let fx = Fixture::new().await;
    fx.fake.set_terminating_for(Duration::from_millis(800));
    let session = Uuid::new_v4();
    fx.rt.ensure(session).await.unwrap();
    let old_uid = fx.pod(session)["metadata"]["uid"].clone();
    fx.pods()
        .delete(&format!("ws-{session}"), &DeleteParams::default())
        .await
        .unwrap();
    assert!(fx.pod(session)["metadata"]["deletionTimestamp"].is_string());
    // While it terminates, it cannot be connected to, and is not listed.
    assert!(matches!(
        fx.rt.connect(session).await,
        Err(RuntimeError::NotRunning)
    ));
    assert!(fx.rt.list().await.unwrap().is_empty());
    let started = Instant::now();
    let sandbox = fx.rt.ensure(session).await.unwrap();
    assert!(sandbox.created);
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert_ne!(fx.pod(session)["metadata"]["uid"], old_uid);
}

#[tokio::test]
async fn a_pod_deleted_under_a_live_session_ends_its_stream_and_is_recreated() {
    let fx = Fixture::new().await;
    let session = Uuid::new_v4();
    fx.rt.ensure(session).await.unwrap();
    let mut term = Term::open(fx.rt.as_ref(), session, "main").await;
    assert_eq!(term.run("echo $((6*7))").await, "42");
    assert!(fx.fake.remove_pod(NS, &format!("ws-{session}")));
    // The exec's stream ends (the agent died with the pod).
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match term.agent.reader.read_frame().await {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream did not end");
    assert!(matches!(
        fx.rt.connect(session).await,
        Err(RuntimeError::NotRunning)
    ));
    let sandbox = fx.rt.ensure(session).await.unwrap();
    assert!(sandbox.created);
    let mut term = Term::open(fx.rt.as_ref(), session, "main").await;
    assert!(term.created, "a new pod has a new shell");
    assert_eq!(term.run("echo $((6*7))").await, "42");
}

#[tokio::test]
async fn forbidden_is_reported_clearly() {
    let fx = Fixture::new().await;
    fx.fake.fail_next(1, 403, Some("POST"));
    let message = unavailable(fx.rt.ensure(Uuid::new_v4()).await);
    assert!(message.contains("403"), "{message}");
    assert!(message.contains("quota"), "{message}");
    assert_eq!(fx.post_count(), 1, "a 403 is not retried");
}

#[tokio::test]
async fn transient_server_errors_are_retried() {
    let fx = Fixture::new().await;
    fx.fake.fail_next(2, 500, Some("POST"));
    fx.fake.fail_next(1, 503, Some("GET"));
    let sandbox = fx.rt.ensure(Uuid::new_v4()).await.unwrap();
    assert!(sandbox.created);
    assert_eq!(fx.post_count(), 3);
}

#[tokio::test]
async fn persistent_server_errors_give_up_with_a_message() {
    let fx = Fixture::new().await;
    fx.fake.fail_next(100, 500, None);
    let message = unavailable(fx.rt.ensure(Uuid::new_v4()).await);
    assert!(message.contains("500"), "{message}");
    assert!(fx.fake.requests().len() <= 4, "bounded retries");
}

#[tokio::test]
async fn list_finds_the_managed_pods_only() {
    let fx = Fixture::new().await;
    let mut sessions = vec![Uuid::new_v4(), Uuid::new_v4()];
    for session in &sessions {
        fx.rt.ensure(*session).await.unwrap();
    }
    // A pod of someone else in the namespace.
    fx.create_foreign_pod(json!({"app": "other"})).await;
    let listed = fx.rt.list().await.unwrap();
    sessions.sort();
    assert_eq!(
        listed.iter().map(|s| s.session).collect::<Vec<_>>(),
        sessions
    );
    assert!(listed.iter().all(|s| s.id == format!("ws-{}", s.session)));
    let list_request = fx
        .fake
        .requests()
        .into_iter()
        .find(|r| r.starts_with("GET") && r.contains("labelSelector"))
        .unwrap();
    assert!(
        list_request.contains("managed-by%3Dterminal-bridge"),
        "{list_request}"
    );
}

#[tokio::test]
async fn stop_deletes_with_the_uid_precondition() {
    let fx = Fixture::new().await;
    let session = Uuid::new_v4();
    fx.rt.ensure(session).await.unwrap();
    let uid = fx.pod(session)["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    fx.rt.stop(session).await.unwrap();
    assert_eq!(
        fx.fake.deletes(),
        vec![(format!("ws-{session}"), Some(uid))]
    );
    eventually("the pod's deletion", || fx.fake.pods(NS).is_empty()).await;
    // Stopping what does not run succeeds.
    fx.rt.stop(session).await.unwrap();
    fx.rt.stop(Uuid::new_v4()).await.unwrap();
}

#[tokio::test]
async fn a_delete_with_a_stale_uid_leaves_the_new_pod_alone() {
    let fx = Fixture::new().await;
    let session = Uuid::new_v4();
    fx.rt.ensure(session).await.unwrap();
    let name = format!("ws-{session}");
    let params = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: Some("not-the-uid".into()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let err = fx.pods().delete(&name, &params).await.unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 409),
        "{err}"
    );
    assert!(fx.pod(session)["metadata"]["deletionTimestamp"].is_null());
}

#[tokio::test]
async fn the_fake_watch_streams_a_pods_phases() {
    let fx = Fixture::new().await;
    let session = Uuid::new_v4();
    let name = format!("ws-{session}");
    let pods = fx.pods();
    let params = WatchParams::default()
        .fields(&format!("metadata.name={name}"))
        .timeout(10);
    let watch = pods.watch(&params, "0").await.unwrap();
    let rt = fx.rt.clone();
    let ensure = tokio::spawn(async move { rt.ensure(session).await });
    let mut watch = Box::pin(watch);
    let mut seen = Vec::new();
    use futures_util::StreamExt;
    while let Some(event) = watch.next().await {
        match event.unwrap() {
            WatchEvent::Added(pod) => {
                seen.push(format!("ADDED {}", pod.status.unwrap().phase.unwrap()))
            }
            WatchEvent::Modified(pod) => {
                let phase = pod.status.unwrap().phase.unwrap();
                let rv = pod.metadata.resource_version.unwrap();
                seen.push(format!("MODIFIED {phase}"));
                assert!(rv.parse::<u64>().is_ok());
                if phase == "Running" {
                    break;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    ensure.await.unwrap().unwrap();
    assert_eq!(seen.first().map(String::as_str), Some("ADDED Pending"));
    assert_eq!(seen.last().map(String::as_str), Some("MODIFIED Running"));
    // Another pod's events are not in this watch (the field selector).
    assert!(seen.len() <= 3, "{seen:?}");
}

#[tokio::test]
async fn an_exec_of_a_missing_program_reports_failure() {
    let fx = Fixture::new().await;
    let session = Uuid::new_v4();
    fx.rt.ensure(session).await.unwrap();
    let mut process = fx
        .pods()
        .exec(
            &format!("ws-{session}"),
            ["python3", "-c", "print(1)"],
            &kube::api::AttachParams::default()
                .stdin(false)
                .stderr(false),
        )
        .await
        .unwrap();
    let status = process.take_status().unwrap().await.unwrap();
    assert_eq!(status.status.as_deref(), Some("Failure"));
    let mut out = Vec::new();
    process
        .stdout()
        .unwrap()
        .read_to_end(&mut out)
        .await
        .unwrap();
    assert!(out.is_empty());
}

/// Shutting the stream's write side down ends the exec's stdin only (v5 close signal): the
/// answer to what was sent before still arrives, then the stream ends.
#[tokio::test]
async fn closing_stdin_still_delivers_the_answers_then_ends() {
    use tokio::io::AsyncWriteExt;
    let fx = Fixture::new().await;
    fx.fake.set_exec_protocols(&["v5.channel.k8s.io"]);
    let session = Uuid::new_v4();
    fx.rt.ensure(session).await.unwrap();
    let mut agent = Agent::connect(fx.rt.as_ref(), session).await;
    agent
        .writer
        .send(&agent_protocol::Frame::Ping { nonce: 4242 })
        .await
        .unwrap();
    agent.writer.get_mut().shutdown().await.unwrap();
    let mut pongs = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(frame)) = agent.reader.read_frame().await {
            if let agent_protocol::Frame::Pong { nonce } = frame {
                pongs.push(nonce);
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream did not end after stdin closed");
    assert_eq!(pongs, vec![4242]);
}

#[tokio::test]
async fn an_invalid_pod_and_throttling_are_reported_or_retried() {
    let fx = Fixture::new().await;
    fx.fake.fail_next(1, 422, Some("POST"));
    let message = unavailable(fx.rt.ensure(Uuid::new_v4()).await);
    assert!(message.contains("invalid"), "{message}");
    assert!(message.contains("KUBERNETES_"), "{message}");
    fx.fake.fail_next(2, 429, Some("GET"));
    fx.rt.ensure(Uuid::new_v4()).await.unwrap();
}

/// kube's own watcher (list, then watch from the list's resourceVersion) sees the fake's
/// pods change.
#[tokio::test]
async fn kubes_await_condition_works_against_the_fake() {
    use kube::runtime::wait::{await_condition, conditions};
    let fx = Fixture::new().await;
    let session = Uuid::new_v4();
    let rt = fx.rt.clone();
    let ensure = tokio::spawn(async move { rt.ensure(session).await });
    let running = tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(
            fx.pods(),
            &format!("ws-{session}"),
            conditions::is_pod_running(),
        ),
    )
    .await
    .expect("the watcher saw the pod run")
    .unwrap()
    .expect("the pod exists");
    assert_eq!(running.status.unwrap().phase.as_deref(), Some("Running"));
    ensure.await.unwrap().unwrap();
    let watched = fx
        .fake
        .requests()
        .iter()
        .any(|r| r.contains("watch=true") && r.contains("resourceVersion="));
    assert!(watched, "{:?}", fx.fake.requests());
}

/// The runtime with `settings` changed, over `fx`'s fake.
fn runtime_where(fx: &Fixture, change: impl FnOnce(&mut KubeSettings)) -> KubeRuntime {
    let mut settings = KubeSettings::for_namespace(NS);
    settings.start_timeout = Duration::from_secs(20);
    settings.terminating_timeout = Duration::from_secs(10);
    change(&mut settings);
    let config = kube::Config::new(fx.fake.url().parse().unwrap());
    KubeRuntime::new(settings, ClientSource::Config(config))
}

/// GETs of the session's pod so far (polls, and the look before a create).
fn pod_gets(fx: &Fixture, session: Uuid) -> usize {
    let prefix = format!("GET /api/v1/namespaces/{NS}/pods/ws-{session}");
    fx.fake
        .requests()
        .iter()
        .filter(|r| r.starts_with(&prefix))
        .count()
}

/// Watch requests on the session's pod so far.
fn watches(fx: &Fixture, session: Uuid) -> usize {
    let selector = format!("fieldSelector=metadata.name%3Dws-{session}");
    fx.fake
        .requests()
        .iter()
        .filter(|r| r.contains("watch=true") && r.contains(&selector))
        .count()
}

/// Waiting for readiness follows the pod with a watch: the pod is used as soon as it is
/// ready, not at the next poll (here a minute away), and no GET polls it meanwhile.
#[tokio::test]
async fn a_starting_pod_is_watched_not_polled() {
    let fx = Fixture::new().await;
    fx.fake.set_fate(Fate::Ready {
        after: Duration::from_millis(400),
    });
    let rt = runtime_where(&fx, |s| s.poll_interval = Duration::from_secs(60));
    let session = Uuid::new_v4();
    let ensure = tokio::time::timeout(Duration::from_secs(20), rt.ensure(session)).await;
    let sandbox = ensure.expect("ready long before the next poll").unwrap();
    assert!(sandbox.created);
    assert!(watches(&fx, session) >= 1, "{:?}", fx.fake.requests());
    let gets = pod_gets(&fx, session);
    assert_eq!(
        gets,
        1,
        "one GET before the create: {:?}",
        fx.fake.requests()
    );
}

/// Waiting out a terminating pod follows it with a watch too.
#[tokio::test]
async fn a_terminating_pod_is_watched_until_it_is_gone() {
    let fx = Fixture::new().await;
    fx.fake.set_terminating_for(Duration::from_millis(300));
    let rt = runtime_where(&fx, |s| s.poll_interval = Duration::from_secs(60));
    let session = Uuid::new_v4();
    rt.ensure(session).await.unwrap();
    let old_uid = fx.pod(session)["metadata"]["uid"].clone();
    rt.stop(session).await.unwrap();
    let ensure = tokio::time::timeout(Duration::from_secs(20), rt.ensure(session)).await;
    assert!(
        ensure
            .expect("done long before the next poll")
            .unwrap()
            .created
    );
    assert_ne!(fx.pod(session)["metadata"]["uid"], old_uid);
}

/// Where watching is refused (RBAC without `watch`, a proxy that breaks it), the waits fall
/// back to polling with GET and still succeed.
#[tokio::test]
async fn when_watching_fails_the_waits_poll_instead() {
    let fx = Fixture::new().await;
    fx.fake.set_fate(Fate::Ready {
        after: Duration::from_millis(300),
    });
    fx.fake.set_terminating_for(Duration::from_millis(300));
    fx.fake.fail_next(1000, 403, Some("WATCH"));
    let rt = runtime_where(&fx, |s| s.poll_interval = Duration::from_millis(50));
    let session = Uuid::new_v4();
    assert!(rt.ensure(session).await.unwrap().created);
    rt.stop(session).await.unwrap();
    assert!(rt.ensure(session).await.unwrap().created);
    // One attempt per wait (ready, gone, ready): a refusal is not asked again at every poll.
    let tried = watches(&fx, session);
    assert!((2..=3).contains(&tried), "{tried} watch attempts");
    let gets = pod_gets(&fx, session);
    assert!(gets >= 6, "it polled instead: {:?}", fx.fake.requests());
    let mut term = Term::open(&rt, session, "main").await;
    assert!(
        term.run("echo \"polled-$((3*3))\"")
            .await
            .contains("polled-9")
    );
}
