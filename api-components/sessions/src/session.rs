//! Rows of `code_sessions` (joined with the owner's `users` row as `o`) as the API's
//! [`Session`].

use crate::db;
use platform_core::ApiError;
use platform_core::models::{Session, SessionRole};
use spin_sdk::pg::Row;

/// The columns [`from_row`] reads, besides `role`, for a session aliased `s` and its owner
/// aliased `o`. A macro so statements stay `const` with `concat!`.
macro_rules! session_columns {
    () => {
        "s.id::text as id, s.name, s.language, s.owner_id, o.username as owner_username, \
         s.desired_state, s.observed_state, s.created_at at time zone 'utc' as created_at, \
         s.updated_at at time zone 'utc' as updated_at"
    };
}
pub(crate) use session_columns;

/// The caller's role as a `role` column, for a caller `$n` (given as text, e.g. `"$2"`) and
/// a membership row aliased `m` (left-joined: null when not a member).
macro_rules! role_column {
    ($caller:literal) => {
        concat!(
            "case when s.owner_id = ",
            $caller,
            "::bigint then 'owner' else m.role end as role"
        )
    };
}
pub(crate) use role_column;

/// Maps a stored role.
pub fn role(text: &str) -> Result<SessionRole, ApiError> {
    match text {
        "owner" => Ok(SessionRole::Owner),
        "editor" => Ok(SessionRole::Editor),
        "viewer" => Ok(SessionRole::Viewer),
        other => Err(ApiError::Internal(format!("unknown role {other:?}"))),
    }
}

/// A [`Session`] from a row with [`session_columns!`] and a `role` column.
pub fn from_row(row: &Row) -> Result<Session, ApiError> {
    Ok(Session {
        id: db::column(row, "id")?,
        name: db::column(row, "name")?,
        language: db::column(row, "language")?,
        owner_id: db::column(row, "owner_id")?,
        owner_username: db::column(row, "owner_username")?,
        role: role(&db::column::<String>(row, "role")?)?,
        desired_state: state(row, "desired_state")?,
        observed_state: state(row, "observed_state")?,
        created_at: db::timestamp(row, "created_at")?,
        updated_at: db::timestamp(row, "updated_at")?,
    })
}

/// A state column, parsed into its enum; a value outside the schema's check constraint is a
/// bug (500).
fn state<T: std::str::FromStr<Err = platform_contract::state::UnknownValue>>(
    row: &Row,
    name: &str,
) -> Result<T, ApiError> {
    db::column::<String>(row, name)?
        .parse()
        .map_err(|e: platform_contract::state::UnknownValue| ApiError::Internal(e.to_string()))
}
