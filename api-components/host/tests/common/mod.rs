//! Starts a host (the real `api-host` binary, or either host through
//! `test_support::Host`) on a free loopback port with a manifest written for the test,
//! pointing at the real `.wasm` components of this build.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use test_support::{ChildGuard, free_port, target_dir, wait_for_http};

pub struct Host {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub child: ChildGuard,
    pub manifest: PathBuf,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Writes `manifest` to a file of its own under the target directory.
fn write_manifest(manifest: &str) -> PathBuf {
    let dir = target_dir().join("test-manifests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!(
        "spin-{}-{}.toml",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, manifest).unwrap();
    path
}

/// A host of either kind serving a manifest written for the test.
pub struct Served {
    pub process: test_support::HostProcess,
    pub manifest: PathBuf,
}

impl Served {
    /// Starts `host` serving `manifest` with extra environment `env`.
    pub fn start(host: test_support::Host, manifest: &str, env: &[(&str, String)]) -> Served {
        let path = write_manifest(manifest);
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        Served {
            process: host.start(&path, &env, &[]),
            manifest: path,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.process.url(path)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.manifest);
    }
}

/// Absolute path of a built component, for `source = ...`.
pub fn wasm(name: &str) -> String {
    test_support::wasm_component(name).display().to_string()
}

/// The real `spin.toml` of the repository with its `source` paths made absolute, so the
/// tests serve the deployed manifest wherever the target directory is.
pub fn real_manifest() -> String {
    test_support::spin_manifest()
}

impl Host {
    /// Starts `api-host` serving `manifest` with extra environment `env` and arguments `args`.
    pub fn start(manifest: &str, env: &[(&str, String)], args: &[&str]) -> Host {
        let path = write_manifest(manifest);
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_api-host"));
        cmd.arg("--manifest")
            .arg(&path)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(args)
            .env("API_HOST_CACHE_DIR", target_dir().join("api-host-cache"))
            .env("RUST_LOG", "info,api_host=debug");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = ChildGuard::spawn(&mut cmd).expect("spawning api-host");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            if wait_for_http(&format!("{base}/__not_a_route"), Duration::from_millis(500)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.child_mut().try_wait() {
                panic!(
                    "api-host exited with {status}\n--- log ---\n{}",
                    child.log()
                );
            }
            assert!(
                std::time::Instant::now() < deadline,
                "api-host did not come up\n{}",
                child.log()
            );
        }
        Host {
            base,
            child,
            manifest: path,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.manifest);
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A manifest serving the `fixture` component under `/fixture/...` (plus the routes of the
/// routing tests), with the variables `greeting`, `from_env` (required) and `port`, and
/// `allowed_outbound_hosts = [outbound]`.
pub fn fixture_manifest(outbound: &str) -> String {
    format!(
        r#"
spin_manifest_version = 2
[application]
name = "fixture-app"
[variables]
greeting = {{ default = "hello from the default" }}
from_env = {{ required = true }}
port = {{ default = "1" }}
[[trigger.http]]
route = "/fixture/..."
component = "fixture"
[[trigger.http]]
route = "/fixture/users/:id/files/..."
component = "fixture"
[[trigger.http]]
route = "/exact/echo"
component = "fixture"
[[trigger.http]]
route = {{ private = true }}
component = "fixture"
[component.fixture]
source = "{source}"
allowed_outbound_hosts = [{outbound}]
[component.fixture.variables]
greeting = "{{{{ greeting }}}}"
from_env = "env said {{{{ from_env }}}}"
"#,
        source = wasm("fixture"),
    )
}

/// A manifest serving the `fixture` component under `/fixture/...` with a required
/// `database_url` variable and `allowed_outbound_hosts` = `allowed` (each quoted here).
pub fn pg_fixture_manifest(name: &str, allowed: &[String]) -> String {
    let allowed = allowed
        .iter()
        .map(|a| format!("{a:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"
spin_manifest_version = 2
[application]
name = "{name}"
[variables]
database_url = {{ required = true }}
[[trigger.http]]
route = "/fixture/..."
component = "fixture"
[component.fixture]
source = "{source}"
allowed_outbound_hosts = [{allowed}]
[component.fixture.variables]
database_url = "{{{{ database_url }}}}"
"#,
        source = wasm("fixture"),
    )
}
