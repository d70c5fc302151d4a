//! `POST /api/sessions/`: `{name?, language?}` -> `201` with the new session's id and the
//! session. Its desired state starts `running` (the schema's default), announced on the
//! desired-state channel in the same statement.

use crate::access::Ctx;
use crate::body;
use crate::db;
use crate::reply::{self, Reply};
use crate::session::{self, session_columns};
use http::HeaderMap;
use platform_contract::notify_desired_state;
use platform_core::models::{CreateSessionRequest, CreateSessionResponse};
use platform_core::{ApiError, validate};
use spin_sdk::pg::ParameterValue;
use spin_sdk::wasip3::http_compat::IncomingRequestBody;

/// The name of a session created without one.
const DEFAULT_NAME: &str = "Untitled session";

/// Inserts a session for owner `$1` named `$2` with language `$3`, and notifies.
const CREATE_SQL: &str = concat!(
    "with s as (insert into code_sessions (owner_id, name, language) ",
    "values ($1::bigint, $2::text, $3::text) returning *), ",
    "notified as (select ",
    notify_desired_state!("id", "desired_state", "false"),
    " from s) ",
    "select ",
    session_columns!(),
    ", 'owner' as role, (select count(*) from notified) as notified ",
    "from s join users o on o.id = s.owner_id"
);

pub async fn handle(
    ctx: &Ctx,
    headers: &HeaderMap,
    body: IncomingRequestBody,
) -> Result<Reply, ApiError> {
    let input: CreateSessionRequest = body::json(headers, body).await?;
    let name = validate::session_name(input.name.as_deref().unwrap_or(DEFAULT_NAME))?;
    let language = validate::language(input.language.as_deref())?;
    let rows = db::rows(
        &ctx.db,
        CREATE_SQL,
        vec![
            ParameterValue::Int64(ctx.caller),
            ParameterValue::Str(name),
            language.map_or(ParameterValue::DbNull, ParameterValue::Str),
        ],
    )
    .await?;
    let row = rows
        .first()
        .ok_or_else(|| ApiError::Internal("session insert returned no row".into()))?;
    let session = session::from_row(row)?;
    Ok(reply::json(
        201,
        &CreateSessionResponse {
            session_id: session.id.clone(),
            session,
        },
    ))
}
