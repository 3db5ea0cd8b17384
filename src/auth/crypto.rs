//! AES-256-GCM for the tokens kept in `auth_sessions.encrypted_token`. The key comes from
//! `authentication.token_key` (64 hex characters) or is generated once into
//! `data_dir/token-key`, like the JWT secret. Never logged.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngExt;

use crate::config::{Config, parse_key, unhex};
use crate::error::{Error, Result};

const KEY_FILE: &str = "token-key";

/// Encrypts tokens for storage: `hex(nonce || ciphertext+tag)`, a fresh nonce each time.
pub struct TokenCipher {
    cipher: Aes256Gcm,
}

impl TokenCipher {
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(&(*key).into()),
        }
    }

    /// A cipher over a random key (nothing it encrypts can be read after a restart).
    pub fn ephemeral() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill(&mut key);
        Self::new(&key)
    }

    pub fn encrypt(&self, plaintext: &str) -> Result<String> {
        let mut nonce = [0u8; 12];
        rand::rng().fill(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), plaintext.as_bytes())
            .map_err(|_| Error::internal("token encryption failed"))?;
        let mut out = hex(&nonce);
        out.push_str(&hex(&sealed));
        Ok(out)
    }

    pub fn decrypt(&self, stored: &str) -> Option<String> {
        let bytes = unhex(stored)?;
        if bytes.len() < 12 + 16 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        let plain = self.cipher.decrypt(&Nonce::from(nonce), sealed).ok()?;
        String::from_utf8(plain).ok()
    }
}

/// The configured key, or the one in `data_dir/token-key` (created on first start).
pub fn load_or_generate(config: &Config) -> anyhow::Result<TokenCipher> {
    if let Some(key) = &config.authentication.token_key {
        return Ok(TokenCipher::new(&parse_key(key).ok_or_else(|| {
            anyhow::anyhow!("authentication.token_key must be 64 hex characters")
        })?));
    }
    let path = config.data_dir.join(KEY_FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path)?;
        let key = parse_key(text.trim())
            .ok_or_else(|| anyhow::anyhow!("{} does not hold 64 hex characters", path.display()))?;
        return Ok(TokenCipher::new(&key));
    }
    let mut key = [0u8; 32];
    rand::rng().fill(&mut key);
    super::secret::write_private(&path, &hex(&key))?;
    tracing::debug!(path = %path.display(), "generated a new token encryption key");
    Ok(TokenCipher::new(&key))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_tampering() {
        let cipher = TokenCipher::new(&[7u8; 32]);
        let a = cipher.encrypt("header.payload.sig").unwrap();
        let b = cipher.encrypt("header.payload.sig").unwrap();
        assert_ne!(a, b, "fresh nonce each time");
        assert_eq!(cipher.decrypt(&a).unwrap(), "header.payload.sig");
        let mut bad = a.clone();
        bad.replace_range(30..32, if &a[30..32] == "00" { "11" } else { "00" });
        assert!(cipher.decrypt(&bad).is_none());
        assert!(TokenCipher::new(&[8u8; 32]).decrypt(&a).is_none());
        assert!(cipher.decrypt("zz").is_none());
        assert!(parse_key(&"ab".repeat(32)).is_some());
        assert!(parse_key("abc").is_none());
    }
}
