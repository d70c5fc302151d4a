//! The data of one component instance's `Store`: WASI, HTTP, PostgreSQL and variables
//! contexts, the outbound allow-list and the memory limits.

use crate::outbound::AllowedHosts;
use crate::postgres::{PgCtx, PgView};
use crate::spin_variables::{VarsCtx, VarsView};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

pub struct HostState {
    pub table: ResourceTable,
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub outbound: OutboundHttp,
    pub pg: PgCtx,
    pub vars: VarsCtx,
    /// Memory and instance limits of this store (one component instance).
    pub limits: StoreLimits,
}

/// Outbound HTTP of one component: only to `allowed_outbound_hosts`, with timeouts.
pub struct OutboundHttp {
    pub allowed: Arc<AllowedHosts>,
    /// Used when the guest sets no timeout of its own, so a silent peer cannot pin a request.
    pub default_timeout: Duration,
    /// Keep-alive connections for plain `http://`, shared by all instances of the app, so
    /// a component calling a service per request does not pay a TCP handshake each time.
    pub pool: PooledHttp,
}

/// The shared keep-alive client for plain HTTP (HTTPS goes through wasmtime-wasi-http's
/// own connector, one connection per request).
pub type PooledHttp = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    WasiBody,
>;

/// A keep-alive client whose connects give up after `connect_timeout`.
pub fn pooled_http(connect_timeout: Duration) -> PooledHttp {
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_connect_timeout(Some(connect_timeout));
    connector.set_nodelay(true);
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.outbound,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

impl PgView for HostState {
    fn pg(&mut self) -> (&mut PgCtx, &mut ResourceTable) {
        (&mut self.pg, &mut self.table)
    }
}

impl VarsView for HostState {
    fn vars(&mut self) -> &mut VarsCtx {
        &mut self.vars
    }
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendFuture {
        drop(fut);
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        // As a URL parser gives it: a name lower-cased, an IPv6 address in brackets.
        let host = uri.host().unwrap_or_default().to_ascii_lowercase();
        let port = uri
            .port_u16()
            .or_else(|| crate::outbound::default_port(&scheme))
            .unwrap_or(0);
        if !self.allowed.allows(&scheme, &host, port) {
            tracing::warn!(%scheme, %host, port, "outbound request refused: not in allowed_outbound_hosts");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        if scheme == "http" {
            let client = self.pool.clone();
            let first_byte = options
                .and_then(|o| o.first_byte_timeout)
                .unwrap_or(self.default_timeout);
            return Box::new(async move {
                use http_body_util::BodyExt;
                use wasmtime_wasi_http::Error;
                let response = tokio::time::timeout(first_byte, client.request(request))
                    .await
                    .map_err(|_| Error::HttpResponseTimeout)?
                    .map_err(|e| {
                        if e.is_connect() {
                            Error::ConnectionRefused
                        } else {
                            Error::HttpProtocolError
                        }
                    })?;
                Ok((
                    response.map(|body| body.map_err(Error::from).boxed_unsync()),
                    Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
                ))
            });
        }
        let timeout = Some(self.default_timeout);
        let options = options.unwrap_or_default();
        let options = RequestOptions {
            connect_timeout: options.connect_timeout.or(timeout),
            first_byte_timeout: options.first_byte_timeout.or(timeout),
            between_bytes_timeout: options.between_bytes_timeout.or(timeout),
        };
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}
