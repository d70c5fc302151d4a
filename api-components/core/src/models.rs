//! Request and response bodies of the REST API (serde), with `utoipa::ToSchema` so the OpenAPI
//! document is generated from these very types.
//!
//! Requests ignore unknown fields (older front ends send extras); responses never carry secrets
//! (no password hash, no token hash). Timestamps are RFC 3339 in UTC.

use chrono::{DateTime, Utc};
use platform_contract::state::{DesiredState, ObservedState};
use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;

/// `POST /api/users/register`.
#[derive(Clone, Deserialize, Serialize, ToSchema)]
pub struct RegisterRequest {
    /// 3 to 64 characters of `[A-Za-z0-9_.-]`; unique regardless of case.
    #[schema(
        example = "alice",
        min_length = 3,
        max_length = 64,
        pattern = "^[A-Za-z0-9_.-]+$"
    )]
    pub username: String,
    /// Optional contact address (not verified); `""` means none.
    #[serde(default)]
    #[schema(example = "alice@example.org", max_length = 254)]
    pub email: Option<String>,
    /// 8 to 1024 bytes.
    #[schema(format = Password, min_length = 8, max_length = 1024)]
    pub password: String,
}

/// `POST /api/users/login`.
#[derive(Clone, Deserialize, Serialize, ToSchema)]
pub struct LoginRequest {
    /// Matched regardless of case.
    #[schema(example = "alice")]
    pub username: String,
    #[schema(format = Password)]
    pub password: String,
}

// Hand-written so passwords never reach a log through `{:?}`.
impl fmt::Debug for RegisterRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterRequest")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A user as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct User {
    /// The user's id (`user_id` elsewhere in the API).
    #[schema(example = 1)]
    pub id: i64,
    /// As typed at registration.
    #[schema(example = "alice")]
    pub username: String,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The kind of token a login returns; always `bearer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Bearer,
}

/// The answer to a successful login.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send it as `Authorization: Bearer <access_token>`. `cep_` and 43 base64url characters.
    #[schema(example = "cep_3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    pub access_token: String,
    pub token_type: TokenType,
    /// The token is refused from this moment on.
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

/// What the caller may do with a session: `owner` (everything), `editor` (write files, type
/// in terminals, shut the sandbox down) or `viewer` (read files, watch terminals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionRole {
    Owner,
    Editor,
    Viewer,
}

/// A role that can be given to a member (the owner is never a member).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    Editor,
    Viewer,
}

impl MemberRole {
    /// The value stored in `session_members.role`.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Editor => "editor",
            MemberRole::Viewer => "viewer",
        }
    }
}

/// A session (workspace) as the caller sees it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct Session {
    /// The session id (UUID), used in URLs and the WebSocket handshake.
    #[schema(example = "0b7c7c1e-58a4-4a9c-9d0e-2f4f4c0e8a11")]
    pub id: String,
    #[schema(example = "Untitled session")]
    pub name: String,
    /// Main language hint (e.g. `python`), if any.
    pub language: Option<String>,
    pub owner_id: i64,
    pub owner_username: String,
    /// The caller's role in this session.
    pub role: SessionRole,
    /// What the users asked for: `running` or `stopped`.
    #[schema(value_type = String, example = "running")]
    pub desired_state: DesiredState,
    /// What the terminal-bridge last saw: `stopped`, `starting`, `running`, `stopping`, `failed`.
    #[schema(value_type = String, example = "stopped")]
    pub observed_state: ObservedState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/sessions/`: both fields optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct CreateSessionRequest {
    /// 1 to 200 characters; default `Untitled session`.
    #[serde(default)]
    pub name: Option<String>,
    /// Up to 32 characters of `[A-Za-z0-9_+#.-]`; `""` or absent means none.
    #[serde(default)]
    pub language: Option<String>,
}

/// `201` of `POST /api/sessions/`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct CreateSessionResponse {
    /// The new session's id (also `session.id`), as the original service returned it.
    pub session_id: String,
    pub session: Session,
}

/// `PATCH /api/sessions/{uuid}`: the fields to change (at least one).
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct UpdateSessionRequest {
    /// New name, 1 to 200 characters.
    #[serde(default)]
    pub name: Option<String>,
    /// New language hint; `""` clears it.
    #[serde(default)]
    pub language: Option<String>,
}

/// `GET /api/sessions/`: one page, newest first.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct SessionPage {
    pub sessions: Vec<Session>,
    /// The page size used.
    pub limit: i64,
    /// The offset used.
    pub offset: i64,
    /// The `offset` of the next page; null on the last page.
    pub next_offset: Option<i64>,
}

/// A user a session is shared with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct Member {
    pub user_id: i64,
    pub username: String,
    pub role: MemberRole,
    /// When the session was shared with this user.
    pub created_at: DateTime<Utc>,
}

/// `GET /api/sessions/{uuid}/members`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct MemberList {
    pub session_id: String,
    pub owner_id: i64,
    pub owner_username: String,
    /// Everyone but the owner, in the order they were added.
    pub members: Vec<Member>,
}

/// `PUT /api/sessions/{uuid}/members/{username}`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct PutMemberRequest {
    pub role: MemberRole,
}

/// `202` of the shutdown endpoints.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ShutdownResponse {
    pub session_id: String,
    /// Always `stopped`: the sandbox stops once the terminal-bridge has reconciled.
    #[schema(value_type = String, example = "stopped")]
    pub desired_state: DesiredState,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use utoipa::PartialSchema;

    #[test]
    fn requests_take_optional_email_and_ignore_extras() {
        let r: RegisterRequest =
            serde_json::from_value(json!({"username": "a", "password": "p", "extra": 1})).unwrap();
        assert_eq!(r.email, None);
        let r: RegisterRequest =
            serde_json::from_value(json!({"username": "a", "password": "p", "email": null}))
                .unwrap();
        assert_eq!(r.email, None);
        assert!(serde_json::from_value::<LoginRequest>(json!({"username": "a"})).is_err());
    }

    #[test]
    fn debug_output_hides_passwords() {
        let r = LoginRequest {
            username: "alice".into(),
            password: "hunter2hunter2".into(),
        };
        assert!(!format!("{r:?}").contains("hunter2"));
        let r = RegisterRequest {
            username: "alice".into(),
            email: None,
            password: "hunter2hunter2".into(),
        };
        assert!(!format!("{r:?}").contains("hunter2"));
    }

    #[test]
    fn login_response_serializes_as_documented() {
        let created = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let v = serde_json::to_value(LoginResponse {
            access_token: "cep_x".into(),
            token_type: TokenType::Bearer,
            expires_at: created,
            user: User {
                id: 7,
                username: "alice".into(),
                email: None,
                created_at: created,
            },
        })
        .unwrap();
        assert_eq!(
            v,
            json!({
                "access_token": "cep_x",
                "token_type": "bearer",
                "expires_at": "2026-01-02T03:04:05Z",
                "user": {"id": 7, "username": "alice", "email": null,
                         "created_at": "2026-01-02T03:04:05Z"}
            })
        );
    }

    #[test]
    fn schemas_are_generated() {
        let schema = serde_json::to_value(RegisterRequest::schema()).unwrap();
        assert_eq!(schema["properties"]["password"]["format"], "password");
        assert_eq!(schema["properties"]["username"]["maxLength"], 64);
        let required = schema["required"].as_array().unwrap();
        assert!(required.contains(&json!("username")) && !required.contains(&json!("email")));
        let schema = serde_json::to_value(User::schema()).unwrap();
        assert_eq!(schema["properties"]["created_at"]["format"], "date-time");
    }
}
