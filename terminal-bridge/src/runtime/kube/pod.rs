//! The workspace pod: its name, labels and annotation, the hardened spec of
//! `k8s/workspace-pod.example.yaml`, and reading a pod's state back.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use uuid::Uuid;

use super::settings::KubeSettings;

/// Label every pod of this runtime carries (the NetworkPolicy and `list` select it).
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "terminal-bridge");
/// Label naming the pod's role.
pub const COMPONENT: (&str, &str) = ("app.kubernetes.io/component", "workspace");
/// Label holding the workspace (session) id.
pub const WORKSPACE_ID: &str = "code-exec.dev/workspace-id";
/// Annotation with the time of the last activity, RFC 3339 (drives the stale-pod reaper).
pub const LAST_ACTIVITY: &str = "code-exec.dev/last-activity";
/// Label of warm-pool pods: `warm` while unassigned, `claimed` once given to a session.
pub const POOL: &str = "code-exec.dev/pool";
/// The container running `pod-agent daemon`.
pub const CONTAINER: &str = "workspace";
/// The agent's socket inside the pod.
pub const AGENT_SOCKET: &str = "/run/pod-agent/agent.sock";

/// The label selector of every pod this runtime manages.
pub fn managed_selector() -> String {
    format!(
        "{}={},{}={}",
        MANAGED_BY.0, MANAGED_BY.1, COMPONENT.0, COMPONENT.1
    )
}

/// The pod's name: `ws-` and the session's UUID (deterministic, so a second bridge finds it).
pub fn pod_name(session: Uuid) -> String {
    format!("ws-{session}")
}

/// The command `connect` execs in the pod.
pub fn connect_command() -> Vec<String> {
    ["pod-agent", "connect", "--socket", AGENT_SOCKET]
        .map(String::from)
        .to_vec()
}

/// Now, as the last-activity annotation writes it.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map_or_else(
            |_| jiff::Timestamp::now().to_string(),
            |now| now.to_string(),
        )
}

/// The pod of `session`'s workspace.
pub fn workspace_pod(settings: &KubeSettings, session: Uuid) -> Pod {
    shaped_pod(
        settings,
        &pod_name(session),
        (WORKSPACE_ID, &session.to_string()),
    )
}

/// An unassigned warm-pool pod (`ws-pool-<random>`), labelled `code-exec.dev/pool=warm`.
pub fn pool_pod(settings: &KubeSettings) -> Pod {
    let id = Uuid::new_v4().simple().to_string();
    shaped_pod(settings, &format!("ws-pool-{}", &id[..12]), (POOL, "warm"))
}

/// The label selector of unassigned warm-pool pods.
pub fn warm_selector() -> String {
    format!("{},{POOL}=warm", managed_selector())
}

/// The label selector of every pod of `session` (named or claimed from the pool).
pub fn session_selector(session: Uuid) -> String {
    format!("{},{WORKSPACE_ID}={session}", managed_selector())
}

/// True for a warm-pool pod not yet given to a session.
pub fn is_warm(pod: &Pod) -> bool {
    labels(pod).get(POOL).is_some_and(|v| v == "warm")
}

fn shaped_pod(settings: &KubeSettings, name: &str, label: (&str, &str)) -> Pod {
    let mut spec = json!({
        "automountServiceAccountToken": false,
        "enableServiceLinks": false,
        "restartPolicy": "Never",
        "activeDeadlineSeconds": settings.active_deadline_seconds,
        "terminationGracePeriodSeconds": 5,
        "hostname": "workspace",
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "fsGroup": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [{
            "name": CONTAINER,
            "image": settings.image,
            "imagePullPolicy": settings.image_pull_policy,
            "command": ["pod-agent", "daemon", "--workspace", "/workspace", "--socket", AGENT_SOCKET],
            "workingDir": "/workspace",
            "env": [{"name": "HOME", "value": "/home/sandbox"}],
            "readinessProbe": {
                "exec": {"command": ["test", "-S", AGENT_SOCKET]},
                "periodSeconds": 1,
                "failureThreshold": 30,
            },
            "resources": {
                "requests": {
                    "cpu": settings.cpu_request,
                    "memory": settings.memory_request,
                    "ephemeral-storage": settings.ephemeral_storage_request,
                },
                "limits": {
                    "cpu": settings.cpu_limit,
                    "memory": settings.memory_limit,
                    "ephemeral-storage": settings.ephemeral_storage_limit,
                },
            },
            "securityContext": {
                "runAsNonRoot": true,
                "allowPrivilegeEscalation": false,
                "readOnlyRootFilesystem": true,
                "privileged": false,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "volumeMounts": [
                {"name": "workspace", "mountPath": "/workspace"},
                {"name": "tmp", "mountPath": "/tmp"},
                {"name": "home", "mountPath": "/home/sandbox"},
                {"name": "run", "mountPath": "/run/pod-agent"},
            ],
        }],
        "volumes": [
            {"name": "workspace", "emptyDir": {"sizeLimit": settings.workspace_size_limit}},
            {"name": "tmp", "emptyDir": {"sizeLimit": settings.tmp_size_limit}},
            {"name": "home", "emptyDir": {"sizeLimit": "128Mi"}},
            {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
        ],
    });
    if let Some(class) = &settings.runtime_class_name {
        spec["runtimeClassName"] = json!(class);
    }
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": settings.namespace,
            "labels": {
                "app.kubernetes.io/name": "workspace",
                COMPONENT.0: COMPONENT.1,
                "app.kubernetes.io/part-of": "code-exec-platform",
                MANAGED_BY.0: MANAGED_BY.1,
                label.0: label.1,
            },
            "annotations": {LAST_ACTIVITY: now_rfc3339()},
        },
        "spec": spec,
    });
    serde_json::from_value(pod).expect("the workspace pod is a valid Pod")
}

/// The session a managed pod belongs to, from its label.
pub fn session_of(pod: &Pod) -> Option<Uuid> {
    labels(pod)
        .get(WORKSPACE_ID)
        .and_then(|id| Uuid::parse_str(id).ok())
}

fn labels(pod: &Pod) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    pod.metadata.labels.as_ref().unwrap_or(&EMPTY)
}

/// The pod's uid (set by the API server).
pub fn uid(pod: &Pod) -> Option<String> {
    pod.metadata.uid.clone()
}

/// The pod's name.
pub fn name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

/// True once deletion has begun.
pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// The pod's phase (`Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`).
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|status| status.phase.as_deref())
        .unwrap_or("Pending")
}

/// True when the pod has ended for good.
pub fn is_finished(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// True when the pod runs and its readiness probe (the agent's socket) passes.
pub fn is_ready(pod: &Pod) -> bool {
    phase(pod) == "Running"
        && pod
            .status
            .as_ref()
            .and_then(|status| status.conditions.as_ref())
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            })
}

/// When the pod was last active (its annotation), if it says.
pub fn last_activity(pod: &Pod) -> Option<jiff::Timestamp> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(LAST_ACTIVITY)?
        .parse()
        .ok()
}

/// Why a pod that is not ready never will be, in words for the user; `None` while it may
/// still become ready.
pub fn fatal_reason(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() == Some("Failed") {
        let why = status
            .message
            .clone()
            .or_else(|| status.reason.clone())
            .unwrap_or_else(|| "no reason given".into());
        return Some(format!("the workspace's pod failed: {why}"));
    }
    if status.phase.as_deref() == Some("Succeeded") {
        return Some("the workspace's pod exited".into());
    }
    for condition in status.conditions.iter().flatten() {
        if condition.type_ == "PodScheduled"
            && condition.status == "False"
            && condition.reason.as_deref() == Some("Unschedulable")
        {
            let why = condition.message.clone().unwrap_or_default();
            return Some(format!(
                "no node can run the workspace right now (unschedulable: {why}); try again later"
            ));
        }
    }
    let statuses = status.container_statuses.iter().flatten();
    let init = status.init_container_statuses.iter().flatten();
    for container in statuses.chain(init) {
        let Some(waiting) = container.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
            continue;
        };
        let reason = waiting.reason.as_deref().unwrap_or("");
        if matches!(
            reason,
            "ImagePullBackOff"
                | "ErrImagePull"
                | "InvalidImageName"
                | "ErrImageNeverPull"
                | "CreateContainerConfigError"
                | "CreateContainerError"
        ) {
            let why = waiting.message.clone().unwrap_or_default();
            return Some(format!(
                "the workspace image cannot be started ({reason}: {why})"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pod_carries_its_session() {
        let session = Uuid::new_v4();
        let pod = workspace_pod(&KubeSettings::for_namespace("ns"), session);
        assert_eq!(name(&pod), format!("ws-{session}"));
        assert_eq!(session_of(&pod), Some(session));
        assert!(last_activity(&pod).is_some());
        assert!(pod.spec.unwrap().runtime_class_name.is_none());
    }

    #[test]
    fn the_runtime_class_is_set_when_configured() {
        let mut settings = KubeSettings::for_namespace("ns");
        settings.runtime_class_name = Some("gvisor".into());
        let pod = workspace_pod(&settings, Uuid::new_v4());
        assert_eq!(
            pod.spec.unwrap().runtime_class_name.as_deref(),
            Some("gvisor")
        );
    }
}
