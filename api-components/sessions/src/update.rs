//! `PATCH /api/sessions/{uuid}`: `{name?, language?}` (at least one; `language: ""` clears
//! it) -> `200` with the session. Owner only: renaming is an owner's decision, editors change
//! the files, not the session (403 for members).

use crate::access::{self, Ctx};
use crate::body;
use crate::db;
use crate::reply::{self, Reply};
use crate::session::{self, session_columns};
use http::HeaderMap;
use platform_core::models::{SessionRole, UpdateSessionRequest};
use platform_core::{ApiError, validate};
use spin_sdk::pg::ParameterValue;
use spin_sdk::wasip3::http_compat::IncomingRequestBody;

/// Sets the name (`$3`, null: keep) and the language (`$5` true: set to `$4`) of session `$1`
/// if user `$2` owns it.
const UPDATE_SQL: &str = concat!(
    "with s as (update code_sessions set name = coalesce($3::text, name), ",
    "language = case when $5::boolean then $4::text else language end ",
    "where id = $1::uuid and owner_id = $2::bigint returning *) ",
    "select ",
    session_columns!(),
    ", 'owner' as role from s join users o on o.id = s.owner_id"
);

pub async fn handle(
    ctx: &Ctx,
    id: &str,
    headers: &HeaderMap,
    body: IncomingRequestBody,
) -> Result<Reply, ApiError> {
    access::with_role(ctx, id, &[SessionRole::Owner], "change a session").await?;
    let input: UpdateSessionRequest = body::json(headers, body).await?;
    if input.name.is_none() && input.language.is_none() {
        return Err(ApiError::BadRequest(
            "nothing to change: give name and/or language".into(),
        ));
    }
    let name = input
        .name
        .as_deref()
        .map(validate::session_name)
        .transpose()?;
    let set_language = input.language.is_some();
    let language = validate::language(input.language.as_deref())?;
    let rows = db::rows(
        &ctx.db,
        UPDATE_SQL,
        vec![
            ParameterValue::Uuid(id.to_owned()),
            ParameterValue::Int64(ctx.caller),
            name.map_or(ParameterValue::DbNull, ParameterValue::Str),
            language.map_or(ParameterValue::DbNull, ParameterValue::Str),
            ParameterValue::Boolean(set_language),
        ],
    )
    .await?;
    // No row: deleted since the check.
    let row = rows.first().ok_or_else(|| access::no_session(id))?;
    Ok(reply::json(200, &session::from_row(row)?))
}
