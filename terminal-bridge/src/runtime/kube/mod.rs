//! The kube runtime: one pod per workspace in one namespace, reached by an exec of
//! `pod-agent connect` (the API server's `pods/exec` WebSocket), never over the pod network.
//!
//! Pods are named `ws-<session>`, so any bridge replica finds a workspace's pod and a create
//! racing another one ends in `409 AlreadyExists` and reuse. Within one bridge a per-session
//! lock serialises `ensure` and `stop`. Deletes carry the pod's uid as a precondition, so a
//! pod that was replaced in the meantime is never deleted by mistake.
//!
//! Files:
//! - [`settings`]: the `KUBERNETES_*` settings and how to reach the API server.
//! - [`pod`]: the hardened pod spec, labels, and reading a pod's state.
//! - [`api`]: retries of transient API failures and user-facing error messages.
//! - [`client`]: the kube client, with `TCP_NODELAY`.
//! - `start`: create-or-reuse and waiting for readiness.
//! - `watch`: following one pod's changes as they happen (polling when watching fails).
//! - [`exec`]: the exec's stdio as one byte stream.
//! - `reaper`: deleting finished, stale and orphaned pods (`Runtime::reap`).
//! - `pool`: the optional warm pool of pre-started pods ([`KubeRuntime::fill_pool`]).

pub mod api;
pub mod client;
pub mod exec;
pub mod pod;
pub mod settings;

mod pool;
mod reaper;
mod start;
mod watch;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, AttachParams, DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use tokio::sync::OnceCell;
use uuid::Uuid;

use self::pod::{is_terminating, pod_name};
use self::settings::{ClientSource, KubeSettings};
use super::{AgentStream, Reaped, Runtime, RuntimeError, Sandbox};

/// See the module documentation.
pub struct KubeRuntime {
    settings: KubeSettings,
    source: ClientSource,
    /// Made on first use (building a client needs the async runtime, and a kubeconfig may
    /// need async work).
    client: OnceCell<Client>,
    /// One lock per session, so `ensure` and `stop` of one session take turns.
    locks: std::sync::Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
    /// Held while the warm pool is refilled, so refills do not overshoot.
    pool_lock: Arc<tokio::sync::Mutex<()>>,
}

impl KubeRuntime {
    pub fn new(settings: KubeSettings, source: ClientSource) -> KubeRuntime {
        KubeRuntime {
            settings,
            source,
            client: OnceCell::new(),
            locks: Default::default(),
            pool_lock: Default::default(),
        }
    }

    /// The runtime's settings.
    pub fn settings(&self) -> &KubeSettings {
        &self.settings
    }

    async fn client(&self) -> Result<Client, RuntimeError> {
        let client = self
            .client
            .get_or_try_init(|| async {
                let config = match &self.source {
                    ClientSource::InCluster(config) | ClientSource::Config(config) => {
                        config.clone()
                    }
                    ClientSource::Kubeconfig(kubeconfig) => kube::Config::from_custom_kubeconfig(
                        kubeconfig.clone(),
                        &Default::default(),
                    )
                    .await
                    .map_err(|err| {
                        tracing::error!("kubeconfig: {err}");
                        RuntimeError::Unavailable(
                            "the bridge's kubeconfig cannot be used; see its log".into(),
                        )
                    })?,
                };
                client::nodelay_client(config).map_err(|err| {
                    tracing::error!("kube client: {err}");
                    RuntimeError::Unavailable("the bridge cannot reach Kubernetes".into())
                })
            })
            .await?;
        Ok(client.clone())
    }

    /// The pods API of the workspace namespace.
    async fn pods(&self) -> Result<Api<Pod>, RuntimeError> {
        Ok(Api::namespaced(
            self.client().await?,
            &self.settings.namespace,
        ))
    }

    /// Waits for `session`'s turn among this runtime's callers.
    async fn turn(&self, session: Uuid) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            locks.entry(session).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// `session`'s pod, if one exists: a live one first, else a terminating one. Without a
    /// warm pool that is the pod named `ws-<session>`; with one, any pod labelled with the
    /// session (the live one with the smallest name if, for a moment, there are several).
    async fn get(&self, pods: &Api<Pod>, session: Uuid) -> Result<Option<Pod>, RuntimeError> {
        if self.settings.warm_pool == 0 {
            let name = pod_name(session);
            return api::retry("reading a workspace pod", || pods.get_opt(&name))
                .await
                .map_err(|err| api::user_error("reading the workspace's pod", err));
        }
        let mut all = self.session_pods(pods, session).await?;
        all.sort_by_key(|p| (is_terminating(p), pod::name(p)));
        Ok(all.into_iter().next())
    }

    /// Every pod labelled with `session` (terminating ones included).
    async fn session_pods(&self, pods: &Api<Pod>, session: Uuid) -> Result<Vec<Pod>, RuntimeError> {
        let params = ListParams::default().labels(&pod::session_selector(session));
        let list = api::retry("listing a workspace's pods", || pods.list(&params))
            .await
            .map_err(|err| api::user_error("reading the workspace's pod", err))?;
        Ok(list.items)
    }

    /// Starts deleting `pod` if it still has `uid`; gone already counts as deleted.
    async fn delete(&self, pods: &Api<Pod>, name: &str, uid: &str) -> Result<(), RuntimeError> {
        delete_pod(pods, name, uid).await
    }
}

/// Starts deleting `name` if it still has `uid` (5 s grace period); gone, or replaced by a pod
/// with another uid, counts as deleted.
async fn delete_pod(pods: &Api<Pod>, name: &str, uid: &str) -> Result<(), RuntimeError> {
    let params = DeleteParams {
        grace_period_seconds: Some(5),
        preconditions: Some(Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api::retry("deleting a workspace pod", || pods.delete(name, &params)).await {
        Ok(_) => Ok(()),
        Err(err) if api::is_not_found(&err) || api::is_conflict(&err) => Ok(()),
        Err(err) => Err(api::user_error("deleting the workspace's pod", err)),
    }
}

#[async_trait]
impl Runtime for KubeRuntime {
    fn name(&self) -> &'static str {
        "kube"
    }

    async fn ensure(&self, session: Uuid) -> Result<Sandbox, RuntimeError> {
        let _turn = self.turn(session).await;
        self.start(session).await
    }

    async fn connect(&self, session: Uuid) -> Result<AgentStream, RuntimeError> {
        let pods = self.pods().await?;
        let Some(found) = self.get(&pods, session).await? else {
            return Err(RuntimeError::NotRunning);
        };
        if is_terminating(&found) || !pod::is_ready(&found) {
            return Err(RuntimeError::NotRunning);
        }
        let name = pod::name(&found);
        let params = AttachParams {
            container: Some(pod::CONTAINER.into()),
            stdin: true,
            stdout: true,
            stderr: true,
            tty: false,
            max_stdin_buf_size: Some(exec::BUFFER),
            max_stdout_buf_size: Some(exec::BUFFER),
            max_stderr_buf_size: Some(exec::BUFFER),
        };
        // Not retried: an exec that reached the pod may have started a connection.
        let process = match pods.exec(&name, pod::connect_command(), &params).await {
            Ok(process) => process,
            Err(err) if api::is_not_found(&err) => return Err(RuntimeError::NotRunning),
            Err(err) => return Err(api::user_error("connecting to the workspace's agent", err)),
        };
        let stream = exec::ExecStream::new(process, name).map_err(anyhow::Error::from)?;
        Ok(Box::pin(stream))
    }

    async fn stop(&self, session: Uuid) -> Result<(), RuntimeError> {
        let _turn = self.turn(session).await;
        let pods = self.pods().await?;
        let found = if self.settings.warm_pool == 0 {
            self.get(&pods, session).await?.into_iter().collect()
        } else {
            self.session_pods(&pods, session).await?
        };
        for found in found.iter().filter(|p| !is_terminating(p)) {
            let uid = pod::uid(found).unwrap_or_default();
            self.delete(&pods, &pod::name(found), &uid).await?;
            tracing::info!(%session, pod = %pod::name(found), "workspace pod deleted");
        }
        Ok(())
    }

    async fn list(&self) -> Result<Vec<Sandbox>, RuntimeError> {
        let pods = self.pods().await?;
        let params = ListParams::default().labels(&pod::managed_selector());
        let list = api::retry("listing workspace pods", || pods.list(&params))
            .await
            .map_err(|err| api::user_error("listing the workspace pods", err))?;
        let mut out: Vec<Sandbox> = list
            .items
            .iter()
            // Ended pods are not sandboxes that run: the reaper deletes them, and the next
            // `ensure` replaces them.
            .filter(|found| !is_terminating(found) && !pod::is_finished(found))
            .filter_map(|found| {
                Some(Sandbox {
                    session: pod::session_of(found)?,
                    id: pod::name(found),
                    created: false,
                })
            })
            .collect();
        out.sort_by_key(|sandbox| sandbox.session);
        Ok(out)
    }

    /// Stamps `session`'s pod's last-activity annotation with now, so no reaper takes it for
    /// stale. A missing pod is [`RuntimeError::NotRunning`].
    async fn touch(&self, session: Uuid) -> Result<(), RuntimeError> {
        let pods = self.pods().await?;
        let body = serde_json::json!({
            "metadata": {"annotations": {pod::LAST_ACTIVITY: pod::now_rfc3339()}}
        });
        let patch = Patch::Merge(&body);
        // Without a pool the pod's name is known; a missing pod answers the patch with 404.
        let name = if self.settings.warm_pool == 0 {
            pod_name(session)
        } else {
            match self.get(&pods, session).await? {
                Some(found) => pod::name(&found),
                None => return Err(RuntimeError::NotRunning),
            }
        };
        let params = PatchParams::default();
        match api::retry("touching a workspace pod", || {
            pods.patch(&name, &params, &patch)
        })
        .await
        {
            Ok(_) => Ok(()),
            Err(err) if api::is_not_found(&err) => Err(RuntimeError::NotRunning),
            Err(err) => Err(api::user_error("recording the workspace's activity", err)),
        }
    }

    async fn reap(
        &self,
        known: &HashSet<Uuid>,
        watched: &HashSet<Uuid>,
        stale_after: Duration,
    ) -> Result<Vec<Reaped>, RuntimeError> {
        self.reap_pods(known, watched, stale_after).await
    }
}
