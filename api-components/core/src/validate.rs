//! Input rules, checked before anything reaches the database. Each rule is at least as strict
//! as the matching check constraint of `migrations/V1__initial_schema.sql`, so valid input never
//! trips a constraint (which would be a 500) and the client gets a precise 400 instead.
//!
//! - [`username`]: 3 to 64 characters of `[A-Za-z0-9_.-]` (`users_username_length`,
//!   `users_username_chars`).
//! - [`email`]: optional; one `@` with something on both sides, no blanks or control characters
//!   (`users_email_shape`), at most [`EMAIL_MAX_BYTES`].
//! - [`password`]: [`PASSWORD_MIN_BYTES`] to [`PASSWORD_MAX_BYTES`] bytes of UTF-8.
//! - [`workspace_path`]: a path inside a workspace (`workspace_items_path_shape`, plus length and
//!   character limits); yields the normalized path and its parent.
//! - [`session_id`]: a session UUID from a URL, normalized to lowercase hyphenated form.
//! - [`session_name`]: 1 to [`SESSION_NAME_MAX_CHARS`] characters, no control characters
//!   (`code_sessions_name_length`).
//! - [`language`]: an optional language hint, 1 to [`LANGUAGE_MAX_CHARS`] characters of
//!   `[A-Za-z0-9_+#.-]`; `""` means none.

use crate::error::ApiError;

/// Fewest characters in a username.
pub const USERNAME_MIN_CHARS: usize = 3;
/// Most characters in a username.
pub const USERNAME_MAX_CHARS: usize = 64;
/// Longest accepted e-mail address (RFC 5321's path limit).
pub const EMAIL_MAX_BYTES: usize = 254;
/// Shortest accepted password, in bytes.
pub const PASSWORD_MIN_BYTES: usize = 8;
/// Longest accepted password, in bytes (bounds the hashing work an attacker can ask for).
pub const PASSWORD_MAX_BYTES: usize = 1024;
/// Longest workspace path, in bytes.
pub const PATH_MAX_BYTES: usize = 1024;
/// Longest segment (file or folder name) of a workspace path, in bytes (Linux's `NAME_MAX`).
pub const SEGMENT_MAX_BYTES: usize = 255;

/// Checks a username against the rules of `users.username`.
///
/// # Errors
/// 400 `bad_request` naming the broken rule.
pub fn username(name: &str) -> Result<(), ApiError> {
    let chars = name.chars().count();
    if !(USERNAME_MIN_CHARS..=USERNAME_MAX_CHARS).contains(&chars) {
        return Err(ApiError::BadRequest(format!(
            "username must be {USERNAME_MIN_CHARS} to {USERNAME_MAX_CHARS} characters long"
        )));
    }
    if !name.bytes().all(is_username_byte) {
        return Err(ApiError::BadRequest(
            "username may contain only letters A-Z and a-z, digits, '_', '.' and '-'".into(),
        ));
    }
    Ok(())
}

fn is_username_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// Checks an optional e-mail address. Surrounding blanks are trimmed; an empty or blank value
/// means "no address" (forms often send `""`).
///
/// # Errors
/// 400 `bad_request` when the address has the wrong shape.
pub fn email(address: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(address) = address.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let bad = || ApiError::BadRequest("email must look like name@domain".into());
    if address.len() > EMAIL_MAX_BYTES {
        return Err(ApiError::BadRequest(format!(
            "email must be at most {EMAIL_MAX_BYTES} bytes"
        )));
    }
    if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = address.split_once('@').ok_or_else(bad)?;
    if local.is_empty() || domain.is_empty() || domain.contains('@') {
        return Err(bad());
    }
    Ok(Some(address.to_owned()))
}

/// Checks the length of a new password. Any characters are allowed.
///
/// # Errors
/// 400 `bad_request` when it is too short or too long.
pub fn password(password: &str) -> Result<(), ApiError> {
    if password.len() < PASSWORD_MIN_BYTES {
        return Err(ApiError::BadRequest(format!(
            "password must be at least {PASSWORD_MIN_BYTES} bytes long"
        )));
    }
    if password.len() > PASSWORD_MAX_BYTES {
        return Err(ApiError::BadRequest(format!(
            "password must be at most {PASSWORD_MAX_BYTES} bytes long"
        )));
    }
    Ok(())
}

/// A checked path inside a workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspacePath {
    /// The normalized path: `'/'`-separated, no leading or trailing `'/'`
    /// (`workspace_items.path`).
    pub path: String,
    /// The path of the containing folder; `None` at the top level
    /// (`workspace_items.parent_path`).
    pub parent: Option<String>,
}

impl WorkspacePath {
    /// The last segment: the file or folder name.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// Checks a path inside a workspace (already percent-decoded) and normalizes it.
///
/// Rules: relative (no leading `'/'`), `'/'`-separated, no empty, `.` or `..` segments, no NUL
/// or other control characters, at most [`PATH_MAX_BYTES`] in all and [`SEGMENT_MAX_BYTES`] per
/// segment. The only normalization is dropping one trailing `'/'` (`src/app/` names the folder
/// `src/app`); everything else that is not already normal is refused rather than guessed at.
///
/// # Errors
/// 400 `invalid_path` naming the broken rule.
pub fn workspace_path(raw: &str) -> Result<WorkspacePath, ApiError> {
    let invalid = |why: &str| ApiError::InvalidPath(format!("invalid path: {why}"));
    if raw.len() > PATH_MAX_BYTES {
        return Err(invalid(&format!("longer than {PATH_MAX_BYTES} bytes")));
    }
    if raw.is_empty() {
        return Err(invalid("empty"));
    }
    if raw.starts_with('/') {
        return Err(invalid("must be relative (no leading '/')"));
    }
    if raw.chars().any(char::is_control) {
        return Err(invalid("contains NUL or control characters"));
    }
    let path = raw.strip_suffix('/').unwrap_or(raw);
    for segment in path.split('/') {
        match segment {
            "" => return Err(invalid("empty segment ('//' or a trailing '//')")),
            "." | ".." => return Err(invalid("'.' and '..' segments are not allowed")),
            s if s.len() > SEGMENT_MAX_BYTES => {
                return Err(invalid(&format!(
                    "a segment is longer than {SEGMENT_MAX_BYTES} bytes"
                )));
            }
            _ => {}
        }
    }
    let parent = path.rsplit_once('/').map(|(parent, _)| parent.to_owned());
    Ok(WorkspacePath {
        path: path.to_owned(),
        parent,
    })
}

/// Most characters in a session name (`code_sessions_name_length`).
pub const SESSION_NAME_MAX_CHARS: usize = 200;
/// Most characters in a session's language hint.
pub const LANGUAGE_MAX_CHARS: usize = 32;

/// Checks that `raw` is a UUID in hyphenated form (any letter case) and returns it in
/// lowercase, ready for a `$n::uuid` parameter.
///
/// # Errors
/// 400 `invalid_uuid`.
pub fn session_id(raw: &str) -> Result<String, ApiError> {
    let bytes = raw.as_bytes();
    let shaped = bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    if !shaped {
        let shown: String = raw.chars().take(64).collect();
        return Err(ApiError::InvalidUuid(format!(
            "{shown:?} is not a session id (a UUID such as 0b7c7c1e-58a4-4a9c-9d0e-2f4f4c0e8a11)"
        )));
    }
    Ok(raw.to_ascii_lowercase())
}

/// Checks a session name; returns it with surrounding blanks trimmed.
///
/// # Errors
/// 400 `bad_request` when it is empty, too long or holds control characters.
pub fn session_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    let chars = name.chars().count();
    if !(1..=SESSION_NAME_MAX_CHARS).contains(&chars) {
        return Err(ApiError::BadRequest(format!(
            "name must be 1 to {SESSION_NAME_MAX_CHARS} characters long"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "name must not contain control characters".into(),
        ));
    }
    Ok(name.to_owned())
}

/// Checks an optional language hint; `None` and `""` mean none.
///
/// # Errors
/// 400 `bad_request` when it is too long or holds other characters.
pub fn language(language: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(language) = language.map(str::trim).filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "_+#.-".contains(c);
    if language.chars().count() > LANGUAGE_MAX_CHARS || !language.chars().all(ok_char) {
        return Err(ApiError::BadRequest(format!(
            "language must be at most {LANGUAGE_MAX_CHARS} characters of [A-Za-z0-9_+#.-]"
        )));
    }
    Ok(Some(language.to_owned()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn session_ids_are_uuids_in_lowercase() {
        assert_eq!(
            session_id("0B7C7C1E-58A4-4A9C-9D0E-2F4F4C0E8A11").unwrap(),
            "0b7c7c1e-58a4-4a9c-9d0e-2f4f4c0e8a11"
        );
        for bad in [
            "",
            "not-a-uuid",
            "0b7c7c1e58a44a9c9d0e2f4f4c0e8a11",
            "0b7c7c1e-58a4-4a9c-9d0e-2f4f4c0e8a1g",
            "0b7c7c1e-58a4-4a9c-9d0e-2f4f4c0e8a111",
            "0b7c7c1é-58a4-4a9c-9d0e-2f4f4c0e8a1",
        ] {
            assert_eq!(session_id(bad).unwrap_err().code(), "invalid_uuid", "{bad}");
        }
    }

    #[test]
    fn session_names_and_languages() {
        assert_eq!(session_name("  my work ").unwrap(), "my work");
        assert!(session_name("   ").is_err());
        assert!(session_name("a\nb").is_err());
        assert!(session_name(&"x".repeat(201)).is_err());
        assert!(session_name(&"é".repeat(200)).is_ok());
        assert_eq!(language(None).unwrap(), None);
        assert_eq!(language(Some("")).unwrap(), None);
        assert_eq!(language(Some("c++")).unwrap().as_deref(), Some("c++"));
        assert!(language(Some("py thon")).is_err());
        assert!(language(Some(&"p".repeat(33))).is_err());
    }

    use super::*;

    #[test]
    fn usernames() {
        for ok in [
            "abc",
            "Alice",
            "bob_99",
            "a.b-c",
            "___",
            "...",
            &"x".repeat(64),
        ] {
            assert!(username(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ab",
            &"x".repeat(65),
            "has space",
            "tab\tname",
            "émile",
            "semi;colon",
            "slash/name",
            "nul\0name",
            "plus+sign",
            "at@sign",
        ] {
            let e = username(bad).unwrap_err();
            assert_eq!(e.code(), "bad_request", "{bad:?}");
        }
        // Three two-byte characters are three characters, but not allowed ones.
        assert!(username("ééé").is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(email(None).unwrap(), None);
        assert_eq!(email(Some("")).unwrap(), None);
        assert_eq!(email(Some("   ")).unwrap(), None);
        assert_eq!(
            email(Some(" a@b.example ")).unwrap(),
            Some("a@b.example".into())
        );
        assert_eq!(
            email(Some("x@localhost")).unwrap(),
            Some("x@localhost".into())
        );
        assert_eq!(
            email(Some("ü@ñ.example")).unwrap(),
            Some("ü@ñ.example".into())
        );
        for bad in [
            "plain",
            "@domain",
            "local@",
            "a@b@c",
            "a b@c",
            "a@b\tc",
            "a@b\u{a0}c",
            "a\0@b",
            &format!("{}@example.org", "x".repeat(250)),
        ] {
            assert_eq!(email(Some(bad)).unwrap_err().status(), 400, "{bad:?}");
        }
    }

    #[test]
    fn passwords() {
        assert!(password("12345678").is_ok());
        assert!(password(&"p".repeat(1024)).is_ok());
        assert!(password("1234567").is_err());
        assert!(password("").is_err());
        assert!(password(&"p".repeat(1025)).is_err());
        // Bytes, not characters: four 2-byte characters are 8 bytes.
        assert!(password("éééé").is_ok());
        assert!(password("ééé").is_err());
    }

    fn ok(raw: &str) -> (String, Option<String>) {
        let p = workspace_path(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
        (p.path, p.parent)
    }

    #[test]
    fn valid_paths_and_their_parents() {
        assert_eq!(ok("main.py"), ("main.py".into(), None));
        assert_eq!(
            ok("src/app/main.py"),
            ("src/app/main.py".into(), Some("src/app".into()))
        );
        assert_eq!(ok("src/"), ("src".into(), None));
        assert_eq!(ok("a/b/"), ("a/b".into(), Some("a".into())));
        assert_eq!(ok(".hidden"), (".hidden".into(), None));
        assert_eq!(ok("a/..b/c..d/...").0, "a/..b/c..d/...");
        assert_eq!(ok("with space/ünïcødé 🐍.py").0, "with space/ünïcødé 🐍.py");
        assert_eq!(ok("back\\slash").0, "back\\slash");
        assert_eq!(workspace_path("a/b/c.txt").unwrap().name(), "c.txt");
        assert_eq!(workspace_path("c.txt").unwrap().name(), "c.txt");
    }

    #[test]
    fn length_limits_are_inclusive() {
        let segment = "s".repeat(255);
        assert!(workspace_path(&segment).is_ok());
        assert!(workspace_path(&"s".repeat(256)).is_err());
        // 4 segments of 255 bytes + 3 separators = 1023 bytes; one more byte is 1024.
        let long = [segment.as_str(); 4].join("/");
        assert_eq!(long.len(), 1023);
        assert!(
            workspace_path(&format!("{long}x")).is_err(),
            "segment too long"
        );
        let exact = [
            "c".repeat(255),
            "c".repeat(255),
            "c".repeat(255),
            "c".repeat(254),
            "c".to_owned(),
        ]
        .join("/");
        assert_eq!(exact.len(), 1024);
        assert!(workspace_path(&exact).is_ok());
        assert!(workspace_path(&format!("{exact}d")).is_err());
        // A multi-byte segment is measured in bytes: 128 two-byte characters = 256 bytes.
        assert!(workspace_path(&"é".repeat(127)).is_ok());
        assert!(workspace_path(&"é".repeat(128)).is_err());
    }

    #[test]
    fn invalid_paths() {
        for bad in [
            "",
            "/",
            "/etc/passwd",
            "//x",
            "a//b",
            "a/b//",
            "..",
            "../x",
            "a/../b",
            "a/..",
            ".",
            "./a",
            "a/./b",
            "a/.",
            "a/./",
            "nul\0byte",
            "new\nline",
            "tab\tname",
            "del\u{7f}",
            "c1\u{85}control",
            "esc\u{1b}[31m",
        ] {
            let e = workspace_path(bad).unwrap_err();
            assert_eq!(e.code(), "invalid_path", "{bad:?}");
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn every_valid_path_satisfies_the_database_check() {
        // workspace_items_path_shape, restated: not empty, no leading or trailing '/', no '//',
        // no '.' or '..' segment; and parent_path = path without its last segment.
        for raw in ["a", "a/b", "a/b/", "x.y/z", "...", "a/.b./c"] {
            let p = workspace_path(raw).unwrap();
            assert!(!p.path.is_empty());
            assert!(!p.path.starts_with('/') && !p.path.ends_with('/'));
            assert!(!p.path.contains("//"));
            assert!(p.path.split('/').all(|s| s != "." && s != ".."));
            let expected_parent = p.path.rsplit_once('/').map(|(a, _)| a.to_owned());
            assert_eq!(p.parent, expected_parent);
        }
    }
}
