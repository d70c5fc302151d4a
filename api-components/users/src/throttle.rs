//! Failed-login limiting, with its state in PostgreSQL (`login_attempts`), since components keep
//! nothing between requests.
//!
//! Two keys are counted for every failed login: `user:<lowercased username>` and
//! `addr:<client ip>`. A key that reaches `login_max_failures` failures within
//! `login_window_seconds` is locked for `login_lockout_seconds`; while either key of a request is
//! locked, the login answers 429 with `Retry-After`, whether the password is right or not, and
//! no password is checked (so a locked account costs an attacker's guesses nothing and the
//! server no hashing).
//!
//! Race safety: counting is one upsert per failed login (both keys in one statement), so
//! concurrent failures never lose a count. The lock check happens before the password check,
//! so logins already past the check when a key locks finish normally: an attacker gains at most
//! as many extra guesses as it has requests in flight at that moment, once per lockout.
//!
//! A successful login clears its `user:` key (in the same statement that issues the token,
//! `ISSUE_TOKEN_SQL` in `login.rs`) (not the address key: one account's success says
//! nothing about other guesses from the same address). Counting restarts when a window has
//! passed or a lock has expired. Stale rows are swept, a bounded batch at a time, on failed
//! logins.

use crate::config::LoginLimits;
use crate::db;
use platform_core::ApiError;
use spin_sdk::pg::{Connection, ParameterValue};

/// Seconds until the later lock of `$1`/`$2` (`$2` may be null) ends; 0 when neither is
/// locked.
const LOCKED_FOR_SQL: &str = "\
select coalesce(max(ceil(extract(epoch from locked_until - now()))), 0)::bigint as retry_after
from login_attempts
where key in ($1::text, $2::text) and locked_until > now()";

/// Counts one failure for `$1` and `$2` (null: skipped). `$3` max failures, `$4` window
/// seconds, `$5` lockout seconds. A key's count restarts (at 1) when its window has passed or
/// its lock has expired; it locks when the count reaches the maximum.
const RECORD_FAILURE_SQL: &str = "\
insert into login_attempts as a (key, failures, window_start, locked_until)
select k, 1, now(),
       case when 1 >= $3::int then now() + make_interval(secs => $5::bigint) end
from (values ($1::text), ($2::text)) as keys (k)
where k is not null
on conflict (key) do update set (failures, window_start, locked_until) = (
    select n, w, case when n >= $3::int then now() + make_interval(secs => $5::bigint) end
    from (
        select case when restart then 1 else a.failures + 1 end as n,
               case when restart then now() else a.window_start end as w
        from (
            select a.window_start <= now() - make_interval(secs => $4::bigint)
                   or coalesce(a.locked_until <= now(), false) as restart
        ) as r
    ) as c
)";

/// Deletes up to 100 rows whose window is over and that are not locked (`$1`: window seconds).
const SWEEP_SQL: &str = "\
delete from login_attempts
where key in (
    select key from login_attempts
    where window_start <= now() - make_interval(secs => $1::bigint)
      and (locked_until is null or locked_until <= now())
    limit 100
)";

/// The keys a login attempt counts against.
#[derive(Debug, Clone)]
pub struct Keys {
    /// `user:<lowercased username>`.
    pub user: String,
    /// `addr:<client ip>`, when the host reported the address.
    pub addr: Option<String>,
}

impl Keys {
    pub fn new(username: &str, client_addr: Option<&str>) -> Keys {
        Keys {
            user: format!("user:{}", username.to_lowercase()),
            addr: client_addr.map(|a| format!("addr:{a}")),
        }
    }

    fn params(&self) -> Vec<ParameterValue> {
        vec![
            ParameterValue::Str(self.user.clone()),
            self.addr
                .clone()
                .map_or(ParameterValue::DbNull, ParameterValue::Str),
        ]
    }
}

/// # Errors
/// 429 with the seconds to wait while either key is locked.
pub async fn refuse_if_locked(db: &Connection, keys: &Keys) -> Result<(), ApiError> {
    let rows = db::rows(db, LOCKED_FOR_SQL, keys.params()).await?;
    let seconds: i64 = match rows.first() {
        Some(row) => db::column(row, "retry_after")?,
        None => 0,
    };
    if seconds > 0 {
        return Err(ApiError::TooManyRequests {
            retry_after: seconds.unsigned_abs(),
        });
    }
    Ok(())
}

/// Counts a failed login against both keys, then sweeps a few stale rows.
pub async fn record_failure(
    db: &Connection,
    keys: &Keys,
    limits: &LoginLimits,
) -> Result<(), ApiError> {
    let mut params = keys.params();
    params.extend([
        ParameterValue::Int32(limits.max_failures),
        ParameterValue::Int64(limits.window_seconds),
        ParameterValue::Int64(limits.lockout_seconds),
    ]);
    db::execute(db, RECORD_FAILURE_SQL, params).await?;
    db::execute(
        db,
        SWEEP_SQL,
        vec![ParameterValue::Int64(limits.window_seconds)],
    )
    .await?;
    Ok(())
}
