//! The notification channels between the REST components and the terminal-bridge, each with
//! its typed payload: one encoder (an SQL fragment that `pg_notify`s inside the statement that
//! makes the change, so a notification is sent exactly when the change commits) and one decoder
//! ([`Notification::decode`]). `tests/contract.rs` sends every encoder through a real
//! PostgreSQL and decodes what arrives. `migrations/README.md` lists who sends what.
//!
//! The encoders are macros that expand to string literals, so statements that use them stay
//! `const` (`concat!("with ... select ", platform_contract::notify_member!("session_id",
//! "user_id", "role"), " from ...")`). Their arguments are SQL expressions.

use serde::Deserialize;
use uuid::Uuid;

use crate::state::{DesiredState, ItemKind, MemberRole};

/// The name of the desired-state channel, as a literal for `concat!`.
#[macro_export]
macro_rules! desired_state_channel {
    () => {
        "code_session_desired_state"
    };
}
/// The name of the membership channel, as a literal for `concat!`.
#[macro_export]
macro_rules! member_channel {
    () => {
        "session_member_changed"
    };
}
/// The name of the workspace item channel, as a literal for `concat!`.
#[macro_export]
macro_rules! item_channel {
    () => {
        "workspace_item_changed"
    };
}
pub use crate::{desired_state_channel, item_channel, member_channel};

/// Channel of [`DesiredStateChanged`].
pub const DESIRED_STATE_CHANNEL: &str = desired_state_channel!();
/// Channel of [`MemberChanged`].
pub const MEMBER_CHANNEL: &str = member_channel!();
/// Channel of [`ItemChanged`].
pub const ITEM_CHANNEL: &str = item_channel!();
/// What the terminal-bridge listens to (membership changes are read where they matter).
pub const BRIDGE_LISTEN_SQL: &str = concat!(
    "listen ",
    desired_state_channel!(),
    "; listen ",
    item_channel!()
);

/// `pg_notify` of a [`DesiredStateChanged`] from SQL expressions for the session id, its
/// desired state (text) and whether it was deleted (boolean).
#[macro_export]
macro_rules! notify_desired_state {
    ($session:literal, $desired_state:literal, $deleted:literal) => {
        concat!(
            "pg_notify('",
            $crate::desired_state_channel!(),
            "', json_build_object('session', ",
            $session,
            ", 'desired_state', ",
            $desired_state,
            ", 'deleted', ",
            $deleted,
            ")::text)"
        )
    };
}

/// `pg_notify` of a [`MemberChanged`] from SQL expressions for the session id, the user id and
/// the role (text; `null::text` when the member was removed).
#[macro_export]
macro_rules! notify_member {
    ($session:literal, $user_id:literal, $role:literal) => {
        concat!(
            "pg_notify('",
            $crate::member_channel!(),
            "', json_build_object('session', ",
            $session,
            ", 'user_id', ",
            $user_id,
            ", 'role', ",
            $role,
            ")::text)"
        )
    };
}

/// `pg_notify` of an [`ItemChanged`] from SQL expressions for the session id, the path, the
/// version, the kind (text) and whether it was deleted (boolean).
#[macro_export]
macro_rules! notify_item {
    ($session:literal, $path:literal, $version:literal, $kind:literal, $deleted:literal) => {
        concat!(
            "pg_notify('",
            $crate::item_channel!(),
            "', json_build_object('session', ",
            $session,
            ", 'path', ",
            $path,
            ", 'version', ",
            $version,
            ", 'kind', ",
            $kind,
            ", 'deleted', ",
            $deleted,
            ")::text)"
        )
    };
}

/// `pg_notify` of an [`ItemChanged`] made through REST, for a row with the columns
/// `session_id, path, version, kind` of `workspace_items`; `$deleted` is an SQL boolean.
#[macro_export]
macro_rules! notify_item_changed {
    ($deleted:literal) => {
        $crate::notify_item!("session_id", "path", "version", "kind", $deleted)
    };
}

/// `pg_notify` of an [`ItemChanged`] saved by a terminal-bridge from a sandbox (origin
/// `shell`), for a row as in [`notify_item_changed!`]; `$bridge` is an SQL expression for the
/// bridge process's id (text), so that bridge skips its own notification.
#[macro_export]
macro_rules! notify_item_changed_from_shell {
    ($deleted:literal, $bridge:literal) => {
        concat!(
            "pg_notify('",
            $crate::item_channel!(),
            "', json_build_object('session', session_id, 'path', path, 'version', version, ",
            "'kind', kind, 'deleted', ",
            $deleted,
            ", 'origin', 'shell', 'bridge', ",
            $bridge,
            ")::text)"
        )
    };
}

/// A session's desired state changed (created: `running`; shut down or idle: `stopped`), or
/// the session was deleted (`stopped`, `deleted: true`): the bridge reconciles it now.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DesiredStateChanged {
    pub session: Uuid,
    pub desired_state: DesiredState,
    /// The row and its files are gone: stop and remove the sandbox.
    #[serde(default)]
    pub deleted: bool,
}

/// A member was added or changed role, or was removed (`role: None`): the bridge adjusts or
/// closes that user's connections to the session.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MemberChanged {
    pub session: Uuid,
    pub user_id: i64,
    pub role: Option<MemberRole>,
}

/// A workspace item was created, updated or deleted. Never carries content: read the item by
/// `(session, path)` and skip it when its version is not newer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ItemChanged {
    pub session: Uuid,
    pub path: String,
    /// The new version, or the last one before deletion.
    pub version: Option<i64>,
    pub kind: ItemKind,
    #[serde(default)]
    pub deleted: bool,
    /// `shell` for a change saved from a sandbox; absent for REST.
    #[serde(default)]
    pub origin: Option<String>,
    /// The terminal-bridge process that saved a shell change.
    #[serde(default)]
    pub bridge: Option<Uuid>,
}

/// A notification received on one of the channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    DesiredState(DesiredStateChanged),
    Member(MemberChanged),
    Item(ItemChanged),
}

/// A payload that does not match its channel's type.
#[derive(Debug, thiserror::Error)]
#[error("malformed {channel} notification: {source}")]
pub struct DecodeError {
    pub channel: &'static str,
    #[source]
    pub source: serde_json::Error,
}

impl Notification {
    /// Decodes `payload` received on `channel`; `Ok(None)` for a channel not listed here.
    ///
    /// # Errors
    /// When the payload does not match the channel's type.
    pub fn decode(channel: &str, payload: &str) -> Result<Option<Notification>, DecodeError> {
        fn parse<T: for<'a> Deserialize<'a>>(
            channel: &'static str,
            payload: &str,
        ) -> Result<T, DecodeError> {
            serde_json::from_str(payload).map_err(|source| DecodeError { channel, source })
        }
        Ok(Some(match channel {
            DESIRED_STATE_CHANNEL => {
                Notification::DesiredState(parse(DESIRED_STATE_CHANNEL, payload)?)
            }
            MEMBER_CHANNEL => Notification::Member(parse(MEMBER_CHANNEL, payload)?),
            ITEM_CHANNEL => Notification::Item(parse(ITEM_CHANNEL, payload)?),
            _ => return Ok(None),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_channel_and_refuses_mismatches() {
        let id = "6f1c1c4e-8a4b-4f7e-9d7e-1b2c3d4e5f60";
        let n = Notification::decode(
            ITEM_CHANNEL,
            &format!(
                r#"{{"session":"{id}","path":"a/b.py","version":3,"kind":"file","deleted":false}}"#
            ),
        )
        .unwrap()
        .unwrap();
        let Notification::Item(item) = n else {
            panic!("{n:?}")
        };
        assert_eq!(
            (item.path.as_str(), item.version, item.kind),
            ("a/b.py", Some(3), ItemKind::File)
        );
        assert_eq!((item.origin, item.bridge), (None, None));
        let n = Notification::decode(
            MEMBER_CHANNEL,
            &format!(r#"{{"session":"{id}","user_id":7,"role":null}}"#),
        )
        .unwrap();
        assert!(matches!(
            n,
            Some(Notification::Member(MemberChanged {
                role: None,
                user_id: 7,
                ..
            }))
        ));
        assert!(Notification::decode(DESIRED_STATE_CHANNEL, r#"{"session":"x"}"#).is_err());
        assert!(
            Notification::decode(
                DESIRED_STATE_CHANNEL,
                &format!(r#"{{"session":"{id}","desired_state":"paused"}}"#)
            )
            .is_err()
        );
        assert!(Notification::decode("elsewhere", "{}").unwrap().is_none());
    }

    #[test]
    fn encoders_name_their_channels() {
        assert!(notify_item_changed!("false").starts_with("pg_notify('workspace_item_changed',"));
        assert!(notify_member!("s", "u", "r").contains("'session_member_changed'"));
        assert_eq!(
            BRIDGE_LISTEN_SQL,
            "listen code_session_desired_state; listen workspace_item_changed"
        );
    }
}
