//! Deleting workspace pods nobody needs: ended ones (`Failed`, `Succeeded`), stale ones (no
//! bridge stamped their last-activity annotation for longer than a threshold), and quiet ones
//! whose session the caller does not know (deleted workspaces). Pods of the sessions the
//! caller watches are never stale: their bridge stops them itself, after saving their files.
//! Unassigned warm-pool pods are only reaped when they ended. Each delete carries the pod's
//! uid, so a pod recreated meanwhile survives.

use std::collections::HashSet;
use std::time::Duration;

use kube::api::ListParams;
use uuid::Uuid;

use super::pod::{self, is_terminating};
use super::{KubeRuntime, api};
use crate::runtime::{ReapReason, Reaped, RuntimeError};

impl KubeRuntime {
    /// Deletes the managed pods that ended, whose session is not in `known`, or whose last
    /// activity is older than `stale_after` (unless their session is in `watched`); returns
    /// what it deleted. Pods already terminating are left alone.
    pub(super) async fn reap_pods(
        &self,
        known: &HashSet<Uuid>,
        watched: &HashSet<Uuid>,
        stale_after: Duration,
    ) -> Result<Vec<Reaped>, RuntimeError> {
        let pods = self.pods().await?;
        let params = ListParams::default().labels(&pod::managed_selector());
        let list = api::retry("listing workspace pods", || pods.list(&params))
            .await
            .map_err(|err| api::user_error("listing the workspace pods", err))?;
        let now = jiff::Timestamp::now();
        let stale_after =
            jiff::SignedDuration::try_from(stale_after).unwrap_or(jiff::SignedDuration::MAX);
        let mut reaped = Vec::new();
        for found in &list.items {
            if is_terminating(found) {
                continue;
            }
            let session = pod::session_of(found);
            // Quiet: no bridge stamped it (at creation, claim or touch) for `stale_after`. A
            // pod of a session unknown to the caller must be quiet too, because the caller's
            // list of sessions may predate the pod (it is started after the list was read);
            // the session layer stops the sandboxes of deleted sessions itself anyway.
            let quiet = pod::last_activity(found)
                .is_some_and(|last| now.duration_since(last) > stale_after);
            let reason = match session {
                _ if pod::is_finished(found) => ReapReason::Ended,
                // Unassigned pool pods have no session and are meant to idle.
                _ if pod::is_warm(found) => continue,
                None => ReapReason::Unknown,
                Some(session) if !known.contains(&session) && quiet => ReapReason::Unknown,
                Some(session) if !watched.contains(&session) && quiet => ReapReason::Stale,
                Some(_) => continue,
            };
            let name = pod::name(found);
            let uid = pod::uid(found).unwrap_or_default();
            // Serialised with ensure/stop of the same session within this bridge.
            let _turn = match session {
                Some(session) => Some(self.turn(session).await),
                None => None,
            };
            self.delete(&pods, &name, &uid).await?;
            tracing::info!(pod = %name, ?reason, "reaped a workspace pod");
            reaped.push(Reaped {
                id: name,
                session,
                reason,
            });
        }
        Ok(reaped)
    }
}
