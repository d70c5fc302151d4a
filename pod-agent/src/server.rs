//! The daemon: shared state, the unix-socket accept loop, and shutdown.

use std::future::Future;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use agent_protocol::{MAX_FRAME_LEN, MAX_OVERHEAD};
use tokio::net::UnixListener;
use tokio::sync::Semaphore;

use crate::config::DaemonConfig;
use crate::files::Files;
use crate::reaper::Reaper;
use crate::registry::Registry;
use crate::terminal::TerminalSettings;
use crate::watcher::Watcher;
use crate::workspace::Workspace;

/// Input bytes waiting for a shell that does not read, per terminal.
const INPUT_CAP: usize = 4 * 1024 * 1024;

/// Everything the connections share.
pub struct Daemon {
    pub registry: Arc<Registry>,
    pub files: Arc<Files>,
    pub watcher: Watcher,
    pub config: DaemonConfig,
}

impl Daemon {
    /// Starts the reaper and the watcher (after recording the workspace's files).
    /// Call inside a tokio runtime.
    pub fn start(config: DaemonConfig) -> anyhow::Result<Arc<Daemon>> {
        config.validate()?;
        let reaper = Reaper::start()?;
        let workspace = Workspace::open(&config.workspace, config.ignore.clone())?;
        let settings = TerminalSettings {
            argv: config.shell_argv(),
            cwd: workspace.root_path().to_owned(),
            scrollback_bytes: config.scrollback_bytes,
            queue_bytes: config.attachment_queue_bytes,
            stall_timeout: config.stall_timeout(),
            idle_timeout: config.idle_timeout(),
            input_cap: INPUT_CAP,
        };
        let files = Arc::new(Files::new(workspace, (MAX_FRAME_LEN - MAX_OVERHEAD) as u64));
        let watcher = Watcher::start(files.clone(), config.debounce(), config.max_event_file_size)?;
        let registry = Registry::new(settings, reaper);
        Ok(Arc::new(Daemon {
            registry,
            files,
            watcher,
            config,
        }))
    }
}

/// Binds `path`, replacing a stale socket left by an earlier run; only our user may connect.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_socket()
    {
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// `pod-agent daemon`: serves until `shutdown` resolves, then closes every terminal.
pub async fn run(config: DaemonConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let daemon = Daemon::start(config)?;
    let listener = bind(&daemon.config.socket)?;
    tracing::info!(socket = %daemon.config.socket.display(), workspace = %daemon.files.ws.root_path().display(), "pod-agent listening");
    serve(listener, daemon.clone(), shutdown).await;
    let _ = std::fs::remove_file(&daemon.config.socket);
    Ok(())
}

/// Accepts connections (at most `max_connections` at once) until `shutdown` resolves.
pub async fn serve(
    listener: UnixListener,
    daemon: Arc<Daemon>,
    shutdown: impl Future<Output = ()>,
) {
    let limit = Arc::new(Semaphore::new(daemon.config.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = limit.clone().acquire_owned() => permit.expect("never closed"),
        };
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    continue;
                }
            },
        };
        let daemon = daemon.clone();
        tokio::spawn(async move {
            crate::connection::serve(stream, daemon).await;
            drop(permit);
        });
    }
    tracing::info!("shutting down: closing terminals");
    daemon.registry.close_all();
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
