//! `GET /api/users/me`: the user of the bearer token.

use crate::account::{self, user_columns};
use crate::auth;
use crate::db;
use crate::reply::{self, Reply};
use platform_core::ApiError;
use platform_core::token::invalid_token;
use spin_sdk::http::Request;
use spin_sdk::pg::ParameterValue;

const USER_BY_ID_SQL: &str = concat!("select ", user_columns!(), " from users where id = $1");

pub async fn handle(req: Request) -> Result<Reply, ApiError> {
    let db = db::open().await?;
    let principal = auth::authenticate(&db, req.headers()).await?;
    let rows = db::rows(
        &db,
        USER_BY_ID_SQL,
        vec![ParameterValue::Int64(principal.user_id)],
    )
    .await?;
    // The user was deleted between the two statements: the token no longer names anyone.
    let row = rows.first().ok_or_else(invalid_token)?;
    Ok(reply::json(200, &account::from_row(row)?))
}
