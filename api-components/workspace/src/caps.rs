//! The limits of a workspace: `max_file_size` per file, and per workspace
//! `max_workspace_files` (files and folders, i.e. rows of the tree) and
//! `max_workspace_bytes` (the sum of file sizes). All three are Spin variables.
//!
//! Race safety: every writer runs in a transaction that first locks the session's row
//! ([`lock`], `select ... for no key update`), so writers of one workspace take turns; it then
//! measures the usage ([`usage`]) before and after its change and gives up (413, rolled back)
//! when the change grew the usage past a cap ([`Usage::check`]). Two concurrent uploads cannot
//! both pass on the same headroom. `for no key update` (not `for update`) still lets other
//! transactions insert rows referencing the session (their foreign-key check takes
//! `for key share`).

use crate::db;
use platform_core::ApiError;
use serde::Serialize;
use spin_sdk::pg::{Connection, ParameterValue};

/// The file size limit when the `max_file_size` variable is missing or not a number.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 1_048_576;
/// The default of `max_workspace_files`.
pub const DEFAULT_MAX_WORKSPACE_FILES: u64 = 1000;
/// The default of `max_workspace_bytes` (100 MiB).
pub const DEFAULT_MAX_WORKSPACE_BYTES: u64 = 100 * 1024 * 1024;

/// Locks session `$1`'s row until the end of the transaction; no row if it is gone.
const LOCK_SQL: &str = "select id from code_sessions where id = $1::uuid for no key update";

/// Item count and byte total of session `$1`.
const USAGE_SQL: &str = concat!(
    "select count(*) as items, count(*) filter (where kind = 'file') as files, ",
    "coalesce(sum(size), 0)::bigint as bytes from workspace_items where session_id = $1::uuid"
);

/// The three limits, as configured.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Limits {
    /// Largest single file, in bytes.
    pub max_file_size: u64,
    /// Most items (files and folders) in one workspace.
    pub max_workspace_files: u64,
    /// Most bytes (sum of file sizes) in one workspace.
    pub max_workspace_bytes: u64,
}

impl Limits {
    /// Reads the variables; a missing or malformed one takes its default (and is logged).
    pub async fn load() -> Limits {
        Limits {
            max_file_size: variable("max_file_size", DEFAULT_MAX_FILE_SIZE).await,
            max_workspace_files: variable("max_workspace_files", DEFAULT_MAX_WORKSPACE_FILES).await,
            max_workspace_bytes: variable("max_workspace_bytes", DEFAULT_MAX_WORKSPACE_BYTES).await,
        }
    }

    /// `max_file_size` as a buffer length.
    pub fn file_size(&self) -> usize {
        usize::try_from(self.max_file_size).unwrap_or(usize::MAX)
    }

    /// # Errors
    /// 413 when `size` is over `max_file_size`; `what` names the file.
    pub fn check_file(&self, what: &str, size: usize) -> Result<(), ApiError> {
        if size as u64 > self.max_file_size {
            return Err(ApiError::PayloadTooLarge(format!(
                "{what} is {size} bytes; a file may be at most {} bytes",
                self.max_file_size
            )));
        }
        Ok(())
    }
}

async fn variable(name: &str, default: u64) -> u64 {
    match spin_sdk::variables::get(name).await {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("workspace: {name} {v:?} is not a number; using {default}");
            default
        }),
        Err(_) => default,
    }
}

/// What a workspace holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Files and folders.
    pub items: i64,
    /// Files only.
    pub files: i64,
    /// Sum of file sizes.
    pub bytes: i64,
}

impl Usage {
    /// Whether going from `self` to `after` is allowed: a cap may only be passed by a change
    /// that does not grow that figure (so a workspace already over a lowered cap can still
    /// shrink, or have a file replaced by a smaller one).
    ///
    /// # Errors
    /// 413 naming the cap.
    pub fn check(&self, after: &Usage, limits: &Limits) -> Result<(), ApiError> {
        let over = |value: i64, cap: u64| value > 0 && value as u64 > cap;
        if after.items > self.items && over(after.items, limits.max_workspace_files) {
            return Err(ApiError::PayloadTooLarge(format!(
                "the workspace may hold at most {} files and folders (max_workspace_files); \
                 this change would make it {}",
                limits.max_workspace_files, after.items
            )));
        }
        if after.bytes > self.bytes && over(after.bytes, limits.max_workspace_bytes) {
            return Err(ApiError::PayloadTooLarge(format!(
                "the workspace may hold at most {} bytes (max_workspace_bytes); \
                 this change would make it {} bytes",
                limits.max_workspace_bytes, after.bytes
            )));
        }
        Ok(())
    }
}

/// Locks session `session` for this transaction.
///
/// # Errors
/// 404 when the session was deleted meanwhile.
pub async fn lock(db: &Connection, session: &str) -> Result<(), ApiError> {
    let rows = db::rows(db, LOCK_SQL, vec![ParameterValue::Uuid(session.to_owned())]).await?;
    if rows.is_empty() {
        return Err(ApiError::NotFound(format!("no session {session}")));
    }
    Ok(())
}

/// The current usage of session `session`.
pub async fn usage(db: &Connection, session: &str) -> Result<Usage, ApiError> {
    let rows = db::rows(
        db,
        USAGE_SQL,
        vec![ParameterValue::Uuid(session.to_owned())],
    )
    .await?;
    let row = rows
        .first()
        .ok_or_else(|| ApiError::Internal("usage: no row".into()))?;
    Ok(Usage {
        items: db::column(row, "items")?,
        files: db::column(row, "files")?,
        bytes: db::column(row, "bytes")?,
    })
}

/// Runs `change` inside a transaction that holds the workspace lock, and commits it only if
/// it kept the workspace within `limits`. The shape every writer uses.
pub async fn guarded<T, F>(
    ctx: &crate::access::Ctx,
    limits: &Limits,
    change: F,
) -> Result<T, ApiError>
where
    F: AsyncFnOnce() -> Result<T, ApiError>,
{
    crate::tx::begin(&ctx.db).await?;
    let result = async {
        lock(&ctx.db, &ctx.session).await?;
        let before = usage(&ctx.db, &ctx.session).await?;
        let value = change().await?;
        let after = usage(&ctx.db, &ctx.session).await?;
        before.check(&after, limits)?;
        Ok(value)
    }
    .await;
    crate::tx::finish(&ctx.db, result).await
}
