//! The unsandboxed runtime: `pod-agent daemon` as a plain child process per workspace, with a
//! workspace directory and a unix socket under one state directory. No isolation at all: for
//! development and for tests of the session layer. The bubblewrap runtime is what runs users'
//! code.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use tokio::net::UnixStream;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;
use uuid::Uuid;

use super::{AgentStream, Runtime, RuntimeError, Sandbox};

/// How long a new agent may take to open its socket.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// See the module documentation.
pub struct ProcessRuntime {
    agent: PathBuf,
    state_dir: PathBuf,
    children: Mutex<HashMap<Uuid, Arc<Mutex<Option<Child>>>>>,
}

impl ProcessRuntime {
    /// `agent` is the `pod-agent` binary; workspaces live in `state_dir/<uuid>/workspace`.
    pub fn new(agent: PathBuf, state_dir: PathBuf) -> Self {
        ProcessRuntime {
            agent,
            state_dir,
            children: Mutex::default(),
        }
    }

    fn dir(&self, session: Uuid) -> PathBuf {
        self.state_dir.join(session.to_string())
    }

    fn socket(&self, session: Uuid) -> PathBuf {
        self.dir(session).join("agent.sock")
    }

    async fn slot(&self, session: Uuid) -> Arc<Mutex<Option<Child>>> {
        self.children
            .lock()
            .await
            .entry(session)
            .or_default()
            .clone()
    }
}

async fn wait_for_socket(socket: &Path, child: &mut Child) -> Result<(), RuntimeError> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if UnixStream::connect(socket).await.is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait().context("polling the agent")? {
            return Err(RuntimeError::Unavailable(format!(
                "the workspace agent exited during start-up ({status})"
            )));
        }
        if Instant::now() > deadline {
            return Err(RuntimeError::Unavailable(
                "the workspace agent did not start in time".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[async_trait]
impl Runtime for ProcessRuntime {
    fn name(&self) -> &'static str {
        "process"
    }

    async fn ensure(&self, session: Uuid) -> Result<Sandbox, RuntimeError> {
        let slot = self.slot(session).await;
        let mut child = slot.lock().await;
        if let Some(running) = child.as_mut()
            && running.try_wait().context("polling the agent")?.is_none()
        {
            return Ok(Sandbox {
                session,
                id: running.id().unwrap_or_default().to_string(),
                created: false,
            });
        }
        let workspace = self.dir(session).join("workspace");
        tokio::fs::create_dir_all(&workspace)
            .await
            .with_context(|| format!("creating {}", workspace.display()))?;
        let socket = self.socket(session);
        let mut started = Command::new(&self.agent)
            .arg("daemon")
            .arg("--workspace")
            .arg(&workspace)
            .arg("--socket")
            .arg(&socket)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.agent.display()))?;
        wait_for_socket(&socket, &mut started).await?;
        let id = started.id().unwrap_or_default().to_string();
        *child = Some(started);
        Ok(Sandbox {
            session,
            id,
            created: true,
        })
    }

    async fn connect(&self, session: Uuid) -> Result<AgentStream, RuntimeError> {
        match UnixStream::connect(self.socket(session)).await {
            Ok(stream) => Ok(Box::pin(stream)),
            Err(_) => Err(RuntimeError::NotRunning),
        }
    }

    async fn stop(&self, session: Uuid) -> Result<(), RuntimeError> {
        let slot = self.slot(session).await;
        if let Some(mut child) = slot.lock().await.take() {
            let _ = child.kill().await;
        }
        self.children.lock().await.remove(&session);
        Ok(())
    }

    async fn list(&self) -> Result<Vec<Sandbox>, RuntimeError> {
        let children = self.children.lock().await;
        let mut out = Vec::new();
        for (session, slot) in children.iter() {
            if let Some(child) = slot.lock().await.as_mut()
                && child.try_wait().ok().flatten().is_none()
            {
                out.push(Sandbox {
                    session: *session,
                    id: child.id().unwrap_or_default().to_string(),
                    created: false,
                });
            }
        }
        Ok(out)
    }
}
