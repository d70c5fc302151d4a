//! Every manifest against the Kubernetes API schemas (kubernetes-validate --strict, offline)
//! and the SpinApp against its CRD's fields; plus proof that both checks can fail.

use std::path::Path;

use k8s_manifests::Manifest;
use k8s_manifests::manifests;
use k8s_manifests::validator::Python;

fn python() -> Python {
    Python::locate().unwrap_or_else(|err| panic!("{err:#}"))
}

fn write(dir: &Path, name: &str, text: &str) -> Manifest {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    Manifest::load(&path).unwrap()
}

#[test]
fn every_manifest_passes_kubernetes_validate_strict() {
    let manifests = manifests::all().unwrap();
    let resources: usize = manifests.iter().map(|m| m.resources.len()).sum();
    // Namespaces x2, LimitRange, ResourceQuota, NetworkPolicy, ServiceAccount, Role,
    // RoleBinding, ConfigMap, Deployment, Service x2, StatefulSet, Job, SpinApp, Secrets x3, Pod.
    assert!(resources >= 19, "only {resources} resources found in k8s/");
    python().kubernetes_validate(&manifests).unwrap();
}

#[test]
fn spinapp_passes_the_spinkube_crd_schema() {
    let manifests = manifests::all().unwrap();
    let spinapps = manifests
        .iter()
        .flat_map(|m| &m.resources)
        .filter(|r| r.kind == "SpinApp")
        .count();
    assert_eq!(spinapps, 1);
    python().validate_spinapps(&manifests).unwrap();
}

#[test]
fn an_unknown_field_or_kind_fails_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let typo = write(
        dir.path(),
        "typo.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {a: b}\nbinaryDataa: {}\n",
    );
    let err = python().kubernetes_validate(&[typo]).unwrap_err();
    assert!(format!("{err:#}").contains("binaryDataa"), "{err:#}");

    // kubernetes-validate itself exits 0 here (it only warns that it has no schema).
    let kind = write(
        dir.path(),
        "kind.yaml",
        "apiVersion: apps/v1\nkind: Deploymnt\nmetadata: {name: a}\n",
    );
    let err = python().kubernetes_validate(&[kind]).unwrap_err();
    assert!(
        format!("{err:#}").contains("no pass reported for deploymnt/a"),
        "{err:#}"
    );

    let wrong_type = write(
        dir.path(),
        "type.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  replicas: two\n  \
         selector: {}\n  template: {}\n",
    );
    assert!(python().kubernetes_validate(&[wrong_type]).is_err());
}

#[test]
fn a_spinapp_without_executor_or_with_unknown_fields_fails() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("no executor", "spec:\n  image: a:1\n"),
        (
            "unknown field",
            "spec:\n  image: a:1\n  executor: containerd-shim-spin\n  replica: 2\n",
        ),
        (
            "value and valueFrom",
            "spec:\n  image: a:1\n  executor: x\n  variables:\n    - name: v\n      value: a\n      \
             valueFrom: {secretKeyRef: {name: s, key: k}}\n",
        ),
        (
            "replicas with autoscaling",
            "spec:\n  image: a:1\n  executor: x\n  enableAutoscaling: true\n  replicas: 2\n",
        ),
    ];
    for (what, spec) in cases {
        let text = format!(
            "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata: {{name: a}}\n{spec}"
        );
        let manifest = write(dir.path(), "spinapp.yaml", &text);
        let result = python().validate_spinapps(&[manifest]);
        assert!(result.is_err(), "{what}: accepted");
    }
}
