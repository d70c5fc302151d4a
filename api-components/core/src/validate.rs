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
pub use platform_contract::path::{PATH_MAX_BYTES, SEGMENT_MAX_BYTES};

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

pub use platform_contract::path::WorkspacePath;

/// Checks a path inside a workspace (already percent-decoded) and normalizes it: the rules
/// of [`platform_contract::path::workspace_path`].
///
/// # Errors
/// 400 `invalid_path` naming the broken rule.
pub fn workspace_path(raw: &str) -> Result<WorkspacePath, ApiError> {
    platform_contract::path::workspace_path(raw).map_err(|e| ApiError::InvalidPath(e.to_string()))
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

    #[test]
    fn invalid_paths_are_400_invalid_path() {
        for bad in ["", "/etc/passwd", "a/../b", "nul\0byte"] {
            let e = workspace_path(bad).unwrap_err();
            assert_eq!(e.code(), "invalid_path", "{bad:?}");
            assert_eq!(e.status(), 400);
            assert!(e.to_string().contains("invalid path: "), "{e}");
        }
    }
}
