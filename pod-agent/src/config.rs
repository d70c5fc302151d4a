//! Command-line / environment configuration of the daemon and of `connect`.

use std::path::PathBuf;
use std::time::Duration;

/// `pod-agent daemon`: every option can also be set through its `POD_AGENT_*` variable.
#[derive(Debug, Clone, clap::Args)]
pub struct DaemonConfig {
    /// Directory holding the workspace files; shells start here.
    #[arg(long, env = "POD_AGENT_WORKSPACE")]
    pub workspace: PathBuf,

    /// Unix socket to listen on (a stale socket file is replaced).
    #[arg(long, env = "POD_AGENT_SOCKET")]
    pub socket: PathBuf,

    /// Shell command line for new terminals, split on whitespace.
    #[arg(long, env = "POD_AGENT_SHELL", default_value = "bash -l")]
    pub shell: String,

    /// Bytes of output each terminal keeps for replay on attach.
    #[arg(long, env = "POD_AGENT_SCROLLBACK_BYTES", default_value_t = 256 * 1024)]
    pub scrollback_bytes: usize,

    /// Seconds a terminal with no attachment lives before its shell is killed.
    #[arg(long, env = "POD_AGENT_IDLE_TIMEOUT_SECS", default_value_t = 3600)]
    pub idle_timeout_secs: u64,

    /// Files up to this size have their content included in change events.
    #[arg(long, env = "POD_AGENT_MAX_EVENT_FILE_SIZE", default_value_t = 1024 * 1024)]
    pub max_event_file_size: u64,

    /// Names (of files or directories, at any depth) the watcher and `List` ignore.
    #[arg(
        long,
        env = "POD_AGENT_IGNORE",
        value_delimiter = ',',
        default_value = "__pycache__,.venv,node_modules,.git"
    )]
    pub ignore: Vec<String>,

    /// Output bytes queued per attachment before the terminal waits for it to drain.
    #[arg(long, env = "POD_AGENT_ATTACHMENT_QUEUE_BYTES", default_value_t = 1024 * 1024)]
    pub attachment_queue_bytes: usize,

    /// Milliseconds an attachment may keep its queue full before it is cut off.
    #[arg(long, env = "POD_AGENT_STALL_TIMEOUT_MS", default_value_t = 2000)]
    pub stall_timeout_ms: u64,

    /// Milliseconds a path must stay quiet before its change is reported.
    #[arg(long, env = "POD_AGENT_DEBOUNCE_MS", default_value_t = 150)]
    pub debounce_ms: u64,

    /// Connections served at once; more wait to be accepted.
    #[arg(long, env = "POD_AGENT_MAX_CONNECTIONS", default_value_t = 64)]
    pub max_connections: usize,
}

impl DaemonConfig {
    /// A configuration with the defaults above, for tests and the benchmark.
    pub fn new(workspace: PathBuf, socket: PathBuf) -> Self {
        DaemonConfig {
            workspace,
            socket,
            shell: "bash -l".into(),
            scrollback_bytes: 256 * 1024,
            idle_timeout_secs: 3600,
            max_event_file_size: 1024 * 1024,
            ignore: ["__pycache__", ".venv", "node_modules", ".git"]
                .map(String::from)
                .to_vec(),
            attachment_queue_bytes: 1024 * 1024,
            stall_timeout_ms: 2000,
            debounce_ms: 150,
            max_connections: 64,
        }
    }

    pub fn shell_argv(&self) -> Vec<String> {
        self.shell.split_whitespace().map(String::from).collect()
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    pub fn stall_timeout(&self) -> Duration {
        Duration::from_millis(self.stall_timeout_ms)
    }

    pub fn debounce(&self) -> Duration {
        Duration::from_millis(self.debounce_ms)
    }

    /// Rejects settings that cannot work.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(!self.shell_argv().is_empty(), "--shell is empty");
        anyhow::ensure!(
            self.scrollback_bytes > 0,
            "--scrollback-bytes must be positive"
        );
        anyhow::ensure!(
            self.attachment_queue_bytes >= self.scrollback_bytes,
            "--attachment-queue-bytes must be at least --scrollback-bytes (the replay is queued)"
        );
        anyhow::ensure!(
            self.workspace.is_dir(),
            "workspace {} is not a directory",
            self.workspace.display()
        );
        Ok(())
    }
}

/// `pod-agent connect`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectConfig {
    /// The daemon's unix socket.
    #[arg(long, env = "POD_AGENT_SOCKET")]
    pub socket: PathBuf,
}
