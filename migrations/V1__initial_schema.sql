-- V1: the initial schema of the code-execution platform.
--
-- Append-only: once this file has been applied anywhere, never edit it (refinery stores a checksum
-- and refuses to run against a database whose history diverges). Add V2__... instead.
-- Every table and every column carries a `comment on`; a test fails when one is missing.

-- ---------------------------------------------------------------------------------------------
-- shared trigger functions
-- ---------------------------------------------------------------------------------------------

create function set_updated_at() returns trigger
language plpgsql as $$
begin
    new.updated_at := now();
    return new;
end;
$$;

comment on function set_updated_at() is
    'before-update trigger: stamps updated_at with the transaction time, so callers cannot forget it.';

-- ---------------------------------------------------------------------------------------------
-- users
-- ---------------------------------------------------------------------------------------------

create table users (
    id bigint generated always as identity primary key,
    username text not null,
    email text null,
    password_hash text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint users_username_length check (char_length(username) between 3 and 64),
    constraint users_username_chars check (username ~ '^[A-Za-z0-9_.-]+$'),
    constraint users_email_shape check (email is null or email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    constraint users_password_hash_argon2id check (password_hash like '$argon2id$%')
);

-- usernames are unique regardless of case: 'Alice' and 'alice' are the same account.
-- look-ups must use `where lower(username) = lower($1)` to hit this index.
create unique index users_username_lower_key on users (lower(username));

create trigger users_set_updated_at before update on users
    for each row execute function set_updated_at();

comment on table users is
    'accounts that can log in; the REST API exposes id as the integer user_id.';
comment on column users.id is
    'surrogate key, exposed by the API as user_id (an integer, as in the original service).';
comment on column users.username is
    'login name, 3 to 64 characters of [A-Za-z0-9_.-]; unique case-insensitively (users_username_lower_key), stored as typed.';
comment on column users.email is
    'optional contact address; not verified and not unique.';
comment on column users.password_hash is
    'argon2id hash in PHC string format ($argon2id$v=19$m=...,t=...,p=...$salt$hash); never the password itself.';
comment on column users.created_at is
    'when the account was created.';
comment on column users.updated_at is
    'when the row last changed; maintained by the users_set_updated_at trigger.';

-- ---------------------------------------------------------------------------------------------
-- code_sessions
-- ---------------------------------------------------------------------------------------------

create table code_sessions (
    id uuid primary key default gen_random_uuid(),
    owner_id bigint not null references users (id) on delete cascade,
    name text not null,
    language text null,
    desired_state text not null default 'running',
    observed_state text not null default 'stopped',
    observed_at timestamptz null,
    last_activity_at timestamptz null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint code_sessions_name_length check (char_length(name) between 1 and 200),
    constraint code_sessions_desired_state_check check (desired_state in ('running', 'stopped')),
    constraint code_sessions_observed_state_check
        check (observed_state in ('stopped', 'starting', 'running', 'stopping', 'failed'))
);

-- "my sessions, newest first" is the listing the REST API serves.
create index code_sessions_owner_created_idx on code_sessions (owner_id, created_at desc);

-- the periodic reconciler only looks at sessions that should run or may still run; keeping them
-- in a small partial index makes that scan independent of how many stopped sessions exist.
create index code_sessions_active_idx on code_sessions (id)
    where desired_state = 'running' or observed_state <> 'stopped';

create trigger code_sessions_set_updated_at before update on code_sessions
    for each row execute function set_updated_at();

comment on table code_sessions is
    'workspaces: an owner, a name, the desired state written by the REST API and the state the terminal-bridge last observed.';
comment on column code_sessions.id is
    'session id, used in URLs and in the WebSocket handshake.';
comment on column code_sessions.owner_id is
    'the user who owns the session; deleting the user deletes the session and its files.';
comment on column code_sessions.name is
    'display name chosen by the owner, 1 to 200 characters; not unique.';
comment on column code_sessions.language is
    'optional main language of the workspace (e.g. python), a hint for the sandbox image and the editor.';
comment on column code_sessions.desired_state is
    'what the user wants: running or stopped. Written by the REST API (followed by pg_notify) and by the bridge''s idle timeout; the bridge reconciles towards it.';
comment on column code_sessions.observed_state is
    'what the terminal-bridge last saw of the sandbox: stopped, starting, running, stopping or failed. Only the bridge writes it; it may lag reality.';
comment on column code_sessions.observed_at is
    'when observed_state was last written by the bridge; null if the bridge has never looked at this session.';
comment on column code_sessions.last_activity_at is
    'last terminal input or file change in the session; drives the idle shutdown. Null if never used.';
comment on column code_sessions.created_at is
    'when the session was created.';
comment on column code_sessions.updated_at is
    'when the row last changed; maintained by the code_sessions_set_updated_at trigger.';

-- ---------------------------------------------------------------------------------------------
-- workspace_items
-- ---------------------------------------------------------------------------------------------

create table workspace_items (
    id bigint generated always as identity primary key,
    session_id uuid not null references code_sessions (id) on delete cascade,
    path text not null,
    parent_path text null,
    kind text not null,
    content bytea null,
    size bigint not null default 0,
    sha256 bytea null,
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint workspace_items_session_path_key unique (session_id, path),
    constraint workspace_items_kind_check check (kind in ('file', 'folder')),
    -- relative, '/'-separated, no empty, '.' or '..' segments: the agent writes these under
    -- /workspace, so a path must never be able to escape it.
    constraint workspace_items_path_shape check (
        path <> ''
        and left(path, 1) <> '/'
        and right(path, 1) <> '/'
        and position('//' in path) = 0
        and path !~ '(^|/)\.\.?(/|$)'
    ),
    -- parent_path is derived from path; storing it keeps directory listings an index scan.
    constraint workspace_items_parent_path_matches check (
        parent_path is not distinct from nullif(regexp_replace(path, '/?[^/]*$', ''), '')
    ),
    constraint workspace_items_folder_shape check (
        kind <> 'folder' or (content is null and sha256 is null and size = 0)
    ),
    constraint workspace_items_file_shape check (
        kind <> 'file'
        or (content is not null
            and size = octet_length(content)
            and sha256 is not null
            and octet_length(sha256) = 32
            and sha256 = sha256(content))
    ),
    constraint workspace_items_version_positive check (version >= 1)
);

-- directory listings: the children of one folder of one session.
create index workspace_items_session_parent_idx on workspace_items (session_id, parent_path);

create function workspace_items_bump_version() returns trigger
language plpgsql as $$
begin
    new.version := old.version + 1;
    new.updated_at := now();
    return new;
end;
$$;

comment on function workspace_items_bump_version() is
    'before-update trigger of workspace_items: every update yields version = old version + 1 (whatever the statement set), and stamps updated_at.';

create trigger workspace_items_bump_version before update on workspace_items
    for each row execute function workspace_items_bump_version();

comment on table workspace_items is
    'the file and folder tree of each session; the source of truth for workspace files. Content lives here; sandboxes get copies.';
comment on column workspace_items.id is
    'surrogate key; clients address items by (session_id, path).';
comment on column workspace_items.session_id is
    'the session whose workspace holds the item; deleting the session deletes its items.';
comment on column workspace_items.path is
    'path relative to the workspace root, ''/''-separated, no leading or trailing ''/'', no empty, ''.'' or ''..'' segments; unique per session.';
comment on column workspace_items.parent_path is
    'path of the containing folder, null at the top level; always equal to path without its last segment (checked). A row for the parent folder is not required to exist.';
comment on column workspace_items.kind is
    'file or folder.';
comment on column workspace_items.content is
    'file bytes (binary-safe); null for folders. Size and count limits are enforced by the writers, not here.';
comment on column workspace_items.size is
    'octet_length(content) for files (checked), 0 for folders; kept so listings need not read content.';
comment on column workspace_items.sha256 is
    'SHA-256 of content (32 bytes, checked against content) for files, null for folders; lets the agent recognise its own writes and skip echoes.';
comment on column workspace_items.version is
    'starts at 1 and increases by exactly 1 on every update (workspace_items_bump_version trigger); used for optimistic concurrency and change ordering.';
comment on column workspace_items.created_at is
    'when the item was first created.';
comment on column workspace_items.updated_at is
    'when the item last changed; maintained by the workspace_items_bump_version trigger.';

-- ---------------------------------------------------------------------------------------------
-- auth_tokens
-- ---------------------------------------------------------------------------------------------

create table auth_tokens (
    id bigint generated always as identity primary key,
    user_id bigint not null references users (id) on delete cascade,
    token_sha256 bytea not null unique,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    revoked_at timestamptz null,
    last_used_at timestamptz null,
    user_agent text null,
    client_addr text null,
    constraint auth_tokens_token_sha256_length check (octet_length(token_sha256) = 32),
    constraint auth_tokens_expires_after_created check (expires_at > created_at)
);

-- "log out everywhere" and "list my tokens" go by user.
create index auth_tokens_user_idx on auth_tokens (user_id);

comment on table auth_tokens is
    'bearer tokens issued at login. Only a hash is stored, so a leaked database does not leak usable tokens.';
comment on column auth_tokens.id is
    'surrogate key, e.g. to revoke one token from a list.';
comment on column auth_tokens.user_id is
    'the user the token authenticates; deleting the user deletes the tokens.';
comment on column auth_tokens.token_sha256 is
    'SHA-256 (32 bytes) of the bearer token as sent by the client; the token itself is never stored. Look-ups hash the presented token and match here.';
comment on column auth_tokens.created_at is
    'when the token was issued.';
comment on column auth_tokens.expires_at is
    'the token is refused from this moment on.';
comment on column auth_tokens.revoked_at is
    'set at logout or revocation; a token with a revoked_at is refused. Null while valid.';
comment on column auth_tokens.last_used_at is
    'last successful authentication with this token, updated at most coarsely by the API; null if never used.';
comment on column auth_tokens.user_agent is
    'User-Agent header seen at login, to help the user recognise the token.';
comment on column auth_tokens.client_addr is
    'client address seen at login (text, as reported by the front end or proxy).';

-- ---------------------------------------------------------------------------------------------
-- session_members
-- ---------------------------------------------------------------------------------------------

create table session_members (
    session_id uuid not null references code_sessions (id) on delete cascade,
    user_id bigint not null references users (id) on delete cascade,
    role text not null,
    created_at timestamptz not null default now(),
    primary key (session_id, user_id),
    constraint session_members_role_check check (role in ('viewer', 'editor'))
);

-- "sessions shared with me".
create index session_members_user_idx on session_members (user_id);

comment on table session_members is
    'users other than the owner who may use a session (sharing); the owner is never listed here.';
comment on column session_members.session_id is
    'the shared session.';
comment on column session_members.user_id is
    'the user the session is shared with.';
comment on column session_members.role is
    'viewer (read files, watch terminals) or editor (also write files and type in terminals).';
comment on column session_members.created_at is
    'when the session was shared with the user.';

-- ---------------------------------------------------------------------------------------------
-- login_attempts
-- ---------------------------------------------------------------------------------------------

create table login_attempts (
    key text primary key,
    failures int not null default 0,
    window_start timestamptz not null default now(),
    locked_until timestamptz null,
    constraint login_attempts_failures_nonnegative check (failures >= 0)
);

comment on table login_attempts is
    'failed-login rate limiting. The REST components are stateless (one instance per request), so the counters live here; rows may be deleted once their window is over.';
comment on column login_attempts.key is
    'what is being limited, with a prefix naming the kind: ''user:<lower(username)>'' or ''addr:<client address>''.';
comment on column login_attempts.failures is
    'failed attempts counted since window_start.';
comment on column login_attempts.window_start is
    'start of the current counting window; the counter restarts when the window has passed.';
comment on column login_attempts.locked_until is
    'logins for this key are refused until this time; null when not locked.';
