//! Bearer tokens: how they look, how they are stored, and the one SQL statement that checks
//! them (used by the REST components and by the terminal-bridge alike). `platform-core` turns
//! [`BearerError`] and a failed [`generate`] into its 401 and 500 answers.
//!
//! - A token is [`TOKEN_PREFIX`] followed by the unpadded base64url encoding of
//!   [`TOKEN_RANDOM_BYTES`] random bytes ([`generate`]): 47 ASCII characters, e.g.
//!   `cep_Hq3...`. The prefix makes leaked tokens easy to recognise (secret scanners, logs).
//! - The database keeps only [`token_sha256`] of it (`auth_tokens.token_sha256`). A plain,
//!   unsalted SHA-256 is enough here: the token has 256 bits of entropy, so there is nothing to
//!   guess, and a fast hash lets every request verify cheaply.
//! - [`VERIFY_TOKEN_SQL`] takes that hash as `$1` and yields one row for a valid token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Every token starts with this ("code-exec platform").
pub const TOKEN_PREFIX: &str = "cep_";

/// Random bytes in a token (256 bits).
pub const TOKEN_RANDOM_BYTES: usize = 32;

/// Length of a token in bytes: the prefix plus 43 base64url characters.
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + (TOKEN_RANDOM_BYTES * 4).div_ceil(3);

/// The token type of the login answer (`token_type`), as OAuth 2 spells it.
pub const TOKEN_TYPE: &str = "bearer";

/// Checks a token and names its user.
///
/// - `$1`: `bytea`, [`token_sha256`] of the token as presented.
/// - One row when the token exists, is not revoked and has not expired; no row otherwise.
///   Columns, in this order: `user_id bigint`, `username text`, `token_id bigint`,
///   `expires_at timestamp` (UTC: Spin cannot decode a `timestamptz` result column).
/// - Side effect: stamps `auth_tokens.last_used_at`, but at most once a minute per token, so a
///   busy client does not turn every request into a row update. Concurrent callers are safe: the
///   second update re-checks the condition after the first commits and skips the row.
///
/// It is a single statement (the update is a data-modifying CTE), so it runs as one round trip
/// in autocommit mode with any client; it needs a primary, not a read-only replica.
pub const VERIFY_TOKEN_SQL: &str = "\
with valid as (
    select t.user_id, u.username, t.id as token_id, t.expires_at
    from auth_tokens t
    join users u on u.id = t.user_id
    where t.token_sha256 = $1
      and t.revoked_at is null
      and t.expires_at > now()
),
touched as (
    update auth_tokens
    set last_used_at = now()
    where id = (select token_id from valid)
      and (last_used_at is null or last_used_at < now() - interval '1 minute')
)
select user_id, username, token_id, expires_at at time zone 'utc' as expires_at from valid";

/// A new random token.
///
/// # Errors
/// When the platform's random source fails (`wasi:random` in a component).
pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; TOKEN_RANDOM_BYTES];
    getrandom::fill(&mut bytes)?;
    let mut token = String::with_capacity(TOKEN_LEN);
    token.push_str(TOKEN_PREFIX);
    URL_SAFE_NO_PAD.encode_string(bytes, &mut token);
    Ok(token)
}

/// The SHA-256 of the token's bytes (as sent), the value stored in and looked up by
/// `auth_tokens.token_sha256`.
pub fn token_sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether `token` has the shape [`generate`] produces. Anything else cannot be a token, so
/// callers refuse it without asking the database.
pub fn is_well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token.starts_with(TOKEN_PREFIX)
        && token[TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Why an `Authorization` header value carries no usable bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    /// No `Authorization` header.
    #[error("missing Authorization: Bearer token")]
    Missing,
    /// Another scheme, or no token after the scheme.
    #[error("expected Authorization: Bearer <token>")]
    NotBearer,
    /// Something that is not a well-formed token (never looked up).
    #[error("invalid, expired or revoked token")]
    Malformed,
}

/// The token of an `Authorization: Bearer <token>` header value (`None`: no header).
///
/// The scheme is matched case-insensitively (RFC 9110), surrounding blanks are ignored.
///
/// # Errors
/// When the header is missing, uses another scheme, or carries something that is not a
/// well-formed token.
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, BearerError> {
    let value = authorization.ok_or(BearerError::Missing)?.trim();
    let (scheme, rest) = value.split_once(' ').ok_or(BearerError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::NotBearer);
    }
    let token = rest.trim();
    if !is_well_formed(token) {
        return Err(BearerError::Malformed);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_have_the_documented_shape_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.len(), 47);
        assert_eq!(TOKEN_LEN, 47);
        assert!(a.starts_with("cep_"));
        assert!(is_well_formed(&a) && is_well_formed(&b));
        assert_ne!(a, b);
        let decoded = URL_SAFE_NO_PAD.decode(&a[4..]).unwrap();
        assert_eq!(decoded.len(), 32);
    }

    #[test]
    fn sha256_matches_a_known_vector() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        let expected = [
            0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
            0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
            0xf2, 0x00, 0x15, 0xad,
        ];
        assert_eq!(token_sha256("abc"), expected);
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = generate().unwrap();
        assert!(!is_well_formed(""));
        assert!(!is_well_formed(&good[..46]));
        assert!(!is_well_formed(&format!("{good}x")));
        assert!(!is_well_formed(&good.replacen("cep_", "xyz_", 1)));
        assert!(!is_well_formed(&format!("cep_{}", "+".repeat(43))));
        // Multi-byte characters of the right byte length must not panic the slicing.
        assert!(!is_well_formed(&format!("cep_{}", "é".repeat(21) + "a")));
        assert!(!is_well_formed(&format!("cé_{}", "a".repeat(43))));
    }

    #[test]
    fn bearer_header_parsing() {
        let t = generate().unwrap();
        assert_eq!(bearer_token(Some(&format!("Bearer {t}"))).unwrap(), t);
        assert_eq!(bearer_token(Some(&format!("bearer   {t} "))).unwrap(), t);
        assert_eq!(bearer_token(Some(&format!("BEARER {t}"))).unwrap(), t);
        for bad in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some("Basic dXNlcjpwYXNz"),
            Some("Bearer not-a-token"),
        ] {
            assert!(bearer_token(bad).is_err(), "{bad:?}");
        }
        let basic = format!("Basic {t}");
        assert_eq!(bearer_token(Some(&basic)), Err(BearerError::NotBearer));
        assert_eq!(bearer_token(None), Err(BearerError::Missing));
        assert_eq!(bearer_token(Some("Bearer x")), Err(BearerError::Malformed));
    }

    #[test]
    fn verify_sql_is_one_statement_with_one_parameter() {
        assert!(!VERIFY_TOKEN_SQL.contains(';'));
        assert!(VERIFY_TOKEN_SQL.contains("$1") && !VERIFY_TOKEN_SQL.contains("$2"));
        for column in ["user_id", "username", "token_id", "expires_at"] {
            assert!(VERIFY_TOKEN_SQL.contains(column));
        }
    }
}
