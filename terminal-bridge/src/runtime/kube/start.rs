//! `ensure`: find, claim (warm pool) or create the session's pod, then wait until it is
//! ready, failing early when it never will be (image errors, unschedulable, failed).
//!
//! With a warm pool, two replicas may give one session two pods at once (one claims a pool
//! pod while the other claims another, or creates `ws-<session>`). So a replica that just
//! acquired a pod lists the session's pods: if it sees another live one it gives its own
//! back (deletes it) and starts over, reusing what it finds. Of two such replicas the later
//! one to list always sees the other's pod, so at most one keeps its pod without having
//! seen the other; if both see each other both yield and retry after a random delay.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use tokio::time::Instant;
use uuid::Uuid;

use super::pod::{self, is_finished, is_terminating};
use super::watch::{PodWatch, Seen};
use super::{KubeRuntime, api};
use crate::runtime::{RuntimeError, Sandbox};

/// Rounds of get / create before `ensure` gives up on a pod that keeps changing under it.
const ROUNDS: u32 = 5;

impl KubeRuntime {
    /// Called under the session's turn.
    pub(super) async fn start(&self, session: Uuid) -> Result<Sandbox, RuntimeError> {
        let pods = self.pods().await?;
        let pool = self.settings.warm_pool > 0;
        for _ in 0..ROUNDS {
            let found = self.get(&pods, session).await?;
            let claimed = match &found {
                Some(found) if pool && is_terminating(found) => self.claim(&pods, session).await?,
                None if pool => self.claim(&pods, session).await?,
                _ => None,
            };
            let (found, created) = match (found, claimed) {
                (_, Some(claimed)) => (claimed, true),
                (Some(found), None) if is_terminating(&found) => {
                    self.wait_gone(&pods, &found).await?;
                    continue;
                }
                (Some(found), None) if is_finished(&found) => {
                    tracing::info!(%session, phase = pod::phase(&found), "replacing an ended pod");
                    let uid = pod::uid(&found).unwrap_or_default();
                    self.delete(&pods, &pod::name(&found), &uid).await?;
                    self.wait_gone(&pods, &found).await?;
                    continue;
                }
                (Some(found), None) => (found, false),
                (None, None) => match self.create(&pods, session).await? {
                    Some(made) => (made, true),
                    // Someone else created it meanwhile: read it back.
                    None => continue,
                },
            };
            if created && pool && self.has_rival(&pods, session, &found).await? {
                tracing::info!(%session, pod = %pod::name(&found), "another bridge gave the session a pod too; yielding");
                let uid = pod::uid(&found).unwrap_or_default();
                self.delete(&pods, &pod::name(&found), &uid).await?;
                let jitter = 20 + (Uuid::new_v4().as_u128() % 200) as u64;
                tokio::time::sleep(Duration::from_millis(jitter)).await;
                continue;
            }
            // A pod deleted while it started (by a yielding replica, the reaper, a person):
            // look again.
            let Some(ready) = self.wait_ready(&pods, &found).await? else {
                continue;
            };
            if created {
                tracing::info!(%session, pod = %pod::name(&ready), "workspace pod started");
            }
            return Ok(Sandbox {
                session,
                id: pod::name(&ready),
                created,
            });
        }
        Err(RuntimeError::Unavailable(
            "the workspace's pod keeps changing; try again".into(),
        ))
    }

    /// Whether `session` has a live pod other than `mine`.
    async fn has_rival(
        &self,
        pods: &Api<Pod>,
        session: Uuid,
        mine: &Pod,
    ) -> Result<bool, RuntimeError> {
        let all = self.session_pods(pods, session).await?;
        Ok(all
            .iter()
            .any(|p| !is_terminating(p) && pod::uid(p) != pod::uid(mine)))
    }

    /// Creates the pod; `None` when one of that name already exists.
    async fn create(&self, pods: &Api<Pod>, session: Uuid) -> Result<Option<Pod>, RuntimeError> {
        let spec = pod::workspace_pod(&self.settings, session);
        let params = PostParams::default();
        match api::retry("creating a workspace pod", || pods.create(&params, &spec)).await {
            Ok(made) => Ok(Some(made)),
            Err(err) if api::is_already_exists(&err) => Ok(None),
            Err(err) => Err(api::user_error("creating the workspace's pod", err)),
        }
    }

    /// Follows `found` until it is gone (or replaced by a pod with another uid).
    async fn wait_gone(&self, pods: &Api<Pod>, found: &Pod) -> Result<(), RuntimeError> {
        let uid = pod::uid(found);
        let deadline = Instant::now() + self.settings.terminating_timeout;
        let mut watch = PodWatch::new(pods, found, self.settings.poll_interval);
        loop {
            match watch.next(deadline).await? {
                Seen::Changed(now) if pod::uid(&now) == uid => {}
                Seen::Changed(_) | Seen::Gone => return Ok(()),
                Seen::Nothing => {
                    return Err(RuntimeError::Unavailable(
                        "the workspace's previous pod is still shutting down; try again shortly"
                            .into(),
                    ));
                }
            }
        }
    }

    /// Follows `found` until it is ready; fails at once when it never will be, and after the
    /// start timeout otherwise. A pod that ended or cannot start is deleted, so the next
    /// `ensure` starts afresh. `None` when the pod was deleted meanwhile.
    async fn wait_ready(&self, pods: &Api<Pod>, found: &Pod) -> Result<Option<Pod>, RuntimeError> {
        let name = pod::name(found);
        let uid = pod::uid(found).unwrap_or_default();
        let deadline = Instant::now() + self.settings.start_timeout;
        let mut current = found.clone();
        let mut watch = PodWatch::new(pods, found, self.settings.poll_interval);
        loop {
            if pod::uid(&current).as_deref() != Some(uid.as_str()) || is_terminating(&current) {
                return Ok(None);
            }
            if pod::is_ready(&current) {
                return Ok(Some(current));
            }
            if let Some(why) = pod::fatal_reason(&current) {
                tracing::warn!(pod = %name, "{why}");
                self.delete(pods, &name, &uid).await?;
                return Err(RuntimeError::Unavailable(why));
            }
            if Instant::now() >= deadline {
                return Err(RuntimeError::Unavailable(format!(
                    "the workspace's pod did not become ready within {} s (phase {}); try again",
                    self.settings.start_timeout.as_secs(),
                    pod::phase(&current)
                )));
            }
            current = match watch.next(deadline).await? {
                Seen::Changed(now) => *now,
                Seen::Gone => return Ok(None),
                Seen::Nothing => current,
            };
        }
    }
}
