//! The HTTP API of the fake: `/api/v1/namespaces/{ns}/pods[/{name}[/exec]]`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::store::{Event, fields_match, labels_match, merge_patch, now, reason_of, status};
use super::{Shared, exec, lifecycle};

type Shr = State<Arc<Shared>>;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/api/v1/namespaces/{ns}/pods",
            get(list_or_watch).post(create),
        )
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}",
            get(read).delete(delete).patch(patch),
        )
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/exec",
            get(exec::handle).post(exec::handle),
        )
        .fallback(|| async { error(404, "the fake API server has no such path", None) })
        .layer(middleware::from_fn_with_state(shared.clone(), faults))
        .with_state(shared)
}

/// Logs every request and answers it with a scripted fault if one is due.
/// A watch (`GET ...?watch=true`) counts as the verb `WATCH`, as in Kubernetes' RBAC.
async fn faults(State(shared): Shr, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let target = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let pairs = query(&request.uri().query().map(str::to_string));
    let watching = matches!(param(&pairs, "watch"), Some("true" | "1"));
    let verb = if watching { "WATCH" } else { method.as_str() };
    let fault = {
        let mut store = shared.lock();
        store.log.push(format!("{method} {target}"));
        store.take_fault(verb)
    };
    match fault {
        Some(code) => error(code, &format!("injected {code} from the fake"), None),
        None => next.run(request).await,
    }
}

/// A `Status` error response.
pub fn error(code: u16, message: &str, name: Option<&str>) -> Response {
    let body = status(code, reason_of(code), message, name);
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, axum::Json(body)).into_response()
}

fn conflict(reason: &str, message: &str, name: &str) -> Response {
    let body = status(409, reason, message, Some(name));
    (StatusCode::CONFLICT, axum::Json(body)).into_response()
}

fn not_found(name: &str) -> Response {
    error(404, &format!("pods \"{name}\" not found"), Some(name))
}

/// The query's pairs.
fn query(raw: &Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Whether `object` passes the query's selectors.
fn selected(object: &Value, pairs: &[(String, String)]) -> Result<bool, String> {
    let labels = labels_match(object, param(pairs, "labelSelector").unwrap_or(""))?;
    let fields = fields_match(object, param(pairs, "fieldSelector").unwrap_or(""))?;
    Ok(labels && fields)
}

async fn list_or_watch(
    State(shared): Shr,
    Path(ns): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let pairs = query(&raw);
    if matches!(param(&pairs, "watch"), Some("true" | "1")) {
        return watch(shared, ns, pairs);
    }
    let store = shared.lock();
    let mut items = Vec::new();
    for ((pod_ns, _), entry) in &store.pods {
        if pod_ns != &ns {
            continue;
        }
        match selected(&entry.object, &pairs) {
            Ok(true) => items.push(entry.object.clone()),
            Ok(false) => {}
            Err(why) => return error(400, &why, None),
        }
    }
    axum::Json(json!({
        "kind": "PodList",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": store.rv.to_string()},
        "items": items,
    }))
    .into_response()
}

/// `?watch=true`: the events after `resourceVersion` (or the current pods as `ADDED`), then
/// live ones, one JSON object per line, until `timeoutSeconds`.
fn watch(shared: Arc<Shared>, ns: String, pairs: Vec<(String, String)>) -> Response {
    if let Err(why) = selected(&json!({}), &pairs) {
        return error(400, &why, None);
    }
    let since = param(&pairs, "resourceVersion")
        .and_then(|rv| rv.parse::<u64>().ok())
        .filter(|rv| *rv > 0);
    let timeout = param(&pairs, "timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(60);
    let (backlog, receiver) = {
        let store = shared.lock();
        let receiver = shared.events.subscribe();
        let backlog: Vec<Event> = match since {
            Some(rv) => store
                .history
                .iter()
                .filter(|e| e.rv > rv)
                .cloned()
                .collect(),
            None => store
                .pods
                .iter()
                .map(|((pod_ns, _), entry)| Event {
                    rv: store.rv,
                    kind: "ADDED",
                    namespace: pod_ns.clone(),
                    object: entry.object.clone(),
                })
                .collect(),
        };
        (backlog, receiver)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let state = (backlog.into_iter(), receiver, ns, pairs);
    let stream =
        futures_util::stream::unfold(state, move |(mut backlog, mut rx, ns, pairs)| async move {
            loop {
                let event = match backlog.next() {
                    Some(event) => event,
                    None => match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Ok(event)) => event,
                        Ok(Err(broadcast_err)) => match broadcast_err {
                            tokio::sync::broadcast::error::RecvError::Lagged(_) => continue,
                            tokio::sync::broadcast::error::RecvError::Closed => return None,
                        },
                        Err(_) => return None,
                    },
                };
                if event.namespace != ns || !selected(&event.object, &pairs).unwrap_or(false) {
                    continue;
                }
                let mut line =
                    serde_json::to_vec(&json!({"type": event.kind, "object": event.object}))
                        .expect("JSON");
                line.push(b'\n');
                return Some((
                    Ok::<_, Infallible>(Bytes::from(line)),
                    (backlog, rx, ns, pairs),
                ));
            }
        });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .expect("a response")
}

/// A DNS-1123 subdomain, as pod names must be.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

async fn create(State(shared): Shr, Path(ns): Path<String>, body: Bytes) -> Response {
    let mut object: Value = match serde_json::from_slice(&body) {
        Ok(object @ Value::Object(_)) => object,
        _ => return error(400, "the request body is not a JSON object", None),
    };
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if !valid_name(&name) {
        return error(
            422,
            &format!(
                "Pod \"{name}\" is invalid: metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"
            ),
            Some(&name),
        );
    }
    if object["metadata"]["namespace"]
        .as_str()
        .is_some_and(|n| n != ns)
    {
        return error(
            400,
            "the namespace of the object does not match the namespace of the request",
            Some(&name),
        );
    }
    if object["spec"]["containers"]
        .as_array()
        .is_none_or(|c| c.is_empty())
    {
        return error(
            422,
            &format!("Pod \"{name}\" is invalid: spec.containers: Required value"),
            Some(&name),
        );
    }
    let uid = uuid::Uuid::new_v4().to_string();
    let key = (ns.clone(), name.clone());
    let (fate, response) = {
        let mut store = shared.lock();
        if store.pods.contains_key(&key) {
            return conflict(
                "AlreadyExists",
                &format!("pods \"{name}\" already exists"),
                &name,
            );
        }
        object["metadata"]["namespace"] = json!(ns);
        object["metadata"]["uid"] = json!(uid);
        object["metadata"]["creationTimestamp"] = json!(now());
        object["status"] = json!({"phase": "Pending", "qosClass": "Burstable"});
        let event = store.record("ADDED", &ns, &mut object);
        let entry = shared.entry(&mut store, object.clone());
        store.pods.insert(key, entry);
        let _ = shared.events.send(event);
        (store.fate.clone(), object)
    };
    tokio::spawn(lifecycle::play(shared.clone(), ns, name, uid, fate));
    (StatusCode::CREATED, axum::Json(response)).into_response()
}

async fn read(State(shared): Shr, Path((ns, name)): Path<(String, String)>) -> Response {
    match shared.lock().pods.get(&(ns, name.clone())) {
        Some(entry) => axum::Json(entry.object.clone()).into_response(),
        None => not_found(&name),
    }
}

async fn delete(
    State(shared): Shr,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let options: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(options) => options,
            Err(_) => return error(400, "the DeleteOptions are not JSON", Some(&name)),
        }
    };
    let pairs = query(&raw);
    let grace = options["gracePeriodSeconds"]
        .as_i64()
        .or_else(|| param(&pairs, "gracePeriodSeconds").and_then(|g| g.parse().ok()));
    let key = (ns.clone(), name.clone());
    let mut store = shared.lock();
    let Some(entry) = store.pods.get(&key) else {
        return not_found(&name);
    };
    let mut object = entry.object.clone();
    let uid = object["metadata"]["uid"].as_str().unwrap_or("").to_string();
    let precondition = options["preconditions"]["uid"].as_str().map(str::to_string);
    store.deletes.push((name.clone(), precondition));
    if let Some(wanted) = options["preconditions"]["uid"].as_str()
        && wanted != uid
    {
        return conflict(
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on pods \"{name}\": Precondition failed: UID in precondition: {wanted}, UID in object meta: {uid}"
            ),
            &name,
        );
    }
    if let Some(wanted) = options["preconditions"]["resourceVersion"].as_str()
        && Some(wanted) != object["metadata"]["resourceVersion"].as_str()
    {
        return conflict(
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on pods \"{name}\": Precondition failed: ResourceVersion in precondition: {wanted}"
            ),
            &name,
        );
    }
    if object["metadata"]["deletionTimestamp"].is_string() {
        return axum::Json(object).into_response();
    }
    object["metadata"]["deletionTimestamp"] = json!(now());
    object["metadata"]["deletionGracePeriodSeconds"] = json!(grace.unwrap_or(30));
    let event = store.record("MODIFIED", &ns, &mut object);
    if let Some(entry) = store.pods.get_mut(&key) {
        entry.object = object.clone();
    }
    let _ = shared.events.send(event);
    let after = if grace == Some(0) {
        Duration::ZERO
    } else {
        store.terminating_for
    };
    drop(store);
    tokio::spawn(lifecycle::finish_deletion(
        shared.clone(),
        ns,
        name,
        uid,
        after,
    ));
    axum::Json(object).into_response()
}

async fn patch(
    State(shared): Shr,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !matches!(
        kind,
        "application/merge-patch+json" | "application/strategic-merge-patch+json"
    ) {
        return error(
            415,
            &format!("the fake supports merge and strategic merge patches, not {kind:?}"),
            Some(&name),
        );
    }
    let patch: Value = match serde_json::from_slice(&body) {
        Ok(patch @ Value::Object(_)) => patch,
        _ => return error(400, "the patch is not a JSON object", Some(&name)),
    };
    let key = (ns.clone(), name.clone());
    let mut store = shared.lock();
    let Some(entry) = store.pods.get(&key) else {
        return not_found(&name);
    };
    let mut object = entry.object.clone();
    let modified = || {
        format!(
            "Operation cannot be fulfilled on pods \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
        )
    };
    if let Some(wanted) = patch["metadata"]["resourceVersion"].as_str()
        && Some(wanted) != object["metadata"]["resourceVersion"].as_str()
    {
        return conflict("Conflict", &modified(), &name);
    }
    if let Some(wanted) = patch["metadata"]["uid"].as_str()
        && Some(wanted) != object["metadata"]["uid"].as_str()
    {
        return conflict(
            "Conflict",
            &format!("Precondition failed: UID in precondition: {wanted}"),
            &name,
        );
    }
    let kept = object["metadata"].clone();
    merge_patch(&mut object, &patch);
    for field in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
    ] {
        object["metadata"][field] = kept[field].clone();
    }
    if kept["deletionTimestamp"].is_null()
        && let Some(meta) = object["metadata"].as_object_mut()
    {
        meta.remove("deletionTimestamp");
    }
    let event = store.record("MODIFIED", &ns, &mut object);
    if let Some(entry) = store.pods.get_mut(&key) {
        entry.object = object.clone();
    }
    let _ = shared.events.send(event);
    axum::Json(object).into_response()
}
