//! Unit tests of the runtime configuration file: what Spin 4.1 accepts and refuses (checked
//! against `spin up --runtime-config-file`), and the defaults of the root choices.

use super::*;
use test_support::pg_tls::{TestCa, Usage};

/// A directory with `ca.pem` (one certificate), `client.pem`/`client.key` and `empty.pem`.
fn files() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("unit test CA").unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).unwrap();
    let (cert, key) = ca.issue(&["alice"], Usage::Client).unwrap();
    std::fs::write(dir.path().join("client.pem"), cert).unwrap();
    std::fs::write(dir.path().join("client.key"), key).unwrap();
    std::fs::write(dir.path().join("empty.pem"), "no certificate here\n").unwrap();
    dir
}

fn parse(text: &str) -> Result<RuntimeConfig> {
    let dir = files();
    RuntimeConfig::parse(text, dir.path())
}

fn error(text: &str) -> String {
    format!("{:#}", parse(text).unwrap_err())
}

#[test]
fn an_empty_file_has_no_rules() {
    assert!(parse("").unwrap().client_tls.is_empty());
}

#[test]
fn reads_every_field_relative_to_the_file() {
    let config = parse(
        r#"
        [[client_tls]]
        component_ids = ["users", "sessions-2"]
        hosts = ["DB.example.com", "127.0.0.1"]
        ca_roots_file = "ca.pem"
        client_cert_file = "client.pem"
        client_private_key_file = "client.key"
        "#,
    )
    .unwrap();
    let [rule] = &config.client_tls[..] else {
        panic!("{config:?}")
    };
    assert_eq!(rule.component_ids, ["users", "sessions-2"]);
    assert_eq!(rule.hosts, ["db.example.com", "127.0.0.1"]);
    assert_eq!(rule.roots.extra.len(), 1);
    assert!(
        !rule.roots.platform,
        "a root file turns the system store off"
    );
    assert!(!rule.roots.webpki);
    assert_eq!(rule.client_cert.as_ref().unwrap().chain.len(), 1);
}

#[test]
fn root_defaults_follow_spin() {
    let roots = |extra: &str| {
        let text = format!("[[client_tls]]\ncomponent_ids = [\"a\"]\nhosts = [\"h\"]\n{extra}");
        let config = parse(&text).unwrap();
        let r = &config.client_tls[0].roots;
        (r.platform, r.webpki, r.extra.len())
    };
    assert_eq!(roots(""), (true, false, 0));
    assert_eq!(roots("ca_use_webpki_roots = true"), (false, true, 0));
    assert_eq!(
        roots("ca_roots_file = \"ca.pem\"\nca_use_platform_roots = true"),
        (true, false, 1)
    );
}

#[test]
fn refuses_what_spin_refuses() {
    let entry = |extra: &str| {
        format!("[[client_tls]]\ncomponent_ids = [\"fixture\"]\nhosts = [\"127.0.0.1\"]\n{extra}")
    };
    let cases = [
        (
            "other_key = 1",
            "unsupported runtime config key(s): other_key",
        ),
        ("[outbound_networking]", "outbound_networking"),
        (&entry("bogus = 1") as &str, "unknown field `bogus`"),
        (
            "[[client_tls]]\ncomponent_ids = [\"x\"]\nhosts = [\"127.0.0.1:5432\"]",
            "ports are not supported",
        ),
        (
            "[[client_tls]]\ncomponent_ids = [\"x\"]\nhosts = [\"postgres://h\"]",
            "invalid TLS host",
        ),
        (
            "[[client_tls]]\ncomponent_ids = [\"my_component\"]\nhosts = [\"h\"]",
            "not '_'",
        ),
        (
            "[[client_tls]]\ncomponent_ids = []\nhosts = [\"h\"]",
            "'component_ids' may not be empty",
        ),
        (
            "[[client_tls]]\ncomponent_ids = [\"x\"]\nhosts = []",
            "'hosts' may not be empty",
        ),
        (&entry("ca_roots_file = \"missing.pem\""), "missing.pem"),
        (
            &entry("ca_roots_file = \"empty.pem\""),
            "no certificate authority to trust",
        ),
        (
            &entry("ca_use_platform_roots = false"),
            "no certificate authority to trust",
        ),
        (
            &entry("client_cert_file = \"client.pem\""),
            "without client_private_key_file",
        ),
        (
            &entry("client_private_key_file = \"client.key\""),
            "without client_cert_file",
        ),
    ];
    for (text, expected) in cases {
        let message = error(text);
        assert!(message.contains(expected), "{text:?}: {message}");
    }
}

#[test]
fn component_ids_are_kebab_case() {
    for good in ["a", "users", "api-v2", "sessions-2", "HTTP-handler"] {
        check_component_id(good).unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    for bad in [
        "",
        "2fast",
        "a--b",
        "-a",
        "a-",
        "Mixed",
        "dot.ted",
        "snake_case",
    ] {
        assert!(check_component_id(bad).is_err(), "{bad} accepted");
    }
}

#[test]
fn load_names_the_file() {
    let message = format!(
        "{:#}",
        RuntimeConfig::load(Path::new("/nonexistent/rc.toml")).unwrap_err()
    );
    assert!(message.contains("/nonexistent/rc.toml"), "{message}");
}
