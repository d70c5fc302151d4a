//! `POST /api/users/register`: `{username, email?, password}` -> `201` with the new user.

use crate::account::{self, user_columns};
use crate::body;
use crate::db;
use crate::reply::{self, Reply};
use platform_core::models::RegisterRequest;
use platform_core::{ApiError, password, validate};
use spin_sdk::http::Request;
use spin_sdk::pg::ParameterValue;

/// The message of the 409.
const TAKEN: &str = "this username is already taken";

/// Inserts a user unless the name is taken in any letter case (`users_username_lower_key`);
/// no row back means taken. `on conflict` makes the check and the insert one atomic step.
const INSERT_USER_SQL: &str = concat!(
    "insert into users (username, email, password_hash) values ($1, $2, $3) ",
    "on conflict ((lower(username))) do nothing ",
    "returning ",
    user_columns!()
);

pub async fn handle(req: Request) -> Result<Reply, ApiError> {
    let (parts, body) = req.into_parts();
    let input: RegisterRequest = body::json(&parts.headers, body).await?;
    validate::username(&input.username)?;
    let email = validate::email(input.email.as_deref())?;
    validate::password(&input.password)?;

    let hash = password::hash(&input.password)?;
    let db = db::open().await?;
    let rows = db
        .query(
            INSERT_USER_SQL,
            vec![
                ParameterValue::Str(input.username),
                email.map_or(ParameterValue::DbNull, ParameterValue::Str),
                ParameterValue::Str(hash),
            ],
        )
        .await
        .map_err(|e| db::error(e, TAKEN))?
        .collect()
        .await
        .map_err(|e| db::error(e, TAKEN))?;
    let row = rows
        .first()
        .ok_or_else(|| ApiError::Conflict(TAKEN.into()))?;
    Ok(reply::json(201, &account::from_row(row)?))
}
