//! The warm pool (`KUBERNETES_WARM_POOL`): pre-started pods without a session, labelled
//! `code-exec.dev/pool=warm`, so opening a workspace need not wait for a pod to start.
//!
//! Claiming one is a merge patch carrying the pod's `resourceVersion` as a precondition: of
//! two bridges patching the same pod only one succeeds, the other gets `409 Conflict` and
//! tries the next. The patch relabels the pod `pool=claimed` with the session's
//! `code-exec.dev/workspace-id`. A claimed pod keeps its `ws-pool-...` name, so with a pool
//! the runtime finds a session's pod by label; see `start` for how two replicas that give
//! one session two pods at once settle on one.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use uuid::Uuid;

use super::pod::{self, is_terminating};
use super::settings::KubeSettings;
use super::{KubeRuntime, api};
use crate::runtime::RuntimeError;

impl KubeRuntime {
    /// Creates warm pods until the pool has its size (ended ones are deleted and replaced);
    /// returns how many it created. Call it at start-up and periodically; `ensure` also
    /// refills after each claim.
    pub async fn fill_pool(&self) -> Result<usize, RuntimeError> {
        if self.settings.warm_pool == 0 {
            return Ok(0);
        }
        let pods = self.pods().await?;
        fill(pods, self.settings.clone(), self.pool_lock.clone()).await
    }

    /// Refills the pool now and then every `every`, in a background task that ends when the
    /// runtime is dropped. Needs to be called within a tokio runtime (else it only warns).
    pub fn keep_pool_filled(self: &Arc<Self>, every: Duration) {
        if self.settings.warm_pool == 0 {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("KUBERNETES_WARM_POOL is set but no async runtime runs: no refills");
            return;
        };
        let runtime = Arc::downgrade(self);
        handle.spawn(async move {
            loop {
                let Some(rt) = runtime.upgrade() else { return };
                if let Err(err) = rt.fill_pool().await {
                    tracing::warn!("filling the warm pool: {err}");
                }
                drop(rt);
                tokio::time::sleep(every).await;
            }
        });
    }

    /// Claims a ready warm pod for `session`; `None` when none is ready.
    pub(super) async fn claim(
        &self,
        pods: &Api<Pod>,
        session: Uuid,
    ) -> Result<Option<Pod>, RuntimeError> {
        let params = ListParams::default().labels(&pod::warm_selector());
        let list = api::retry("listing warm pods", || pods.list(&params))
            .await
            .map_err(|err| api::user_error("listing the warm pods", err))?;
        let mut candidates: Vec<&Pod> = list
            .items
            .iter()
            .filter(|p| pod::is_warm(p) && pod::is_ready(p) && !is_terminating(p))
            .collect();
        candidates.sort_by_key(|p| pod::name(p));
        for candidate in candidates {
            let name = pod::name(candidate);
            let body = serde_json::json!({
                "metadata": {
                    "resourceVersion": candidate.metadata.resource_version,
                    "labels": {pod::POOL: "claimed", pod::WORKSPACE_ID: session.to_string()},
                    "annotations": {pod::LAST_ACTIVITY: pod::now_rfc3339()},
                }
            });
            let patch = Patch::Merge(&body);
            let params = PatchParams::default();
            match pods.patch(&name, &params, &patch).await {
                Ok(claimed) => {
                    tracing::info!(%session, pod = %name, "claimed a warm pod");
                    let (pods, settings, lock) =
                        (pods.clone(), self.settings.clone(), self.pool_lock.clone());
                    tokio::spawn(async move {
                        if let Err(err) = fill(pods, settings, lock).await {
                            tracing::warn!("refilling the warm pool: {err}");
                        }
                    });
                    return Ok(Some(claimed));
                }
                // Someone else claimed (or deleted) it first.
                Err(err) if api::is_conflict(&err) || api::is_not_found(&err) => continue,
                Err(err) => return Err(api::user_error("claiming a warm pod", err)),
            }
        }
        Ok(None)
    }
}

/// Tops the pool up; one fill at a time per runtime.
async fn fill(
    pods: Api<Pod>,
    settings: KubeSettings,
    lock: Arc<tokio::sync::Mutex<()>>,
) -> Result<usize, RuntimeError> {
    let _one_at_a_time = lock.lock().await;
    let params = ListParams::default().labels(&pod::warm_selector());
    let list = api::retry("listing warm pods", || pods.list(&params))
        .await
        .map_err(|err| api::user_error("listing the warm pods", err))?;
    let mut live = 0;
    for found in list.items.iter().filter(|p| !is_terminating(p)) {
        if pod::is_finished(found) || pod::fatal_reason(found).is_some() {
            let name = pod::name(found);
            let uid = pod::uid(found).unwrap_or_default();
            let _ = super::delete_pod(&pods, &name, &uid).await;
        } else {
            live += 1;
        }
    }
    let mut created = 0;
    let post = PostParams::default();
    while live + created < settings.warm_pool {
        let spec = pod::pool_pod(&settings);
        api::retry("creating a warm pod", || pods.create(&post, &spec))
            .await
            .map_err(|err| api::user_error("creating a warm pod", err))?;
        created += 1;
    }
    Ok(created)
}
