//! `POST /api/users/login`: `{username, password}` -> `200 {access_token, token_type,
//! expires_at, user}`.
//!
//! Unknown user and wrong password answer the same 401 after the same work (a dummy
//! verification stands in for the missing hash). Failed logins are limited per username and per
//! client address (`throttle.rs`).

use crate::account::{self, user_columns};
use crate::body;
use crate::client::ClientInfo;
use crate::config::Config;
use crate::db;
use crate::reply::{self, Reply};
use crate::throttle::{self, Keys};
use platform_core::models::{LoginRequest, LoginResponse, TokenType};
use platform_core::validate::PASSWORD_MAX_BYTES;
use platform_core::{ApiError, password, token, validate};
use spin_sdk::http::Request;
use spin_sdk::pg::{Connection, ParameterValue};

/// The user of a login name, in any letter case (uses `users_username_lower_key`).
const FIND_USER_SQL: &str = concat!(
    "select ",
    user_columns!(),
    ", password_hash from users where lower(username) = lower($1)"
);

/// Stores a new token (`$2`: its SHA-256) for user `$1`, valid for `$3` seconds, with the
/// client's user agent `$4` and address `$5`, and clears the failure count of key `$6`, in one
/// statement. Returns the expiry.
const ISSUE_TOKEN_SQL: &str = "\
with cleared as (delete from login_attempts where key = $6)
insert into auth_tokens (user_id, token_sha256, expires_at, user_agent, client_addr)
values ($1, $2, now() + make_interval(secs => $3::bigint), $4, $5)
returning expires_at at time zone 'utc' as expires_at";

/// Replaces a hash made with older, weaker parameters.
const REHASH_SQL: &str = "update users set password_hash = $2 where id = $1";

/// The 401 of a failed login: the same for an unknown user and a wrong password.
fn bad_credentials() -> ApiError {
    ApiError::Unauthorized("wrong username or password".into())
}

pub async fn handle(req: Request) -> Result<Reply, ApiError> {
    let (parts, body) = req.into_parts();
    let input: LoginRequest = body::json(&parts.headers, body).await?;
    // A name that breaks the rules cannot exist; refusing it here keeps junk out of the
    // limiter's keys.
    validate::username(&input.username)?;
    if input.password.len() > PASSWORD_MAX_BYTES {
        return Err(ApiError::BadRequest(format!(
            "password must be at most {PASSWORD_MAX_BYTES} bytes long"
        )));
    }
    let config = Config::load().await?;
    let client = ClientInfo::from_headers(&parts.headers);
    let keys = Keys::new(&input.username, client.addr.as_deref());

    let db = db::open().await?;
    throttle::refuse_if_locked(&db, &keys).await?;

    let rows = db::rows(
        &db,
        FIND_USER_SQL,
        vec![ParameterValue::Str(input.username.clone())],
    )
    .await?;
    let found = match rows.first() {
        Some(row) => Some((
            account::from_row(row)?,
            db::column::<String>(row, "password_hash")?,
        )),
        None => None,
    };
    let verified = match &found {
        Some((_, hash)) => password::verify(&input.password, hash)?,
        None => {
            password::verify_dummy(&input.password);
            false
        }
    };
    let Some((user, stored_hash)) = found.filter(|_| verified) else {
        throttle::record_failure(&db, &keys, &config.limits).await?;
        return Err(bad_credentials());
    };

    if password::needs_rehash(&stored_hash) {
        rehash(&db, user.id, &input.password).await;
    }

    let access_token = token::generate()?;
    let rows = db::rows(
        &db,
        ISSUE_TOKEN_SQL,
        vec![
            ParameterValue::Int64(user.id),
            ParameterValue::Binary(token::token_sha256(&access_token).to_vec()),
            ParameterValue::Int64(config.session_timeout_seconds),
            client
                .user_agent
                .map_or(ParameterValue::DbNull, ParameterValue::Str),
            client
                .addr
                .map_or(ParameterValue::DbNull, ParameterValue::Str),
            ParameterValue::Str(keys.user),
        ],
    )
    .await?;
    let row = rows
        .first()
        .ok_or_else(|| ApiError::Internal("token insert returned no row".into()))?;
    let expires_at = db::timestamp(row, "expires_at")?;
    Ok(reply::json(
        200,
        &LoginResponse {
            access_token,
            token_type: TokenType::Bearer,
            expires_at,
            user,
        },
    ))
}

/// Best effort: a failure is logged and the login goes on with the old hash.
async fn rehash(db: &Connection, user_id: i64, password: &str) {
    let result = match password::hash(password) {
        Ok(hash) => db::execute(
            db,
            REHASH_SQL,
            vec![ParameterValue::Int64(user_id), ParameterValue::Str(hash)],
        )
        .await
        .map(drop),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("users: rehashing the password of user {user_id} failed: {e}");
    }
}
