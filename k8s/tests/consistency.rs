//! The manifests agree with each other and with the rest of the repository: the kustomization
//! lists them, the SpinApp binds spin.toml's variables, the bridge runs its real CLI, the
//! example workspace pod follows the runtime settings, the Dockerfiles' users match the pods.

use std::collections::BTreeSet;

use k8s_manifests::manifests::{self, Resource, find, k8s_dir, repo_root, value_at};
use k8s_manifests::pod::pod_spec;
use serde_yaml::Value;

const WORKSPACE_POD: &str = "ws-3f0c5a3e-9b7d-4c1e-8f2a-0d6b4e9c7a11";

fn read(path: &str) -> String {
    std::fs::read_to_string(k8s_dir().join(path)).unwrap()
}

/// The first container of a workload.
fn container(resource: &Resource) -> &Value {
    &pod_spec(resource).unwrap()["containers"][0]
}

/// The env entry `name` of a container.
fn env<'a>(container: &'a Value, name: &str) -> &'a Value {
    container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no env {name}"))
}

/// (user, host:port, database) of a postgres:// URL.
fn split_url(url: &str) -> (String, String, String) {
    let rest = url.strip_prefix("postgres://").unwrap();
    let (credentials, rest) = rest.split_once('@').unwrap();
    let (host, rest) = rest.split_once('/').unwrap();
    let db = rest.split('?').next().unwrap();
    let user = credentials.split(':').next().unwrap();
    (user.into(), host.into(), db.into())
}

/// The example Secret's value for a secretKeyRef.
fn example_secret(reference: &Value) -> String {
    let name = reference["name"].as_str().unwrap();
    let key = reference["key"].as_str().unwrap();
    let secret = find("Secret", name).unwrap();
    secret
        .str_at(&["stringData", key])
        .unwrap_or_else(|| panic!("secret.example.yaml: {name} has no key {key}"))
        .to_string()
}

#[test]
fn the_kustomization_lists_every_manifest_but_the_examples() {
    let kustomization: Value = serde_yaml::from_str(&read("kustomization.yaml")).unwrap();
    let listed: BTreeSet<String> = kustomization["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    let applied: BTreeSet<String> = manifests::all()
        .unwrap()
        .iter()
        .filter(|m| !m.is_example())
        .map(|m| m.file_name().to_string())
        .collect();
    assert_eq!(listed, applied);
    for configuration in kustomization["configurations"].as_sequence().unwrap() {
        let path = configuration.as_str().unwrap();
        let config: Value = serde_yaml::from_str(&read(path)).unwrap();
        assert_eq!(config["images"][0]["kind"].as_str(), Some("SpinApp"));
    }
    // Every image the kustomization renames is one the manifests use.
    let used: BTreeSet<String> = manifests::all_resources()
        .unwrap()
        .iter()
        .flat_map(|r| {
            let mut images: Vec<String> = pod_spec(r)
                .map(|s| k8s_manifests::pod::containers(s))
                .unwrap_or_default()
                .iter()
                .filter_map(|c| c["image"].as_str().map(String::from))
                .collect();
            images.extend(r.str_at(&["spec", "image"]).map(String::from));
            images
        })
        .map(|image| image.split(':').next().unwrap().to_string())
        .collect();
    for image in kustomization["images"].as_sequence().unwrap() {
        let name = image["name"].as_str().unwrap();
        assert!(used.contains(name), "{name} is not used: {used:?}");
    }
}

#[test]
fn the_spinapp_binds_declared_spin_variables() {
    let spin: toml::Table = std::fs::read_to_string(repo_root().join("spin.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let declared = spin["variables"].as_table().unwrap();
    let app = find("SpinApp", "rest-api").unwrap();
    let variables = app.value["spec"]["variables"].as_sequence().unwrap();
    let mut bound = BTreeSet::new();
    for variable in variables {
        let name = variable["name"].as_str().unwrap();
        assert!(declared.contains_key(name), "{name} is not in spin.toml");
        assert!(bound.insert(name), "{name} bound twice");
    }
    // The database credentials come from a Secret, never a literal.
    let url_var = variables
        .iter()
        .find(|v| v["name"].as_str() == Some("database_url"))
        .unwrap();
    let url = example_secret(&url_var["valueFrom"]["secretKeyRef"]);
    // allowed_outbound_hosts uses database_host: it must be the URL's host:port.
    let host = variables
        .iter()
        .find(|v| v["name"].as_str() == Some("database_host"))
        .and_then(|v| v["value"].as_str())
        .unwrap();
    assert_eq!(split_url(&url).1, host);
    // The detailed health check reaches the bridge's Service.
    let bridge_url = variables
        .iter()
        .find(|v| v["name"].as_str() == Some("terminal_bridge_url"))
        .and_then(|v| v["value"].as_str())
        .unwrap();
    let service = find("Service", "terminal-bridge").unwrap();
    let port = service.value["spec"]["ports"][0]["port"].as_u64().unwrap();
    assert_eq!(
        bridge_url,
        format!(
            "http://{}.{}.svc.cluster.local:{port}",
            service.name, service.namespace
        )
    );
}

#[test]
fn the_bridge_and_the_job_run_the_real_cli_against_the_example_secret() {
    let bridge = find("Deployment", "terminal-bridge").unwrap();
    let main = container(&bridge);
    assert_eq!(
        main["args"],
        serde_yaml::from_str::<Value>("[serve]").unwrap()
    );
    let port = main["ports"][0]["containerPort"].as_u64().unwrap();
    let listen = env(main, "BRIDGE_LISTEN")["value"].as_str().unwrap();
    assert_eq!(listen, format!("0.0.0.0:{port}"));
    let port_name = main["ports"][0]["name"].as_str().unwrap();
    for (probe, path) in [
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ] {
        assert_eq!(
            main[probe]["httpGet"]["path"].as_str(),
            Some(path),
            "{probe}"
        );
        assert_eq!(
            main[probe]["httpGet"]["port"].as_str(),
            Some(port_name),
            "{probe}"
        );
    }
    let service = find("Service", "terminal-bridge").unwrap();
    assert_eq!(
        service.value["spec"]["ports"][0]["targetPort"].as_str(),
        Some(port_name)
    );
    let labels = &bridge.value["spec"]["template"]["metadata"]["labels"];
    for (key, value) in service.value["spec"]["selector"].as_mapping().unwrap() {
        assert_eq!(&labels[key.as_str().unwrap()], value);
    }
    let config = main["envFrom"][0]["configMapRef"]["name"].as_str().unwrap();
    find("ConfigMap", config).unwrap();

    let job = find("Job", "terminal-bridge-migrate").unwrap();
    let migrate = container(&job);
    assert_eq!(
        migrate["args"],
        serde_yaml::from_str::<Value>("[migrate]").unwrap()
    );
    assert_eq!(migrate["image"], main["image"]);
    let bridge_db = &env(main, "DATABASE_URL")["valueFrom"]["secretKeyRef"];
    assert_eq!(
        &env(migrate, "DATABASE_URL")["valueFrom"]["secretKeyRef"],
        bridge_db
    );

    // The example URL names the database and user the bundled PostgreSQL creates.
    let (user, host, db) = split_url(&example_secret(bridge_db));
    let postgres = find("StatefulSet", "postgres").unwrap();
    let server = container(&postgres);
    assert_eq!(
        env(server, "POSTGRES_USER")["value"].as_str(),
        Some(user.as_str())
    );
    assert_eq!(
        env(server, "POSTGRES_DB")["value"].as_str(),
        Some(db.as_str())
    );
    assert_eq!(host, "postgres.code-exec.svc.cluster.local:5432");
    let password = &env(server, "POSTGRES_PASSWORD")["valueFrom"]["secretKeyRef"];
    example_secret(password);
}

#[test]
fn the_example_workspace_pod_follows_the_runtime_settings() {
    let config = find("ConfigMap", "terminal-bridge-runtime").unwrap();
    let setting = |key: &str| {
        config
            .str_at(&["data", key])
            .unwrap_or_else(|| panic!("no {key}"))
            .to_string()
    };
    let pod = find("Pod", WORKSPACE_POD).unwrap();
    let spec = pod_spec(&pod).unwrap();
    let main = &spec["containers"][0];
    assert_eq!(setting("BRIDGE_RUNTIME"), "kube");
    assert_eq!(setting("KUBERNETES_NAMESPACE"), pod.namespace);
    assert_eq!(
        setting("KUBERNETES_NAMESPACE"),
        find("Role", "terminal-bridge-workspaces")
            .unwrap()
            .namespace
    );
    assert_eq!(setting("KUBERNETES_IN_CLUSTER"), "true");
    assert_eq!(
        Some(setting("KUBERNETES_WORKSPACE_IMAGE").as_str()),
        main["image"].as_str()
    );
    assert_eq!(
        Some(setting("KUBERNETES_IMAGE_PULL_POLICY").as_str()),
        main["imagePullPolicy"].as_str()
    );
    assert_eq!(
        setting("KUBERNETES_ACTIVE_DEADLINE_SECONDS"),
        spec["activeDeadlineSeconds"].as_u64().unwrap().to_string()
    );
    assert_eq!(setting("KUBERNETES_RUNTIME_CLASS_NAME"), "");
    assert!(spec.get("runtimeClassName").is_none());
    for (key, bound, resource) in [
        ("KUBERNETES_CPU_REQUEST", "requests", "cpu"),
        ("KUBERNETES_CPU_LIMIT", "limits", "cpu"),
        ("KUBERNETES_MEMORY_REQUEST", "requests", "memory"),
        ("KUBERNETES_MEMORY_LIMIT", "limits", "memory"),
        (
            "KUBERNETES_EPHEMERAL_STORAGE_REQUEST",
            "requests",
            "ephemeral-storage",
        ),
        (
            "KUBERNETES_EPHEMERAL_STORAGE_LIMIT",
            "limits",
            "ephemeral-storage",
        ),
    ] {
        let value = value_at(main, &["resources", bound, resource]).and_then(Value::as_str);
        assert_eq!(Some(setting(key).as_str()), value, "{key}");
    }
    for (key, mount) in [
        ("KUBERNETES_WORKSPACE_SIZE_LIMIT", "/workspace"),
        ("KUBERNETES_TMP_SIZE_LIMIT", "/tmp"),
    ] {
        let volume = main["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|m| m["mountPath"].as_str() == Some(mount))
            .and_then(|m| m["name"].as_str())
            .unwrap();
        let size = spec["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["name"].as_str() == Some(volume))
            .and_then(|v| value_at(v, &["emptyDir", "sizeLimit"]))
            .and_then(Value::as_str);
        assert_eq!(Some(setting(key).as_str()), size, "{key}");
    }
    // The agent listens where `pod-agent connect` will look, on a mounted volume.
    let command: Vec<&str> = main["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        command[..4],
        ["pod-agent", "daemon", "--workspace", "/workspace"]
    );
    assert_eq!(command[4], "--socket");
    let socket_dir = std::path::Path::new(command[5]).parent().unwrap();
    assert!(
        main["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|m| m["mountPath"].as_str() == socket_dir.to_str())
    );
}

/// The value of the last `USER` instruction of a Dockerfile.
fn dockerfile_user(name: &str) -> String {
    read(&format!("docker/{name}"))
        .lines()
        .filter_map(|line| line.strip_prefix("USER "))
        .next_back()
        .unwrap_or_else(|| panic!("{name} has no USER"))
        .trim()
        .to_string()
}

#[test]
fn the_images_users_are_the_pods_users() {
    for (dockerfile, kind, name) in [
        (
            "terminal-bridge.Dockerfile",
            "Deployment",
            "terminal-bridge",
        ),
        (
            "terminal-bridge.Dockerfile",
            "Job",
            "terminal-bridge-migrate",
        ),
        ("workspace.Dockerfile", "Pod", WORKSPACE_POD),
    ] {
        let resource = find(kind, name).unwrap();
        let context = &pod_spec(&resource).unwrap()["securityContext"];
        let expected = format!(
            "{}:{}",
            context["runAsUser"].as_u64().unwrap(),
            context["runAsGroup"].as_u64().unwrap()
        );
        assert_eq!(
            dockerfile_user(dockerfile),
            expected,
            "{dockerfile} vs {name}"
        );
    }
    // The workspace image's own command is the one the pod runs.
    let dockerfile = read("docker/workspace.Dockerfile");
    let pod = find("Pod", WORKSPACE_POD).unwrap();
    let command: Vec<String> = pod_spec(&pod).unwrap()["containers"][0]["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| format!("\"{}\"", a.as_str().unwrap()))
        .collect();
    let cmd = format!("CMD [{}]", command[1..].join(", "));
    assert!(
        dockerfile.contains(&cmd),
        "workspace.Dockerfile lacks {cmd}"
    );
    // Its Python packages are pinned.
    let requirements = read("docker/workspace-requirements.txt");
    let pins: Vec<&str> = requirements
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    for package in ["numpy", "pandas", "scipy"] {
        assert!(
            pins.iter()
                .any(|l| l.starts_with(&format!("{package}==")) && l.len() > package.len() + 2),
            "{package} is not pinned"
        );
    }
}
