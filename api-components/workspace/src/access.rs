//! Who is calling and what they may do with a session's files.

use crate::{auth, db};
use platform_contract::sql::SESSION_ROLE_SQL as ROLE_SQL;
use platform_core::ApiError;
use spin_sdk::pg::{Connection, ParameterValue};

/// What the caller may do with the session's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Viewer: read only.
    Read,
    /// Owner or editor: read and write.
    Write,
}

/// What every handler gets.
pub struct Ctx {
    pub db: Connection,
    /// The session id, validated and lowercase.
    pub session: String,
    /// What the caller may do.
    pub access: Access,
}

impl Ctx {
    /// Authenticates the request and finds the caller's role in session `session`.
    ///
    /// # Errors
    /// 401 without a valid token; 400 / 403 for a `user_id` that is not an integer / not the
    /// token's user; 404 when the session does not exist or the caller is not
    /// a member (the two look alike).
    pub async fn open(
        db: Connection,
        parts: &http::request::Parts,
        session: String,
    ) -> Result<Ctx, ApiError> {
        let caller = auth::caller(&db, parts).await?;
        let rows = db::rows(
            &db,
            ROLE_SQL,
            vec![
                ParameterValue::Uuid(session.clone()),
                ParameterValue::Int64(caller),
            ],
        )
        .await?;
        let row = rows
            .first()
            .ok_or_else(|| ApiError::NotFound(format!("no session {session}")))?;
        let role: String = db::column(row, "role")?;
        let access = if role == "viewer" {
            Access::Read
        } else {
            Access::Write
        };
        Ok(Ctx {
            db,
            session,
            access,
        })
    }

    /// # Errors
    /// 403 for a viewer.
    pub fn require_write(&self) -> Result<(), ApiError> {
        match self.access {
            Access::Write => Ok(()),
            Access::Read => Err(ApiError::Forbidden(
                "only the owner or an editor may change files".into(),
            )),
        }
    }
}
