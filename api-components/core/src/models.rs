//! Request and response bodies of the REST API (serde), with `utoipa::ToSchema` so the OpenAPI
//! document is generated from these very types.
//!
//! Requests ignore unknown fields (older front ends send extras); responses never carry secrets
//! (no password hash, no token hash). Timestamps are RFC 3339 in UTC.

use chrono::{DateTime, Utc};
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
