//! Password hashing: argon2id (OWASP: 19 MiB, t=2, p=1) on a blocking thread.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

use crate::error::{Error, Result};

fn hasher() -> Argon2<'static> {
    // Fixed, valid parameters: construction cannot fail.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` into a PHC string.
pub async fn hash(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        hasher()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(Error::internal)
    })
    .await
    .map_err(Error::internal)?
}

/// An imported bcrypt hash (`$2a$`, `$2b$`, `$2y$`, e.g. from a Feathers app).
pub fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|p| stored.starts_with(p))
}

/// Checks `password` against an argon2 PHC hash or an imported bcrypt hash. A malformed
/// hash never matches.
pub async fn verify_any(password: String, stored: String) -> bool {
    if !is_bcrypt(&stored) {
        return verify(password, stored).await;
    }
    tokio::task::spawn_blocking(move || {
        bcrypt::verify(password.as_bytes(), &stored).unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// Checks `password` against a stored PHC hash. A malformed hash never matches.
pub async fn verify(password: String, stored: String) -> bool {
    tokio::task::spawn_blocking(move || match PasswordHash::new(&stored) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    })
    .await
    .unwrap_or(false)
}
