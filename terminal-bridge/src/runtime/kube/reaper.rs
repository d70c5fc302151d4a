//! Deleting workspace pods nobody needs: ended ones (`Failed`, `Succeeded`), stale ones (no
//! activity recorded for longer than a threshold), and those whose session the caller does
//! not know (deleted workspaces, or ones whose desired state is stopped). Unassigned
//! warm-pool pods are only reaped when they ended. Each delete carries the pod's uid, so a
//! pod recreated meanwhile survives.

use std::collections::HashSet;
use std::time::Duration;

use kube::api::ListParams;
use uuid::Uuid;

use super::pod::{self, is_terminating};
use super::{KubeRuntime, api};
use crate::runtime::RuntimeError;

/// Why a pod was reaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReapReason {
    /// Its phase is `Failed` or `Succeeded`.
    Ended,
    /// Its last activity is older than the threshold.
    Stale,
    /// Its session is not among the known ones (or it has no session label).
    Unknown,
}

/// One pod the reaper deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaped {
    pub pod: String,
    pub session: Option<Uuid>,
    pub reason: ReapReason,
}

impl KubeRuntime {
    /// Deletes the managed pods that ended, whose last activity is older than `stale_after`,
    /// or whose session is not in `known`; returns what it deleted. Pods already terminating
    /// are left alone.
    pub async fn reap(
        &self,
        known: &HashSet<Uuid>,
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
            let reason = if pod::is_finished(found) {
                ReapReason::Ended
            } else if pod::is_warm(found) {
                // Unassigned pool pods have no session and are meant to idle.
                continue;
            } else if session.is_none_or(|session| !known.contains(&session)) {
                ReapReason::Unknown
            } else if pod::last_activity(found)
                .is_some_and(|last| now.duration_since(last) > stale_after)
            {
                ReapReason::Stale
            } else {
                continue;
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
                pod: name,
                session,
                reason,
            });
        }
        Ok(reaped)
    }
}
