//! What the bridge tells WebSocket clients when something fails: [`ClientError`], the one
//! error enum of both endpoints, and the only place that turns an error into what goes on the
//! wire.
//!
//! A `ClientError` reaches a client in one of three shapes, built here and nowhere else:
//! - on `/ws`, a `{"type":"error","code":...,"message":...}` message (the socket stays open),
//!   through [`ServerMessage::from`] and its `Serialize`;
//! - a close frame ([`close_with`]: [`ClientError::close_code`], and `code: message` as the
//!   reason), when the error ends the socket;
//! - before the upgrade, an HTTP answer in the API's error shape
//!   (`{"error":{"code":...,"message":...}}`, [`refuse`] and the `IntoResponse`).
//!
//! Every one sent is first [`ClientError::record`]ed: counted in `bridge_ws_errors_total` by
//! [`ClientError::metric_label`], and logged (an `internal` error with its details, which the
//! client never sees). The internal errors (auth, hub, runtime, sync, limits) become client
//! errors through `From`, which decides the code clients see.
//!
//! The codes are the protocol's (`ws/protocol.rs`, the README's "Terminal protocol"):
//! `bad_request`, `not_found`, `forbidden`, `rate_limited`, `unavailable`, `terminal_error`,
//! `internal`, plus those clients already relied on before this enum existed, kept as they
//! were: `unauthorized`, `origin_not_allowed`, `shutting_down`, `websocket_required` (HTTP
//! refusals and the 4401 close), and `too_large`, `ping_timeout`, `detached` (close frames).

use axum::extract::ws::WebSocket;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::json;

use super::auth::AuthError;
use super::limits::LimitError;
use super::protocol::ServerMessage;
use crate::metrics::Metrics;
use crate::runtime::RuntimeError;
use crate::terminals::HubError;
use crate::workspaces::SyncError;

/// Close code: no valid token (the WebSocket analogue of HTTP 401).
pub const CLOSE_UNAUTHORIZED: u16 = 4401;
/// Close code: no access (the WebSocket analogue of HTTP 403).
pub const CLOSE_FORBIDDEN: u16 = 4403;
/// Close code: the client stopped answering pings.
pub const CLOSE_PING_TIMEOUT: u16 = 4408;
/// Close code: too much input.
pub const CLOSE_RATE_LIMITED: u16 = 4429;
/// Close code: the agent ended the attachment (e.g. the client read too slowly).
pub const CLOSE_DETACHED: u16 = 4000;
/// Close code: a message was too large (RFC 6455: 1009 Message Too Big).
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close code: the server failed (RFC 6455: 1011 Internal Error); also the close code of an
/// error that has none of its own.
pub const CLOSE_SERVER_ERROR: u16 = 1011;
/// Close code: the server restarts (RFC 6455 registry: 1012 Service Restart).
pub const CLOSE_RESTART: u16 = 1012;

/// An error the bridge tells a WebSocket client. Each variant's doc says its wire `code`, the
/// close code when it ends a socket (the raw endpoint closes on every error after the
/// upgrade; `/ws` only on those marked *ends `/ws`*, and answers the others with an `error`
/// message) and the HTTP status when it refuses an upgrade. The `Display` text is the
/// message the client gets.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// `bad_request`: a malformed message, a bad terminal id or size. HTTP 400. No close code.
    #[error("{0}")]
    BadRequest(String),
    /// `unauthorized`: no token, or an invalid, expired or revoked one. HTTP 401; closes with
    /// 4401 (ends `/ws`: only sent during its authentication).
    #[error("{0}")]
    Unauthorized(String),
    /// `forbidden`: the user may watch the session but not type, resize or close (a viewer).
    /// HTTP 403; closes the raw endpoint with 4403.
    #[error("{0}")]
    Forbidden(String),
    /// `origin_not_allowed`: the page's `Origin` may not open WebSockets here
    /// (`CORS_ORIGINS`). HTTP 403 before the upgrade. No close code.
    #[error("this Origin may not open WebSockets here (see CORS_ORIGINS)")]
    OriginNotAllowed,
    /// `not_found`: the session does not exist or is not shared with the user, or the terminal
    /// does not exist or is not open on this connection. HTTP 404. No close code.
    #[error("{0}")]
    NotFound(String),
    /// `rate_limited`: terminal input faster than `rate` bytes/s; that input was dropped.
    /// HTTP 429; closes the raw endpoint with 4429.
    #[error("input faster than {rate} bytes/s; this input was dropped")]
    RateLimited { rate: u64 },
    /// `too_large`: a message over `limit` bytes. Closes with 1009 (ends `/ws`). HTTP 413.
    #[error("message larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// `ping_timeout`: the client answered no ping for about two intervals. Closes with 4408
    /// (ends `/ws`). HTTP 408.
    #[error("no answer to pings")]
    PingTimeout,
    /// `detached`: the agent cut the client off a terminal (it read too slowly). Closes the
    /// raw endpoint with 4000 (`/ws` gets a `detached` message instead). HTTP 410.
    #[error("{0}")]
    Detached(String),
    /// `unavailable`: the sandbox could not be started or reached, its agent connection was
    /// lost (`open` again to reconnect), or the database is unavailable. HTTP 503; closes with
    /// 1011.
    #[error("{0}")]
    Unavailable(String),
    /// `shutting_down`: the server is restarting; connect again (to any replica). HTTP 503
    /// before the upgrade; closes with 1012 (ends `/ws`, after a `reconnect` message).
    #[error("the server is restarting; connect again")]
    ShuttingDown,
    /// `websocket_required`: a plain HTTP request, or a broken handshake, on a WebSocket
    /// endpoint. HTTP `status` (that of the rejected handshake: 400, 405 or 426). No close code.
    #[error("this endpoint speaks WebSocket only: {detail}")]
    WebSocketRequired { status: StatusCode, detail: String },
    /// `terminal_error`: the agent refused, e.g. the shell could not start. HTTP 502; closes
    /// with 1011.
    #[error("{0}")]
    TerminalError(String),
    /// `internal`: a bug or an unexpected failure; the details (the field) go to the log
    /// only. HTTP 500; closes with 1011.
    #[error("internal error (details are in the bridge's log)")]
    Internal(String),
}

impl ClientError {
    /// The `code` clients see.
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::BadRequest(_) => "bad_request",
            ClientError::Unauthorized(_) => "unauthorized",
            ClientError::Forbidden(_) => "forbidden",
            ClientError::OriginNotAllowed => "origin_not_allowed",
            ClientError::NotFound(_) => "not_found",
            ClientError::RateLimited { .. } => "rate_limited",
            ClientError::TooLarge { .. } => "too_large",
            ClientError::PingTimeout => "ping_timeout",
            ClientError::Detached(_) => "detached",
            ClientError::Unavailable(_) => "unavailable",
            ClientError::ShuttingDown => "shutting_down",
            ClientError::WebSocketRequired { .. } => "websocket_required",
            ClientError::TerminalError(_) => "terminal_error",
            ClientError::Internal(_) => "internal",
        }
    }

    /// The `code` label of `bridge_ws_errors_total`: the wire code, a small fixed set.
    pub fn metric_label(&self) -> &'static str {
        self.code()
    }

    /// The close code when this error ends a socket; `None` for errors that never do (they
    /// are `/ws` messages or HTTP refusals).
    pub fn close_code(&self) -> Option<u16> {
        match self {
            ClientError::Unauthorized(_) => Some(CLOSE_UNAUTHORIZED),
            ClientError::Forbidden(_) => Some(CLOSE_FORBIDDEN),
            ClientError::RateLimited { .. } => Some(CLOSE_RATE_LIMITED),
            ClientError::TooLarge { .. } => Some(CLOSE_TOO_BIG),
            ClientError::PingTimeout => Some(CLOSE_PING_TIMEOUT),
            ClientError::Detached(_) => Some(CLOSE_DETACHED),
            ClientError::ShuttingDown => Some(CLOSE_RESTART),
            ClientError::Unavailable(_)
            | ClientError::TerminalError(_)
            | ClientError::Internal(_) => Some(CLOSE_SERVER_ERROR),
            ClientError::BadRequest(_)
            | ClientError::OriginNotAllowed
            | ClientError::NotFound(_)
            | ClientError::WebSocketRequired { .. } => None,
        }
    }

    /// The HTTP status when this error refuses an upgrade.
    pub fn status(&self) -> StatusCode {
        match self {
            ClientError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ClientError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ClientError::Forbidden(_) | ClientError::OriginNotAllowed => StatusCode::FORBIDDEN,
            ClientError::NotFound(_) => StatusCode::NOT_FOUND,
            ClientError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ClientError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ClientError::PingTimeout => StatusCode::REQUEST_TIMEOUT,
            ClientError::Detached(_) => StatusCode::GONE,
            ClientError::Unavailable(_) | ClientError::ShuttingDown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ClientError::WebSocketRequired { status, .. } => *status,
            ClientError::TerminalError(_) => StatusCode::BAD_GATEWAY,
            ClientError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Counts this error in `bridge_ws_errors_total` and logs it (an `internal` one with its
    /// details, at error level). Every path that sends an error to a client calls this once:
    /// [`close_with`], [`refuse`], and the `/ws` connection's `send`.
    pub fn record(&self, metrics: &Metrics) {
        metrics.client_error(self);
        match self {
            ClientError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error; the client was told `internal`")
            }
            other => tracing::debug!(code = other.code(), error = %other, "error sent to a client"),
        }
    }

    /// The close frame's reason: `code: message`, so a client that only sees the close (the
    /// raw endpoint) still gets the code. The close sender shortens it to 123 bytes.
    pub fn close_reason(&self) -> String {
        format!("{}: {self}", self.code())
    }
}

/// The `code` and `message` fields (the `/ws` error message flattens them into itself).
impl Serialize for ClientError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("code", self.code())?;
        map.serialize_entry("message", &self.to_string())?;
        map.end()
    }
}

/// The `/ws` `error` message, naming no session (see [`ServerMessage::about`]).
impl From<ClientError> for ServerMessage {
    fn from(error: ClientError) -> ServerMessage {
        ServerMessage::Error {
            error,
            session_id: None,
            terminal_id: None,
        }
    }
}

/// The answer to a request refused before the upgrade, in the API's error shape. Not
/// counted: send it through [`refuse`].
impl IntoResponse for ClientError {
    fn into_response(self) -> Response {
        (self.status(), axum::Json(json!({ "error": self }))).into_response()
    }
}

/// Records `error` and answers the request with it (before an upgrade).
pub fn refuse(metrics: &Metrics, error: ClientError) -> Response {
    error.record(metrics);
    error.into_response()
}

/// Records `error` and closes the socket with its close code (1011 if it has none) and
/// reason (best effort: the client may be gone).
pub async fn close_with(socket: &mut WebSocket, metrics: &Metrics, error: &ClientError) {
    error.record(metrics);
    let code = error.close_code().unwrap_or(CLOSE_SERVER_ERROR);
    super::close(socket, code, &error.close_reason()).await;
}

/// `unauthorized` for a missing or bad token, `not_found` for a session the user may not
/// see (the same answer as one that does not exist), `unavailable` for the database (whose
/// details [`AuthError`] logged where it failed).
impl From<AuthError> for ClientError {
    fn from(err: AuthError) -> ClientError {
        match err {
            AuthError::Missing | AuthError::Invalid => ClientError::Unauthorized(err.to_string()),
            AuthError::NoSession => ClientError::NotFound(err.to_string()),
            AuthError::Database(_) => {
                ClientError::Unavailable("the database is unavailable; try again".into())
            }
        }
    }
}

/// `unavailable` when the sandbox or its agent cannot be used, `terminal_error` when the agent
/// refused, `not_found` for a terminal that does not exist.
impl From<HubError> for ClientError {
    fn from(err: HubError) -> ClientError {
        match err {
            HubError::Unavailable(message) => ClientError::Unavailable(message),
            HubError::Runtime(err) => err.into(),
            HubError::Agent(message) => ClientError::TerminalError(message),
            HubError::NotFound => ClientError::NotFound(err.to_string()),
        }
    }
}

/// Always `unavailable` (clients `open` again after it). The message of
/// [`RuntimeError::Other`] is for the log: it is logged here and the client gets a plain one.
impl From<RuntimeError> for ClientError {
    fn from(err: RuntimeError) -> ClientError {
        match err {
            RuntimeError::NotRunning => ClientError::Unavailable(err.to_string()),
            RuntimeError::Unavailable(message) => ClientError::Unavailable(message),
            RuntimeError::Other(detail) => {
                tracing::warn!(error = %format!("{detail:#}"), "the workspace is unavailable");
                ClientError::Unavailable("the workspace is unavailable right now; try again".into())
            }
        }
    }
}

/// `unavailable`: the workspace's files could not be synced, so it is not usable yet.
impl From<SyncError> for ClientError {
    fn from(err: SyncError) -> ClientError {
        ClientError::Unavailable(format!("syncing the workspace files failed: {err}"))
    }
}

/// `rate_limited` or `too_large`.
impl From<LimitError> for ClientError {
    fn from(err: LimitError) -> ClientError {
        match err {
            LimitError::InputRate { rate } => ClientError::RateLimited { rate },
            LimitError::MessageSize { limit } => ClientError::TooLarge { limit },
        }
    }
}

/// `bad_request`: a `/ws` message that is not JSON or not one of the protocol's messages.
impl From<serde_json::Error> for ClientError {
    fn from(err: serde_json::Error) -> ClientError {
        ClientError::BadRequest(format!("not a valid message: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn wire(message: ServerMessage) -> Value {
        serde_json::from_str(&message.to_json()).unwrap()
    }

    #[test]
    fn an_error_message_has_the_protocol_shape() {
        let error = ClientError::Forbidden("viewers cannot type".into());
        assert_eq!(
            wire(ServerMessage::from(error.clone())),
            json!({"type": "error", "code": "forbidden", "message": "viewers cannot type"})
        );
        assert_eq!(
            wire(ServerMessage::from(error).about("s-1", Some("main"))),
            json!({"type": "error", "code": "forbidden", "message": "viewers cannot type",
                   "sessionId": "s-1", "terminalId": "main"})
        );
    }

    #[test]
    fn an_internal_error_keeps_its_details_from_the_client() {
        let error = ClientError::Internal("the pool is poisoned at 0xdead".into());
        let text = ServerMessage::from(error.clone()).to_json();
        assert!(!text.contains("0xdead"), "{text}");
        assert_eq!(wire(ServerMessage::from(error.clone()))["code"], "internal");
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(error.close_code(), Some(CLOSE_SERVER_ERROR));
    }

    #[test]
    fn close_codes_are_those_clients_know() {
        let cases = [
            (ClientError::Unauthorized("x".into()), Some(4401)),
            (ClientError::Forbidden("x".into()), Some(4403)),
            (ClientError::RateLimited { rate: 1 }, Some(4429)),
            (ClientError::TooLarge { limit: 1 }, Some(1009)),
            (ClientError::PingTimeout, Some(4408)),
            (ClientError::Detached("x".into()), Some(4000)),
            (ClientError::ShuttingDown, Some(1012)),
            (ClientError::Unavailable("x".into()), Some(1011)),
            (ClientError::BadRequest("x".into()), None),
            (ClientError::NotFound("x".into()), None),
        ];
        for (error, close) in cases {
            assert_eq!(error.close_code(), close, "{error:?}");
            assert_eq!(error.metric_label(), error.code());
        }
        let reason = ClientError::RateLimited { rate: 100 }.close_reason();
        assert!(
            reason.starts_with("rate_limited: input faster than 100"),
            "{reason}"
        );
    }

    #[test]
    fn internal_errors_become_the_codes_clients_rely_on() {
        let code = |error: ClientError| error.code();
        assert_eq!(code(AuthError::Invalid.into()), "unauthorized");
        assert_eq!(code(AuthError::NoSession.into()), "not_found");
        assert_eq!(
            code(AuthError::Database("down".into()).into()),
            "unavailable"
        );
        assert_eq!(
            code(HubError::Agent("no shell".into()).into()),
            "terminal_error"
        );
        assert_eq!(code(HubError::NotFound.into()), "not_found");
        assert_eq!(
            code(HubError::Unavailable("lost".into()).into()),
            "unavailable"
        );
        assert_eq!(
            code(HubError::Runtime(RuntimeError::NotRunning).into()),
            "unavailable"
        );
        let other = RuntimeError::Other(anyhow::anyhow!("password=hunter2"));
        let other = ClientError::from(other);
        assert_eq!(other.code(), "unavailable");
        assert!(!other.to_string().contains("hunter2"), "{other}");
        assert_eq!(
            code(LimitError::InputRate { rate: 5 }.into()),
            "rate_limited"
        );
        assert_eq!(
            code(LimitError::MessageSize { limit: 5 }.into()),
            "too_large"
        );
        let not_json = serde_json::from_str::<Value>("{").unwrap_err();
        assert_eq!(code(not_json.into()), "bad_request");
        let sync = SyncError::Database(anyhow::anyhow!("gone"));
        assert_eq!(code(sync.into()), "unavailable");
    }

    #[test]
    fn refusals_have_the_api_error_shape_and_status() {
        let metrics = Metrics::default();
        let response = refuse(&metrics, ClientError::OriginNotAllowed);
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let refusal = ClientError::WebSocketRequired {
            status: StatusCode::UPGRADE_REQUIRED,
            detail: "no upgrade header".into(),
        };
        assert_eq!(
            refuse(&metrics, refusal).status(),
            StatusCode::UPGRADE_REQUIRED
        );
        let text = metrics.render();
        assert!(
            text.contains("bridge_ws_errors_total{code=\"origin_not_allowed\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("bridge_ws_errors_total{code=\"websocket_required\"} 1\n"));
    }
}
