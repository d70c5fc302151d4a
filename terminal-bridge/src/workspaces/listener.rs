//! The one connection that LISTENs on `code_session_desired_state` and
//! `workspace_item_changed`, re-established with backoff whenever it drops. Each (re)connect
//! asks for a full reconcile, since notifications sent while it was down are lost.

use std::sync::Arc;
use std::time::Duration;

use platform_contract::notify::{BRIDGE_LISTEN_SQL, Notification};
use platform_contract::state::{DesiredState, ItemKind};
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;

use super::sync::Change;
use super::{StopReason, Workspaces};
use crate::db::Retry;

/// Listens until aborted. `kick` asks the reconciler for a full pass.
pub async fn run(workspaces: Arc<Workspaces>, kick: mpsc::UnboundedSender<()>) {
    let retry = Retry {
        attempts: u32::MAX,
        first_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(5),
    };
    let mut failures = 0u32;
    loop {
        match listen_once(&workspaces, &kick).await {
            Ok(()) => failures = 0,
            Err(e) => {
                failures = failures.saturating_add(1);
                let error = crate::db::tls::describe(&e);
                tracing::warn!(%error, "notification listener lost its connection");
            }
        }
        tokio::time::sleep(retry.delay_after(failures.max(1))).await;
    }
}

/// One connection's life: connect, LISTEN, dispatch until it ends.
async fn listen_once(
    workspaces: &Arc<Workspaces>,
    kick: &mpsc::UnboundedSender<()>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = workspaces.database.connect_raw().await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if tx.send(n).is_err() {
                        return Ok(());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
    });
    client.batch_execute(BRIDGE_LISTEN_SQL).await?;
    tracing::info!("listening for session and file notifications");
    let _ = kick.send(());
    while let Some(n) = rx.recv().await {
        dispatch(workspaces, n.channel(), n.payload());
    }
    drop(client);
    match driver.await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}

fn dispatch(workspaces: &Arc<Workspaces>, channel: &str, payload: &str) {
    let notification = match Notification::decode(channel, payload) {
        Ok(Some(n)) => n,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(payload, error = %e, "malformed notification");
            return;
        }
    };
    match notification {
        Notification::DesiredState(n) => {
            let reason = if n.deleted {
                StopReason::Deleted
            } else if n.desired_state == DesiredState::Stopped {
                StopReason::Desired
            } else {
                return;
            };
            let w = workspaces.clone();
            tokio::spawn(async move { w.stop(n.session, reason).await });
        }
        Notification::Item(n) => {
            if n.bridge == Some(workspaces.shared.store.bridge) {
                return; // our own write, already handled and announced
            }
            workspaces.item_changed(
                n.session,
                Change {
                    path: n.path,
                    version: n.version,
                    folder: n.kind == ItemKind::Folder,
                    deleted: n.deleted,
                    origin: n.origin.unwrap_or_else(|| "rest".into()),
                },
            );
        }
        Notification::Member(_) => {}
    }
}
