//! Where one sandbox's files are on the host: `<sandbox dir>/<session>/` holds
//!
//! - `workspace/`: bound at `/workspace`, owned by the sandbox's host uid;
//! - `run/`: bound at `/run/pod-agent`, holds the agent's socket `agent.sock`;
//! - `state.json`: see `state`;
//! - `agent.log`: bwrap's and the agent's stdout and stderr.

use std::path::{Path, PathBuf};

use super::bwrap::SOCKET_NAME;

/// The paths of one sandbox.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    pub fn new(sandbox_dir: &Path, session: uuid::Uuid) -> Self {
        Layout {
            dir: sandbox_dir.join(session.to_string()),
        }
    }

    pub fn workspace(&self) -> PathBuf {
        self.dir.join("workspace")
    }

    pub fn run(&self) -> PathBuf {
        self.dir.join("run")
    }

    pub fn socket(&self) -> PathBuf {
        self.run().join(SOCKET_NAME)
    }

    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    pub fn log(&self) -> PathBuf {
        self.dir.join("agent.log")
    }

    /// The last lines of the log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(5).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }
}
