//! The Spin application manifest (`spin.toml`, `spin_manifest_version = 2`): the subset
//! this host serves, parsed strictly enough that a typo fails at start-up, not at request time.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
pub struct Manifest {
    pub spin_manifest_version: u32,
    pub application: Application,
    #[serde(default)]
    pub variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    pub trigger: Triggers,
    #[serde(default)]
    pub component: BTreeMap<String, ComponentDecl>,
}

#[derive(Debug, Deserialize)]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    /// `[application.trigger.http] base = "/"`; only `/` is meaningful in manifest v2.
    #[serde(default)]
    pub trigger: Option<toml::Value>,
}

/// `[variables] name = { default = "..", required = true, secret = true }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    /// Secrets are never logged; otherwise treated like any variable.
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Triggers {
    #[serde(default)]
    pub http: Vec<HttpTrigger>,
}

#[derive(Debug, Deserialize)]
pub struct HttpTrigger {
    #[serde(default)]
    pub id: Option<String>,
    pub route: RouteDecl,
    pub component: String,
    /// Spin 1 style `executor = { type = "spin" }`; only the default is supported.
    #[serde(default)]
    pub executor: Option<toml::Value>,
}

/// `route = "/path/..."` or `route = { private = true }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RouteDecl {
    Path(String),
    Private { private: bool },
}

#[derive(Debug, Deserialize)]
pub struct ComponentDecl {
    pub source: SourceDecl,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// Component variables: values are templates over the application variables.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub files: Vec<toml::Value>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    #[serde(default)]
    pub build: Option<toml::Value>,
    #[serde(default)]
    pub dependencies: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SourceDecl {
    Path(String),
    Remote { url: String, digest: String },
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Manifest> {
        let manifest: Manifest =
            toml::from_str(text).context("spin.toml is not a valid manifest")?;
        manifest.validate()?;
        Ok(manifest)
    }

    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading manifest {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    fn validate(&self) -> Result<()> {
        if self.spin_manifest_version != 2 {
            bail!(
                "spin_manifest_version = {} is not supported; this host reads version 2",
                self.spin_manifest_version
            );
        }
        for (name, decl) in &self.variables {
            crate::variables::check_name(name)
                .with_context(|| format!("application variable {name:?}"))?;
            if decl.required && decl.default.is_some() {
                bail!("variable {name:?} is required and has a default: choose one");
            }
            if !decl.required && decl.default.is_none() {
                bail!("variable {name:?} needs a default or `required = true`");
            }
        }
        for trigger in &self.trigger.http {
            if !self.component.contains_key(&trigger.component) {
                bail!(
                    "trigger route {:?} names component {:?}, which is not defined",
                    trigger.route,
                    trigger.component
                );
            }
            if trigger.executor.is_some() {
                bail!("trigger executors other than the default are not supported");
            }
        }
        for (id, component) in &self.component {
            for name in component.variables.keys() {
                crate::variables::check_name(name)
                    .with_context(|| format!("variable {name:?} of component {id:?}"))?;
            }
            if !component.files.is_empty()
                || !component.key_value_stores.is_empty()
                || !component.sqlite_databases.is_empty()
            {
                bail!(
                    "component {id:?} asks for files, key-value or sqlite, which this host does not provide"
                );
            }
        }
        Ok(())
    }
}

impl SourceDecl {
    /// The local `.wasm` path, relative paths taken from the manifest's directory.
    pub fn local_path(&self, manifest_dir: &Path) -> Result<PathBuf> {
        match self {
            SourceDecl::Path(path) => Ok(manifest_dir.join(path)),
            SourceDecl::Remote { url, .. } => {
                bail!("remote component sources ({url}) are not supported; build it locally")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
spin_manifest_version = 2
[application]
name = "demo"
[variables]
database_url = { default = "postgres://localhost/db" }
token = { required = true, secret = true }
[[trigger.http]]
route = "/api/..."
component = "api"
[[trigger.http]]
route = { private = true }
component = "api"
[component.api]
source = "api.wasm"
allowed_outbound_hosts = ["postgres://localhost:5432"]
[component.api.variables]
db = "{{ database_url }}"
[component.api.build]
command = "cargo build"
"#;

    #[test]
    fn parses_a_v2_manifest() {
        let m = Manifest::parse(SAMPLE).unwrap();
        assert_eq!(m.application.name, "demo");
        assert_eq!(m.trigger.http.len(), 2);
        assert!(matches!(
            m.trigger.http[1].route,
            RouteDecl::Private { private: true }
        ));
        assert!(m.variables["token"].required);
        assert_eq!(m.component["api"].variables["db"], "{{ database_url }}");
    }

    #[test]
    fn rejects_unknown_component_and_bad_variables() {
        let bad = SAMPLE.replace("component = \"api\"\n[[", "component = \"nope\"\n[[");
        assert!(Manifest::parse(&bad).is_err());
        let both = SAMPLE.replace(
            "required = true, secret",
            "required = true, default = \"x\", secret",
        );
        assert!(Manifest::parse(&both).is_err());
        let v1 = SAMPLE.replace("spin_manifest_version = 2", "spin_manifest_version = 1");
        assert!(Manifest::parse(&v1).is_err());
    }
}
