//! Outgoing HTTP to providers: one reqwest client (rustls on ring, the platform's root
//! certificates), timeouts, no redirects followed, bounded response bodies, and the
//! discovery / JWKS caches with expiry.
//!
//! Provider URLs must be `https://`, except on loopback hosts (development and tests).
//! Errors never carry URLs with query strings, codes or tokens into logs or responses.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::RwLock;

use crate::error::{Error, ErrorKind, Result};

/// The largest provider response read.
const MAX_BODY: usize = 1 << 20;
/// A JWKS is fetched again for an unknown `kid` at most this often (key rotation).
const JWKS_REFRESH: Duration = Duration::from_secs(10);

/// Installs rustls' ring provider as the process default (reqwest is built without one).
/// Safe to call more than once.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The parts of an OpenID Connect discovery document Roost uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Option<Vec<String>>,
}

struct Cached<T> {
    value: Arc<T>,
    fetched: Instant,
}

pub struct Http {
    client: reqwest::Client,
    ttl: Duration,
    discovery: RwLock<HashMap<String, Cached<Discovery>>>,
    jwks: RwLock<HashMap<String, Cached<JwkSet>>>,
}

/// 502 for a provider that failed or answered nonsense; the detail is logged, not sent.
pub fn upstream(what: &str, detail: impl std::fmt::Display) -> Error {
    tracing::warn!(error = %detail, "oauth: {what}");
    Error::new(
        ErrorKind::BadGateway,
        format!("The identity provider failed: {what}"),
    )
}

/// Refuses URLs Roost must not call: anything but `https://`, or `http://` on loopback.
pub fn check_url(url: &str) -> Result<reqwest::Url> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| Error::bad_request("A provider URL is not a valid URL"))?;
    let host = parsed
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(Error::bad_request(
            "Provider URLs must use https (http only on loopback)",
        )),
    }
}

impl Http {
    pub fn new(timeout: Duration, ttl: Duration) -> anyhow::Result<Self> {
        install_crypto();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("roost/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            ttl,
            discovery: RwLock::new(HashMap::new()),
            jwks: RwLock::new(HashMap::new()),
        })
    }

    /// A client with reqwest's defaults (no timeouts from config), for detached runtimes.
    pub fn fallback() -> Self {
        install_crypto();
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            ttl: Duration::from_secs(3600),
            discovery: RwLock::new(HashMap::new()),
            jwks: RwLock::new(HashMap::new()),
        }
    }

    /// Sends `request` and reads a JSON body of at most [`MAX_BODY`] bytes. Non-2xx
    /// answers are errors (`what` names the step in the message).
    async fn json(&self, request: reqwest::RequestBuilder, what: &str) -> Result<Value> {
        let response = request
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| upstream(what, e.without_url()))?;
        let status = response.status();
        let body = read_limited(response)
            .await
            .map_err(|e| upstream(what, e))?;
        if !status.is_success() {
            // The body may hold an OAuth error code; it never holds a secret of ours.
            let error = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_default();
            if matches!(status.as_u16(), 400 | 401 | 403) {
                // A refusal (bad code, bad token, bad client credentials): logged for the
                // operator, answered as a failed login.
                tracing::warn!(status = %status, error = %error, "oauth: the provider refused the {what}");
                return Err(Error::not_authenticated(format!(
                    "The identity provider refused the {what}"
                )));
            }
            return Err(upstream(what, format!("status {status} {error}")));
        }
        serde_json::from_slice(&body).map_err(|e| upstream(what, e))
    }

    pub async fn get_json(&self, url: &str, bearer: Option<&str>, what: &str) -> Result<Value> {
        let url = check_url(url)?;
        let mut request = self.client.get(url);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        self.json(request, what).await
    }

    /// A form POST (the token endpoint), with optional HTTP Basic client authentication
    /// (`Authorization` already encoded).
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        authorization: Option<String>,
        what: &str,
    ) -> Result<Value> {
        let url = check_url(url)?;
        let mut request = self.client.post(url).form(form);
        if let Some(value) = authorization {
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        self.json(request, what).await
    }

    /// The discovery document of `issuer`, cached for the configured time. Its `issuer`
    /// must equal the configured one (OpenID Connect Discovery §4.3).
    pub async fn discovery(&self, issuer: &str) -> Result<Arc<Discovery>> {
        if let Some(hit) = self.discovery.read().await.get(issuer)
            && hit.fetched.elapsed() < self.ttl
        {
            return Ok(hit.value.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let value = self.get_json(&url, None, "discovery").await?;
        let doc: Discovery = serde_json::from_value(value).map_err(|e| upstream("discovery", e))?;
        if doc.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(upstream("discovery", "issuer mismatch"));
        }
        let doc = Arc::new(doc);
        let mut cache = self.discovery.write().await;
        cache.retain(|_, c| c.fetched.elapsed() < self.ttl);
        cache.insert(
            issuer.to_string(),
            Cached {
                value: doc.clone(),
                fetched: Instant::now(),
            },
        );
        Ok(doc)
    }

    /// The key set at `uri`: from the cache unless expired, or unless `kid` is missing from
    /// it and the copy is older than [`JWKS_REFRESH`] (the provider rotated its keys).
    pub async fn jwks(&self, uri: &str, kid: Option<&str>) -> Result<Arc<JwkSet>> {
        if let Some(hit) = self.jwks.read().await.get(uri) {
            let has_kid = kid.is_none_or(|k| hit.value.find(k).is_some());
            if hit.fetched.elapsed() < self.ttl && (has_kid || hit.fetched.elapsed() < JWKS_REFRESH)
            {
                return Ok(hit.value.clone());
            }
        }
        let value = self.get_json(uri, None, "jwks").await?;
        // Keys of types Roost cannot use are skipped, not fatal.
        let keys = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| upstream("jwks", "no keys array"))?
            .iter()
            .filter_map(|k| serde_json::from_value(k.clone()).ok())
            .collect();
        let set = Arc::new(JwkSet { keys });
        let mut cache = self.jwks.write().await;
        cache.retain(|_, c| c.fetched.elapsed() < self.ttl);
        cache.insert(
            uri.to_string(),
            Cached {
                value: set.clone(),
                fetched: Instant::now(),
            },
        );
        Ok(set)
    }
}

async fn read_limited(mut response: reqwest::Response) -> std::result::Result<Vec<u8>, String> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY as u64)
    {
        return Err("response too large".into());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| e.without_url().to_string())?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err("response too large".into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_https_or_loopback_http() {
        assert!(super::check_url("https://accounts.example.com/x").is_ok());
        assert!(super::check_url("http://127.0.0.1:4000/x").is_ok());
        assert!(super::check_url("http://localhost:4000/x").is_ok());
        assert!(super::check_url("http://[::1]:4000/x").is_ok());
        assert!(super::check_url("http://accounts.example.com/x").is_err());
        assert!(super::check_url("file:///etc/passwd").is_err());
        assert!(super::check_url("not a url").is_err());
    }
}
