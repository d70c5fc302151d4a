//! What happens to a fake pod after its creation (its [`Fate`]) and after its deletion
//! (a short `Terminating` period, then gone, its agent killed).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::Shared;
use super::store::{Fate, now};

/// Plays `fate` for the pod `(namespace, name)` with `uid`.
pub async fn play(shared: Arc<Shared>, namespace: String, name: String, uid: String, fate: Fate) {
    let key = (namespace.clone(), name.clone());
    let update = |f: &dyn Fn(&mut Value)| shared.update_if(&key, &uid, f);
    match fate {
        Fate::Pending => {}
        Fate::Unschedulable => {
            tokio::time::sleep(Duration::from_millis(50)).await;
            update(&|pod| {
                pod["status"]["conditions"] = json!([{
                    "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": "0/3 nodes are available: 3 Insufficient memory.",
                    "lastTransitionTime": now(),
                }]);
            });
        }
        Fate::ImagePullBackOff => {
            tokio::time::sleep(Duration::from_millis(50)).await;
            update(&|pod| scheduled(pod, waiting("ContainerCreating", "")));
            tokio::time::sleep(Duration::from_millis(50)).await;
            update(&|pod| {
                let image = pod["spec"]["containers"][0]["image"].clone();
                let message = format!("failed to pull image {image}: not found");
                scheduled(pod, waiting("ErrImagePull", &message));
            });
            tokio::time::sleep(Duration::from_millis(50)).await;
            update(&|pod| {
                let image = pod["spec"]["containers"][0]["image"].clone();
                let message = format!("Back-off pulling image {image}");
                scheduled(pod, waiting("ImagePullBackOff", &message));
            });
        }
        Fate::Failed => {
            tokio::time::sleep(Duration::from_millis(50)).await;
            update(&|pod| {
                scheduled(
                    pod,
                    json!({"terminated": {"exitCode": 1, "reason": "Error"}}),
                );
                pod["status"]["phase"] = json!("Failed");
                pod["status"]["message"] = json!("the workspace container exited with code 1");
            });
        }
        Fate::Ready { after } => {
            tokio::time::sleep(after / 2).await;
            update(&|pod| scheduled(pod, waiting("ContainerCreating", "")));
            tokio::time::sleep(after / 2).await;
            if let Err(err) = shared.start_agent(&key, &uid).await {
                update(&|pod| {
                    pod["status"]["phase"] = json!("Failed");
                    pod["status"]["message"] = json!(format!("the fake's agent: {err}"));
                });
                return;
            }
            update(&|pod| {
                scheduled(pod, json!({"running": {"startedAt": now()}}));
                pod["status"]["phase"] = json!("Running");
                pod["status"]["containerStatuses"][0]["ready"] = json!(true);
                pod["status"]["containerStatuses"][0]["started"] = json!(true);
                let conditions = pod["status"]["conditions"]
                    .as_array_mut()
                    .expect("set above");
                for kind in ["Initialized", "ContainersReady", "Ready"] {
                    conditions.push(json!({"type": kind, "status": "True",
                                           "lastTransitionTime": now()}));
                }
            });
        }
    }
}

/// Marks the pod scheduled with its one container in `state`.
fn scheduled(pod: &mut Value, state: Value) {
    let image = pod["spec"]["containers"][0]["image"].clone();
    let container = pod["spec"]["containers"][0]["name"].clone();
    pod["spec"]["nodeName"] = json!("fake-node-1");
    pod["status"]["conditions"] = json!([{
        "type": "PodScheduled", "status": "True", "lastTransitionTime": now(),
    }]);
    pod["status"]["containerStatuses"] = json!([{
        "name": container, "image": image, "imageID": "", "ready": false,
        "restartCount": 0, "started": false, "state": state,
    }]);
}

fn waiting(reason: &str, message: &str) -> Value {
    let mut waiting = json!({"reason": reason});
    if !message.is_empty() {
        waiting["message"] = json!(message);
    }
    json!({ "waiting": waiting })
}

/// Removes the pod after its `Terminating` period, if it is still the same pod.
pub async fn finish_deletion(
    shared: Arc<Shared>,
    namespace: String,
    name: String,
    uid: String,
    after: Duration,
) {
    tokio::time::sleep(after).await;
    shared.remove_if(&(namespace, name), Some(&uid));
}
