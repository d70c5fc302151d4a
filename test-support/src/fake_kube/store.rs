//! The fake API server's state: pods as JSON objects, the resourceVersion counter, the event
//! history watches replay, and what the test scripted.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Child;

/// What becomes of pods created from now on.
#[derive(Debug, Clone, PartialEq)]
pub enum Fate {
    /// Scheduled, then running with a real `pod-agent daemon`, then Ready, `after` after its
    /// creation.
    Ready { after: Duration },
    /// Its image cannot be pulled: `ErrImagePull`, then `ImagePullBackOff`.
    ImagePullBackOff,
    /// No node fits it: `PodScheduled` is `False` with reason `Unschedulable`.
    Unschedulable,
    /// Phase `Failed` shortly after creation.
    Failed,
    /// Stays `Pending` for ever.
    Pending,
}

/// An error the next matching calls answer with.
#[derive(Debug, Clone)]
pub struct Fault {
    /// HTTP status (403, 500, 503, ...).
    pub status: u16,
    /// Only calls with this method (`GET`, `POST`, ...); `None`: any.
    pub method: Option<String>,
    /// How many calls are still to fail.
    pub remaining: u32,
}

/// One change, as a watch reports it.
#[derive(Debug, Clone)]
pub struct Event {
    pub rv: u64,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    pub namespace: String,
    pub object: Value,
}

/// A pod and what the fake runs for it.
pub struct PodEntry {
    pub object: Value,
    /// Its directory: `workspace/` and `run/agent.sock`.
    pub dir: PathBuf,
    /// The `pod-agent daemon` once the pod runs; killed when the entry is dropped.
    pub agent: Option<Child>,
}

/// Everything behind the fake's one lock.
pub struct Store {
    pub rv: u64,
    /// By (namespace, name).
    pub pods: BTreeMap<(String, String), PodEntry>,
    pub history: Vec<Event>,
    pub fate: Fate,
    /// How long a deleted pod stays `Terminating`.
    pub terminating_for: Duration,
    pub faults: VecDeque<Fault>,
    /// The exec subprotocols offered, in order of preference.
    pub exec_protocols: Vec<&'static str>,
    /// `METHOD path?query` of every request, in order.
    pub log: Vec<String>,
    /// Counts pod directories, for short unique names.
    pub next_dir: u64,
    /// (pod name, `preconditions.uid`) of every DELETE that reached a pod.
    pub deletes: Vec<(String, Option<String>)>,
}

impl Store {
    pub fn new() -> Store {
        Store {
            rv: 1,
            pods: BTreeMap::new(),
            history: Vec::new(),
            fate: Fate::Ready {
                after: Duration::from_millis(200),
            },
            terminating_for: Duration::from_millis(300),
            faults: VecDeque::new(),
            exec_protocols: vec!["v5.channel.k8s.io", "v4.channel.k8s.io"],
            log: Vec::new(),
            next_dir: 0,
            deletes: Vec::new(),
        }
    }

    /// Bumps the resourceVersion, stamps it on `object` and records the event.
    pub fn record(&mut self, kind: &'static str, namespace: &str, object: &mut Value) -> Event {
        self.rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let event = Event {
            rv: self.rv,
            kind,
            namespace: namespace.to_string(),
            object: object.clone(),
        };
        self.history.push(event.clone());
        event
    }

    /// The fault to answer a `method` call with, if one is scripted.
    pub fn take_fault(&mut self, method: &str) -> Option<u16> {
        let fault = self
            .faults
            .iter_mut()
            .find(|f| f.remaining > 0 && f.method.as_deref().is_none_or(|m| m == method))?;
        fault.remaining -= 1;
        let status = fault.status;
        self.faults.retain(|f| f.remaining > 0);
        Some(status)
    }
}

/// A Kubernetes `Status` object for an error.
pub fn status(code: u16, reason: &str, message: &str, name: Option<&str>) -> Value {
    let mut status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if let Some(name) = name {
        status["details"] = json!({"name": name, "kind": "pods"});
    }
    status
}

/// The reason Kubernetes gives with an HTTP status.
pub fn reason_of(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Expired",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    }
}

/// RFC 7386 JSON merge patch (also used for strategic merge patches, which agree with it for
/// maps such as labels and annotations).
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(patch) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let map = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Whether `object` matches a label selector (`k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-joined).
pub fn labels_match(object: &Value, selector: &str) -> Result<bool, String> {
    let labels = &object["metadata"]["labels"];
    let label = |key: &str| labels.get(key).and_then(Value::as_str);
    for term in selector.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let ok = if let Some((key, value)) = term.split_once("!=") {
            label(key.trim()) != Some(value.trim())
        } else if let Some((key, value)) = term.split_once("==").or_else(|| term.split_once('=')) {
            label(key.trim()) == Some(value.trim())
        } else if let Some(key) = term.strip_prefix('!') {
            label(key.trim()).is_none()
        } else if term.contains(' ') || term.contains('(') {
            return Err(format!("unsupported label selector term {term:?}"));
        } else {
            label(term).is_some()
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether `object` matches a field selector on `metadata.name`, `metadata.namespace` or
/// `status.phase`.
pub fn fields_match(object: &Value, selector: &str) -> Result<bool, String> {
    for term in selector.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (field, value, equal) = if let Some((f, v)) = term.split_once("!=") {
            (f, v, false)
        } else if let Some((f, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            (f, v, true)
        } else {
            return Err(format!("invalid field selector term {term:?}"));
        };
        let actual = match field.trim() {
            "metadata.name" => object["metadata"]["name"].as_str(),
            "metadata.namespace" => object["metadata"]["namespace"].as_str(),
            "status.phase" => object["status"]["phase"].as_str(),
            other => {
                return Err(format!(
                    "field label not supported: {other} (the fake knows metadata.name, \
                     metadata.namespace and status.phase)"
                ));
            }
        };
        if (actual == Some(value.trim())) != equal {
            return Ok(false);
        }
    }
    Ok(true)
}

/// RFC 3339 time now, to the second.
pub fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, proleptic Gregorian).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_767_268_800), "2026-01-01T12:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn selectors() {
        let pod = json!({"metadata": {"name": "a", "labels": {"x": "1", "y": "2"}},
                         "status": {"phase": "Running"}});
        assert!(labels_match(&pod, "x=1,y").unwrap());
        assert!(labels_match(&pod, "x==1,!z,y!=3").unwrap());
        assert!(!labels_match(&pod, "x=2").unwrap());
        assert!(!labels_match(&pod, "z").unwrap());
        assert!(labels_match(&pod, "x in (1)").is_err());
        assert!(fields_match(&pod, "metadata.name=a,status.phase!=Failed").unwrap());
        assert!(!fields_match(&pod, "status.phase=Pending").unwrap());
        assert!(fields_match(&pod, "spec.nodeName=x").is_err());
    }

    #[test]
    fn merge() {
        let mut target = json!({"a": {"b": 1, "c": 2}, "d": [1]});
        merge_patch(&mut target, &json!({"a": {"b": null, "e": 3}, "d": [2]}));
        assert_eq!(target, json!({"a": {"c": 2, "e": 3}, "d": [2]}));
    }

    #[test]
    fn faults_count_down() {
        let mut store = Store::new();
        store.faults.push_back(Fault {
            status: 500,
            method: Some("POST".into()),
            remaining: 2,
        });
        assert_eq!(store.take_fault("GET"), None);
        assert_eq!(store.take_fault("POST"), Some(500));
        assert_eq!(store.take_fault("POST"), Some(500));
        assert_eq!(store.take_fault("POST"), None);
    }
}
