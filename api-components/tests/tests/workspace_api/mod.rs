//! Helpers of the workspace endpoint tests (`workspace_tree.rs`, `workspace_transfer.rs`,
//! `workspace_status.rs`): requests with a token, sessions, sharing, raw answers.

#![allow(dead_code)]

use crate::common::Stack;
pub use crate::common::{Body, PASSWORD, call, raw_get, session};
use reqwest::Method;
use serde_json::json;

/// Shares session `id` of `owner` with `username` as `role`.
pub async fn share(stack: &Stack, owner: &str, id: &str, username: &str, role: &str) {
    let r = call(
        stack,
        Method::PUT,
        &format!("/api/sessions/{id}/members/{username}"),
        Some(owner),
        &[],
        Body::Json(json!({ "role": role })),
    )
    .await;
    assert!(r.status == 200 || r.status == 201, "{r:?}");
}

/// Writes file `path` (already URL-safe) with `content`; asserts success; its version.
pub async fn put(stack: &Stack, token: &str, id: &str, path: &str, content: &[u8]) -> i64 {
    let r = call(
        stack,
        Method::PUT,
        &format!("/api/workspace/{id}/file/{path}"),
        Some(token),
        &[],
        Body::Octets(content.to_vec()),
    )
    .await;
    assert!(r.status == 200 || r.status == 201, "{path}: {r:?}");
    r.body["version"].as_i64().unwrap()
}

/// The tree as `(path, kind, version)`, sorted by path.
pub async fn tree(stack: &Stack, token: &str, id: &str) -> Vec<(String, String, i64)> {
    let r = call(
        stack,
        Method::GET,
        &format!("/api/workspace/{id}/files"),
        Some(token),
        &[],
        Body::None,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["path"].as_str().unwrap().to_owned(),
                i["kind"].as_str().unwrap().to_owned(),
                i["version"].as_i64().unwrap(),
            )
        })
        .collect::<Vec<_>>()
        .tap_sort()
}

trait TapSort {
    fn tap_sort(self) -> Self;
}

impl<T: Ord> TapSort for Vec<T> {
    /// Sorted the Rust way, whatever the database's collation.
    fn tap_sort(mut self) -> Self {
        self.sort();
        self
    }
}

/// The raw content of file `path`, or `None` when absent (404).
pub async fn content(stack: &Stack, token: &str, id: &str, path: &str) -> Option<Vec<u8>> {
    let (status, _, bytes) =
        raw_get(stack, &format!("/api/workspace/{id}/file/{path}"), token).await;
    match status {
        200 => Some(bytes),
        404 => None,
        other => panic!("GET {path}: {other}"),
    }
}

/// The answers every endpoint gives before its handler runs: 401 without a token, 400 for a
/// bad session id, 404 for a session the caller may not see, 405 for `wrong` method.
pub async fn assert_common_errors(
    stack: &Stack,
    id: &str,
    endpoint: &str,
    method: Method,
    wrong: Method,
    stranger: &str,
) {
    let path = format!("/api/workspace/{id}/{endpoint}");
    let r = call(stack, method.clone(), &path, None, &[], Body::None).await;
    r.assert_error(401, "unauthorized");
    let r = call(
        stack,
        method.clone(),
        &format!("/api/workspace/not-a-uuid/{endpoint}"),
        Some(stranger),
        &[],
        Body::None,
    )
    .await;
    r.assert_error(400, "invalid_uuid");
    let r = call(
        stack,
        method.clone(),
        &path,
        Some(stranger),
        &[],
        Body::None,
    )
    .await;
    r.assert_error(404, "not_found");
    let missing = format!("/api/workspace/00000000-0000-4000-8000-000000000000/{endpoint}");
    let r = call(
        stack,
        method.clone(),
        &missing,
        Some(stranger),
        &[],
        Body::None,
    )
    .await;
    r.assert_error(404, "not_found");
    let r = call(stack, wrong.clone(), &path, Some(stranger), &[], Body::None).await;
    r.assert_error(405, "method_not_allowed");
    assert!(
        r.header("allow")
            .is_some_and(|a| a.contains(method.as_str())),
        "{endpoint}: {r:?}"
    );
}
