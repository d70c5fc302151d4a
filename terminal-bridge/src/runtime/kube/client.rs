//! The kube client, built like `kube::Client::try_from(config)` (base URI, credentials, extra
//! headers, rustls, the connect timeout) but on a connector with `TCP_NODELAY`. kube's own
//! connector leaves Nagle on, and a terminal's traffic is small writes both ways over the
//! exec WebSocket: a keystroke's echo then waited for the delayed ACK, ~40 ms each
//! (`scripts/bench terminal` with `BRIDGE_RUNTIME=kube` measured 44 ms p50 before; see
//! "Benchmarks" in `docs/operations.md`).
//!
//! Left out of kube's stack: response decompression (the runtime's requests are small), the
//! tracing layer, and kube's retry layer (the runtime retries itself, see `api`).

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::ConfigExt;
use tower::ServiceBuilder;
use tower::util::BoxService;

/// A client for `config` whose connections have Nagle's algorithm off.
pub fn nodelay_client(config: kube::Config) -> kube::Result<kube::Client> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(config.connect_timeout);
    let https = config.rustls_https_connector_with_connector(http)?;
    let hyper = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(https);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(tower::BoxError::from)
        .service(hyper);
    Ok(kube::Client::new(
        BoxService::new(service),
        config.default_namespace,
    ))
}
