-- V2: what each running sandbox held the last time the terminal-bridge synced it.
--
-- The bridge keeps this in memory while it watches a sandbox and mirrors it here, so a bridge
-- that restarts while sandboxes keep running can still tell a shell edit made meanwhile (the
-- sandbox differs from the base, PostgreSQL does not) from a REST edit (PostgreSQL differs
-- from the base) and merge without losing either (see the terminal-bridge README, "File sync").
-- Small: one row per file of each *running* sandbox; a session's rows are replaced when its
-- sandbox is created and removed when it stops.

create table workspace_sync_state (
    session_id uuid not null references code_sessions (id) on delete cascade,
    path text not null,
    version bigint not null,
    sha256 bytea not null,
    synced_at timestamptz not null default now(),
    primary key (session_id, path),
    constraint workspace_sync_state_sha256_length check (octet_length(sha256) = 32)
);

comment on table workspace_sync_state is
    'the common base of file sync: per file, the workspace_items revision that the session''s running sandbox last held. Written only by the terminal-bridge.';
comment on column workspace_sync_state.session_id is
    'the session whose sandbox holds the file; deleting the session deletes its rows.';
comment on column workspace_sync_state.path is
    'the file''s path in the workspace, as in workspace_items.path.';
comment on column workspace_sync_state.version is
    'the workspace_items.version both sides held at the last sync.';
comment on column workspace_sync_state.sha256 is
    'SHA-256 (32 bytes) of the content both sides held at the last sync.';
comment on column workspace_sync_state.synced_at is
    'when the row was last written, for diagnosis.';
