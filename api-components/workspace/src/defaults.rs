//! `POST /api/workspace/{uuid}/ensure-default`: gives an empty workspace a small starter
//! project ([`FILES`]) and leaves any other alone. Owner or editor.
//!
//! `201` `{"created": true, "items": [{path, version, sha256, size}]}` when it wrote them,
//! `200` `{"created": false, "items": []}` when the workspace already had items. The check
//! and the writes run in one transaction holding the workspace lock (`caps.rs`), so of any
//! number of concurrent calls exactly one creates the project; it is within the caps like
//! any write (`413` otherwise) and announced like any write.

use crate::access::Ctx;
use crate::caps::{self, Limits};
use crate::db;
use crate::reply::{self, Reply};
use crate::write;
use platform_core::ApiError;
use platform_core::validate;
use serde_json::json;
use spin_sdk::pg::ParameterValue;

/// The starter project: path and content.
pub const FILES: &[(&str, &str)] = &[
    (
        "README.md",
        "# My workspace\n\nA starter project. Run it in the terminal with:\n\n    python3 main.py\n",
    ),
    ("main.py", "print(\"Hello, world!\")\n"),
];

/// Whether session `$1` has any item.
const ANY_SQL: &str =
    "select exists (select 1 from workspace_items where session_id = $1::uuid) as any";

pub async fn handle(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.require_write()?;
    let limits = Limits::load().await;
    let written = caps::guarded(ctx, &limits, async || {
        let rows = db::rows(
            &ctx.db,
            ANY_SQL,
            vec![ParameterValue::Uuid(ctx.session.clone())],
        )
        .await?;
        let any: bool = rows
            .first()
            .map(|row| db::column(row, "any"))
            .transpose()?
            .unwrap_or(false);
        let mut written = Vec::new();
        if !any {
            for (path, content) in FILES {
                let path = validate::workspace_path(path)?;
                written.push(write::put(ctx, &path, content.as_bytes().to_vec(), None).await?);
            }
        }
        Ok(written)
    })
    .await?;
    let created = !written.is_empty();
    Ok(reply::json(
        if created { 201 } else { 200 },
        &json!({"created": created, "items": written}),
    ))
}
