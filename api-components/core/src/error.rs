//! [`ApiError`]: every failure a REST endpoint can answer with, its HTTP status, its stable
//! machine-readable `code`, the extra headers it needs, and the one JSON body shape
//! `{"error": {"code": "...", "message": "..."}}`.
//!
//! Handlers return `Result<_, ApiError>`; the component turns the error into a response in one
//! place (status + [`ApiError::headers`] + [`ApiError::body`]), so no handler builds an error
//! response by hand.

use serde::Serialize;
use utoipa::ToSchema;

/// What went wrong, as the client sees it. Each variant's doc says its status and `code`.
///
/// Messages are for people and may change; `code` is the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 400 `bad_request`: the input is well-formed but not acceptable (a field breaks a rule).
    #[error("{0}")]
    BadRequest(String),
    /// 400 `invalid_json`: the body is not JSON, or not the JSON this endpoint takes
    /// (missing field, wrong type).
    #[error("{0}")]
    InvalidJson(String),
    /// 400 `invalid_path`: a workspace path breaks the path rules ([`crate::validate`]).
    #[error("{0}")]
    InvalidPath(String),
    /// 400 `invalid_uuid`: a session id in the URL is not a UUID.
    #[error("{0}")]
    InvalidUuid(String),
    /// 401 `unauthorized`: no credentials, or credentials that are wrong, expired or revoked.
    /// Answered with `WWW-Authenticate: Bearer`.
    #[error("{0}")]
    Unauthorized(String),
    /// 403 `forbidden`: authenticated, but not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404 `not_found`: no such route or resource (or one the caller may not know exists).
    #[error("{0}")]
    NotFound(String),
    /// 405 `method_not_allowed`: the route exists but not with this method.
    /// `allow` lists the methods it takes, for the `Allow` header (e.g. `"GET, HEAD"`).
    #[error("{method} is not allowed here; allowed: {allow}")]
    MethodNotAllowed {
        /// The method the client used.
        method: String,
        /// The methods the route takes, comma-separated, as the `Allow` header wants them.
        allow: String,
    },
    /// 409 `conflict`: the request clashes with existing state (a taken username).
    #[error("{0}")]
    Conflict(String),
    /// 412 `precondition_failed`: an `If-Match` version is not the current one.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 413 `payload_too_large`: a body, file or workspace is over its limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415 `unsupported_media_type`: the body's `Content-Type` is not one this endpoint reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429 `too_many_requests`: a limit was hit; try again in `retry_after` seconds
    /// (sent as `Retry-After`).
    #[error("too many requests; retry after {retry_after} s")]
    TooManyRequests {
        /// Seconds until the client may try again; at least 1.
        retry_after: u64,
    },
    /// 500 `internal`: a bug or an unexpected failure. The text is for the log only: the client
    /// gets a fixed message, never details (they may hold SQL, paths or secrets).
    #[error("internal error: {0}")]
    Internal(String),
    /// 503 `service_unavailable`: a dependency (the database) cannot be reached right now.
    /// Like `Internal`, the text is logged and not sent.
    #[error("service unavailable: {0}")]
    Unavailable(String),
}

/// The JSON body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `bad_request`, `invalid_json`, `invalid_path`, `invalid_uuid`,
    /// `unauthorized`, `forbidden`, `not_found`, `method_not_allowed`, `conflict`,
    /// `precondition_failed`, `payload_too_large`, `unsupported_media_type`,
    /// `too_many_requests`, `internal`, `service_unavailable`.
    #[schema(example = "not_found")]
    pub code: String,
    /// For people; may change between versions.
    #[schema(example = "no route /api/users/nope")]
    pub message: String,
}

/// SQLSTATE of a unique-constraint violation.
const UNIQUE_VIOLATION: &str = "23505";

impl ApiError {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_)
            | ApiError::InvalidJson(_)
            | ApiError::InvalidPath(_)
            | ApiError::InvalidUuid(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Conflict(_) => 409,
            ApiError::PreconditionFailed(_) => 412,
            ApiError::PayloadTooLarge(_) => 413,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::TooManyRequests { .. } => 429,
            ApiError::Internal(_) => 500,
            ApiError::Unavailable(_) => 503,
        }
    }

    /// The stable `error.code` of the body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::InvalidPath(_) => "invalid_path",
            ApiError::InvalidUuid(_) => "invalid_uuid",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::PreconditionFailed(_) => "precondition_failed",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Internal(_) => "internal",
            ApiError::Unavailable(_) => "service_unavailable",
        }
    }

    /// The message sent to the client: the error's text, except for 500 and 503, whose
    /// details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) => "internal server error".to_owned(),
            ApiError::Unavailable(_) => "service temporarily unavailable; try again".to_owned(),
            other => other.to_string(),
        }
    }

    /// Whether the error should be written to the server log (the client never sees why).
    pub fn is_server_error(&self) -> bool {
        self.status() >= 500
    }

    /// Headers the answer must carry besides `Content-Type`:
    /// `WWW-Authenticate` on 401, `Allow` on 405, `Retry-After` on 429.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            ApiError::Unauthorized(_) => vec![("www-authenticate", "Bearer".to_owned())],
            ApiError::MethodNotAllowed { allow, .. } => vec![("allow", allow.clone())],
            ApiError::TooManyRequests { retry_after } => {
                vec![("retry-after", (*retry_after).max(1).to_string())]
            }
            _ => Vec::new(),
        }
    }

    /// The body, `{"error": {"code": ..., "message": ...}}`.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.public_message(),
            },
        }
    }

    /// The body serialized as JSON bytes.
    pub fn body_json(&self) -> Vec<u8> {
        // Serializing two strings cannot fail.
        serde_json::to_vec(&self.body()).unwrap_or_default()
    }

    /// Maps a database error by its SQLSTATE: a unique violation becomes 409 with
    /// `conflict_message`; anything else is internal (`detail` is logged, not sent).
    ///
    /// The one place where constraint violations turn into client errors, so handlers never
    /// match on error text.
    pub fn from_database(sqlstate: Option<&str>, detail: &str, conflict_message: &str) -> Self {
        match sqlstate {
            Some(UNIQUE_VIOLATION) => ApiError::Conflict(conflict_message.to_owned()),
            _ => ApiError::Internal(format!("database: {detail}")),
        }
    }

    /// 405 for `method` on a route taking `allow` (e.g. `&["POST"]`).
    pub fn method_not_allowed(method: &str, allow: &[&str]) -> Self {
        ApiError::MethodNotAllowed {
            method: method.to_owned(),
            allow: allow.join(", "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_one_shape() {
        let e = ApiError::NotFound("no route /x".into());
        let v = serde_json::to_value(e.body()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": {"code": "not_found", "message": "no route /x"}})
        );
        let parsed: ErrorBody = serde_json::from_slice(&e.body_json()).unwrap();
        assert_eq!(parsed, e.body());
    }

    #[test]
    fn internal_details_never_reach_the_body() {
        for e in [
            ApiError::Internal("select secret from t".into()),
            ApiError::Unavailable("connect 10.0.0.1:5432".into()),
        ] {
            let body = String::from_utf8(e.body_json()).unwrap();
            assert!(
                !body.contains("secret") && !body.contains("10.0.0.1"),
                "{body}"
            );
            assert!(e.is_server_error());
            // ...but the log line (Display) keeps them.
            assert!(e.to_string().contains(':'));
        }
    }

    #[test]
    fn statuses_codes_and_headers() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (ApiError::BadRequest("x".into()), 400, "bad_request"),
            (ApiError::InvalidJson("x".into()), 400, "invalid_json"),
            (ApiError::InvalidPath("x".into()), 400, "invalid_path"),
            (ApiError::InvalidUuid("x".into()), 400, "invalid_uuid"),
            (ApiError::Unauthorized("x".into()), 401, "unauthorized"),
            (ApiError::Forbidden("x".into()), 403, "forbidden"),
            (ApiError::NotFound("x".into()), 404, "not_found"),
            (
                ApiError::method_not_allowed("GET", &["POST"]),
                405,
                "method_not_allowed",
            ),
            (ApiError::Conflict("x".into()), 409, "conflict"),
            (
                ApiError::PreconditionFailed("x".into()),
                412,
                "precondition_failed",
            ),
            (
                ApiError::PayloadTooLarge("x".into()),
                413,
                "payload_too_large",
            ),
            (
                ApiError::UnsupportedMediaType("x".into()),
                415,
                "unsupported_media_type",
            ),
            (
                ApiError::TooManyRequests { retry_after: 7 },
                429,
                "too_many_requests",
            ),
            (ApiError::Internal("x".into()), 500, "internal"),
            (
                ApiError::Unavailable("x".into()),
                503,
                "service_unavailable",
            ),
        ];
        for (e, status, code) in cases {
            assert_eq!(e.status(), status, "{e:?}");
            assert_eq!(e.code(), code, "{e:?}");
        }
        assert_eq!(
            ApiError::Unauthorized("x".into()).headers(),
            vec![("www-authenticate", "Bearer".to_owned())]
        );
        assert_eq!(
            ApiError::method_not_allowed("GET", &["POST", "OPTIONS"]).headers(),
            vec![("allow", "POST, OPTIONS".to_owned())]
        );
        assert_eq!(
            ApiError::TooManyRequests { retry_after: 7 }.headers(),
            vec![("retry-after", "7".to_owned())]
        );
        // Retry-After 0 would invite an immediate retry storm.
        assert_eq!(
            ApiError::TooManyRequests { retry_after: 0 }.headers(),
            vec![("retry-after", "1".to_owned())]
        );
    }

    #[test]
    fn unique_violations_become_conflicts_and_the_rest_internal() {
        assert_eq!(
            ApiError::from_database(Some("23505"), "dup key", "username taken"),
            ApiError::Conflict("username taken".into())
        );
        let other = ApiError::from_database(Some("42P01"), "no table", "username taken");
        assert_eq!(other.status(), 500);
        assert_eq!(ApiError::from_database(None, "x", "y").code(), "internal");
    }
}
