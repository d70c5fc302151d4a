//! Following one pod's changes as they happen, for `ensure`'s waits (ready, gone).
//!
//! A watch on the pod's name, from the resource version last seen, tells of each change as
//! the API server records it, so a pod that turns ready is used at once instead of at the
//! next poll. Where the watch cannot be opened or breaks off (an old resource version, a
//! proxy that cuts long requests, a server error), the next state is read with a GET after
//! the poll interval, and the watch is opened again from there.

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, WatchEvent, WatchParams};
use tokio::time::{Instant, timeout_at};

use super::api;
use crate::runtime::RuntimeError;

/// The longest watch request asked for; the API server's own limit is about 30 minutes, and
/// proxies often cut requests much sooner, which only costs a re-open.
const MAX_WATCH_SECS: u64 = 290;

/// What happened to the pod next.
#[derive(Debug)]
pub enum Seen {
    /// Its new state (which may be a new pod of the same name: compare uids).
    Changed(Box<Pod>),
    /// It was deleted.
    Gone,
    /// Nothing, until the deadline.
    Nothing,
}

/// See the module documentation.
pub struct PodWatch<'a> {
    pods: &'a Api<Pod>,
    name: String,
    /// The resource version of the last state seen; the watch starts after it.
    version: String,
    fallback: Duration,
    events: Option<BoxStream<'static, Result<WatchEvent<Pod>, kube::Error>>>,
    /// The API server refused to watch (RBAC without `watch`, say): only poll from now on.
    refused: bool,
}

impl<'a> PodWatch<'a> {
    /// Follows `pod` from the state given; `fallback` is the poll interval for when watching
    /// fails.
    pub fn new(pods: &'a Api<Pod>, pod: &Pod, fallback: Duration) -> PodWatch<'a> {
        PodWatch {
            pods,
            name: pod.metadata.name.clone().unwrap_or_default(),
            version: pod.metadata.resource_version.clone().unwrap_or_default(),
            fallback,
            events: None,
            refused: false,
        }
    }

    /// The pod's next change, or [`Seen::Nothing`] once `deadline` passes.
    pub async fn next(&mut self, deadline: Instant) -> Result<Seen, RuntimeError> {
        loop {
            if Instant::now() >= deadline {
                return Ok(Seen::Nothing);
            }
            if self.events.is_none() && (self.refused || !self.open(deadline).await) {
                return self.poll(deadline).await;
            }
            let events = self.events.as_mut().expect("opened above");
            let event = match timeout_at(deadline, events.next()).await {
                Err(_) => return Ok(Seen::Nothing),
                Ok(event) => event,
            };
            match event {
                Some(Ok(WatchEvent::Added(pod) | WatchEvent::Modified(pod))) => {
                    self.seen(&pod);
                    return Ok(Seen::Changed(Box::new(pod)));
                }
                Some(Ok(WatchEvent::Deleted(_))) => {
                    self.events = None;
                    return Ok(Seen::Gone);
                }
                Some(Ok(WatchEvent::Bookmark(mark))) => {
                    self.version = mark.metadata.resource_version;
                }
                Some(Ok(WatchEvent::Error(status))) => {
                    // Typically 410 Gone: the version is too old to watch from.
                    tracing::debug!(pod = %self.name, "watch ended: {}", status.message);
                    self.events = None;
                    return self.poll(deadline).await;
                }
                Some(Err(err)) => {
                    tracing::debug!(pod = %self.name, "watch broke off: {err}");
                    self.events = None;
                    return self.poll(deadline).await;
                }
                // The request's own timeout: open the next one.
                None => self.events = None,
            }
        }
    }

    /// Opens the watch; false if that failed (already logged).
    async fn open(&mut self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now()).as_secs() + 1;
        let params = WatchParams {
            field_selector: Some(format!("metadata.name={}", self.name)),
            timeout: Some(left.min(MAX_WATCH_SECS) as u32),
            ..WatchParams::default()
        };
        match self.pods.watch(&params, &self.version).await {
            Ok(events) => {
                self.events = Some(events.boxed());
                true
            }
            Err(err) => {
                tracing::debug!(pod = %self.name, "cannot watch: {err}; polling");
                // Refusals stay refusals; anything else may pass next time.
                self.refused = matches!(api::code(&err), Some(401 | 403 | 405));
                false
            }
        }
    }

    /// The pod's state after one poll interval (the fallback when watching fails).
    async fn poll(&mut self, deadline: Instant) -> Result<Seen, RuntimeError> {
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(self.fallback.min(left).max(Duration::from_millis(1))).await;
        let name = self.name.clone();
        match api::retry("reading a workspace pod", || self.pods.get_opt(&name)).await {
            Ok(Some(pod)) => {
                self.seen(&pod);
                Ok(Seen::Changed(Box::new(pod)))
            }
            Ok(None) => Ok(Seen::Gone),
            Err(err) => Err(api::user_error("reading the workspace's pod", err)),
        }
    }

    fn seen(&mut self, pod: &Pod) {
        if let Some(version) = &pod.metadata.resource_version {
            self.version.clone_from(version);
        }
    }
}
