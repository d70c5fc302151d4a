//! Password hashing with argon2id, stored as PHC strings
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`, the shape `users.password_hash` checks).
//!
//! # Parameters
//! [`M_COST_KIB`] = 19 456 KiB (19 MiB), [`T_COST`] = 2 passes, [`P_COST`] = 1 lane, a 16-byte
//! random salt and a 32-byte output: the first of OWASP's argon2id recommendations, and the
//! argon2 crate's defaults. Measured through a debug-built `api-host` serving the
//! release-built component (`password_hashing_cost` in `api-components/tests/tests/users.rs`
//! prints the figures): on this project's 2-core machines a whole registration (one hash plus
//! the insert) took a median 58-70 ms and a whole login (one verification, the limiter's check,
//! the token insert) 60-95 ms with other tests running beside it, under the ~150 ms budget. The
//! next OWASP step (m = 46 MiB, t = 1) costs about the same time for more memory; doubling `t`
//! would leave no headroom on a busy machine. Lanes run one after another in wasm (no threads),
//! so `p = 1` costs nothing extra.
//!
//! Memory: each hash allocates `m` KiB inside the component. Hashing is synchronous, so within
//! one instance two hashes never overlap (no `.await` in between) and the peak stays at one
//! hash, far below the host's 128 MiB per instance.
//!
//! Verification takes the parameters from the stored PHC string, so raising them later only
//! affects new hashes; [`needs_rehash`] tells when a stored hash is weaker than the current
//! parameters (rehash it at the next successful login).
//!
//! # Timing
//! [`verify_dummy`] burns the same work as a real verification, for logins of unknown users,
//! so "no such user" and "wrong password" cannot be told apart by the answer's time.

use crate::error::ApiError;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

/// Memory cost in KiB (19 MiB).
pub const M_COST_KIB: u32 = 19 * 1024;
/// Number of passes over the memory.
pub const T_COST: u32 = 2;
/// Degree of parallelism (lanes).
pub const P_COST: u32 = 1;
/// Salt length in bytes (the PHC recommendation).
pub const SALT_BYTES: usize = 16;
/// Output length in bytes.
pub const OUTPUT_BYTES: usize = 32;

/// Fixed salt of [`verify_dummy`]; the output is thrown away, so it need not be secret.
const DUMMY_SALT: &[u8; SALT_BYTES] = b"dummy-salt-16byt";

fn hasher() -> Result<Argon2<'static>, ApiError> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, Some(OUTPUT_BYTES))
        .map_err(|e| ApiError::Internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` with a fresh random salt; returns the PHC string to store.
///
/// # Errors
/// Internal when the random source fails.
pub fn hash(password: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; SALT_BYTES];
    getrandom::fill(&mut salt)
        .map_err(|e| ApiError::Internal(format!("random source failed: {e}")))?;
    let hash = hasher()?
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| ApiError::Internal(format!("argon2 hash: {e}")))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the stored PHC string `phc`.
///
/// # Errors
/// Internal when `phc` is not a valid argon2 PHC string (a corrupt row), never for a wrong
/// password.
pub fn verify(password: &str, phc: &str) -> Result<bool, ApiError> {
    let parsed = PasswordHash::new(phc)
        .map_err(|e| ApiError::Internal(format!("stored password hash unreadable: {e}")))?;
    match hasher()?.verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(e) => Err(ApiError::Internal(format!("argon2 verify: {e}"))),
    }
}

/// Does the work of one [`verify`] with the current parameters and throws the result away.
pub fn verify_dummy(password: &str) {
    let mut out = [0u8; OUTPUT_BYTES];
    if let Ok(h) = hasher() {
        // The result is irrelevant; only the time spent matters.
        let _ = h.hash_password_into(password.as_bytes(), DUMMY_SALT, &mut out);
    }
    std::hint::black_box(out);
}

/// Whether a stored hash uses weaker (or other) parameters than the current ones.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return true;
    };
    parsed.algorithm.as_str() != "argon2id"
        || params.m_cost() < M_COST_KIB
        || params.t_cost() < T_COST
        || params.p_cost() != P_COST
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_strings_with_the_documented_parameters() {
        let phc = hash("correct horse battery staple").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!needs_rehash(&phc));
        // A fresh salt each time.
        assert_ne!(phc, hash("correct horse battery staple").unwrap());
    }

    #[test]
    fn verify_accepts_the_password_and_nothing_else() {
        let phc = hash("pässwörd 🔑").unwrap();
        assert!(verify("pässwörd 🔑", &phc).unwrap());
        assert!(!verify("pässwörd", &phc).unwrap());
        assert!(!verify("", &phc).unwrap());
    }

    #[test]
    fn verify_uses_the_parameters_in_the_stored_string() {
        // A hash made with other (cheaper) parameters still verifies, and asks for a rehash.
        let params = Params::new(8 * 1024, 1, 1, Some(32)).unwrap();
        let cheap = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_with_salt(b"secret-password", b"0123456789abcdef")
            .unwrap()
            .to_string();
        assert!(verify("secret-password", &cheap).unwrap());
        assert!(needs_rehash(&cheap));
    }

    #[test]
    fn corrupt_stored_hashes_are_internal_errors() {
        assert_eq!(verify("x", "not a hash").unwrap_err().status(), 500);
        assert!(needs_rehash("not a hash"));
    }

    #[test]
    fn dummy_verification_does_not_panic_on_any_input() {
        verify_dummy("");
        verify_dummy(&"x".repeat(1024));
    }
}
