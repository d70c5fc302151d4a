//! The database connection and the mapping of its errors and values to API terms.

use crate::ApiError;
use spin_sdk::pg::{Connection, Decode, Error, PgError, QueryError, Row};

/// The 409 message of a unique violation where the caller did not name one.
const GENERIC_CONFLICT: &str = "conflicts with existing data";

/// Opens a connection to the `database_url` variable's database.
///
/// # Errors
/// 503 when the database cannot be reached, 500 when the variable is missing.
pub async fn open() -> Result<Connection, ApiError> {
    let url = spin_sdk::variables::get("database_url")
        .await
        .map_err(|e| ApiError::Internal(format!("variable database_url: {e}")))?;
    Connection::open(url).await.map_err(|e| match e {
        Error::PgError(PgError::ConnectionFailed(why)) => {
            ApiError::Unavailable(format!("database connection failed: {why}"))
        }
        other => ApiError::Internal(format!("database open: {other}")),
    })
}

/// Maps a statement's error: a unique violation becomes 409 with `conflict`, a lost
/// connection 503, anything else 500 (details logged only).
pub fn error(e: Error, conflict: &str) -> ApiError {
    match e {
        Error::PgError(PgError::QueryFailed(QueryError::DbError(db))) => {
            ApiError::from_database(Some(&db.code), &db.as_text, conflict)
        }
        Error::PgError(PgError::ConnectionFailed(why)) => {
            ApiError::Unavailable(format!("database connection failed: {why}"))
        }
        other => ApiError::from_database(None, &other.to_string(), conflict),
    }
}

/// Runs a query and collects its rows.
pub async fn rows(
    db: &Connection,
    sql: &str,
    params: Vec<spin_sdk::pg::ParameterValue>,
) -> Result<Vec<Row>, ApiError> {
    let result = db
        .query(sql, params)
        .await
        .map_err(|e| error(e, GENERIC_CONFLICT))?;
    result
        .collect()
        .await
        .map_err(|e| error(e, GENERIC_CONFLICT))
}

/// Runs a statement; returns the number of rows it touched.
pub async fn execute(
    db: &Connection,
    sql: &str,
    params: Vec<spin_sdk::pg::ParameterValue>,
) -> Result<u64, ApiError> {
    db.execute(sql, params)
        .await
        .map_err(|e| error(e, GENERIC_CONFLICT))
}

/// Column `name` of `row` as `T`; a missing column or another type is a bug (500).
pub fn column<T: Decode>(row: &Row, name: &str) -> Result<T, ApiError> {
    row.get::<T>(name)
        .ok_or_else(|| ApiError::Internal(format!("column {name} missing or of another type")))
}

/// A `timestamptz` column as UTC. Statements select such a column as
/// `col at time zone 'utc' as col` (a `timestamp` holding UTC): Spin maps `timestamptz` result
/// columns to `datetime` but fails to decode them, which fails the whole query.
pub fn timestamp(row: &Row, name: &str) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    column::<chrono::NaiveDateTime>(row, name).map(|t| t.and_utc())
}
