//! Waiting for the signal to shut down.

use tracing::info;

/// Completes on Ctrl-C (SIGINT) or SIGTERM (what `kill`, Kubernetes and the stack script send).
pub async fn signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => info!("Ctrl-C received; shutting down"),
        () = terminate => info!("SIGTERM received; shutting down"),
    }
}

/// Tells long-lived connections (WebSockets) that the server is stopping, and lets the server
/// wait until they have said goodbye. Cheap to clone.
#[derive(Clone, Default)]
pub struct Shutdown {
    inner: std::sync::Arc<ShutdownInner>,
}

#[derive(Default)]
struct ShutdownInner {
    /// Becomes true once, when the server starts stopping.
    stopping: tokio::sync::watch::Sender<bool>,
    /// Connections holding a [`ConnectionGuard`].
    active: std::sync::atomic::AtomicUsize,
    /// Woken whenever a guard is dropped.
    idle: tokio::sync::Notify,
}

impl Shutdown {
    /// Starts the shutdown: every [`Shutdown::stopping`] completes.
    pub fn trigger(&self) {
        self.inner.stopping.send_replace(true);
    }

    /// Completes once the shutdown has started (at once if it already has).
    pub fn stopping(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.inner.stopping.subscribe();
        async move {
            let _ = rx.wait_for(|stopping| *stopping).await;
        }
    }

    pub fn is_stopping(&self) -> bool {
        *self.inner.stopping.borrow()
    }

    /// Registers a connection until the guard is dropped.
    pub fn track(&self) -> ConnectionGuard {
        self.inner
            .active
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        ConnectionGuard {
            inner: std::sync::Arc::clone(&self.inner),
        }
    }

    /// Connections registered now.
    pub fn active(&self) -> usize {
        self.inner.active.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits until no connection is registered, at most `limit`; true if none is left.
    pub async fn wait_idle(&self, limit: std::time::Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.inner.idle.notified();
                if self.active() == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }
}

/// See [`Shutdown::track`].
pub struct ConnectionGuard {
    inner: std::sync::Arc<ShutdownInner>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.inner
            .active
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.idle.notify_waiters();
    }
}
