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

/// The answer to creating a folder (`PUT`/`POST .../folder/{path}`).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FolderResult {
    #[schema(example = "src/lib")]
    pub path: String,
    /// Always `folder`.
    pub kind: ItemKind,
    /// The folder's version (also its `ETag`).
    pub version: i64,
    /// `true` (`201`) when the folder is new, `false` (`200`) when it was already there.
    pub created: bool,
}

/// The body of `POST .../move`. Unknown fields are refused.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// The file or folder to move.
    #[schema(example = "old/name.py")]
    pub from: String,
    /// Its new path; missing parents are created.
    #[schema(example = "new/name.py")]
    pub to: String,
    /// Let a file replace a file at `to` (default `false`: `409`). A folder never replaces
    /// anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overwrite: Option<bool>,
}

/// The answer to a move.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveResult {
    pub from: String,
    pub to: String,
    /// What was moved.
    pub kind: ItemKind,
    /// The moved item's new version (also its `ETag`).
    pub version: i64,
    /// Rows moved: 1 for a file, a folder with everything under it.
    pub moved: i64,
}

/// The `multipart/form-data` body of an upload. Every part with a file name is a file: its
/// path is the part's `filename` (or `filename*`; `/` makes folders), else its field name.
/// A part named `dir` without a file name is the folder prefix of all the others (or give
/// `?dir=`, not both).
#[derive(Debug, Clone, ToSchema)]
pub struct UploadForm {
    /// Folder prefix of every file (default: the workspace root).
    #[schema(example = "src")]
    pub dir: Option<String>,
    /// The files, any field names; each at most `max_file_size` bytes.
    #[schema(value_type = Vec<String>, format = Binary)]
    pub file: Vec<Vec<u8>>,
}

/// `?dir=` of an upload.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadDir {
    /// Folder prefix of every uploaded file, percent-encoded (or a `dir` form field, not both).
    pub dir: Option<String>,
}

/// One file of an upload's answer.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadedItem {
    #[schema(example = "src/main.py")]
    pub path: String,
    pub version: i64,
    pub sha256: String,
    pub size: i64,
    /// Whether the file is new.
    pub created: bool,
}

/// The answer to an upload: the files in the order of the parts.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadResult {
    pub items: Vec<UploadedItem>,
}

/// The limits of a workspace (the `max_*` variables).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceLimits {
    /// Largest file, in bytes.
    pub max_file_size: i64,
    /// Most files and folders.
    pub max_workspace_files: i64,
    /// Most bytes (sum of file sizes).
    pub max_workspace_bytes: i64,
}

/// `GET .../status`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceStatus {
    #[schema(format = "uuid")]
    pub session_id: String,
    /// Whether the workspace has any file or folder.
    pub initialized: bool,
    pub files: i64,
    pub folders: i64,
    /// Sum of file sizes.
    pub bytes: i64,
    /// `running` or `stopped` (written by the API).
    #[schema(example = "running")]
    pub desired_state: String,
    /// `stopped`, `starting`, `running`, `stopping` or `failed` (written by the
    /// terminal-bridge).
    #[schema(example = "stopped")]
    pub observed_state: String,
    /// When the bridge last wrote `observed_state`; null if it never looked.
    pub observed_at: Option<DateTime<Utc>>,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub limits: WorkspaceLimits,
}

/// `POST .../ensure-default`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnsureDefaultResult {
    /// `true` (`201`) when the starter project was written, `false` (`200`) when the
    /// workspace already had items (then `items` is empty).
    pub created: bool,
    pub items: Vec<WriteResult>,
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

/// A ZIP archive, as a body of type `application/zip`.
pub struct ZipArchive;

impl utoipa::PartialSchema for ZipArchive {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .content_media_type("application/zip")
            .description(Some("The archive's bytes"))
            .into()
    }
}

impl ToSchema for ZipArchive {}
