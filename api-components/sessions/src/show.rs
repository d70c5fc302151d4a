//! `GET /api/sessions/{uuid}`: the session with the caller's role (owner, editor or viewer).

use crate::access::{self, Ctx};
use crate::reply::{self, Reply};
use platform_core::ApiError;

pub async fn handle(ctx: &Ctx, id: &str) -> Result<Reply, ApiError> {
    let session = access::visible(ctx, id).await?;
    Ok(reply::json(200, &session))
}
