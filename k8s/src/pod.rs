//! The pod template of a workload and the effective security settings of its containers.

use serde_yaml::Value;

use crate::manifests::{Resource, value_at};

/// The pod spec of a Pod or of a workload's template; `None` for other kinds.
pub fn pod_spec(resource: &Resource) -> Option<&Value> {
    let path: &[&str] = match resource.kind.as_str() {
        "Pod" => &["spec"],
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            &["spec", "template", "spec"]
        }
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => return None,
    };
    value_at(&resource.value, path)
}

/// Every container of a pod spec: init, regular and ephemeral.
pub fn containers(spec: &Value) -> Vec<&Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .filter_map(|key| spec.get(*key)?.as_sequence())
        .flatten()
        .collect()
}

/// A container's security setting at `path` below its `securityContext`, else the pod's
/// (the container's value wins, as in Kubernetes). Only fields that exist at both levels
/// (runAsNonRoot, runAsUser, seccompProfile, ...) may be asked for this way.
pub fn effective<'a>(spec: &'a Value, container: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let own = container
        .get("securityContext")
        .and_then(|sc| value_at(sc, path));
    own.or_else(|| {
        spec.get("securityContext")
            .and_then(|sc| value_at(sc, path))
    })
}

/// The container's `name`, for messages.
pub fn container_name(container: &Value) -> &str {
    container
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>")
}
