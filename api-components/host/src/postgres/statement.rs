//! Running one statement on a pooled connection the way Spin does: make the parameters
//! (`convert::to_sql`), prepare (cached per connection), let tokio-postgres bind them to
//! the types PostgreSQL inferred, execute, and map errors to `spin:postgres` errors (a
//! database error keeps its SQLSTATE, severity, message, detail and the other fields;
//! any other failure, a refused parameter type included, is `query-failed` text).
//!
//! Prepared statements are cached per connection (at most [`MAX_CACHED_STATEMENTS`]),
//! so a repeated statement costs one round trip. A cached statement that went stale
//! (a migration changed a table's columns, or the guest ran `DEALLOCATE`) is prepared
//! again and the statement retried once, unless a transaction had already failed.

use super::convert::{self, Param};
use super::pool::PooledClient;
use super::wit::{Column, DbError, DbValue, Error, ParameterValue, QueryError, RowSet};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, RowStream, Statement};

/// Statements cached per connection at most; further ones are prepared each time, so
/// a guest generating SQL text cannot grow the cache without bound.
pub const MAX_CACHED_STATEMENTS: usize = 256;
/// A synchronous `query` buffers its whole result in the host; beyond this (estimated)
/// size it fails and the guest should use `query-async`, which streams.
const MAX_BUFFERED_BYTES: usize = 64 << 20;

/// A started query: its columns, its first row (already read: as in Spin, a query
/// without rows reports no columns, and an error before the first row fails the
/// query itself), and the stream of the others (`None` when there are none).
pub struct Started {
    pub columns: Vec<Column>,
    pub first: Option<Row>,
    pub rest: Option<Rows>,
}

/// The rows still to come.
pub type Rows = std::pin::Pin<Box<RowStream>>;

/// Prepares `sql` and starts it, reading up to its first row.
pub async fn query(
    client: &PooledClient,
    sql: &str,
    params: &[ParameterValue],
) -> Result<Started, Error> {
    // As in Spin, a value that cannot be made is refused before anything is sent.
    let params = to_params(params, Error::BadParameter)?;
    let (statement, rows) = run(client, sql, |s| {
        let params = &params;
        async move {
            client
                .query_raw(&s, params.iter().map(as_dyn))
                .await
                .map(|rows| (s, rows))
        }
    })
    .await?;
    let mut rest = Box::pin(rows);
    Ok(match next_row(&mut rest).await? {
        Some(first) => Started {
            columns: columns(&statement),
            first: Some(first),
            rest: Some(rest),
        },
        None => Started {
            columns: Vec::new(),
            first: None,
            rest: None,
        },
    })
}

/// The next row of `rows`, if any.
pub async fn next_row(rows: &mut Rows) -> Result<Option<Row>, Error> {
    use futures::TryStreamExt as _;
    rows.try_next().await.map_err(query_failed)
}

/// Runs `sql` and returns the number of rows it affected.
pub async fn execute(
    client: &PooledClient,
    sql: &str,
    params: &[ParameterValue],
) -> Result<u64, Error> {
    let params = to_params(params, Error::ValueConversionFailed)?;
    run(client, sql, |s| {
        let params = &params;
        async move { client.execute_raw(&s, params.iter().map(as_dyn)).await }
    })
    .await
}

/// Runs `sql` and collects its whole result (the synchronous `query`).
pub async fn query_all(
    client: &PooledClient,
    sql: &str,
    params: &[ParameterValue],
) -> Result<RowSet, Error> {
    let Started {
        columns,
        first,
        mut rest,
    } = query(client, sql, params).await?;
    let mut out = Vec::new();
    let mut buffered = 0usize;
    let mut next = first;
    while let Some(row) = next {
        let row = decode_row(&row)?;
        buffered += row.iter().map(approx_size).sum::<usize>();
        if buffered > MAX_BUFFERED_BYTES {
            return Err(Error::Other(format!(
                "the result is larger than {} MiB; use query-async to stream it",
                MAX_BUFFERED_BYTES >> 20
            )));
        }
        out.push(row);
        next = match &mut rest {
            Some(rest) => next_row(rest).await?,
            None => None,
        };
    }
    Ok(RowSet { columns, rows: out })
}

/// The parameters as Spin makes them; `refused` says which error a value that cannot
/// be made is (`bad-parameter` for queries, `value-conversion-failed` for executes).
fn to_params(params: &[ParameterValue], refused: fn(String) -> Error) -> Result<Vec<Param>, Error> {
    params
        .iter()
        .map(|p| convert::to_sql(p).map_err(refused))
        .collect()
}

fn as_dyn(p: &Param) -> &(dyn ToSql + Sync) {
    p.as_ref()
}

/// Prepares `sql` and runs `op`, retrying once on a stale statement. tokio-postgres
/// checks the number and the types of the parameters when `op` binds them.
async fn run<R, F, Fut>(client: &PooledClient, sql: &str, op: F) -> Result<R, Error>
where
    F: Fn(Statement) -> Fut,
    Fut: Future<Output = Result<R, tokio_postgres::Error>>,
{
    let mut first_error = None;
    loop {
        let statement = prepare(client, sql).await.map_err(query_failed)?;
        match op(statement).await {
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

/// Decodes every value of `row`; a value that cannot be decoded fails the query, as
/// in Spin (`query-failed` with tokio-postgres's "error deserializing column N").
pub fn decode_row(row: &Row) -> Result<Vec<DbValue>, Error> {
    (0..row.len())
        .map(|i| convert::decode(row, i).map_err(query_failed))
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
    // Spin's text is the error's debug form, source included.
    let as_text = format!("{e:?}");
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
