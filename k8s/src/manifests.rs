//! The manifests of `k8s/`: every `*.yaml` file at its top level, each parsed into its
//! documents (resources).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_yaml::Value;

/// The directory of the manifests (this crate's directory).
pub fn k8s_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    k8s_dir()
        .parent()
        .expect("k8s/ has a parent directory")
        .to_path_buf()
}

/// The Kustomize file: not a Kubernetes resource.
pub const KUSTOMIZATION: &str = "kustomization.yaml";

/// One YAML file and its resources.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub path: PathBuf,
    pub resources: Vec<Resource>,
}

impl Manifest {
    /// Parses every non-empty document of `path`.
    pub fn load(path: &Path) -> anyhow::Result<Manifest> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut resources = Vec::new();
        for (index, document) in serde_yaml::Deserializer::from_str(&text).enumerate() {
            let value = Value::deserialize(document).with_context(|| {
                format!("{}: document {} is not YAML", path.display(), index + 1)
            })?;
            if value.is_null() {
                continue;
            }
            let resource = Resource::new(value).with_context(|| {
                format!(
                    "{}: document {} is not a resource",
                    path.display(),
                    index + 1
                )
            })?;
            resources.push(resource);
        }
        Ok(Manifest {
            path: path.to_path_buf(),
            resources,
        })
    }

    /// The file name, e.g. `terminal-bridge.yaml`.
    pub fn file_name(&self) -> &str {
        self.path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default()
    }

    /// True for the `*.example.yaml` files, which are documentation and not applied.
    pub fn is_example(&self) -> bool {
        self.file_name().ends_with(".example.yaml")
    }
}

/// One Kubernetes object: its document plus the identifying fields every object has.
#[derive(Debug, Clone)]
pub struct Resource {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub value: Value,
}

impl Resource {
    fn new(value: Value) -> anyhow::Result<Resource> {
        let field = |path: &[&str]| -> Option<String> {
            let mut node = &value;
            for key in path {
                node = node.get(*key)?;
            }
            node.as_str().map(String::from)
        };
        let (Some(api_version), Some(kind), Some(name)) = (
            field(&["apiVersion"]),
            field(&["kind"]),
            field(&["metadata", "name"]),
        ) else {
            bail!("apiVersion, kind and metadata.name are required");
        };
        let namespace = field(&["metadata", "namespace"]).unwrap_or_default();
        Ok(Resource {
            api_version,
            kind,
            name,
            namespace,
            value,
        })
    }

    /// `kind/name` in lower case, as kubectl and kubernetes-validate print it.
    pub fn kind_name(&self) -> String {
        format!("{}/{}", self.kind.to_lowercase(), self.name)
    }

    /// The string at `path` below the document, if there is one.
    pub fn str_at(&self, path: &[&str]) -> Option<&str> {
        value_at(&self.value, path)?.as_str()
    }
}

/// The node at `path` (mapping keys) below `value`.
pub fn value_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut node = value;
    for key in path {
        node = node.get(*key)?;
    }
    Some(node)
}

/// Every manifest file of `k8s/` (top level, `*.yaml`) except the kustomization, sorted.
pub fn all() -> anyhow::Result<Vec<Manifest>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(k8s_dir())? {
        let path = entry?.path();
        let is_yaml = path.extension().is_some_and(|ext| ext == "yaml");
        if is_yaml && !path.ends_with(KUSTOMIZATION) {
            paths.push(path);
        }
    }
    paths.sort();
    paths.iter().map(|path| Manifest::load(path)).collect()
}

/// Every resource of every manifest, examples included.
pub fn all_resources() -> anyhow::Result<Vec<Resource>> {
    Ok(all()?.into_iter().flat_map(|m| m.resources).collect())
}

/// The one resource of this kind and name; fails if there is none or several.
pub fn find(kind: &str, name: &str) -> anyhow::Result<Resource> {
    let mut found: Vec<Resource> = all_resources()?
        .into_iter()
        .filter(|r| r.kind == kind && r.name == name)
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => bail!("no {kind} named {name} in k8s/"),
        n => bail!("{n} resources {kind}/{name} in k8s/"),
    }
}
