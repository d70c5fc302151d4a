//! Why syncing failed. [`SyncError`]: a whole side could not be compared (the initial sync,
//! a full listing). [`Failure`]: one path could not be synced; clients get it as a
//! `sync_error` event whose `code` is its [`FailureKind`]. Every failure is counted in
//! `bridge_sync_failures_total` by [`FailureKind::metric_label`].

use crate::workspaces::agent::AgentError;

/// Why a path (or a whole side) could not be synced. Its [`code`](FailureKind::code) is the
/// `code` of the `sync_error` event (documented in the README's "File sync") and the
/// `reason` label of `bridge_sync_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// `file_too_large`: a shell file over `MAX_FILE_SIZE`; not saved.
    FileTooLarge,
    /// `too_many_files`: saving it would pass `MAX_WORKSPACE_FILES`; not saved.
    TooManyFiles,
    /// `workspace_too_large`: saving it would pass `MAX_WORKSPACE_BYTES`; not saved.
    WorkspaceTooLarge,
    /// `invalid_path`: a path the REST API would refuse; not saved.
    InvalidPath,
    /// `conflict`: a file where PostgreSQL has a folder (or the reverse), or no free name for
    /// a conflict copy; not saved.
    Conflict,
    /// `busy`: the path kept changing while it was being saved; retried by the next recheck.
    Busy,
    /// `database_error`: PostgreSQL failed; retried by the next recheck.
    Database,
    /// `agent_error`: the sandbox's agent failed or went away; retried by the next recheck.
    Agent,
}

impl FailureKind {
    /// The `code` of the `sync_error` event.
    pub fn code(self) -> &'static str {
        match self {
            FailureKind::FileTooLarge => "file_too_large",
            FailureKind::TooManyFiles => "too_many_files",
            FailureKind::WorkspaceTooLarge => "workspace_too_large",
            FailureKind::InvalidPath => "invalid_path",
            FailureKind::Conflict => "conflict",
            FailureKind::Busy => "busy",
            FailureKind::Database => "database_error",
            FailureKind::Agent => "agent_error",
        }
    }

    /// The `reason` label of `bridge_sync_failures_total`: the event's code.
    pub fn metric_label(self) -> &'static str {
        self.code()
    }

    /// A failure that may pass by itself (the database, the agent, a racing writer): the next
    /// recheck lists the whole sandbox. The others are the same until the file changes.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            FailureKind::Busy | FailureKind::Database | FailureKind::Agent
        )
    }
}

/// Why a whole side could not be compared (the initial sync of a sandbox, a full listing).
/// Clients see the initial sync's as `unavailable` (the workspace did not start).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The agent failed or refused (`agent_error`).
    #[error("{0}")]
    Agent(#[from] AgentError),
    /// PostgreSQL failed (`database_error`).
    #[error("database error: {0:#}")]
    Database(#[from] anyhow::Error),
}

impl SyncError {
    /// What kind of failure this is.
    pub fn kind(&self) -> FailureKind {
        match self {
            SyncError::Agent(_) => FailureKind::Agent,
            SyncError::Database(_) => FailureKind::Database,
        }
    }

    /// The `reason` label of `bridge_sync_failures_total`.
    pub fn metric_label(&self) -> &'static str {
        self.kind().metric_label()
    }
}

/// Why one path could not be synced; becomes a `SyncError` event.
pub(super) struct Failure {
    pub(super) kind: FailureKind,
    pub(super) message: String,
}

impl Failure {
    pub(super) fn new(kind: FailureKind, message: String) -> Failure {
        Failure { kind, message }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::new(
            FailureKind::Database,
            format!("saving to the database failed: {e:#}"),
        )
    }
}

impl From<AgentError> for Failure {
    fn from(e: AgentError) -> Failure {
        Failure::new(FailureKind::Agent, e.to_string())
    }
}

impl From<SyncError> for Failure {
    fn from(e: SyncError) -> Failure {
        Failure::new(e.kind(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_final_and_outages_transient() {
        assert!(!FailureKind::FileTooLarge.is_transient());
        assert!(!FailureKind::Conflict.is_transient());
        assert!(FailureKind::Busy.is_transient());
        let database = SyncError::Database(anyhow::anyhow!("connection reset"));
        assert_eq!(database.metric_label(), "database_error");
        let failure = Failure::from(database);
        assert!(failure.kind.is_transient());
        assert!(
            failure.message.contains("connection reset"),
            "{}",
            failure.message
        );
        let agent = SyncError::from(AgentError::Timeout);
        assert_eq!(agent.metric_label(), "agent_error");
    }
}
