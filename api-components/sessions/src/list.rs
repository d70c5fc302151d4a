//! `GET /api/sessions/?limit=&offset=`: the caller's own sessions and those shared with them,
//! newest first (ties broken by id, so pages are stable), with the caller's role in each.
//! `limit` defaults to 50 (1 to 200), `offset` to 0; `next_offset` is null on the last page.

use crate::access::Ctx;
use crate::reply::{self, Reply};
use crate::session::{self, role_column, session_columns};
use crate::{db, query};
use platform_core::ApiError;
use platform_core::models::SessionPage;
use spin_sdk::pg::ParameterValue;

/// Default page size.
const DEFAULT_LIMIT: i64 = 50;
/// Largest page size.
const MAX_LIMIT: i64 = 200;
/// Largest offset; deeper paging is not a real use and only costs the database.
const MAX_OFFSET: i64 = 1_000_000;

/// Sessions user `$1` owns or is a member of, newest first; `$2` rows from `$3`.
const LIST_SQL: &str = concat!(
    "select ",
    session_columns!(),
    ", ",
    role_column!("$1"),
    " from code_sessions s join users o on o.id = s.owner_id ",
    "left join session_members m on m.session_id = s.id and m.user_id = $1::bigint ",
    "where s.owner_id = $1::bigint or m.user_id is not null ",
    "order by s.created_at desc, s.id desc limit $2::bigint offset $3::bigint"
);

pub async fn handle(ctx: &Ctx) -> Result<Reply, ApiError> {
    let q = ctx.query.as_deref();
    let limit = query::int(q, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)?;
    let offset = query::int(q, "offset", 0, 0, MAX_OFFSET)?;
    // One row more than asked tells whether another page follows.
    let rows = db::rows(
        &ctx.db,
        LIST_SQL,
        vec![
            ParameterValue::Int64(ctx.caller),
            ParameterValue::Int64(limit + 1),
            ParameterValue::Int64(offset),
        ],
    )
    .await?;
    let more = rows.len() as i64 > limit;
    let sessions = rows
        .iter()
        .take(limit as usize)
        .map(session::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(reply::json(
        200,
        &SessionPage {
            sessions,
            limit,
            offset,
            next_offset: more.then_some(offset + limit),
        },
    ))
}
