//! Structural checks of an OpenAPI document as JSON, shared by the unit tests and the API
//! tests (which run them on the document the `docs` component serves): version 3.1, every
//! `$ref` resolves, path templates and path parameters agree, operation ids are unique, and
//! every operation has a success answer and error answers of the one error shape.

use serde_json::Value;
use std::collections::HashSet;

/// HTTP methods an OpenAPI path item may hold, lowercase.
pub const METHODS: [&str; 8] = [
    "get", "head", "post", "put", "patch", "delete", "options", "trace",
];

/// Every problem found in `doc`; empty when it passes.
pub fn problems(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match doc["openapi"].as_str() {
        Some(v) if v.starts_with("3.1.") => {}
        other => out.push(format!("openapi is {other:?}, not 3.1.x")),
    }
    let mut refs = Vec::new();
    collect_refs(doc, &mut refs);
    for r in refs {
        if resolve(doc, &r).is_none() {
            out.push(format!("$ref {r} does not resolve"));
        }
    }
    let mut ids = HashSet::new();
    let Some(paths) = doc["paths"].as_object() else {
        out.push("no paths".into());
        return out;
    };
    for (path, item) in paths {
        let templated: HashSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let at = format!("{} {path}", method.to_uppercase());
            match op["operationId"].as_str() {
                Some(id) if ids.insert(id.to_owned()) => {}
                Some(id) => out.push(format!("{at}: operationId {id} used twice")),
                None => out.push(format!("{at}: no operationId")),
            }
            let in_path: HashSet<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            if in_path != templated {
                out.push(format!(
                    "{at}: path parameters {in_path:?} differ from the template's {templated:?}"
                ));
            }
            let responses = op["responses"].as_object();
            let statuses: Vec<&String> = responses.into_iter().flat_map(|r| r.keys()).collect();
            if !statuses.iter().any(|s| s.starts_with('2')) {
                out.push(format!("{at}: no 2xx answer"));
            }
            for status in statuses.iter().filter(|s| s.starts_with(['4', '5'])) {
                let schema = &op["responses"][status.as_str()]["content"]["application/json"]["schema"]
                    ["$ref"];
                let is_error_body = schema == "#/components/schemas/ErrorBody";
                // The health report is the one non-error-shaped 5xx (a 503 naming failing checks).
                let is_health = schema == "#/components/schemas/HealthReport";
                if !is_error_body && !is_health {
                    out.push(format!("{at}: {status} is not an ErrorBody"));
                }
            }
            for status in ["500", "503"] {
                if !statuses.iter().any(|s| *s == status) {
                    out.push(format!("{at}: no {status}"));
                }
            }
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            if secured && op["responses"]["401"]["headers"]["WWW-Authenticate"].is_null() {
                out.push(format!(
                    "{at}: a token is needed but 401 has no WWW-Authenticate"
                ));
            }
        }
    }
    out
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    if let Some(s) = v.as_str() {
                        out.push(s.to_owned());
                    }
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The value a local `$ref` (`#/a/b`, JSON pointer) names in `doc`.
pub fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(pointer)
}
