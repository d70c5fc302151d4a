use super::*;
use serde_json::Value;

fn doc() -> Value {
    serde_json::from_str(&json()).unwrap()
}

#[test]
fn the_document_passes_the_lint() {
    assert_eq!(lint::problems(&doc()), Vec::<String>::new());
}

#[test]
fn the_lint_catches_what_it_is_for() {
    let mut d = doc();
    d["openapi"] = "3.0.3".into();
    d["paths"]["/api/users/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        ["$ref"] = "#/components/schemas/Nope".into();
    d["paths"]["/api/sessions/{session_id}"]["get"]["parameters"] = Value::Array(vec![]);
    d["paths"]["/api/users/logout"]["post"]["responses"]
        .as_object_mut()
        .unwrap()
        .remove("401");
    let problems = lint::problems(&d);
    assert!(problems.iter().any(|p| p.contains("3.1.x")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("Nope")), "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("GET /api/sessions/{session_id}: path parameters")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("POST /api/users/logout: a token is needed")),
        "{problems:?}"
    );
}

#[test]
fn errors_have_the_one_shape_and_bearer_is_declared() {
    let d = doc();
    let body = &d["components"]["schemas"]["ErrorBody"];
    assert_eq!(
        body["properties"]["error"]["$ref"],
        "#/components/schemas/ErrorDetail"
    );
    let detail = &d["components"]["schemas"]["ErrorDetail"];
    let required = detail["required"].as_array().unwrap();
    assert!(required.contains(&"code".into()) && required.contains(&"message".into()));
    let bearer = &d["components"]["securitySchemes"][BEARER];
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");
    // Registration and login need no token; the rest of the users API does.
    assert!(d["paths"]["/api/users/login"]["post"]["security"].is_null());
    assert_eq!(
        d["paths"]["/api/users/me"]["get"]["security"][0][BEARER],
        Value::Array(vec![])
    );
    let login429 = &d["paths"]["/api/users/login"]["post"]["responses"]["429"];
    assert!(login429["headers"]["Retry-After"].is_object(), "{login429}");
}

#[test]
fn parameters_are_described() {
    let d = doc();
    let list = &d["paths"]["/api/sessions/"]["get"]["parameters"];
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["limit", "offset", "user_id"]);
    assert_eq!(list[0]["schema"]["maximum"], 200);
    let read = &d["paths"]["/api/workspace/{session_id}/file/{path}"]["get"];
    assert_eq!(read["parameters"][0]["schema"]["format"], "uuid");
    let content = &read["responses"]["200"]["content"];
    assert!(
        content["application/json"].is_object() && content["application/octet-stream"].is_object()
    );
    assert!(read["responses"]["200"]["headers"]["ETag"].is_object());
}
