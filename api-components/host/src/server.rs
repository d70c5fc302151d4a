//! The HTTP listener: routes each request to its component, hands it over the way Spin
//! does (absolute URI, `spin-*` headers), and turns host-side failures into JSON errors.

use crate::app::App;
use crate::routes::RouteMatch;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use wasmtime_wasi_http::WasiBody;
use wasmtime_wasi_http::handler::{ExpirationError, InstantiationError};

/// Limits the listener applies before a component sees the request.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    pub max_body_bytes: u64,
    /// The instances' request timeout: an instance killed after it is a timeout (504).
    pub request_timeout: std::time::Duration,
    pub max_concurrent_requests: usize,
}

struct Shared {
    app: App,
    limits: ServerLimits,
    slots: Semaphore,
}

/// Serves `app` on `listener` until `shutdown` turns true, then finishes the requests
/// in flight and returns.
pub async fn serve(
    listener: TcpListener,
    app: App,
    limits: ServerLimits,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let shared = Arc::new(Shared {
        slots: Semaphore::new(limits.max_concurrent_requests.max(1)),
        app,
        limits,
    });
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let mut stop = shutdown.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(handle(&shared, req, remote).await) }
                    });
                    let conn = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::pin!(conn);
                    tokio::select! {
                        result = conn.as_mut() => {
                            if let Err(e) = result {
                                tracing::debug!(%remote, "connection ended: {e}");
                            }
                        }
                        _ = stopped(&mut stop) => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
            _ = stopped(&mut shutdown) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Resolves once the shutdown flag is true (or its sender is gone).
async fn stopped(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|stop| *stop).await;
}

type HostBody =
    http_body_util::combinators::UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

async fn handle(shared: &Shared, req: Request<Incoming>, remote: SocketAddr) -> Response<HostBody> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let response = dispatch(shared, req, remote).await;
    tracing::info!(
        %method, %path, status = response.status().as_u16(),
        ms = format!("{:.2}", started.elapsed().as_secs_f64() * 1000.0),
        "request"
    );
    response
}

async fn dispatch(
    shared: &Shared,
    req: Request<Incoming>,
    remote: SocketAddr,
) -> Response<HostBody> {
    let Some(matched) = shared.app.router.route(req.uri().path()) else {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no route for {}", req.uri().path()),
        );
    };
    if let Some(len) = req.headers().get(http::header::CONTENT_LENGTH)
        && len
            .to_str()
            .ok()
            .and_then(|l| l.parse::<u64>().ok())
            .is_some_and(|l| l > shared.limits.max_body_bytes)
    {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "request bodies are limited to {} bytes",
                shared.limits.max_body_bytes
            ),
        );
    }
    let handler = &shared.app.components[matched.route.component];
    let request = match to_component_request(req, &matched, remote, shared.limits.max_body_bytes) {
        Ok(r) => r,
        Err(message) => return error(StatusCode::BAD_REQUEST, "bad_request", message),
    };
    let Ok(_slot) = shared.slots.acquire().await else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the host is stopping".into(),
        );
    };
    let started = Instant::now();
    match handler.handle((), request).await {
        Ok(response) => response.map(|body| body.map_err(|e| Box::new(e) as _).boxed_unsync()),
        Err(e)
            if e.is::<ExpirationError>() || started.elapsed() >= shared.limits.request_timeout =>
        {
            tracing::warn!(route = %matched.route.raw, "component timed out");
            error(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "the component did not answer in time".into(),
            )
        }
        Err(e) if e.is::<InstantiationError<()>>() => {
            tracing::error!(route = %matched.route.raw, "instantiation failed: {e:?}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "component_unavailable",
                "the component could not be started".into(),
            )
        }
        Err(e) => {
            tracing::error!(route = %matched.route.raw, "component failed: {e:?}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "component_failed",
                "the component failed while handling the request".into(),
            )
        }
    }
}

/// Builds the request the component sees, as Spin does: absolute URI, and Spin's
/// `spin-*` headers set (replacing any of those names the client sent, so they cannot be
/// spoofed; the client's other `spin-*` headers are kept, as Spin keeps them).
fn to_component_request(
    req: Request<Incoming>,
    matched: &RouteMatch<'_>,
    remote: SocketAddr,
    max_body: u64,
) -> Result<Request<WasiBody>, String> {
    let (mut parts, body) = req.into_parts();
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".to_string());
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_string();
    let full_url = format!("http://{host}{path_and_query}");
    parts.uri = full_url
        .parse()
        .map_err(|e| format!("invalid request URI: {e}"))?;

    // As in Spin, the headers below replace any the client sent under their names;
    // other `spin-*` headers of the client go through.
    let headers = &mut parts.headers;
    let mut set = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
            headers.insert(n, v);
        }
    };
    set("spin-full-url", &full_url);
    set("spin-path-info", &matched.path_info);
    set("spin-matched-route", &matched.route.raw);
    set("spin-raw-component-route", &matched.route.raw);
    set("spin-component-route", &matched.route.component_route());
    set("spin-base-path", "/");
    set("spin-client-addr", &remote.to_string());
    for (name, value) in &matched.params {
        set(
            &format!("spin-path-match-{}", name.to_ascii_lowercase()),
            value,
        );
    }

    let body = Limited::new(body, max_body as usize)
        .map_err(|e| match e.downcast::<hyper::Error>() {
            Ok(e) => wasmtime_wasi_http::Error::from(*e),
            Err(_) => wasmtime_wasi_http::Error::HttpRequestBodySize(None),
        })
        .boxed_unsync();
    Ok(Request::from_parts(parts, body))
}

/// The one JSON error shape of the platform: `{"error": {"code", "message"}}`.
pub fn error(status: StatusCode, code: &str, message: String) -> Response<HostBody> {
    let body = serde_json::json!({ "error": { "code": code, "message": message } }).to_string();
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(
            Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .expect("static response parts are valid")
}
