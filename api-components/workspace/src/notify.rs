//! The notification channel this component sends on (see `migrations/README.md`).

/// `{"session": "<uuid>", "path": "<path>", "version": <int>, "kind": "file"|"folder",
/// "deleted": bool}`: an item was created, updated or deleted (`version` is the last one).
/// Sent by `pg_notify` inside the statement that makes the change.
macro_rules! item_channel {
    () => {
        "'workspace_item_changed'"
    };
}
pub(crate) use item_channel;

/// The `pg_notify` of one row of a CTE with columns `session_id, path, version, kind`.
macro_rules! notify_item {
    ($deleted:literal) => {
        concat!(
            "pg_notify(",
            $crate::notify::item_channel!(),
            ", json_build_object('session', session_id, 'path', path, 'version', version, ",
            "'kind', kind, 'deleted', ",
            $deleted,
            ")::text)"
        )
    };
}
pub(crate) use notify_item;
