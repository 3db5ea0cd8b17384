//! Access tokens exactly as Feathers issues them: header `typ: access`, claims
//! `iat exp aud iss sub jti` in that order, `sub` the user id as a string, `jti` a UUID v4
//! that names the authentication session. Verification failures read like Node's
//! `jsonwebtoken` messages, which Feathers passes through.
//!
//! `authentication.algorithm` picks the signature: HS256 over the shared secret (the
//! default, byte for byte what Feathers writes), or EdDSA / RS256 with a private key file
//! (`auth::signing`), whose public keys anyone can fetch at `/.well-known/jwks.json`.

use std::sync::Arc;

use dashmap::DashMap;
use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use serde_json::{Value, json};

use crate::auth::signing::{self, Verifier};
use crate::config::{AuthConfig, Config, named};
use crate::error::{Error, Result};
pub use crate::service::{Claims, VerifiedToken};

/// The JOSE header Feathers writes.
const FEATHERS_HEADER: &str = r#"{"alg":"HS256","typ":"access"}"#;

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The key that signs access tokens and the keys that verify them.
pub struct Keys {
    alg: Algorithm,
    /// The base64url header every token starts with.
    header: String,
    encoding: EncodingKey,
    /// The signing key's public half first, then `previous_keys`. Each verifies only its
    /// own algorithm.
    verifiers: Vec<Verifier>,
    /// `{"keys": [...]}`: the public JWKs (none with HS256).
    jwks: Value,
    audience: String,
    issuer: String,
    expires_in: i64,
    /// Tokens already verified (or issued here), with their claims: a token is checked
    /// once, then only its `exp` (the keys never change while the server runs; revocation
    /// is checked apart).
    verified: DashMap<Box<str>, Arc<VerifiedToken>>,
}

/// Verified tokens remembered at most; the memory is forgotten at once when full.
const VERIFIED_CAPACITY: usize = 4096;

impl Keys {
    /// HS256 keys over `secret` (its raw UTF-8 bytes, as Feathers uses it).
    pub fn new(secret: &str, config: &AuthConfig) -> Self {
        let verifier = Verifier {
            alg: Algorithm::HS256,
            kid: None,
            key: DecodingKey::from_secret(secret.as_bytes()),
            jwk: None,
        };
        Self::assemble(
            Algorithm::HS256,
            FEATHERS_HEADER.to_string(),
            EncodingKey::from_secret(secret.as_bytes()),
            vec![verifier],
            config,
        )
    }

    /// The keys `config.authentication` asks for: the HS256 secret (configured, or
    /// generated once into the data directory), or the EdDSA / RS256 key files. Errors
    /// name the setting to change.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let auth = &config.authentication;
        let alg = signing::algorithm(&auth.algorithm)?;
        if alg == Algorithm::HS256 {
            for (set, key) in [
                (auth.signing_key_file.is_some(), signing::SIGNING_KEY),
                (!auth.previous_keys.is_empty(), signing::PREVIOUS_KEYS),
                (auth.kid.is_some(), "authentication.kid"),
            ] {
                if set {
                    anyhow::bail!(
                        "{} is set but {} is HS256, which signs with the shared secret: set \
                         ROOST_AUTHENTICATION__ALGORITHM=EdDSA (or RS256) to sign with a key \
                         file, or remove {key}",
                        named(key),
                        named("authentication.algorithm")
                    );
                }
            }
            return Ok(Self::new(
                &crate::auth::secret::load_or_generate(config)?,
                auth,
            ));
        }
        let Some(path) = &auth.signing_key_file else {
            anyhow::bail!(
                "{} is {} but {} is not set: create a private key with `{}` and set \
                 ROOST_AUTHENTICATION__SIGNING_KEY_FILE=roost-signing.pem (Roost never \
                 generates signing keys)",
                named("authentication.algorithm"),
                signing::alg_name(alg),
                named(signing::SIGNING_KEY),
                if alg == Algorithm::EdDSA {
                    signing::ED25519_COMMAND
                } else {
                    signing::RSA_COMMAND
                }
            );
        };
        if auth.secret.is_some() {
            tracing::warn!(
                "authentication.secret is not used: access tokens are signed with {} \
                 (authentication.signing_key_file)",
                signing::alg_name(alg)
            );
        }
        let signer = signing::load_signer(path, alg, auth.kid.as_deref())?;
        let kid = signer.verifier.kid.clone().unwrap_or_default();
        let header = format!(
            r#"{{"alg":"{}","typ":"access","kid":{}}}"#,
            signing::alg_name(alg),
            serde_json::to_string(&kid)?
        );
        let mut verifiers = vec![signer.verifier];
        for previous in &auth.previous_keys {
            let verifier = signing::load_previous(std::path::Path::new(previous))?;
            // The current key listed again (a rotation half done) is published once.
            if verifiers.iter().all(|v| v.kid != verifier.kid) {
                verifiers.push(verifier);
            }
        }
        Ok(Self::assemble(alg, header, signer.key, verifiers, auth))
    }

    fn assemble(
        alg: Algorithm,
        header: String,
        encoding: EncodingKey,
        verifiers: Vec<Verifier>,
        config: &AuthConfig,
    ) -> Self {
        let jwks = json!({
            "keys": verifiers.iter().filter_map(|v| v.jwk.clone()).collect::<Vec<_>>(),
        });
        Self {
            alg,
            header: b64url(header.as_bytes()),
            encoding,
            verifiers,
            jwks,
            audience: config.audience.clone(),
            issuer: config.issuer.clone(),
            expires_in: i64::try_from(config.expires_in).unwrap_or(i64::MAX / 2),
            verified: DashMap::new(),
        }
    }

    /// The public keys, as served at `/.well-known/jwks.json` (`{"keys": []}` with HS256:
    /// the secret is never published).
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// Issues a token for `user_id` with a fresh `jti`, valid from `now` (epoch seconds).
    pub fn issue(&self, user_id: i64, now: i64) -> Result<(String, Claims)> {
        let claims = Claims {
            iat: now,
            exp: now.saturating_add(self.expires_in),
            aud: self.audience.clone(),
            iss: self.issuer.clone(),
            sub: user_id.to_string(),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        // Assembled by hand so the header bytes are exactly Feathers' (`alg` before `typ`).
        let payload = serde_json::to_vec(&claims).map_err(Error::internal)?;
        let message = format!("{}.{}", self.header, b64url(&payload));
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &self.encoding, self.alg)
            .map_err(Error::internal)?;
        let token = format!("{message}.{signature}");
        // The login that asked for it binds its socket with it, and its first calls present
        // it: remembered as verified, they need no signature check.
        self.remember(&token, claims.clone());
        Ok((token, claims))
    }

    /// Verifies signature, algorithm, `exp` (no leeway), `aud` and `iss`. Checks run in
    /// Node `jsonwebtoken`'s order: shape, signature present, algorithm, signature, claims.
    pub fn verify(&self, token: &str) -> Result<Arc<VerifiedToken>> {
        if let Some(verified) = self.verified.get(token).map(|v| v.clone()) {
            if let Err(expired) = self.unexpired(&verified.claims, token) {
                self.verified.remove(token);
                return Err(expired);
            }
            return Ok(verified);
        }
        let claims = self.verify_signed(token)?;
        Ok(self.remember(token, claims))
    }

    fn remember(&self, token: &str, claims: Claims) -> Arc<VerifiedToken> {
        if self.verified.len() >= VERIFIED_CAPACITY {
            self.verified.clear();
        }
        let verified = Arc::new(VerifiedToken {
            token: token.into(),
            claims,
        });
        self.verified.insert(token.into(), verified.clone());
        verified
    }

    /// Refuses `claims` once expired. Node's jsonwebtoken (and so Feathers) treats
    /// `now >= exp` as expired; the crate only `now > exp`.
    fn unexpired(&self, claims: &Claims, token: &str) -> Result<()> {
        if claims.exp <= chrono::Utc::now().timestamp() {
            return Err(self.describe(&JwtErrorKind::ExpiredSignature, token));
        }
        Ok(())
    }

    fn verify_signed(&self, token: &str) -> Result<Claims> {
        let malformed = || self.describe(&JwtErrorKind::InvalidToken, token);
        let parts: Vec<&str> = token.split('.').collect();
        let [header, _, signature] = parts[..] else {
            return Err(malformed());
        };
        let header = base64_url_decode(header)
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .ok_or_else(malformed)?;
        if signature.trim().is_empty() {
            return Err(Error::not_authenticated("jwt signature is required")
                .with_data(json!({ "name": "JsonWebTokenError" })));
        }
        // Only keys of the token's algorithm are candidates: an HS256 token finds no key
        // when Roost signs with EdDSA / RS256, whatever it was signed with.
        let alg = header.get("alg").and_then(Value::as_str);
        let candidates: Vec<&Verifier> = self
            .verifiers
            .iter()
            .filter(|v| Some(signing::alg_name(v.alg)) == alg)
            .collect();
        if candidates.is_empty() {
            return Err(self.describe(&JwtErrorKind::InvalidAlgorithm, token));
        }
        // The key its `kid` names; else (no or unknown `kid`) each key of that algorithm.
        let kid = header.get("kid").and_then(Value::as_str);
        let named_by_kid: Vec<&Verifier> = candidates
            .iter()
            .copied()
            .filter(|v| kid.is_some() && v.kid.as_deref() == kid)
            .collect();
        let candidates = if named_by_kid.is_empty() {
            candidates
        } else {
            named_by_kid
        };
        let mut outcome = Err(JwtErrorKind::InvalidSignature);
        for verifier in candidates {
            outcome = jsonwebtoken::decode::<Claims>(
                token,
                &verifier.key,
                &self.validation(verifier.alg),
            )
            .map(|data| data.claims)
            .map_err(|e| e.into_kind());
            if !matches!(outcome, Err(JwtErrorKind::InvalidSignature)) {
                break;
            }
        }
        let claims = outcome.map_err(|kind| self.describe(&kind, token))?;
        self.unexpired(&claims, token)?;
        Ok(claims)
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.leeway = 0;
        validation.set_audience(&[&self.audience]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation
    }

    /// Node `jsonwebtoken` wording, so Feathers clients see familiar messages.
    fn describe(&self, kind: &JwtErrorKind, token: &str) -> Error {
        let json_web_token_error = json!({ "name": "JsonWebTokenError" });
        match kind {
            JwtErrorKind::ExpiredSignature => {
                Error::not_authenticated("jwt expired").with_data(json!({
                    "name": "TokenExpiredError",
                    "expiredAt": expired_at(token),
                }))
            }
            JwtErrorKind::InvalidSignature => {
                Error::not_authenticated("invalid signature").with_data(json_web_token_error)
            }
            JwtErrorKind::InvalidAudience => Error::not_authenticated(format!(
                "jwt audience invalid. expected: {}",
                self.audience
            ))
            .with_data(json_web_token_error),
            JwtErrorKind::InvalidIssuer => {
                Error::not_authenticated(format!("jwt issuer invalid. expected: {}", self.issuer))
                    .with_data(json_web_token_error)
            }
            JwtErrorKind::InvalidAlgorithm => {
                Error::not_authenticated("invalid algorithm").with_data(json_web_token_error)
            }
            JwtErrorKind::MissingRequiredClaim(claim) => {
                Error::not_authenticated(format!("jwt {claim} required"))
                    .with_data(json_web_token_error)
            }
            _ => Error::not_authenticated("jwt malformed").with_data(json_web_token_error),
        }
    }
}

/// The `exp` of an (already rejected as expired) token as an ISO date, for the error data.
fn expired_at(token: &str) -> Value {
    let exp = token
        .split('.')
        .nth(1)
        .and_then(base64_url_decode)
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|claims| claims.get("exp").and_then(Value::as_i64));
    exp.and_then(|e| chrono::DateTime::from_timestamp(e, 0))
        .map(|t| Value::String(t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()))
        .unwrap_or(Value::Null)
}

/// Unpadded base64url, as JWTs use.
fn b64url(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(char::from(B64URL[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn base64_url_decode(input: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = B64URL;
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let (mut buf, mut bits) = (0u32, 0u32);
    for c in input.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(expires_in: u64) -> Keys {
        let config = AuthConfig {
            expires_in,
            ..AuthConfig::default()
        };
        Keys::new("0123456789abcdef0123456789abcdef", &config)
    }

    /// A remembered token is still refused once expired, and remembering one never makes
    /// another spelling of it (a changed signature, payload or header) acceptable.
    #[test]
    fn remembered_tokens_expire_and_stay_exact() {
        let k = keys(2);
        let now = chrono::Utc::now().timestamp();
        let (token, claims) = k.issue(7, now).unwrap();
        // Issued here, so remembered; another server with the same secret checks it.
        assert_eq!(k.verify(&token).unwrap().claims, claims, "from memory");
        let fresh = keys(2);
        let checked = fresh.verify(&token).unwrap();
        assert_eq!(
            (&*checked.token, &checked.claims),
            (token.as_str(), &claims)
        );
        assert!(
            Arc::ptr_eq(&checked, &fresh.verify(&token).unwrap()),
            "one per token"
        );
        let [header, payload, signature] = token.split('.').collect::<Vec<_>>()[..] else {
            panic!("three parts")
        };
        let mut other_signature = signature.to_string();
        other_signature.replace_range(0..1, if signature.starts_with('A') { "B" } else { "A" });
        let forged_payload = b64url(
            String::from_utf8(base64_url_decode(payload).unwrap())
                .unwrap()
                .replace("\"sub\":\"7\"", "\"sub\":\"1\"")
                .as_bytes(),
        );
        for other in [
            format!("{header}.{payload}.{other_signature}"),
            format!("{header}.{forged_payload}.{signature}"),
            format!("{header}.{payload}.{signature}."),
            format!(" {token}"),
        ] {
            assert!(k.verify(&other).is_err(), "{other}");
        }
        std::thread::sleep(std::time::Duration::from_millis(
            u64::try_from((claims.exp - now) * 1000 + 50).unwrap(),
        ));
        let expired = k.verify(&token).unwrap_err();
        assert_eq!(expired.message, "jwt expired");
    }

    #[test]
    fn issues_feathers_shaped_tokens() {
        let k = keys(86_400);
        let (token, claims) = k.issue(7, 1_000).unwrap();
        assert_eq!(claims.sub, "7");
        assert_eq!(claims.exp - claims.iat, 86_400);
        let header = base64_url_decode(token.split('.').next().unwrap()).unwrap();
        assert_eq!(header, br#"{"alg":"HS256","typ":"access"}"#);
        for len in 0..8 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 200) as u8).collect();
            assert_eq!(base64_url_decode(&b64url(&bytes)).unwrap(), bytes);
        }
        let payload = base64_url_decode(token.split('.').nth(1).unwrap()).unwrap();
        let text = String::from_utf8(payload).unwrap();
        assert!(text.starts_with(
            r#"{"iat":1000,"exp":87400,"aud":"roost","iss":"roost","sub":"7","jti":""#
        ));
    }

    #[test]
    fn rejects_expired_tampered_and_malformed() {
        let k = keys(10);
        let (old, _) = k.issue(1, 1_000).unwrap();
        let e = k.verify(&old).unwrap_err();
        assert_eq!(e.message, "jwt expired");
        assert_eq!(e.data.unwrap()["expiredAt"], "1970-01-01T00:16:50.000Z");
        let now = chrono::Utc::now().timestamp();
        let (token, _) = k.issue(1, now).unwrap();
        assert!(k.verify(&token).is_ok());
        // Change the signature's first character: the last one carries padding bits.
        let (body, signature) = token.rsplit_once('.').unwrap();
        let first = if signature.starts_with('A') { 'B' } else { 'A' };
        let tampered = format!("{body}.{first}{}", &signature[1..]);
        assert_eq!(
            k.verify(&tampered).unwrap_err().message,
            "invalid signature"
        );
        assert_eq!(k.verify("nope").unwrap_err().message, "jwt malformed");
        let other = Keys::new("another-secret-another-secret-xxxx", &AuthConfig::default());
        assert_eq!(
            other.verify(&token).unwrap_err().message,
            "invalid signature"
        );
    }
}
