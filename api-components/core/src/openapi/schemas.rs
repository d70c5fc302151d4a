//! Schemas of answers that the components build without a shared Rust type (health reports,
//! workspace items and file contents), written down here so the document describes them.
//! Field names, types and nullability follow the components' JSON exactly; the API tests
//! decode real answers into these types with unknown fields refused.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `GET /api/health`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Liveness {
    /// Always `healthy` (the component answered).
    #[schema(example = "healthy")]
    pub status: String,
    /// The platform's version.
    #[schema(example = "0.1.0")]
    pub version: String,
}

/// A verdict of the detailed health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Healthy,
    Unhealthy,
}

/// One dependency's check.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// `database` or `terminal_bridge`.
    #[schema(example = "database")]
    pub name: String,
    pub status: HealthStatus,
    /// Wall time the check took, in milliseconds.
    pub latency_ms: f64,
    /// What was learned (server and migration versions) or, when unhealthy, why.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// `GET /api/health/detailed`: `200` when every check passed, `503` otherwise.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthReport {
    pub status: HealthStatus,
    #[schema(example = "0.1.0")]
    pub version: String,
    /// Names of the checks that did not pass.
    pub failing: Vec<String>,
    pub checks: Vec<HealthCheck>,
}

/// What a workspace item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    File,
    Folder,
}

/// One entry of `GET /api/workspace/{session_id}/files`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceItem {
    /// Relative, `/`-separated.
    #[schema(example = "src/main.py")]
    pub path: String,
    pub kind: ItemKind,
    /// Bytes (0 for folders).
    pub size: i64,
    /// Starts at 1, grows with every change; the `ETag` of the file.
    pub version: i64,
    /// SHA-256 of the content, lowercase hex; null for folders.
    pub sha256: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// How `content` is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub enum ContentEncoding {
    /// The text itself.
    #[serde(rename = "utf-8")]
    Utf8,
    /// Standard base64 with padding.
    #[serde(rename = "base64")]
    Base64,
}

/// `GET /api/workspace/{session_id}/file/{path}` as JSON.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileContent {
    #[schema(example = "src/main.py")]
    pub path: String,
    pub version: i64,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// Bytes.
    pub size: i64,
    /// `utf-8` when the bytes are valid UTF-8, else `base64`.
    pub encoding: ContentEncoding,
    #[schema(example = "print('hello')\n")]
    pub content: String,
}

/// The JSON body of a file write (the other form is the raw bytes as
/// `application/octet-stream`). Unknown fields are refused.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteFileRequest {
    #[schema(example = "print('hello')\n")]
    pub content: String,
    /// Default `utf-8`.
    #[serde(default)]
    pub encoding: Option<ContentEncoding>,
}

/// The answer to a file write.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteResult {
    pub path: String,
    /// The new version (1 for a new file).
    pub version: i64,
    pub sha256: String,
    pub size: i64,
}

/// The original service's `user_id` query parameter, accepted as a cross-check only.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserIdCheck {
    /// When present, must be the bearer token's user id (`403` otherwise, `400` if not an
    /// integer).
    pub user_id: Option<i64>,
}

/// `limit` and `offset` of `GET /api/sessions/`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Pagination {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Rows to skip, 0 to 1000000 (default 0); use `next_offset` of the previous page.
    #[param(minimum = 0, maximum = 1_000_000)]
    pub offset: Option<i64>,
}

/// `?recursive=true` of a delete.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Recursive {
    /// `true` (or `1`) to delete a folder with everything under it; without it a folder
    /// answers `409`.
    pub recursive: Option<bool>,
}

/// Raw bytes of a file, as a body of type `application/octet-stream` (or `application/zip`).
pub struct RawBytes;

impl utoipa::PartialSchema for RawBytes {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .content_media_type("application/octet-stream")
            .description(Some("The file's bytes"))
            .into()
    }
}

impl ToSchema for RawBytes {}
