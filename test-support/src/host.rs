//! The two hosts of the REST components: this project's `api-host` and the real Spin CLI
//! (`spin up`). Every REST test runs on both: [`Host::ApiHost`] always, [`Host::Spin`] when
//! [`crate::spin_find::find_spin`] finds Spin 4.1 or later (the `#[each_host]` attribute of
//! `test-support-macros` generates one test per host and marks the Spin one ignored when the
//! build found no Spin).

use crate::{ChildGuard, binary, free_port, target_dir, wait_for_http};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Which program serves the components.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// This project's wasmtime host (`api-components/host`).
    ApiHost,
    /// The real Spin CLI, found through `SPIN_BIN` or `PATH`.
    Spin,
}

/// A running host, killed when dropped.
pub struct HostProcess {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub port: u16,
    pub host: Host,
    pub child: ChildGuard,
    /// Spin's state directory (logs, default stores), deleted with the process.
    _state: Option<tempfile::TempDir>,
}

impl Host {
    /// Both hosts, in the order tests name them.
    pub const ALL: [Host; 2] = [Host::ApiHost, Host::Spin];

    /// Short name used in test names and messages.
    pub fn label(self) -> &'static str {
        match self {
            Host::ApiHost => "api_host",
            Host::Spin => "spin",
        }
    }

    /// Whether this host can run here (api-host always; Spin when found).
    pub fn available(self) -> Result<(), String> {
        match self {
            Host::ApiHost => Ok(()),
            Host::Spin => crate::spin_find::find_spin().map(|_| ()),
        }
    }

    /// Starts this host serving the manifest at `manifest` on a free loopback port, with the
    /// extra environment `env` (e.g. `SPIN_VARIABLE_*`) and host-specific arguments `args`,
    /// and waits until it answers HTTP.
    ///
    /// # Panics
    /// If the host cannot be started or does not answer within 5 minutes (the first start
    /// compiles the components), with its log.
    pub fn start(self, manifest: &Path, env: &[(String, String)], args: &[String]) -> HostProcess {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut state = None;
        let mut cmd = match self {
            Host::ApiHost => {
                let mut cmd = Command::new(binary("api-host"));
                cmd.arg("--manifest")
                    .arg(manifest)
                    .arg("--listen")
                    .arg(&listen)
                    .env("API_HOST_CACHE_DIR", target_dir().join("api-host-cache"));
                cmd
            }
            Host::Spin => {
                let spin = crate::spin_find::find_spin()
                    .unwrap_or_else(|why| panic!("this test runs on the real Spin, but {why}"));
                let dir = tempfile::tempdir().expect("creating Spin's state directory");
                let mut cmd = Command::new(spin);
                cmd.arg("up")
                    .arg("--from")
                    .arg(manifest)
                    .arg("--listen")
                    .arg(&listen)
                    .arg("--state-dir")
                    .arg(dir.path());
                state = Some(dir);
                cmd
            }
        };
        cmd.args(args).env("RUST_LOG", "info");
        for (name, value) in env {
            cmd.env(name, value);
        }
        let mut child = ChildGuard::spawn(&mut cmd).expect("spawning the host");
        let base = format!("http://{listen}");
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if wait_for_http(&format!("{base}/__not_a_route"), Duration::from_millis(500)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.child_mut().try_wait() {
                panic!(
                    "{} exited with {status}\n--- log ---\n{}",
                    self.label(),
                    child.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not come up\n{}",
                self.label(),
                child.log()
            );
        }
        HostProcess {
            base,
            port,
            host: self,
            child,
            _state: state,
        }
    }
}

impl HostProcess {
    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// What the host printed so far.
    pub fn log(&self) -> String {
        self.child.log()
    }
}
