//! Sign-in settings: authentication (JWT signing and lifetime), passwords, sign-up and
//! OAuth. Each section is a typed struct with its defaults, re-exported by
//! [`crate::config`].

use std::path::PathBuf;

use anyhow::anyhow;
use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};

use super::named;

/// The setting naming the private key asymmetric algorithms sign with.
pub const SIGNING_KEY: &str = "authentication.signing_key_file";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct AuthConfig {
    /// HS256 secret (raw UTF-8 bytes, as Feathers uses it). Generated into
    /// `data_dir/jwt-secret` on first start when neither this nor `secret_file` is set.
    pub secret: Option<String>,
    pub secret_file: Option<PathBuf>,
    /// How access tokens are signed: `HS256` (with `secret`, as Feathers does), `EdDSA`
    /// or `RS256` (with `signing_key_file`; other apps verify them with the public keys
    /// at `/.well-known/jwks.json`, no shared secret). Any case.
    pub algorithm: String,
    /// PKCS#8 PEM private key for `EdDSA` (Ed25519) or `RS256` (RSA, 2048 to 4096 bits).
    /// Never generated: `openssl genpkey -algorithm ed25519 -out roost-signing.pem`.
    pub signing_key_file: Option<PathBuf>,
    /// The `kid` of tokens and of the published key. Unset: the key's RFC 7638 JWK
    /// thumbprint.
    pub kid: Option<String>,
    /// PEM files (public or private) of earlier signing keys: tokens they signed stay
    /// valid until they expire, and they stay published. In the environment: a
    /// comma-separated list.
    #[serde(deserialize_with = "super::list_or_csv")]
    pub previous_keys: Vec<String>,
    /// `aud` claim written and required.
    pub audience: String,
    /// `iss` claim written and required.
    pub issuer: String,
    /// Access token lifetime in seconds.
    pub expires_in: u64,
    /// AES-256-GCM key (64 hex characters) for `auth_sessions.encrypted_token`. Generated
    /// into `data_dir/token-key` on first start when neither this nor `token_key_file` is set.
    pub token_key: Option<String>,
    pub token_key_file: Option<PathBuf>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            secret: None,
            secret_file: None,
            algorithm: "HS256".into(),
            signing_key_file: None,
            kid: None,
            previous_keys: Vec::new(),
            audience: "roost".into(),
            issuer: "roost".into(),
            expires_in: 86_400,
            token_key: None,
            token_key_file: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct PasswordConfig {
    /// Never below 8, whatever is configured.
    pub min_length: usize,
    pub max_length: usize,
    /// Password hashes / checks that may wait for a worker (one per core) before more
    /// are refused with 503 `Unavailable` + `Retry-After` (`auth::password`).
    pub hash_queue: usize,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            min_length: 12,
            max_length: 128,
            hash_queue: 64,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct SignupConfig {
    /// Allow anonymous `users.create`.
    pub open: bool,
}

/// OAuth / OpenID Connect login (`GET /oauth/:slug`, see `oauth`). Providers themselves
/// are rows of `oauth_providers`, not config.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct OAuthConfig {
    /// Frontend origins (`https://app.example.com`) a finished flow may redirect to. A
    /// `redirect` query naming another origin is refused (no open redirect). In the
    /// environment: a comma-separated list.
    #[serde(deserialize_with = "super::list_or_csv")]
    pub origins: Vec<String>,
    /// Where a finished flow goes when its `redirect` query is a path or absent: a URL on
    /// one of `origins`. Unset: the first of `origins`.
    pub redirect: Option<String>,
    /// This server's public base URL, for the `redirect_uri` sent to providers
    /// (`<public_url>/oauth/<slug>/callback`). Unset: `http://<Host header>` (`https://`
    /// when `env` is `production`).
    pub public_url: Option<String>,
    /// Seconds a started flow may take before its state expires.
    pub state_ttl: u64,
    /// Flows one client IP may start per 10 minutes (each stores a pending state until it
    /// finishes or expires); more answer 429.
    pub starts_per_ip: u32,
    /// Seconds discovery documents and JWKS are cached.
    pub cache_ttl: u64,
    /// Timeout of each request to a provider, in milliseconds.
    pub timeout_ms: u64,
    /// Clock skew allowed when checking ID token times, in seconds.
    pub leeway: u64,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            origins: Vec::new(),
            redirect: None,
            public_url: None,
            state_ttl: 600,
            starts_per_ip: 60,
            cache_ttl: 3600,
            timeout_ms: 10_000,
            leeway: 60,
        }
    }
}

/// The configured algorithm (any case) in its JOSE spelling, or `None` when unknown.
pub fn algorithm_named(name: &str) -> Option<(&'static str, Algorithm)> {
    [
        ("HS256", Algorithm::HS256),
        ("EdDSA", Algorithm::EdDSA),
        ("RS256", Algorithm::RS256),
    ]
    .into_iter()
    .find(|(spelling, _)| spelling.eq_ignore_ascii_case(name.trim()))
}

/// [`algorithm_named`], or the start error naming the setting.
pub fn algorithm(name: &str) -> anyhow::Result<Algorithm> {
    algorithm_named(name).map(|(_, alg)| alg).ok_or_else(|| {
        anyhow!(
            "{} must be HS256 (the default: a shared secret, as Feathers), EdDSA or RS256 \
             (signed with {}), not '{name}'",
            named("authentication.algorithm"),
            named(SIGNING_KEY)
        )
    })
}

/// The JOSE name of the algorithms Roost uses.
pub fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::EdDSA => "EdDSA",
        Algorithm::RS256 => "RS256",
        _ => "HS256",
    }
}

/// 64 hex characters -> 32 bytes (`authentication.token_key`, and the key file Roost
/// generates in the data directory).
pub fn parse_key(text: &str) -> Option<[u8; 32]> {
    unhex(text.trim())?.try_into().ok()
}

/// Hex text -> bytes; `None` unless every pair is a hex byte.
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl OAuthConfig {
    /// Rejects an unusable `[oauth]` section at start-up, naming the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        for origin in &self.origins {
            if origin_of(origin).is_none() {
                anyhow::bail!("oauth.origins: '{origin}' is not an http(s) origin");
            }
        }
        if let Some(target) = &self.redirect
            && !allowed_origin(target, &self.origins)
        {
            anyhow::bail!("oauth.redirect must be a URL on one of oauth.origins");
        }
        if let Some(url) = &self.public_url
            && origin_of(url).is_none()
        {
            anyhow::bail!("oauth.public_url must be an http(s) URL");
        }
        if self.state_ttl == 0 || self.timeout_ms == 0 {
            anyhow::bail!("oauth.state_ttl and oauth.timeout_ms must be at least 1");
        }
        Ok(())
    }
}

/// `scheme://host[:port]` of an absolute `http(s)` URL, lowercased, default ports dropped.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.is_empty()
        || authority.contains(['@', '\\', ' '])
        || authority.chars().any(|c| c.is_control())
    {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let default_port = if scheme == "http" { ":80" } else { ":443" };
    let authority = authority
        .strip_suffix(default_port)
        .unwrap_or(&authority)
        .to_string();
    Some(format!("{scheme}://{authority}"))
}

/// True when `url` is an absolute URL on one of `origins`.
pub fn allowed_origin(url: &str, origins: &[String]) -> bool {
    let Some(origin) = origin_of(url) else {
        return false;
    };
    origins
        .iter()
        .filter_map(|o| origin_of(o.trim_end_matches('/')))
        .any(|o| o == origin)
}
