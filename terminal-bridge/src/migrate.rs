//! The SQL migrations of `../migrations`, embedded into the binary at build time, and applying
//! them with refinery.
//!
//! Applying is idempotent (refinery records what it applied in `refinery_schema_history`) and
//! safe when several bridges start at once: the run holds a PostgreSQL advisory lock, so the
//! others wait and then find nothing left to apply.

use anyhow::Context;
use refinery::Runner;
use tokio_postgres::Client;
use tracing::info;

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// Key of the session-level advisory lock held while migrating ("migrate" in ASCII). Released
/// at the end of the run, or by the server when the connection drops.
const MIGRATION_LOCK_KEY: i64 = 0x006d_6967_7261_7465;

/// One migration, named as its file: `V1__initial_schema`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationName {
    pub version: i32,
    pub name: String,
}

impl std::fmt::Display for MigrationName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "V{}__{}", self.version, self.name)
    }
}

impl From<&refinery::Migration> for MigrationName {
    fn from(migration: &refinery::Migration) -> Self {
        MigrationName {
            version: migration.version(),
            name: migration.name().to_owned(),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Migrations applied by this run, in order; empty when the database was up to date.
    pub applied: Vec<MigrationName>,
    /// The latest migration applied to the database after the run.
    pub current: Option<MigrationName>,
}

impl std::fmt::Display for Report {
    /// What `terminal-bridge migrate` prints: one line per applied migration, then where the
    /// database stands.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for migration in &self.applied {
            writeln!(f, "applied {migration}")?;
        }
        match (&self.current, self.applied.is_empty()) {
            (Some(current), true) => writeln!(f, "database is up to date at {current}"),
            (Some(current), false) => writeln!(f, "database is now at {current}"),
            (None, _) => writeln!(f, "no migrations to apply"),
        }
    }
}

/// The migrations built into this binary, in version order.
pub fn embedded() -> Vec<MigrationName> {
    let runner = embedded::migrations::runner();
    let mut all: Vec<MigrationName> = runner.get_migrations().iter().map(Into::into).collect();
    all.sort_by_key(|migration| migration.version);
    all
}

/// Applies every embedded migration the database does not have yet.
pub async fn run(client: &mut Client) -> anyhow::Result<Report> {
    client
        .execute("select pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
        .await
        .context("taking the migration lock")?;
    let result = apply(client).await;
    // Unlock even after a failure; if this fails too, closing the connection releases the lock.
    let unlocked = client
        .execute("select pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
        .await;
    let report = result?;
    unlocked.context("releasing the migration lock")?;
    Ok(report)
}

async fn apply(client: &mut Client) -> anyhow::Result<Report> {
    let runner: Runner = embedded::migrations::runner();
    let outcome = runner
        .run_async(client)
        .await
        .context("applying the database migrations")?;
    let applied: Vec<MigrationName> = outcome
        .applied_migrations()
        .iter()
        .map(Into::into)
        .collect();
    for migration in &applied {
        info!(migration = %migration, "applied migration");
    }
    let current = runner
        .get_last_applied_migration_async(client)
        .await
        .context("reading the migration history")?
        .as_ref()
        .map(Into::into);
    Ok(Report { applied, current })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_read_well() {
        let v1 = MigrationName {
            version: 1,
            name: "initial_schema".into(),
        };
        let fresh = Report {
            applied: vec![v1.clone()],
            current: Some(v1.clone()),
        };
        assert_eq!(
            fresh.to_string(),
            "applied V1__initial_schema\ndatabase is now at V1__initial_schema\n"
        );
        let again = Report {
            applied: vec![],
            current: Some(v1),
        };
        assert_eq!(
            again.to_string(),
            "database is up to date at V1__initial_schema\n"
        );
    }

    #[test]
    fn the_initial_schema_is_embedded_first() {
        let all = embedded();
        assert_eq!(all[0].to_string(), "V1__initial_schema");
        let versions: Vec<i32> = all.iter().map(|m| m.version).collect();
        assert!(versions.windows(2).all(|pair| pair[0] < pair[1]));
    }
}
