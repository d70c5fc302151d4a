//! Transactions on the request's connection. The component's `Connection` is one database
//! session for the whole request (in Spin and in api-host), so `begin` ... `commit` on it is
//! a real transaction; a request that fails in between rolls back here, and a connection
//! dropped with a transaction open is rolled back by the host (or by closing it).

use crate::db;
use platform_core::ApiError;
use spin_sdk::pg::Connection;

/// Starts a transaction (read committed: each statement sees what committed before it,
/// which the workspace lock in `caps.rs` relies on).
pub async fn begin(db: &Connection) -> Result<(), ApiError> {
    db::execute(db, "begin", vec![]).await.map(drop)
}

/// Commits when `result` is `Ok`, else rolls back; returns `result` (or the commit's error).
pub async fn finish<T>(db: &Connection, result: Result<T, ApiError>) -> Result<T, ApiError> {
    match result {
        Ok(value) => {
            db::execute(db, "commit", vec![]).await?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) = db::execute(db, "rollback", vec![]).await {
                eprintln!("workspace: rollback failed: {rollback}");
            }
            Err(e)
        }
    }
}
