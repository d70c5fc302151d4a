//! The statements more than one side runs: the REST `workspace` and `sessions` components, the
//! terminal-bridge, the tests that play the REST side, and the benchmarks' native baseline.
//! Each is one statement (data-modifying CTEs), so it is atomic and its notifications are sent
//! exactly when it commits. Parameters carry explicit casts, so both Spin's and tokio-postgres's
//! typed parameters are accepted as documented.
//!
//! The path fragments are macros that expand to literals, so statements built from them stay
//! `const`; every one of them takes the session as `$1` and the path as `$2`.

/// CTE `ancestors(path)`: the folders above path `$2` (`a`, `a/b` for `a/b/c`).
#[macro_export]
macro_rules! ancestors_cte {
    () => {
        concat!(
            "ancestors as (select array_to_string((string_to_array($2::text, '/'))[1:n], '/') ",
            "as path from generate_series(1, cardinality(string_to_array($2::text, '/')) - 1) as n)"
        )
    };
}

/// CTE `blocked`: a row when file `$2` cannot be written: a folder is at `$2`, or a file is
/// where one of its folders should be. Needs [`ancestors_cte!`].
#[macro_export]
macro_rules! file_blocked_cte {
    () => {
        concat!(
            "blocked as (select 1 from workspace_items w where w.session_id = $1::uuid and (",
            "(w.kind = 'file' and w.path in (select path from ancestors)) ",
            "or (w.kind = 'folder' and w.path = $2::text)))"
        )
    };
}

/// CTE `folders`: inserts the missing folders above `$2` unless `blocked`, returning
/// `session_id, path, version, kind` of each. Needs [`file_blocked_cte!`].
#[macro_export]
macro_rules! missing_folders_cte {
    () => {
        concat!(
            "folders as (insert into workspace_items (session_id, path, parent_path, kind) ",
            "select $1::uuid, a.path, nullif(regexp_replace(a.path, '/?[^/]*$', ''), ''), ",
            "'folder' from ancestors a where not exists (select 1 from blocked) ",
            "on conflict (session_id, path) do nothing returning session_id, path, version, kind)"
        )
    };
}

/// Creates or replaces file `$2` of session `$1` with content `$3` (`bytea`; SHA-256 `$4`),
/// unless the path is a folder or a folder above it is a file; creates the missing folders
/// above it; notifies every row written ([`crate::notify::ItemChanged`]).
/// One row `version, notified` when written, no row when blocked.
pub const FILE_UPSERT_SQL: &str = concat!(
    "with ",
    crate::ancestors_cte!(),
    ", ",
    crate::file_blocked_cte!(),
    ", ",
    crate::missing_folders_cte!(),
    ", f as (insert into workspace_items (session_id, path, parent_path, kind, content, size, sha256) ",
    "select $1::uuid, $2::text, nullif(regexp_replace($2::text, '/?[^/]*$', ''), ''), 'file', ",
    "$3::bytea, octet_length($3::bytea), $4::bytea where not exists (select 1 from blocked) ",
    "on conflict (session_id, path) do update set content = excluded.content, ",
    "size = excluded.size, sha256 = excluded.sha256 where workspace_items.kind = 'file' ",
    "returning session_id, path, version, kind), ",
    "notified as (select ",
    crate::notify_item_changed!("false"),
    " from (select * from folders union all select * from f) c) ",
    "select version, (select count(*) from notified) as notified from f"
);

/// Creates folder `$2` of session `$1` and its missing ancestors, unless a file is at `$2` or
/// above it (then `blocked` names it and nothing changes); notifies each row made.
/// One row `blocked, created, version, notified`.
pub const FOLDER_ENSURE_SQL: &str = concat!(
    "with ancestors as (",
    "select array_to_string((string_to_array($2::text, '/'))[1:n], '/') as path ",
    "from generate_series(1, cardinality(string_to_array($2::text, '/'))) as n), ",
    "blocked as (select w.path from workspace_items w where w.session_id = $1::uuid ",
    "and w.kind = 'file' and w.path in (select path from ancestors)), ",
    "ins as (insert into workspace_items (session_id, path, parent_path, kind) ",
    "select $1::uuid, a.path, nullif(regexp_replace(a.path, '/?[^/]*$', ''), ''), 'folder' ",
    "from ancestors a where not exists (select 1 from blocked) ",
    "on conflict (session_id, path) do nothing returning session_id, path, version, kind), ",
    "notified as (select ",
    crate::notify_item_changed!("false"),
    " from ins) ",
    "select (select min(path) from blocked) as blocked, ",
    "exists (select 1 from ins where path = $2::text) as created, ",
    "coalesce((select version from ins where path = $2::text), (select version ",
    "from workspace_items where session_id = $1::uuid and path = $2::text)) as version, ",
    "(select count(*) from notified) as notified"
);

/// Deletes item `$2` of session `$1` (a folder only when `$3`, then with everything under it),
/// if its version is `$4` (any when null), and notifies each row removed.
/// One row `target` (1 when `$2` itself went), `notified`.
pub const ITEM_DELETE_SQL: &str = concat!(
    "with d as (delete from workspace_items w where w.session_id = $1::uuid and (",
    "(w.path = $2::text and ($4::bigint is null or w.version = $4::bigint) ",
    "and (w.kind = 'file' or $3::boolean)) ",
    "or ($3::boolean and starts_with(w.path, $2::text || '/') and exists (",
    "select 1 from workspace_items t where t.session_id = $1::uuid and t.path = $2::text ",
    "and t.kind = 'folder' and ($4::bigint is null or t.version = $4::bigint)))) ",
    "returning session_id, path, version, kind), ",
    "notified as (select ",
    crate::notify_item_changed!("true"),
    " from d) ",
    "select count(*) filter (where path = $2::text) as target, ",
    "(select count(*) from notified) as notified from d"
);

/// Item `$2` of session `$1`: `kind, content, size, version, sha256` (hex).
pub const ITEM_READ_SQL: &str = concat!(
    "select kind, content, size, version, encode(sha256, 'hex') as sha256 ",
    "from workspace_items where session_id = $1::uuid and path = $2::text"
);

/// The role of user `$2` in session `$1`: one row `role` (`owner`, `editor` or `viewer`), or
/// no row when the session does not exist or the user may not see it (the same answer, so ids
/// of other users' sessions cannot be probed).
pub const SESSION_ROLE_SQL: &str = concat!(
    "select case when s.owner_id = $2::bigint then 'owner' else m.role end as role ",
    "from code_sessions s left join session_members m ",
    "on m.session_id = s.id and m.user_id = $2::bigint ",
    "where s.id = $1::uuid and (s.owner_id = $2::bigint or m.user_id is not null)"
);

/// Sets the desired state of session `$1` to `$2` (text, a
/// [`crate::state::DesiredState`]) and notifies when that changed it, without an access check (the bridge's idle
/// stop and activation; the REST shutdown checks the caller first).
pub const SET_DESIRED_STATE_SQL: &str = concat!(
    "with s as (update code_sessions set desired_state = $2::text where id = $1::uuid ",
    "and desired_state <> $2::text ",
    "returning id, desired_state) select ",
    crate::notify_desired_state!("id", "desired_state", "false"),
    " from s"
);
