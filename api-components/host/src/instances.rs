//! Spin's instance model for WASI 0.3 components: an instance is reused for many
//! requests, also concurrently, up to configured limits, and dropped when it traps,
//! times out, or has been idle for a while. Built on wasmtime-wasi-http's `ProxyHandler`.

use crate::outbound::AllowedHosts;
use crate::postgres::{PgCtx, PgPools};
use crate::spin_variables::VarsCtx;
use crate::state::{HostState, OutboundHttp};
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wasmtime::component::{GuestTaskId, ResourceTable};
use wasmtime::{Engine, Store, StoreContextMut, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::handler::{
    HandlerState, Instance, ProxyPre, ShouldAccept, WorkerExpiration, WorkerState, WorkerStatus,
};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpView};

/// Limits that apply to every instance of every component.
#[derive(Debug, Clone)]
pub struct InstanceLimits {
    pub memory_bytes: usize,
    pub request_timeout: Duration,
    pub max_reuse: usize,
    pub max_concurrency: usize,
    pub idle_timeout: Duration,
    pub outbound_timeout: Duration,
}

/// Everything needed to create instances of one component.
pub struct ComponentInstances {
    /// The component's id in the manifest, for logs.
    pub id: String,
    pub engine: Engine,
    pub pre: ProxyPre<HostState>,
    /// The component's variables, rendered from the application's.
    pub variables: Arc<BTreeMap<String, String>>,
    pub allowed: Arc<AllowedHosts>,
    pub pg_pools: Arc<PgPools>,
    /// Keep-alive HTTP connections, shared by every instance of the application.
    pub http_pool: crate::state::PooledHttp,
    pub limits: InstanceLimits,
}

impl ComponentInstances {
    fn new_store(&self) -> Store<HostState> {
        let wasi = WasiCtxBuilder::new()
            .inherit_stdout()
            .inherit_stderr()
            .build();
        let state = HostState {
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            outbound: OutboundHttp {
                allowed: self.allowed.clone(),
                default_timeout: self.limits.outbound_timeout,
                pool: self.http_pool.clone(),
            },
            pg: PgCtx::new(
                self.pg_pools.clone(),
                (*self.allowed).clone().into_check(),
                &self.id,
            ),
            vars: VarsCtx {
                values: self.variables.clone(),
            },
            limits: StoreLimitsBuilder::new()
                .memory_size(self.limits.memory_bytes)
                .instances(64)
                .build(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        // Give the executor a turn every epoch tick, so a guest spinning in a loop is
        // seen (and expired) by the request timeout instead of holding a thread forever.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
        store
    }
}

impl HandlerState for ComponentInstances {
    type StoreData = HostState;
    type WorkerExpiration = Expiry;
    type WorkerState = Worker;

    async fn instantiate(&self) -> wasmtime::Result<Instance<HostState, Expiry, Worker>> {
        let mut store = self.new_store();
        let proxy = self.pre.instantiate_async(&mut store).await?;
        Ok(Instance {
            store,
            proxy,
            view: <HostState as WasiHttpView>::http,
            expiration: Expiry::new(&self.limits),
            state: Worker {
                id: self.id.clone(),
                limits: self.limits.clone(),
            },
        })
    }
}

/// Per-instance policy: how many requests, and what happens when it ends.
pub struct Worker {
    id: String,
    limits: InstanceLimits,
}

impl WorkerState for Worker {
    type StoreData = HostState;
    type RequestData = ();

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        if total >= self.limits.max_reuse {
            ShouldAccept::Never
        } else if concurrent >= self.limits.max_concurrency {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        _store: StoreContextMut<'_, HostState>,
        _data: (),
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        Box::pin(tokio::time::sleep(self.limits.request_timeout))
    }

    fn drop(&self, _store: Store<HostState>, result: wasmtime::Result<()>) {
        match result {
            Ok(()) => tracing::debug!(component = %self.id, "instance retired"),
            Err(e) => tracing::warn!(component = %self.id, "instance dropped: {e:#}"),
        }
    }
}

/// Decides, from outside the instance's event loop, when an instance has expired: a
/// request running past the timeout (even one spinning without yielding), a guest's
/// post-return work running too long, or an instance idle past the idle timeout.
pub struct Expiry {
    request_timeout: Duration,
    idle_timeout: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
    armed_for: Option<Instant>,
}

impl Expiry {
    fn new(limits: &InstanceLimits) -> Expiry {
        Expiry {
            request_timeout: limits.request_timeout,
            idle_timeout: limits.idle_timeout,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            armed_for: None,
        }
    }
}

impl WorkerExpiration for Expiry {
    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        state: WorkerStatus,
        start: Instant,
    ) -> Poll<()> {
        let this = self.get_mut();
        let deadline = start
            + match state {
                WorkerStatus::Requests | WorkerStatus::PostReturn => this.request_timeout,
                WorkerStatus::Idle => this.idle_timeout,
            };
        if Instant::now() >= deadline {
            return Poll::Ready(());
        }
        if this.armed_for != Some(deadline) {
            this.sleep.as_mut().reset(deadline.into());
            this.armed_for = Some(deadline);
        }
        this.sleep.as_mut().poll(cx)
    }
}
