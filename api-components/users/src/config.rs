//! The component's settings, from Spin variables (declared with defaults in `spin.toml`).

use platform_core::ApiError;

/// Limits of failed logins (see `throttle.rs`).
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failures per key (username, client address) within one window before it is locked.
    pub max_failures: i32,
    /// Length of the counting window, in seconds.
    pub window_seconds: i64,
    /// How long a locked key stays locked, in seconds.
    pub lockout_seconds: i64,
}

/// What a login needs to know.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Lifetime of a new token, in seconds (`session_timeout`).
    pub session_timeout_seconds: i64,
    pub limits: LoginLimits,
}

impl Config {
    /// Reads the variables.
    ///
    /// # Errors
    /// 500 when a variable is missing or not a positive integer: a deployment mistake, which
    /// must be loud.
    pub async fn load() -> Result<Config, ApiError> {
        Ok(Config {
            session_timeout_seconds: positive("session_timeout").await?,
            limits: LoginLimits {
                max_failures: i32::try_from(positive("login_max_failures").await?)
                    .map_err(|_| ApiError::Internal("login_max_failures is too large".into()))?,
                window_seconds: positive("login_window_seconds").await?,
                lockout_seconds: positive("login_lockout_seconds").await?,
            },
        })
    }
}

/// Longest accepted duration: 10 years, far beyond any sensible setting, and small enough that
/// `now() + interval` never overflows PostgreSQL's timestamp range.
const MAX_SECONDS: i64 = 10 * 366 * 24 * 3600;

async fn positive(name: &str) -> Result<i64, ApiError> {
    let raw = spin_sdk::variables::get(name)
        .await
        .map_err(|e| ApiError::Internal(format!("variable {name}: {e}")))?;
    match raw.trim().parse::<i64>() {
        Ok(n) if (1..=MAX_SECONDS).contains(&n) => Ok(n),
        _ => Err(ApiError::Internal(format!(
            "variable {name} must be an integer from 1 to {MAX_SECONDS}, not {raw:?}"
        ))),
    }
}
