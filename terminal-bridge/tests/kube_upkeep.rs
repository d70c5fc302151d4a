//! The kube runtime's upkeep against the fake API server: the reaper, activity stamps, and
//! the warm pool (claims, refills, races between replicas).
//!
//! Needs the `pod-agent` binary built (`cargo build --bins`).

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::term::Term;

use common::kube::{Fixture, NS, eventually, live_pods, ready_warm, runtime_with_pool};
use serde_json::json;
use terminal_bridge::runtime::{ReapReason, Runtime, RuntimeError};
use test_support::Fate;
use uuid::Uuid;

#[tokio::test]
async fn the_reaper_removes_ended_stale_and_unknown_pods_only() {
    let fx = Fixture::new().await;
    let [good, failed, stale, unknown, watched, fresh_unknown] = [(); 6].map(|_| Uuid::new_v4());
    for session in [good, failed, stale, unknown, watched, fresh_unknown] {
        fx.rt.ensure(session).await.unwrap();
    }
    fx.create_foreign_pod(json!({})).await;
    fx.fake.update_pod(NS, &format!("ws-{failed}"), |pod| {
        pod["status"]["phase"] = json!("Failed");
    });
    let listed = fx.rt.list().await.unwrap();
    assert!(
        !listed.iter().any(|s| s.session == failed),
        "an ended pod is not a running sandbox: {listed:?}"
    );
    // Quiet for long: a stale one, an unknown one, and one its bridge watches (which that
    // bridge stops itself, after saving its files).
    for session in [stale, unknown, watched] {
        fx.fake.update_pod(NS, &format!("ws-{session}"), |pod| {
            pod["metadata"]["annotations"]["code-exec.dev/last-activity"] =
                json!("2026-01-01T12:00:00Z");
        });
    }
    // The good one was just touched; `fresh_unknown` was just made, so it may belong to a
    // session newer than the caller's list of known ones.
    fx.rt.touch(good).await.unwrap();
    let known: HashSet<Uuid> = [good, failed, stale, watched].into();
    let watching: HashSet<Uuid> = [watched].into();
    let hour = Duration::from_secs(3600);
    let mut reaped = fx.rt.reap(&known, &watching, hour).await.unwrap();
    reaped.sort_by_key(|r| r.id.clone());
    let mut expected = vec![
        (format!("ws-{failed}"), ReapReason::Ended),
        (format!("ws-{stale}"), ReapReason::Stale),
        (format!("ws-{unknown}"), ReapReason::Unknown),
    ];
    expected.sort_by_key(|(pod, _)| pod.clone());
    assert_eq!(
        reaped
            .iter()
            .map(|r| (r.id.clone(), r.reason))
            .collect::<Vec<_>>(),
        expected
    );
    // Every delete carried the pod's uid.
    assert!(fx.fake.deletes().iter().all(|(_, uid)| uid.is_some()));
    eventually("the reaped pods' deletion", || fx.fake.pods(NS).len() == 4).await;
    let left: Vec<String> = fx
        .fake
        .pods(NS)
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    for kept in [good, watched, fresh_unknown] {
        assert!(left.contains(&format!("ws-{kept}")), "{left:?}");
    }
    assert!(left.contains(&"unrelated".to_string()));
    // A second pass finds nothing more.
    assert!(
        fx.rt
            .reap(&known, &watching, hour)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn touch_updates_the_activity_annotation() {
    let fx = Fixture::new().await;
    let session = Uuid::new_v4();
    fx.rt.ensure(session).await.unwrap();
    fx.fake.update_pod(NS, &format!("ws-{session}"), |pod| {
        pod["metadata"]["annotations"]["code-exec.dev/last-activity"] =
            json!("2026-01-01T12:00:00Z");
    });
    fx.rt.touch(session).await.unwrap();
    let stamp = fx.pod(session)["metadata"]["annotations"]["code-exec.dev/last-activity"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap();
    let age = jiff::Timestamp::now().duration_since(stamp);
    assert!(age.as_secs() < 60, "{stamp}");
    assert!(matches!(
        fx.rt.touch(Uuid::new_v4()).await,
        Err(RuntimeError::NotRunning)
    ));
}

#[tokio::test]
async fn a_warm_pod_is_claimed_used_and_the_pool_refilled() {
    let fx = Fixture::new().await;
    let rt = runtime_with_pool(&fx.fake, 2);
    assert_eq!(rt.fill_pool().await.unwrap(), 2);
    assert_eq!(rt.fill_pool().await.unwrap(), 0, "already full");
    eventually("two ready warm pods", || ready_warm(&fx.fake) == 2).await;
    // The unassigned pods are not workspaces, and the reaper leaves them alone.
    assert!(rt.list().await.unwrap().is_empty());
    assert!(
        rt.reap(&HashSet::new(), &HashSet::new(), Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    // A new pod would now take 3 s to start; a claimed one is ready at once.
    fx.fake.set_fate(Fate::Ready {
        after: Duration::from_secs(3),
    });
    let session = Uuid::new_v4();
    let started = Instant::now();
    let sandbox = rt.ensure(session).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a claim does not wait for a pod"
    );
    assert!(sandbox.created);
    assert!(sandbox.id.starts_with("ws-pool-"), "{}", sandbox.id);
    let pod = fx.fake.pod(NS, &sandbox.id).unwrap();
    assert_eq!(pod["metadata"]["labels"]["code-exec.dev/pool"], "claimed");
    assert_eq!(
        pod["metadata"]["labels"]["code-exec.dev/workspace-id"],
        session.to_string()
    );
    // It is the session's pod from now on: reused, connected to, listed, stopped.
    assert_eq!(rt.ensure(session).await.unwrap().id, sandbox.id);
    let mut term = Term::open(&rt, session, "main").await;
    assert_eq!(term.run("echo $((6*7))").await, "42");
    assert_eq!(
        rt.list()
            .await
            .unwrap()
            .iter()
            .map(|s| s.id.clone())
            .collect::<Vec<_>>(),
        vec![sandbox.id.clone()]
    );
    eventually("the pool's refill", || ready_warm(&fx.fake) == 2).await;
    rt.stop(session).await.unwrap();
    eventually("the claimed pod's deletion", || {
        fx.fake.pod(NS, &sandbox.id).is_none()
    })
    .await;
    assert_eq!(ready_warm(&fx.fake), 2);
}

#[tokio::test]
async fn a_claim_is_atomic() {
    let fx = Fixture::new().await;
    let rt = runtime_with_pool(&fx.fake, 1);
    rt.fill_pool().await.unwrap();
    eventually("a ready warm pod", || ready_warm(&fx.fake) == 1).await;
    let warm = live_pods(&fx.fake).remove(0);
    let name = warm["metadata"]["name"].as_str().unwrap().to_string();
    let rv = warm["metadata"]["resourceVersion"].clone();
    let claim = |session: Uuid| {
        let pods = fx.pods();
        let name = name.clone();
        let body = json!({"metadata": {"resourceVersion": rv,
                          "labels": {"code-exec.dev/workspace-id": session.to_string()}}});
        async move {
            pods.patch(
                &name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&body),
            )
            .await
        }
    };
    let (a, b) = tokio::join!(claim(Uuid::new_v4()), claim(Uuid::new_v4()));
    assert_eq!(
        [&a, &b].iter().filter(|r| r.is_ok()).count(),
        1,
        "{a:?} {b:?}"
    );
    let loser = if a.is_ok() { b } else { a };
    assert!(matches!(loser, Err(kube::Error::Api(s)) if s.code == 409));
}

#[tokio::test]
async fn concurrent_claims_give_each_session_exactly_one_pod() {
    let fx = Fixture::new().await;
    let one = Arc::new(runtime_with_pool(&fx.fake, 3));
    let two = Arc::new(runtime_with_pool(&fx.fake, 3));
    one.fill_pool().await.unwrap();
    eventually("three ready warm pods", || ready_warm(&fx.fake) == 3).await;
    let shared = Uuid::new_v4();
    let (x, y) = (Uuid::new_v4(), Uuid::new_v4());
    let (a, b, c, d, e, f) = tokio::join!(
        one.ensure(shared),
        two.ensure(shared),
        one.ensure(shared),
        two.ensure(shared),
        one.ensure(x),
        two.ensure(y)
    );
    let same = [a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()];
    let (x_pod, y_pod) = (e.unwrap(), f.unwrap());
    assert!(same.iter().all(|s| s.id == same[0].id), "{same:?}");
    assert_ne!(x_pod.id, y_pod.id);
    assert_ne!(x_pod.id, same[0].id);
    assert_ne!(y_pod.id, same[0].id);
    for (session, id) in [(shared, &same[0].id), (x, &x_pod.id), (y, &y_pod.id)] {
        let mine: Vec<String> = live_pods(&fx.fake)
            .iter()
            .filter(|p| {
                p["metadata"]["labels"]["code-exec.dev/workspace-id"] == session.to_string()
            })
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(&mine, &vec![id.clone()], "one live pod for {session}");
    }
}

#[tokio::test]
async fn the_pool_is_kept_filled_in_the_background() {
    let fx = Fixture::new().await;
    let rt = Arc::new(runtime_with_pool(&fx.fake, 2));
    rt.keep_pool_filled(Duration::from_millis(100));
    eventually("two ready warm pods", || ready_warm(&fx.fake) == 2).await;
    let lost = live_pods(&fx.fake).remove(0);
    assert!(
        fx.fake
            .remove_pod(NS, lost["metadata"]["name"].as_str().unwrap())
    );
    eventually("a replacement", || {
        ready_warm(&fx.fake) == 2
            && fx
                .fake
                .pod(NS, lost["metadata"]["name"].as_str().unwrap())
                .is_none()
    })
    .await;
    // Dropping the runtime ends the refills.
    drop(rt);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = fx.fake.requests().len();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(fx.fake.requests().len(), before);
}
