//! The SQL of the session layer. File rows are written the way the REST `workspace` component
//! writes them, from the same fragments of `platform_contract::sql` (missing parent folders
//! inserted in the same statement, `pg_notify` of every row written in the same statement), with
//! `platform_contract::notify_item_changed_from_shell!`: `"origin": "shell"` and this bridge's
//! id in the payload, so a bridge recognises its own writes when they come back.

use std::collections::HashMap;

use agent_protocol::Sha256;
use deadpool_postgres::{GenericClient, Pool};
use uuid::Uuid;

use platform_contract::sql::SET_DESIRED_STATE_SQL;
use platform_contract::state::{DesiredState, ObservedState};
use platform_contract::{
    ancestors_cte, file_blocked_cte, missing_folders_cte, notify_item_changed_from_shell,
};

use super::merge::Rev;

/// A database failure of the session layer.
pub type DbResult<T> = Result<T, anyhow::Error>;

/// One file row (no content).
#[derive(Debug, Clone)]
pub struct PgFile {
    pub path: String,
    pub rev: Rev,
}

/// How a shell write ended.
#[derive(Debug)]
pub enum Written {
    /// Committed as `rev`.
    Done(Rev),
    /// The row changed since it was read: decide again.
    Stale,
    /// A folder is at the path, or a file where a parent folder should be.
    Blocked,
}

/// Column `index` of `row`, a state stored as text.
fn state<T: std::str::FromStr<Err = platform_contract::state::UnknownValue>>(
    row: &tokio_postgres::Row,
    index: usize,
) -> DbResult<T> {
    Ok(row.get::<_, String>(index).parse()?)
}

fn sha(bytes: &[u8]) -> DbResult<Sha256> {
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("a sha256 column is not 32 bytes"))
}

/// Inserts file `$2` of session `$1` with content `$3` unless it exists (then no row); creates
/// missing parent folders; `blocked` counts a folder at the path or a file above it.
const INSERT_SQL: &str = concat!(
    "with ",
    ancestors_cte!(),
    ", ",
    file_blocked_cte!(),
    ", ",
    missing_folders_cte!(),
    ", f as (insert into workspace_items (session_id, path, parent_path, kind, content, size, sha256) ",
    "select $1::uuid, $2::text, nullif(regexp_replace($2::text, '/?[^/]*$', ''), ''), 'file', ",
    "$3::bytea, octet_length($3::bytea), sha256($3::bytea) where not exists (select 1 from blocked) ",
    "on conflict (session_id, path) do nothing returning session_id, path, version, kind, sha256), ",
    "notified as (select ",
    notify_item_changed_from_shell!("false", "$4::text"),
    " from (select session_id, path, version, kind from folders ",
    "union all select session_id, path, version, kind from f) c) ",
    "select (select version from f) as version, (select sha256 from f) as sha256, ",
    "(select count(*) from blocked) as blocked, (select count(*) from notified) as notified"
);

/// Replaces file `$2` of session `$1` with `$3` if it is still at version `$4`.
const UPDATE_SQL: &str = concat!(
    "with f as (update workspace_items set content = $3::bytea, size = octet_length($3::bytea), ",
    "sha256 = sha256($3::bytea) where session_id = $1::uuid and path = $2::text and kind = 'file' ",
    "and version = $4::bigint returning session_id, path, version, kind, sha256), ",
    "notified as (select ",
    notify_item_changed_from_shell!("false", "$5::text"),
    " from f) select version, sha256, (select count(*) from notified) as notified from f"
);

/// Deletes file `$2` of session `$1` if still at version `$3`, and the parent folders that
/// become empty (folders exist to hold files).
const DELETE_SQL: &str = concat!(
    "with ",
    ancestors_cte!(),
    ", d as (delete from workspace_items where session_id = $1::uuid and path = $2::text ",
    "and kind = 'file' and version = $3::bigint returning session_id, path, version, kind), ",
    "empty as (delete from workspace_items w where w.session_id = $1::uuid and w.kind = 'folder' ",
    "and w.path in (select path from ancestors) and exists (select 1 from d) ",
    "and not exists (select 1 from workspace_items c where c.session_id = $1::uuid ",
    "and starts_with(c.path, w.path || '/') and c.path <> $2::text ",
    "and c.path not in (select path from ancestors)) ",
    "returning session_id, path, version, kind), ",
    "notified as (select ",
    notify_item_changed_from_shell!("true", "$4::text"),
    " from (select * from d union all select * from empty) x) ",
    "select (select count(*) from d) as deleted, (select count(*) from notified) as notified"
);

const BASE_UPSERT_SQL: &str = "insert into workspace_sync_state (session_id, path, version, sha256) \
     values ($1, $2, $3, $4) on conflict (session_id, path) do update \
     set version = excluded.version, sha256 = excluded.sha256, synced_at = now()";

const BASE_DELETE_SQL: &str =
    "delete from workspace_sync_state where session_id = $1 and path = $2";

/// The session layer's access to PostgreSQL.
#[derive(Clone)]
pub struct Store {
    pub pool: Pool,
    /// This bridge process's id, carried in its notifications.
    pub bridge: Uuid,
}

impl Store {
    async fn client(&self) -> DbResult<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }

    /// Desired and observed state of a session, `None` if it does not exist.
    pub async fn session(&self, session: Uuid) -> DbResult<Option<(DesiredState, ObservedState)>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "select desired_state, observed_state from code_sessions where id = $1",
                &[&session],
            )
            .await?;
        row.map(|r| Ok((state(&r, 0)?, state(&r, 1)?))).transpose()
    }

    /// Sets the desired state (announcing a change on `code_session_desired_state`).
    pub async fn set_desired(&self, session: Uuid, state: DesiredState) -> DbResult<()> {
        self.client()
            .await?
            .execute(SET_DESIRED_STATE_SQL, &[&session, &state.as_str()])
            .await?;
        Ok(())
    }

    /// Records what the bridge sees of the sandbox.
    pub async fn set_observed(&self, session: Uuid, state: ObservedState) -> DbResult<()> {
        self.client()
            .await?
            .execute(
                "update code_sessions set observed_state = $2, observed_at = now() \
                 where id = $1 and (observed_state <> $2 or observed_at is null)",
                &[&session, &state.as_str()],
            )
            .await?;
        Ok(())
    }

    /// Stamps `last_activity_at`.
    pub async fn set_activity(&self, session: Uuid) -> DbResult<()> {
        self.client()
            .await?
            .execute(
                "update code_sessions set last_activity_at = now() where id = $1",
                &[&session],
            )
            .await?;
        Ok(())
    }

    /// Sessions that should run or may still run: `(id, desired, observed)`.
    pub async fn live_sessions(&self) -> DbResult<Vec<(Uuid, DesiredState, ObservedState)>> {
        let rows = self
            .client()
            .await?
            .query(
                "select id, desired_state, observed_state from code_sessions \
                 where desired_state = 'running' or observed_state <> 'stopped'",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.get(0), state(r, 1)?, state(r, 2)?)))
            .collect()
    }

    /// Desired state of each of `ids` that exists.
    pub async fn desired_of(&self, ids: &[Uuid]) -> DbResult<HashMap<Uuid, DesiredState>> {
        let rows = self
            .client()
            .await?
            .query(
                "select id, desired_state from code_sessions where id = any($1)",
                &[&ids],
            )
            .await?;
        rows.iter().map(|r| Ok((r.get(0), state(r, 1)?))).collect()
    }

    /// Every file of the session (no content).
    pub async fn files(&self, session: Uuid) -> DbResult<Vec<PgFile>> {
        let rows = self
            .client()
            .await?
            .query(
                "select path, version, sha256 from workspace_items \
                 where session_id = $1 and kind = 'file'",
                &[&session],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PgFile {
                    path: r.get(0),
                    rev: Rev {
                        version: r.get(1),
                        sha256: sha(r.get(2))?,
                    },
                })
            })
            .collect()
    }

    /// The folders that hold nothing (made empty through REST), by path.
    pub async fn empty_folders(&self, session: Uuid) -> DbResult<Vec<String>> {
        let rows = self
            .client()
            .await?
            .query(
                "select w.path from workspace_items w \
                 where w.session_id = $1 and w.kind = 'folder' and not exists ( \
                   select 1 from workspace_items c \
                   where c.session_id = w.session_id and c.parent_path = w.path) \
                 order by w.path",
                &[&session],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// One file's revision, `None` if absent (or a folder).
    pub async fn file(&self, session: Uuid, path: &str) -> DbResult<Option<Rev>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "select version, sha256 from workspace_items \
                 where session_id = $1 and path = $2 and kind = 'file'",
                &[&session, &path],
            )
            .await?;
        row.map(|r| {
            Ok(Rev {
                version: r.get(0),
                sha256: sha(r.get(1))?,
            })
        })
        .transpose()
    }

    /// One file's revision and content.
    pub async fn content(&self, session: Uuid, path: &str) -> DbResult<Option<(Rev, Vec<u8>)>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "select version, sha256, content from workspace_items \
                 where session_id = $1 and path = $2 and kind = 'file'",
                &[&session, &path],
            )
            .await?;
        row.map(|r| {
            Ok((
                Rev {
                    version: r.get(0),
                    sha256: sha(r.get(1))?,
                },
                r.get(2),
            ))
        })
        .transpose()
    }

    /// Revision and content of each of `paths` that is a file (others are left out).
    pub async fn contents(
        &self,
        session: Uuid,
        paths: &[String],
    ) -> DbResult<Vec<(String, Rev, Vec<u8>)>> {
        let rows = self
            .client()
            .await?
            .query(
                "select path, version, sha256, content from workspace_items \
                 where session_id = $1 and path = any($2) and kind = 'file'",
                &[&session, &paths],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let rev = Rev {
                    version: r.get(1),
                    sha256: sha(r.get(2))?,
                };
                Ok((r.get(0), rev, r.get(3)))
            })
            .collect()
    }

    /// Records many bases at once: `set` upserted, `unset` removed.
    pub async fn set_bases(
        &self,
        session: Uuid,
        set: &[(String, Rev)],
        unset: &[String],
    ) -> DbResult<()> {
        let client = self.client().await?;
        if !set.is_empty() {
            let paths: Vec<&str> = set.iter().map(|(p, _)| p.as_str()).collect();
            let versions: Vec<i64> = set.iter().map(|(_, r)| r.version).collect();
            let hashes: Vec<&[u8]> = set.iter().map(|(_, r)| r.sha256.as_slice()).collect();
            client
                .execute(
                    "insert into workspace_sync_state (session_id, path, version, sha256) \
                     select $1, p, v, h from unnest($2::text[], $3::bigint[], $4::bytea[]) as t(p, v, h) \
                     on conflict (session_id, path) do update \
                     set version = excluded.version, sha256 = excluded.sha256, synced_at = now()",
                    &[&session, &paths, &versions, &hashes],
                )
                .await?;
        }
        if !unset.is_empty() {
            client
                .execute(
                    "delete from workspace_sync_state where session_id = $1 and path = any($2)",
                    &[&session, &unset],
                )
                .await?;
        }
        Ok(())
    }

    /// Files and bytes of the session other than `path`.
    pub async fn usage(&self, session: Uuid, path: &str) -> DbResult<(u64, u64)> {
        let row = self
            .client()
            .await?
            .query_one(
                "select count(*), coalesce(sum(size), 0)::bigint from workspace_items \
                 where session_id = $1 and kind = 'file' and path <> $2",
                &[&session, &path],
            )
            .await?;
        Ok((row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64))
    }

    /// Writes a shell edit: creates the file if `expect` is `None`, else replaces it if still at
    /// `expect`; records the new base in the same transaction.
    pub async fn write(
        &self,
        session: Uuid,
        path: &str,
        data: &[u8],
        expect: Option<&Rev>,
    ) -> DbResult<Written> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let bridge = self.bridge.to_string();
        let row = match expect {
            None => {
                let row = tx
                    .query_one(INSERT_SQL, &[&session, &path, &data, &bridge])
                    .await?;
                if row.get::<_, i64>("blocked") > 0 {
                    return Ok(Written::Blocked);
                }
                row
            }
            Some(rev) => match tx
                .query_opt(UPDATE_SQL, &[&session, &path, &data, &rev.version, &bridge])
                .await?
            {
                Some(row) => row,
                None => return Ok(Written::Stale),
            },
        };
        let Some(version) = row.get::<_, Option<i64>>("version") else {
            return Ok(Written::Stale);
        };
        let rev = Rev {
            version,
            sha256: sha(row.get::<_, Option<&[u8]>>("sha256").unwrap_or_default())?,
        };
        tx.execute(
            BASE_UPSERT_SQL,
            &[&session, &path, &rev.version, &rev.sha256.as_slice()],
        )
        .await?;
        tx.commit().await?;
        Ok(Written::Done(rev))
    }

    /// Deletes a file the shell deleted, if still at `expect`; false if it changed meanwhile.
    pub async fn delete(&self, session: Uuid, path: &str, expect: &Rev) -> DbResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let bridge = self.bridge.to_string();
        let row = tx
            .query_one(DELETE_SQL, &[&session, &path, &expect.version, &bridge])
            .await?;
        if row.get::<_, i64>("deleted") == 0 {
            return Ok(false);
        }
        tx.execute(BASE_DELETE_SQL, &[&session, &path]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The base of every file of the session.
    pub async fn load_base(&self, session: Uuid) -> DbResult<HashMap<String, Rev>> {
        let rows = self
            .client()
            .await?
            .query(
                "select path, version, sha256 from workspace_sync_state where session_id = $1",
                &[&session],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.get(0),
                    Rev {
                        version: r.get(1),
                        sha256: sha(r.get(2))?,
                    },
                ))
            })
            .collect()
    }

    /// Records (or with `None` removes) the base of one file.
    pub async fn set_base(&self, session: Uuid, path: &str, rev: Option<&Rev>) -> DbResult<()> {
        let client = self.client().await?;
        match rev {
            Some(rev) => {
                client
                    .execute(
                        BASE_UPSERT_SQL,
                        &[&session, &path, &rev.version, &rev.sha256.as_slice()],
                    )
                    .await?
            }
            None => client.execute(BASE_DELETE_SQL, &[&session, &path]).await?,
        };
        Ok(())
    }

    /// Forgets the whole base of a session (its sandbox stopped or is new).
    pub async fn clear_base(&self, session: Uuid) -> DbResult<()> {
        self.client()
            .await?
            .execute(
                "delete from workspace_sync_state where session_id = $1",
                &[&session],
            )
            .await?;
        Ok(())
    }
}
