//! The security properties of the manifests, checked so that they cannot regress silently:
//! hardened pods, least-privilege RBAC, the workspace NetworkPolicy and Pod Security labels.

use std::collections::BTreeSet;

use k8s_manifests::manifests::{self, find, value_at};
use k8s_manifests::pod::{container_name, containers, effective, pod_spec};
use serde_yaml::Value;

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_sequence)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Violations of the hardened-pod rules in one pod spec (empty when it complies).
fn pod_violations(spec: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        if spec.get(key).and_then(Value::as_bool) == Some(true) {
            problems.push(format!("{key} is true"));
        }
    }
    for volume in spec
        .get("volumes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        if volume.get("hostPath").is_some() {
            problems.push("a hostPath volume".into());
        }
    }
    let all = containers(spec);
    if all.is_empty() {
        problems.push("no containers".into());
    }
    for container in all {
        let name = container_name(container);
        let own = |path: &[&str]| {
            container
                .get("securityContext")
                .and_then(|sc| value_at(sc, path))
        };
        let mut require = |ok: bool, what: &str| {
            if !ok {
                problems.push(format!("container {name}: {what}"));
            }
        };
        require(
            effective(spec, container, &["runAsNonRoot"]).and_then(Value::as_bool) == Some(true),
            "runAsNonRoot is not true",
        );
        let uid = effective(spec, container, &["runAsUser"]).and_then(Value::as_u64);
        require(uid != Some(0), "runAsUser is 0");
        require(
            effective(spec, container, &["seccompProfile", "type"]).and_then(Value::as_str)
                == Some("RuntimeDefault"),
            "seccompProfile is not RuntimeDefault",
        );
        require(
            own(&["allowPrivilegeEscalation"]).and_then(Value::as_bool) == Some(false),
            "allowPrivilegeEscalation is not false",
        );
        require(
            own(&["readOnlyRootFilesystem"]).and_then(Value::as_bool) == Some(true),
            "readOnlyRootFilesystem is not true",
        );
        require(
            own(&["privileged"]).and_then(Value::as_bool) != Some(true),
            "privileged",
        );
        require(
            strings(own(&["capabilities", "drop"])) == ["ALL"],
            "capabilities.drop is not [ALL]",
        );
        require(
            strings(own(&["capabilities", "add"])).is_empty(),
            "capabilities are added",
        );
        for resource in ["cpu", "memory", "ephemeral-storage"] {
            require(
                value_at(container, &["resources", "limits", resource]).is_some(),
                &format!("no {resource} limit"),
            );
        }
    }
    problems
}

#[test]
fn every_workload_pod_is_hardened() {
    let mut checked = BTreeSet::new();
    let mut problems = Vec::new();
    for resource in manifests::all_resources().unwrap() {
        let Some(spec) = pod_spec(&resource) else {
            continue;
        };
        checked.insert(resource.kind_name());
        for problem in pod_violations(spec) {
            problems.push(format!("{}: {problem}", resource.kind_name()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    for expected in [
        "deployment/terminal-bridge",
        "statefulset/postgres",
        "job/terminal-bridge-migrate",
        "pod/ws-3f0c5a3e-9b7d-4c1e-8f2a-0d6b4e9c7a11",
    ] {
        assert!(
            checked.contains(expected),
            "{expected} not checked: {checked:?}"
        );
    }
}

/// Makes one hardened setting of a pod spec weaker.
type Weaken = fn(&mut Value);

#[test]
fn the_hardening_check_catches_each_weakening() {
    let pod = find("Pod", "ws-3f0c5a3e-9b7d-4c1e-8f2a-0d6b4e9c7a11").unwrap();
    let spec = pod_spec(&pod).unwrap().clone();
    assert!(pod_violations(&spec).is_empty());
    let weakenings: [(&str, Weaken); 7] = [
        ("runAsNonRoot", |s| {
            s["securityContext"]["runAsNonRoot"] = Value::Bool(false);
            s["containers"][0]["securityContext"]
                .as_mapping_mut()
                .unwrap()
                .remove("runAsNonRoot");
        }),
        ("readOnlyRootFilesystem", |s| {
            s["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = Value::Bool(false)
        }),
        ("allowPrivilegeEscalation", |s| {
            s["containers"][0]["securityContext"]
                .as_mapping_mut()
                .unwrap()
                .remove("allowPrivilegeEscalation");
        }),
        ("capabilities.drop", |s| {
            s["containers"][0]["securityContext"]["capabilities"]["drop"] =
                serde_yaml::from_str("[NET_RAW]").unwrap()
        }),
        ("seccompProfile", |s| {
            s["containers"][0]["securityContext"]["seccompProfile"]["type"] =
                Value::String("Unconfined".into())
        }),
        ("hostNetwork", |s| {
            s["hostNetwork"] = Value::Bool(true);
        }),
        ("limit", |s| {
            s["containers"][0]["resources"]["limits"]
                .as_mapping_mut()
                .unwrap()
                .remove("ephemeral-storage");
        }),
    ];
    for (what, weaken) in weakenings {
        let mut weak = spec.clone();
        weaken(&mut weak);
        let problems = pod_violations(&weak);
        assert!(
            problems.iter().any(|p| p.contains(what)),
            "{what}: not caught ({problems:?})"
        );
    }
}

#[test]
fn workspace_pods_carry_no_credentials_and_have_bounds() {
    let pod = find("Pod", "ws-3f0c5a3e-9b7d-4c1e-8f2a-0d6b4e9c7a11").unwrap();
    let spec = pod_spec(&pod).unwrap();
    assert_eq!(pod.namespace, "code-exec-workspaces");
    assert_eq!(spec["automountServiceAccountToken"], Value::Bool(false));
    assert_eq!(spec["enableServiceLinks"], Value::Bool(false));
    assert_eq!(spec["restartPolicy"].as_str(), Some("Never"));
    assert!(
        spec["activeDeadlineSeconds"]
            .as_u64()
            .is_some_and(|s| s > 0)
    );
    assert!(spec.get("serviceAccountName").is_none());
    let workload = &spec["containers"][0];
    for bound in ["requests", "limits"] {
        for resource in ["cpu", "memory", "ephemeral-storage"] {
            assert!(
                value_at(workload, &["resources", bound, resource]).is_some(),
                "{bound}.{resource}"
            );
        }
    }
    // Every writable place is an emptyDir with a size limit.
    let volumes = spec["volumes"].as_sequence().unwrap();
    for volume in volumes {
        assert!(
            value_at(volume, &["emptyDir", "sizeLimit"]).is_some(),
            "{volume:?} is not a size-limited emptyDir"
        );
    }
    let mounts: BTreeSet<&str> = workload["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|m| m["mountPath"].as_str())
        .collect();
    assert!(
        mounts.contains("/workspace") && mounts.contains("/tmp"),
        "{mounts:?}"
    );
    // Labels the NetworkPolicy and the bridge select on, and the activity annotation.
    let id = pod.name.strip_prefix("ws-").unwrap();
    assert_eq!(
        pod.str_at(&["metadata", "labels", "code-exec.dev/workspace-id"]),
        Some(id)
    );
    assert_eq!(
        pod.str_at(&["metadata", "labels", "app.kubernetes.io/managed-by"]),
        Some("terminal-bridge")
    );
    let activity = pod
        .str_at(&["metadata", "annotations", "code-exec.dev/last-activity"])
        .unwrap();
    assert!(
        activity.len() == 20 && activity.ends_with('Z') && activity.as_bytes()[10] == b'T',
        "{activity} is not an RFC 3339 UTC time"
    );
}

#[test]
fn the_workspace_network_policy_denies_all_traffic() {
    let policy = find("NetworkPolicy", "workspace-deny-all").unwrap();
    let pod = find("Pod", "ws-3f0c5a3e-9b7d-4c1e-8f2a-0d6b4e9c7a11").unwrap();
    assert_eq!(policy.namespace, pod.namespace);
    let spec = &policy.value["spec"];
    let types: BTreeSet<String> = strings(spec.get("policyTypes")).into_iter().collect();
    assert_eq!(
        types,
        BTreeSet::from(["Ingress".to_string(), "Egress".to_string()])
    );
    assert!(spec.get("ingress").is_none(), "ingress rules allow traffic");
    assert!(spec.get("egress").is_none(), "egress rules allow traffic");
    // It selects workspace pods (by label, not by expression), and the selection is not empty.
    let selector = spec["podSelector"]["matchLabels"].as_mapping().unwrap();
    assert!(!selector.is_empty());
    assert!(spec["podSelector"].get("matchExpressions").is_none());
    for (key, value) in selector {
        let key = key.as_str().unwrap();
        assert_eq!(
            pod.value["metadata"]["labels"][key], *value,
            "the workspace pod lacks label {key}"
        );
    }
}

#[test]
fn the_bridge_may_only_manage_pods_and_exec_in_the_workspace_namespace() {
    let role = find("Role", "terminal-bridge-workspaces").unwrap();
    assert_eq!(role.namespace, "code-exec-workspaces");
    let mut granted = BTreeSet::new();
    for rule in role.value["rules"].as_sequence().unwrap() {
        assert!(rule.get("resourceNames").is_none() && rule.get("nonResourceURLs").is_none());
        for group in strings(rule.get("apiGroups")) {
            for resource in strings(rule.get("resources")) {
                for verb in strings(rule.get("verbs")) {
                    granted.insert(format!("{group}/{resource}:{verb}"));
                }
            }
        }
    }
    let expected: BTreeSet<String> = [
        "/pods:create",
        "/pods:get",
        "/pods:list",
        "/pods:watch",
        "/pods:delete",
        "/pods:patch",
        "/pods/exec:create",
        "/pods/exec:get",
    ]
    .map(String::from)
    .into();
    assert_eq!(granted, expected);

    let binding = find("RoleBinding", "terminal-bridge-workspaces").unwrap();
    assert_eq!(binding.namespace, role.namespace);
    assert_eq!(binding.str_at(&["roleRef", "kind"]), Some("Role"));
    assert_eq!(
        binding.str_at(&["roleRef", "name"]),
        Some(role.name.as_str())
    );
    let subjects = binding.value["subjects"].as_sequence().unwrap();
    assert_eq!(subjects.len(), 1);
    assert_eq!(subjects[0]["kind"].as_str(), Some("ServiceAccount"));
    assert_eq!(subjects[0]["name"].as_str(), Some("terminal-bridge"));
    assert_eq!(subjects[0]["namespace"].as_str(), Some("code-exec"));

    let bridge = find("Deployment", "terminal-bridge").unwrap();
    assert_eq!(
        bridge.str_at(&["spec", "template", "spec", "serviceAccountName"]),
        Some("terminal-bridge")
    );
    // No other grant anywhere: no cluster-wide roles, no other bindings.
    let resources = manifests::all_resources().unwrap();
    let rbac: Vec<String> = resources
        .iter()
        .filter(|r| r.api_version.starts_with("rbac.authorization.k8s.io/"))
        .map(|r| r.kind_name())
        .collect();
    assert_eq!(
        rbac,
        [
            "role/terminal-bridge-workspaces",
            "rolebinding/terminal-bridge-workspaces"
        ]
    );
}

#[test]
fn the_workspace_namespace_enforces_pod_security_restricted() {
    let workspaces = find("Namespace", "code-exec-workspaces").unwrap();
    for mode in ["enforce", "audit", "warn"] {
        let label = format!("pod-security.kubernetes.io/{mode}");
        assert_eq!(
            workspaces.str_at(&["metadata", "labels", &label]),
            Some("restricted"),
            "{label}"
        );
    }
    // The platform namespace enforces at least baseline and reports against restricted.
    let platform = find("Namespace", "code-exec").unwrap();
    let level = |mode: &str| {
        platform
            .str_at(&[
                "metadata",
                "labels",
                &format!("pod-security.kubernetes.io/{mode}"),
            ])
            .map(String::from)
    };
    assert!(matches!(
        level("enforce").as_deref(),
        Some("baseline" | "restricted")
    ));
    assert_eq!(level("warn").as_deref(), Some("restricted"));
    assert_eq!(level("audit").as_deref(), Some("restricted"));
}

#[test]
fn no_secret_values_are_committed() {
    for manifest in manifests::all().unwrap() {
        for resource in &manifest.resources {
            if resource.kind != "Secret" {
                continue;
            }
            assert!(
                manifest.is_example(),
                "{} holds a Secret outside an example file",
                manifest.file_name()
            );
            assert!(
                resource.value.get("data").is_none(),
                "base64 data in an example"
            );
            for (key, value) in resource.value["stringData"].as_mapping().unwrap() {
                assert!(
                    value.as_str().unwrap().contains("CHANGE-ME"),
                    "{}: {key:?} is not a placeholder",
                    resource.kind_name()
                );
            }
        }
    }
}
