//! Running one statement on a pooled connection: prepare (cached per connection),
//! bind the parameters to the types PostgreSQL inferred, execute, and map errors to
//! `spin:postgres` errors the way Spin does (a database error keeps its SQLSTATE,
//! severity, message, detail and the other fields).
//!
//! Prepared statements are cached per connection (at most [`MAX_CACHED_STATEMENTS`]),
//! so a repeated statement costs one round trip. A cached statement that went stale
//! (a migration changed a table's columns, or the guest ran `DEALLOCATE`) is prepared
//! again and the statement retried once, unless a transaction had already failed.

use super::convert::{self, Bound, Cell};
use super::pool::PooledClient;
use super::wit::{Column, DbError, DbValue, Error, ParameterValue, QueryError, RowSet};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Row, RowStream, Statement};

/// Statements cached per connection at most; further ones are prepared each time, so
/// a guest generating SQL text cannot grow the cache without bound.
pub const MAX_CACHED_STATEMENTS: usize = 256;
/// A synchronous `query` buffers its whole result in the host; beyond this (estimated)
/// size it fails and the guest should use `query-async`, which streams.
const MAX_BUFFERED_BYTES: usize = 64 << 20;

/// Prepares `sql` and starts it; the rows arrive through the returned stream.
pub async fn query(
    client: &PooledClient,
    sql: &str,
    params: &[ParameterValue],
) -> Result<(Vec<Column>, RowStream), Error> {
    let (statement, rows) = run(client, sql, params, |s, bound| async move {
        client
            .query_raw(&s, bound.iter())
            .await
            .map(|rows| (s, rows))
    })
    .await?;
    Ok((columns(&statement), rows))
}

/// Runs `sql` and returns the number of rows it affected.
pub async fn execute(
    client: &PooledClient,
    sql: &str,
    params: &[ParameterValue],
) -> Result<u64, Error> {
    run(client, sql, params, |s, bound| async move {
        client.execute_raw(&s, bound.iter()).await
    })
    .await
}

/// Runs `sql` and collects its whole result (the synchronous `query`).
pub async fn query_all(
    client: &PooledClient,
    sql: &str,
    params: &[ParameterValue],
) -> Result<RowSet, Error> {
    use futures::TryStreamExt as _;
    let (columns, rows) = query(client, sql, params).await?;
    let mut rows = std::pin::pin!(rows);
    let mut out = Vec::new();
    let mut buffered = 0usize;
    while let Some(row) = rows.try_next().await.map_err(query_failed)? {
        let row = decode_row(&row)?;
        buffered += row.iter().map(approx_size).sum::<usize>();
        if buffered > MAX_BUFFERED_BYTES {
            return Err(Error::Other(format!(
                "the result is larger than {} MiB; use query-async to stream it",
                MAX_BUFFERED_BYTES >> 20
            )));
        }
        out.push(row);
    }
    Ok(RowSet { columns, rows: out })
}

/// Prepares `sql`, binds `params` and runs `op`, retrying once on a stale statement.
async fn run<R, F, Fut>(
    client: &PooledClient,
    sql: &str,
    params: &[ParameterValue],
    op: F,
) -> Result<R, Error>
where
    F: Fn(Statement, Vec<Bound>) -> Fut,
    Fut: Future<Output = Result<R, tokio_postgres::Error>>,
{
    let mut first_error = None;
    loop {
        let statement = prepare(client, sql).await.map_err(query_failed)?;
        let bound = bind(&statement, params)?;
        match op(statement, bound).await {
            Ok(r) => return Ok(r),
            Err(e) if first_error.is_none() && is_stale(&e) => {
                tracing::debug!(error = %e, "retrying a statement whose cached plan went stale");
                client.statement_cache.remove(sql, &[]);
                first_error = Some(e);
            }
            // The retry ran into the transaction the stale statement aborted: the first
            // error says what happened.
            Err(e)
                if e.code() == Some(&SqlState::IN_FAILED_SQL_TRANSACTION)
                    && first_error.is_some() =>
            {
                return Err(query_failed(first_error.take().unwrap_or(e)));
            }
            Err(e) => return Err(query_failed(e)),
        }
    }
}

async fn prepare(client: &PooledClient, sql: &str) -> Result<Statement, tokio_postgres::Error> {
    if client.statement_cache.size() < MAX_CACHED_STATEMENTS {
        client.prepare_cached(sql).await
    } else {
        client.prepare(sql).await
    }
}

fn bind(statement: &Statement, params: &[ParameterValue]) -> Result<Vec<Bound>, Error> {
    let types = statement.params();
    if types.len() != params.len() {
        return Err(Error::BadParameter(format!(
            "the statement has {} parameter(s) but {} value(s) were given",
            types.len(),
            params.len()
        )));
    }
    params
        .iter()
        .zip(types)
        .enumerate()
        .map(|(i, (value, ty))| convert::bind(i, value, ty).map_err(Error::BadParameter))
        .collect()
}

/// A prepared statement that no longer matches the database, which preparing again fixes.
fn is_stale(e: &tokio_postgres::Error) -> bool {
    match e.as_db_error() {
        Some(db) if *db.code() == SqlState::FEATURE_NOT_SUPPORTED => db
            .message()
            .contains("cached plan must not change result type"),
        Some(db) => *db.code() == SqlState::INVALID_SQL_STATEMENT_NAME,
        None => false,
    }
}

pub fn columns(statement: &Statement) -> Vec<Column> {
    statement
        .columns()
        .iter()
        .map(|c| Column {
            name: c.name().to_owned(),
            data_type: convert::data_type(c.type_()),
        })
        .collect()
}

/// Decodes every value of `row`.
pub fn decode_row(row: &Row) -> Result<Vec<DbValue>, Error> {
    (0..row.len())
        .map(|i| {
            row.try_get::<_, Cell>(i).map(|c| c.0).map_err(|e| {
                let column = row.columns()[i].name();
                let cause = std::error::Error::source(&e)
                    .map(ToString::to_string)
                    .unwrap_or_else(|| e.to_string());
                Error::ValueConversionFailed(format!("column {column:?}: {cause}"))
            })
        })
        .collect()
}

/// A rough size of a value in host memory, for the buffering limit of `query`.
fn approx_size(v: &DbValue) -> usize {
    const BASE: usize = 16;
    BASE + match v {
        DbValue::Str(s) | DbValue::Uuid(s) | DbValue::Decimal(s) => s.len(),
        DbValue::Binary(b) | DbValue::Jsonb(b) | DbValue::Unsupported(b) => b.len(),
        DbValue::ArrayStr(a) | DbValue::ArrayDecimal(a) => a
            .iter()
            .map(|s| BASE + s.as_ref().map_or(0, String::len))
            .sum(),
        DbValue::ArrayInt32(a) => a.len() * 8,
        DbValue::ArrayInt64(a) => a.len() * 16,
        _ => 0,
    }
}

/// Maps a tokio-postgres error to `query-failed`, structured when the database sent one.
pub fn query_failed(e: tokio_postgres::Error) -> Error {
    let as_text = e.to_string();
    let Some(db) = e.as_db_error() else {
        return Error::QueryFailed(QueryError::Text(as_text));
    };
    let mut extras = Vec::new();
    let mut extra = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            extras.push((key.to_owned(), value));
        }
    };
    // The keys Spin uses, so guests written against Spin find them.
    extra("column", db.column().map(str::to_owned));
    extra("constraint", db.constraint().map(str::to_owned));
    extra("routine", db.routine().map(str::to_owned));
    extra("hint", db.hint().map(str::to_owned));
    extra("table", db.table().map(str::to_owned));
    extra("datatype", db.datatype().map(str::to_owned));
    extra("schema", db.schema().map(str::to_owned));
    extra("file", db.file().map(str::to_owned));
    extra("line", db.line().map(|l| l.to_string()));
    extra("where_", db.where_().map(str::to_owned));
    Error::QueryFailed(QueryError::DbError(DbError {
        as_text,
        severity: db.severity().to_owned(),
        code: db.code().code().to_owned(),
        message: db.message().to_owned(),
        detail: db.detail().map(str::to_owned),
        extras,
    }))
}
