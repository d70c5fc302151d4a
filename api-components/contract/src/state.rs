//! The states of a session and of its members, as the schema's check constraints allow them
//! (`code_sessions_desired_state_check`, `code_sessions_observed_state_check`,
//! `session_members_role_check`, `workspace_items_kind_check`). `tests/contract.rs` reads
//! those constraints from a migrated database and fails when an enum and its constraint drift.

use serde::{Deserialize, Serialize};

/// A value that is not one of an enum's database strings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {what}")]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
}

/// Declares a string enum of the schema: its variants with their database strings, `ALL`,
/// `as_str`, `Display`, `FromStr` and serde as those strings.
macro_rules! db_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The string stored in the database and sent on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownValue { what: $what, value: other.to_owned() }),
                }
            }
        }
    };
}

db_enum!(
    /// `code_sessions.desired_state`: what the REST API (or an idle stop) wants.
    DesiredState, "desired state", {
        /// A sandbox should run (a new session, or a client activated it).
        Running = "running",
        /// No sandbox should run (shutdown, idle stop, deleted).
        Stopped = "stopped",
    }
);

db_enum!(
    /// `code_sessions.observed_state`: what the terminal-bridge last saw.
    ObservedState, "observed state", {
        /// No sandbox.
        Stopped = "stopped",
        /// A sandbox is being created or its agent is not answering yet.
        Starting = "starting",
        /// The sandbox's agent answers.
        Running = "running",
        /// Pending file changes are being flushed before the sandbox goes.
        Stopping = "stopping",
        /// The last start failed (the message is in the bridge's status event).
        Failed = "failed",
    }
);

db_enum!(
    /// `session_members.role`: what a member other than the owner may do.
    MemberRole, "member role", {
        /// Reads files and watches terminals.
        Viewer = "viewer",
        /// Also writes files and types into terminals.
        Editor = "editor",
    }
);

db_enum!(
    /// `workspace_items.kind`.
    ItemKind, "item kind", {
        File = "file",
        Folder = "folder",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_through_from_str_and_serde() {
        for state in ObservedState::ALL {
            assert_eq!(state.as_str().parse::<ObservedState>(), Ok(*state));
            let json = serde_json::to_string(state).unwrap();
            assert_eq!(json, format!("\"{state}\""));
            assert_eq!(
                serde_json::from_str::<ObservedState>(&json).unwrap(),
                *state
            );
        }
        assert_eq!("stopped".parse(), Ok(DesiredState::Stopped));
        assert_eq!(
            "paused".parse::<DesiredState>().unwrap_err().to_string(),
            "\"paused\" is not a desired state"
        );
        assert_eq!(MemberRole::ALL.len(), 2);
        assert_eq!(ItemKind::Folder.to_string(), "folder");
    }
}
