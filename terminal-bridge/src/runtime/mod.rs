//! Where sandboxes run. One trait, [`Runtime`], for "make sure this workspace's sandbox runs,
//! give me a byte stream to its `pod-agent`, stop it, list what exists", so the session layer
//! does not care whether a sandbox is a bubblewrap process tree on this machine or a pod.
//!
//! A runtime hands out raw streams; the agent-protocol handshake is the caller's job.

use std::collections::HashSet;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite};
use uuid::Uuid;

pub mod bubblewrap;
pub mod config;
pub mod kube;
pub mod process;

pub use self::kube::KubeRuntime;
pub use bubblewrap::BubblewrapRuntime;
pub use config::{RuntimeArgs, RuntimeKind, build};

/// A byte stream to one sandbox's agent (a unix socket, or the stdio of an exec).
pub trait AgentIo: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> AgentIo for T {}

/// A boxed [`AgentIo`].
pub type AgentStream = Pin<Box<dyn AgentIo>>;

/// What a runtime knows about one sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    /// The workspace (code session) the sandbox belongs to.
    pub session: Uuid,
    /// The runtime's own name for it (a process id, a pod name), for logs and metrics.
    pub id: String,
    /// True if the call that returned this started the sandbox, false if it was running.
    pub created: bool,
}

/// Why a runtime call failed. `message` is meant for the user (it reaches the browser).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The session has no running sandbox (for `connect` and `stop`).
    #[error("the workspace's sandbox is not running")]
    NotRunning,
    /// The sandbox could not be started or reached; the message says why.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else, for logs.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl RuntimeError {
    /// A label for metrics and logs.
    pub fn metric_label(&self) -> &'static str {
        match self {
            RuntimeError::NotRunning => "not_running",
            RuntimeError::Unavailable(_) => "unavailable",
            RuntimeError::Other(_) => "other",
        }
    }
}

/// A place where sandboxes run.
#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// Short name for logs and metrics (`local`, `kube`).
    fn name(&self) -> &'static str;

    /// Makes sure `session`'s sandbox runs and its agent accepts connections. Concurrent calls
    /// for one session start exactly one sandbox; a sandbox left running by an earlier bridge
    /// process is found and reused.
    async fn ensure(&self, session: Uuid) -> Result<Sandbox, RuntimeError>;

    /// Opens a new stream to the agent of `session`'s running sandbox.
    async fn connect(&self, session: Uuid) -> Result<AgentStream, RuntimeError>;

    /// Stops `session`'s sandbox and removes what the runtime made for it. Stopping a sandbox
    /// that does not run succeeds.
    async fn stop(&self, session: Uuid) -> Result<(), RuntimeError>;

    /// Every sandbox this runtime manages that runs (or starts), including those started by an
    /// earlier bridge process. Ended ones are left to [`Runtime::reap`].
    async fn list(&self) -> Result<Vec<Sandbox>, RuntimeError>;

    /// Records that a bridge still looks after `session`'s sandbox, where others can see it
    /// (the kube runtime stamps the pod's last-activity annotation), so that [`Runtime::reap`]
    /// run by any bridge keeps it. Runtimes whose sandboxes only this bridge sees do nothing.
    async fn touch(&self, _session: Uuid) -> Result<(), RuntimeError> {
        Ok(())
    }

    /// Removes the sandboxes nobody needs and says which: ended ones, those whose session is
    /// not in `known` (deleted workspaces), and those nobody touched for `stale_after`, except
    /// the sessions in `watched` (whose owner stops them itself, after saving their files).
    /// The default has nothing to remove: a runtime whose sandboxes only this bridge sees
    /// leaves all of that to the session layer's reconcile.
    async fn reap(
        &self,
        _known: &HashSet<Uuid>,
        _watched: &HashSet<Uuid>,
        _stale_after: Duration,
    ) -> Result<Vec<Reaped>, RuntimeError> {
        Ok(Vec::new())
    }
}

/// Why [`Runtime::reap`] removed a sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReapReason {
    /// It ended (a pod's phase is `Failed` or `Succeeded`).
    Ended,
    /// Nobody touched it for longer than the threshold.
    Stale,
    /// Its session is not among the known ones (or it has none).
    Unknown,
}

/// One sandbox [`Runtime::reap`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaped {
    /// The runtime's name for it (a pod name).
    pub id: String,
    pub session: Option<Uuid>,
    pub reason: ReapReason,
}
