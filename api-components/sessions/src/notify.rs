//! The notification channels this component sends on (reserved in `migrations/README.md`).
//! Each is sent by `pg_notify` inside the statement that makes the change, so it is
//! delivered exactly when the change commits. Payloads are small JSON objects built in SQL.

/// `{"session": "<uuid>", "desired_state": "running"|"stopped", "deleted": bool}`: a session's
/// desired state changed (created: `running`; shut down: `stopped`), or the session was deleted
/// (`stopped`, `deleted: true`): the bridge reconciles that session now.
macro_rules! desired_state_channel {
    () => {
        "'code_session_desired_state'"
    };
}
pub(crate) use desired_state_channel;

/// `{"session": "<uuid>", "user_id": <int>, "role": "viewer"|"editor"|null}`: a member was
/// added or changed role, or removed (`role` null): the bridge adjusts or closes that user's
/// connections to the session.
macro_rules! member_channel {
    () => {
        "'session_member_changed'"
    };
}
pub(crate) use member_channel;
