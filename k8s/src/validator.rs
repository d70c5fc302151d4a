//! The Python side of the checks: the pinned `kubernetes-validate` (JSON schemas of every
//! built-in kind for each Kubernetes version, shipped in the package, so it works offline)
//! and `jsonschema` for the SpinApp, whose CRD no such package knows.
//!
//! kubernetes-validate exits 0 when it has no schema for a kind (it only prints a WARN), so a
//! misspelt kind or apiVersion would pass unnoticed: [`check_report`] instead requires an
//! `INFO ... passed` line for every resource and every version.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, bail};

use crate::manifests::{Manifest, k8s_dir, repo_root};

/// Kubernetes versions every manifest must be valid for: the oldest release we support and
/// the newest one the pinned kubernetes-validate knows.
pub const KUBERNETES_VERSIONS: &[&str] = &["1.30.0", "1.37.0"];

/// Kinds defined by CRDs, for which kubernetes-validate has no schema (see
/// [`Python::validate_spinapps`]).
pub const CRD_KINDS: &[&str] = &["SpinApp"];

/// Names a python3 that has the tools, instead of `.local/venv/bin/python3`.
pub const PYTHON_ENV: &str = "K8S_VALIDATE_PYTHON";

/// The JSON schema of SpinKube's `SpinApp` (core.spinkube.dev/v1alpha1).
pub fn spinapp_schema() -> PathBuf {
    k8s_dir().join("schemas/spinapp-v1alpha1.json")
}

/// The version `requirements.txt` pins for `package`.
pub fn pinned_version(package: &str) -> anyhow::Result<String> {
    let path = k8s_dir().join("requirements.txt");
    let text = std::fs::read_to_string(&path)?;
    text.lines()
        .filter_map(|line| line.split_once("=="))
        .find(|(name, _)| name.trim() == package)
        .map(|(_, version)| version.trim().to_string())
        .with_context(|| format!("{} does not pin {package}", path.display()))
}

fn install_hint() -> String {
    format!(
        "run scripts/test (its ensure_python_tools step installs it into .local/venv), or by \
         hand: python3 -m venv .local/venv && .local/venv/bin/pip install -r k8s/requirements.txt \
         (from the repository root); or set {PYTHON_ENV} to a python3 that has k8s/requirements.txt"
    )
}

/// A python3 with the pinned kubernetes-validate.
#[derive(Debug)]
pub struct Python {
    path: PathBuf,
}

impl Python {
    /// `$K8S_VALIDATE_PYTHON`, else `.local/venv/bin/python3`, else `python3` on PATH; fails
    /// with instructions when none has kubernetes-validate at the pinned version.
    pub fn locate() -> anyhow::Result<Python> {
        let candidates: Vec<PathBuf> = match std::env::var_os(PYTHON_ENV) {
            Some(path) => vec![path.into()],
            None => vec![
                repo_root().join(".local/venv/bin/python3"),
                PathBuf::from("python3"),
            ],
        };
        let pinned = pinned_version("kubernetes-validate")?;
        let mut tried = Vec::new();
        for path in candidates {
            let python = Python { path };
            match python.module_version() {
                Ok(version) if version == pinned => return Ok(python),
                Ok(version) => tried.push(format!(
                    "{} has kubernetes-validate {version}, not the pinned {pinned}",
                    python.path.display()
                )),
                Err(err) => tried.push(format!("{}: {err:#}", python.path.display())),
            }
        }
        bail!(
            "kubernetes-validate {pinned} not found ({}): {}",
            tried.join("; "),
            install_hint()
        )
    }

    fn module_version(&self) -> anyhow::Result<String> {
        let output = self.run(&[
            "-c",
            "import jsonschema, yaml, kubernetes_validate.version as v; print(v.__version__)",
        ])?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            bail!(
                "cannot import kubernetes_validate, jsonschema and yaml ({})",
                stderr.trim().lines().last().unwrap_or_default()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    fn run(&self, args: &[&str]) -> anyhow::Result<Output> {
        Command::new(&self.path)
            .args(args)
            .output()
            .with_context(|| format!("running {}", self.path.display()))
    }

    /// Runs `kubernetes-validate --strict` for [`KUBERNETES_VERSIONS`] over the manifests and
    /// checks its report with [`check_report`].
    pub fn kubernetes_validate(&self, manifests: &[Manifest]) -> anyhow::Result<()> {
        let mut args = vec!["-m", "kubernetes_validate", "--strict"];
        for version in KUBERNETES_VERSIONS {
            args.extend(["-k", version]);
        }
        let paths: Vec<&str> = manifests.iter().map(|m| path_str(&m.path)).collect();
        args.extend(&paths);
        let output = self.run(&args)?;
        check_report(manifests, &output)
    }

    /// Validates every SpinApp of the manifests against [`spinapp_schema`] (JSON Schema
    /// 2020-12, the schema itself checked first); every SpinApp must pass.
    pub fn validate_spinapps(&self, manifests: &[Manifest]) -> anyhow::Result<()> {
        let schema = spinapp_schema();
        let mut args = vec!["-c", SPINAPP_SCRIPT, path_str(&schema)];
        args.extend(manifests.iter().map(|m| path_str(&m.path)));
        let output = self.run(&args)?;
        let report = report_text(&output);
        if !output.status.success() {
            bail!("the SpinApp schema check failed:\n{report}");
        }
        for manifest in manifests {
            for resource in manifest.resources.iter().filter(|r| r.kind == "SpinApp") {
                let line = format!(
                    "INFO {} passed for resource {}",
                    manifest.path.display(),
                    resource.kind_name()
                );
                if !report.lines().any(|l| l == line) {
                    bail!("{} was not checked:\n{report}", resource.kind_name());
                }
            }
        }
        Ok(())
    }
}

/// Checks a kubernetes-validate report: exit status 0, no ERROR or FATAL line, WARN lines only
/// for [`CRD_KINDS`], and an `INFO ... passed` line for each other resource and version.
pub fn check_report(manifests: &[Manifest], output: &Output) -> anyhow::Result<()> {
    let report = report_text(output);
    let mut problems = Vec::new();
    if !output.status.success() {
        problems.push(format!("kubernetes-validate exited with {}", output.status));
    }
    for line in report.lines() {
        let allowed_warning = line.starts_with("WARN ")
            && CRD_KINDS
                .iter()
                .any(|kind| line.contains(&format!("schema for kind {kind} ")));
        let info = line.starts_with("INFO ");
        if !info && !allowed_warning && !line.trim().is_empty() {
            problems.push(line.to_string());
        }
    }
    for manifest in manifests {
        for resource in &manifest.resources {
            if CRD_KINDS.contains(&resource.kind.as_str()) {
                continue;
            }
            for version in KUBERNETES_VERSIONS {
                let minor = version.rsplit_once('.').map_or(*version, |(mm, _)| mm);
                let line = format!(
                    "INFO {} passed for resource {} against version {minor}",
                    manifest.path.display(),
                    resource.kind_name()
                );
                if !report.lines().any(|l| l == line) {
                    problems.push(format!(
                        "no pass reported for {} in {} against {minor}",
                        resource.kind_name(),
                        manifest.file_name()
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!(
            "kubernetes-validate --strict failed:\n  {}\nfull report:\n{report}",
            problems.join("\n  ")
        )
    }
}

fn report_text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("manifest paths are UTF-8")
}

/// argv: schema, then manifest files. Prints `INFO <file> passed for resource spinapp/<name>`
/// or one `ERROR` line per violation; exits 1 on any violation.
const SPINAPP_SCRIPT: &str = r#"
import json, sys
import jsonschema, yaml
with open(sys.argv[1]) as f:
    schema = json.load(f)
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
failures = 0
for path in sys.argv[2:]:
    with open(path) as f:
        documents = [d for d in yaml.safe_load_all(f) if d]
    for doc in documents:
        if doc.get("kind") != "SpinApp":
            continue
        name = "spinapp/%s" % (doc.get("metadata") or {}).get("name")
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path)))
        for e in errors:
            where = ".".join(map(str, e.path)) or "<root>"
            print("ERROR %s %s: %s: %s" % (path, name, where, e.message))
        if not errors:
            print("INFO %s passed for resource %s" % (path, name))
        failures += len(errors)
sys.exit(1 if failures else 0)
"#;
