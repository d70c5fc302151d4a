//! Calls to the API server: retries of transient failures (5xx, 429, a dropped connection)
//! with backoff, and API errors turned into messages a user can act on.

use std::future::Future;
use std::time::Duration;

use kube::Error;

use crate::runtime::RuntimeError;

/// Attempts of one call before its failure is reported.
const ATTEMPTS: u32 = 4;
/// Delay before the first retry; doubled for each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The HTTP status of an API error (`None` for transport and decoding errors).
pub fn code(err: &Error) -> Option<u16> {
    match err {
        Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// True for a `404 NotFound`.
pub fn is_not_found(err: &Error) -> bool {
    code(err) == Some(404)
}

/// True for a `409` (`AlreadyExists` or `Conflict`).
pub fn is_conflict(err: &Error) -> bool {
    code(err) == Some(409)
}

/// True for an `AlreadyExists` answer to a create.
pub fn is_already_exists(err: &Error) -> bool {
    matches!(err, Error::Api(status) if status.code == 409 && status.reason == "AlreadyExists")
}

/// Whether trying again may help: server errors, throttling, and transport failures.
fn is_transient(err: &Error) -> bool {
    match err {
        Error::Api(status) => status.code >= 500 || status.code == 429,
        Error::HyperError(_) | Error::Service(_) => true,
        _ => false,
    }
}

/// Runs `call` until it succeeds, fails for good, or has failed transiently [`ATTEMPTS`]
/// times. Only for calls that are safe to repeat (reads, creates whose `AlreadyExists` the
/// caller handles, deletes and patches with preconditions).
pub async fn retry<T, F, Fut>(what: &str, mut call: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        match call().await {
            Err(err) if attempt < ATTEMPTS && is_transient(&err) => {
                tracing::warn!("{what}: {err}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// An API error as the user sees it; `what` names the operation ("creating the workspace's
/// pod").
pub fn user_error(what: &str, err: Error) -> RuntimeError {
    tracing::warn!("{what}: {err}");
    let message = match &err {
        Error::Api(status) => match status.code {
            403 => format!(
                "{what} was refused by the cluster (403 Forbidden: {}); the workspace quota may \
                 be used up, or the bridge lacks the permission",
                status.message
            ),
            429 => format!("{what}: the cluster is overloaded (429); try again shortly"),
            422 => format!(
                "{what}: the cluster rejected the pod as invalid (422: {}); check the \
                 KUBERNETES_* settings",
                status.message
            ),
            code if code >= 500 => format!(
                "{what} failed: the Kubernetes API server answered {code} ({}); try again",
                status.message
            ),
            code => format!(
                "{what} failed ({code} {}: {})",
                status.reason, status.message
            ),
        },
        Error::HyperError(_) | Error::Service(_) => {
            format!("{what} failed: the Kubernetes API server cannot be reached")
        }
        other => format!("{what} failed: {other}"),
    };
    RuntimeError::Unavailable(message)
}
