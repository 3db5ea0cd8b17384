//! OAuth2 / OpenID Connect login through the `oauth_providers` table (DESIGN §3,
//! feathers-protocol §8).
//!
//! - `GET /oauth/:slug[?redirect=<path or allowed URL>]` answers 303 to the provider's
//!   authorization endpoint with `state`, PKCE (S256) and, when the row's `nonce` is true,
//!   a `nonce` ([`OAuth::start`]). It signs in; it never links: a `feathers_token` in its
//!   query is refused (400), because any page can send a browser to a URL, and one holding
//!   an attacker's token would link the victim's provider identity to the attacker's
//!   account (and puts a token in a URL).
//! - `POST /oauth/:slug/link[?redirect=...]` with `Authorization: Bearer <access token>`
//!   (header only: a foreign page cannot make a browser send it without a CORS preflight)
//!   starts the same flow bound to that user and to this browser (the same cookie), and
//!   answers 200 `{"location": <authorize URL>}` for the app to navigate to. JSON rather
//!   than a 303, because `fetch` follows a redirect itself (or hides it with
//!   `redirect: "manual"`) where the page needs the URL to navigate the window.
//! - `GET /oauth/:slug/callback` takes the flow's state (single use, expiring, bound to the
//!   browser by a cookie), exchanges the code, validates the ID token or reads userinfo,
//!   resolves the account ([`account`]) and answers 303 to
//!   `<app origin><redirect>#access_token=<jwt>` (or `#error=<message>`), exactly what
//!   `@feathersjs/authentication-client` picks up ([`OAuth::callback`]).
//! - `POST /authentication {strategy: <slug>, id_token | access_token}`: the same
//!   validation for apps that ran the provider flow themselves ([`OAuth::token_login`]).
//!   On a socket already bound by a login it links to that user (the account holder's
//!   own connection); over REST it never links (`authentication.create` ignores the
//!   `Authorization` header).
//!
//! Every link to an existing account is told to that account by email (after the link
//! commits; [`account`]).
//!
//! Never logged or returned: codes, states, provider tokens, client secrets. The only
//! token that leaves is the Roost JWT in the final redirect's fragment, as in Feathers.

pub mod account;
pub mod http;
pub mod idtoken;
pub mod provider;
pub mod redirect;
pub mod routes;
pub mod state;
pub mod strategy;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use crate::app::{App, AppLink};
use crate::auth::crypto::TokenCipher;
use crate::auth::throttle::RateLimit;
use crate::config::{Config, OAuthConfig};
use crate::error::{Error, Result};
use crate::service::{Connection, Ctx, Db};
use account::Identity;
use http::Http;
use provider::Provider;
use state::Pending;

/// Message for a callback without a flow this server started (Feathers' wording).
pub const NO_FLOW: &str =
    "No valid oAuth response. You must initiate the oAuth flow from the authorize endpoint.";

/// Rejects an unusable `[oauth]` section at start-up, naming the key.
pub fn validate_config(config: &OAuthConfig) -> anyhow::Result<()> {
    for origin in &config.origins {
        if redirect::origin_of(origin).is_none() {
            anyhow::bail!("oauth.origins: '{origin}' is not an http(s) origin");
        }
    }
    if let Some(target) = &config.redirect
        && !redirect::allowed(target, &config.origins)
    {
        anyhow::bail!("oauth.redirect must be a URL on one of oauth.origins");
    }
    if let Some(url) = &config.public_url
        && redirect::origin_of(url).is_none()
    {
        anyhow::bail!("oauth.public_url must be an http(s) URL");
    }
    if config.state_ttl == 0 || config.timeout_ms == 0 {
        anyhow::bail!("oauth.state_ttl and oauth.timeout_ms must be at least 1");
    }
    Ok(())
}

/// The OAuth runtime: HTTP client and caches, the secret cipher, the app it serves.
pub struct OAuth {
    http: Http,
    cipher: Arc<TokenCipher>,
    config: OAuthConfig,
    app: AppLink,
    /// Flow starts per client IP: each stores a pending state row.
    starts: RateLimit,
}

const START_WINDOW_MS: i64 = 10 * 60 * 1_000;

fn start_limit(config: &OAuthConfig) -> RateLimit {
    RateLimit::new(
        config.starts_per_ip,
        START_WINDOW_MS,
        "Too many sign-ins started from this address, try again later",
    )
}

/// What `GET /oauth/:slug` answers.
#[derive(Debug)]
pub struct Started {
    pub location: String,
    pub cookie: String,
}

/// What the callback answers: a redirect, or (no app origin configured) the result as JSON.
#[derive(Debug)]
pub enum Finished {
    Redirect {
        location: String,
        clear_cookie: String,
    },
    Json(Value),
}

impl OAuth {
    pub fn new(config: &Config, cipher: Arc<TokenCipher>) -> anyhow::Result<Self> {
        let oauth = &config.oauth;
        Ok(Self {
            http: Http::new(
                Duration::from_millis(oauth.timeout_ms),
                Duration::from_secs(oauth.cache_ttl),
            )?,
            cipher,
            config: oauth.clone(),
            app: AppLink::default(),
            starts: start_limit(oauth),
        })
    }

    /// Connects the runtime to the app it serves (done once by `app::build`).
    pub fn attach(&self, app: &App) {
        self.app.set(app);
    }

    fn app(&self) -> Result<App> {
        self.app.get()
    }

    pub fn cipher(&self) -> &TokenCipher {
        &self.cipher
    }

    /// The cipher of client secrets and PKCE verifiers (the `auth_sessions` token key).
    pub fn shared_cipher(&self) -> Arc<TokenCipher> {
        self.cipher.clone()
    }

    async fn provider(&self, db: Db<'_>, slug: &str) -> Result<Provider> {
        provider::load(db, &self.http, &self.cipher, slug).await
    }

    /// Starts a flow: stores its state and returns where to send the browser.
    ///
    /// `link_user_id` is the account the identity is to be linked to. It must come from a
    /// proof by that account in this same browser (`POST /oauth/:slug/link` with the
    /// session in the `Authorization` header), never from a value a foreign page could
    /// put in a URL: the browser-binding cookie set with the answer is what ties the
    /// provider's callback to the account holder's browser.
    pub async fn start(
        &self,
        slug: &str,
        redirect: Option<&str>,
        link_user_id: Option<i64>,
        host: Option<&str>,
        client_ip: Option<&str>,
    ) -> Result<Started> {
        self.starts.hit(client_ip.unwrap_or("unknown"))?;
        let app = self.app()?;
        let provider = self.provider(Db::Pool(&app.db), slug).await?;
        let target = redirect::resolve(&self.config, redirect)?;
        let base = match (&self.config.public_url, host) {
            (Some(url), _) => url.trim_end_matches('/').to_string(),
            // As Feathers: http outside production, https in production.
            (None, Some(host)) if valid_host(host) => {
                let scheme = if app.config.is_production() {
                    "https"
                } else {
                    "http"
                };
                format!("{scheme}://{host}")
            }
            _ => return Err(Error::bad_request("Missing Host header")),
        };
        let redirect_uri = format!("{base}/oauth/{}/callback", redirect::encode_component(slug));
        let state = state::random_token(32);
        let browser = state::random_token(32);
        let verifier = state::random_token(32);
        let nonce = provider.nonce.then(|| state::random_token(24));
        let state_hash = state::sha256_hex(&state);
        let now = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(self.config.state_ttl).unwrap_or(600);
        let pending = Pending {
            slug: provider.slug.clone(),
            browser_hash: state::sha256_hex(&browser),
            code_verifier: self.cipher.encrypt(&verifier)?,
            nonce: nonce.clone(),
            redirect_uri: redirect_uri.clone(),
            redirect: target,
            link_user_id,
            expires_at: now.saturating_add(ttl),
        };
        let write = app.db.write().await?;
        state::save(write.db(), &state_hash, &pending, now).await?;
        write.commit().await?;
        let mut url = http::check_url(&provider.authorize_url)?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &provider.client_id)
                .append_pair("redirect_uri", &redirect_uri)
                .append_pair("state", &state)
                .append_pair("code_challenge", &state::pkce_challenge(&verifier))
                .append_pair("code_challenge_method", "S256");
            let scope = provider
                .scope
                .clone()
                .or_else(|| provider.is_oidc().then(|| "openid".to_string()));
            if let Some(scope) = scope {
                query.append_pair("scope", &scope);
            }
            if let Some(nonce) = &nonce {
                query.append_pair("nonce", nonce);
            }
        }
        let secure = if redirect_uri.starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!(
            "{}={browser}; Path=/oauth/{}/callback; Max-Age={ttl}; HttpOnly; SameSite=Lax{secure}",
            state::cookie_name(&state_hash),
            redirect::encode_component(slug),
        );
        Ok(Started {
            location: url.to_string(),
            cookie,
        })
    }

    /// Finishes a flow. `Err` only when no flow of this server matches (401, JSON): once
    /// the flow is known, failures are delivered to the app as `#error=`.
    pub async fn callback(
        &self,
        slug: &str,
        query: &Map<String, Value>,
        cookies: &str,
        connection: &Connection,
    ) -> Result<Finished> {
        let app = self.app()?;
        let text = |name: &str| {
            query
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let state = text("state").ok_or_else(|| Error::not_authenticated(NO_FLOW))?;
        let state_hash = state::sha256_hex(state);
        let write = app.db.write().await?;
        let pending = state::take(write.db(), &state_hash).await?;
        write.commit().await?;
        let pending = pending
            .filter(|p| p.slug == slug)
            .ok_or_else(|| Error::not_authenticated(NO_FLOW))?;
        let cookie_name = state::cookie_name(&state_hash);
        let clear_cookie = format!(
            "{cookie_name}=; Path=/oauth/{}/callback; Max-Age=0; HttpOnly; SameSite=Lax",
            redirect::encode_component(slug)
        );
        let outcome = self
            .finish(
                &app,
                slug,
                &pending,
                text,
                cookies,
                &cookie_name,
                connection,
            )
            .await;
        let Some(target) = pending.redirect.as_deref() else {
            return outcome.map(Finished::Json);
        };
        let location = match outcome {
            Ok(result) => {
                let token = result
                    .get("accessToken")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                redirect::with_token(target, token)
            }
            Err(e) => {
                tracing::info!(provider = %slug, error = %e, "oauth login failed");
                redirect::with_error(target, &e.message)
            }
        };
        Ok(Finished::Redirect {
            location,
            clear_cookie,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish<'q>(
        &self,
        app: &App,
        slug: &str,
        pending: &Pending,
        text: impl Fn(&str) -> Option<&'q str>,
        cookies: &str,
        cookie_name: &str,
        connection: &Connection,
    ) -> Result<Value> {
        let now = chrono::Utc::now().timestamp();
        if pending.expires_at < now {
            return Err(Error::not_authenticated(
                "The login took too long; start again",
            ));
        }
        let browser = cookie_value(cookies, cookie_name)
            .ok_or_else(|| Error::not_authenticated("This login was started in another browser"))?;
        if state::sha256_hex(browser) != pending.browser_hash {
            return Err(Error::not_authenticated(
                "This login was started in another browser",
            ));
        }
        if let Some(error) = text("error") {
            let error: String = error
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(64)
                .collect();
            return Err(Error::not_authenticated(format!(
                "The provider refused the login ({error})"
            )));
        }
        let code = text("code").ok_or_else(|| Error::not_authenticated("Missing code"))?;
        let provider = self.provider(Db::Pool(&app.db), slug).await?;
        let verifier = self
            .cipher
            .decrypt(&pending.code_verifier)
            .ok_or_else(|| Error::internal("cannot decrypt a PKCE verifier"))?;
        let tokens = self
            .exchange(&provider, code, &verifier, &pending.redirect_uri)
            .await?;
        let identity = self
            .identify(&provider, &tokens, pending.nonce.as_deref())
            .await?;
        account::sign_in(app, &provider, &identity, pending.link_user_id, connection).await
    }

    /// The token endpoint's answer to an authorization code.
    async fn exchange(
        &self,
        provider: &Provider,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<Map<String, Value>> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        let mut authorization = None;
        match (&provider.client_secret, provider.basic_auth) {
            (Some(secret), true) => {
                // RFC 6749 §2.3.1: both parts form-encoded before Base64.
                let enc =
                    |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                let pair = format!("{}:{}", enc(&provider.client_id), enc(secret));
                authorization = Some(format!("Basic {}", STANDARD.encode(pair)));
            }
            (Some(secret), false) => {
                form.push(("client_id", &provider.client_id));
                form.push(("client_secret", secret));
            }
            (None, _) => form.push(("client_id", &provider.client_id)),
        }
        let value = self
            .http
            .post_form(&provider.token_url, &form, authorization, "token exchange")
            .await?;
        match value {
            Value::Object(map) => Ok(map),
            _ => Err(http::upstream("token exchange", "not a JSON object")),
        }
    }

    /// Who the provider says this is, from its tokens: the validated ID token (OpenID
    /// Connect) completed by userinfo, or userinfo alone (plain OAuth2).
    async fn identify(
        &self,
        provider: &Provider,
        tokens: &Map<String, Value>,
        nonce: Option<&str>,
    ) -> Result<Identity> {
        let access_token = tokens.get("access_token").and_then(Value::as_str);
        let id_token = tokens.get("id_token").and_then(Value::as_str);
        if provider.is_oidc() {
            let id_token = id_token
                .ok_or_else(|| Error::not_authenticated("The provider sent no ID token"))?;
            let claims =
                idtoken::validate(&self.http, provider, id_token, nonce, self.config.leeway)
                    .await?;
            self.with_userinfo(provider, claims, access_token).await
        } else {
            let access_token = access_token
                .ok_or_else(|| Error::not_authenticated("The provider sent no access token"))?;
            self.read_userinfo(provider, access_token).await
        }
    }

    /// OpenID Connect: the ID token's claims, completed by userinfo when available (whose
    /// `sub` must be the same, OIDC Core §5.3.2).
    async fn with_userinfo(
        &self,
        provider: &Provider,
        mut claims: Map<String, Value>,
        access_token: Option<&str>,
    ) -> Result<Identity> {
        if let (Some(url), Some(token)) = (&provider.userinfo_url, access_token) {
            let info = self.http.get_json(url, Some(token), "userinfo").await?;
            if info.get("sub") != claims.get("sub") {
                return Err(Error::not_authenticated(
                    "userinfo is about another subject",
                ));
            }
            if let Value::Object(info) = info {
                for (k, v) in info {
                    claims.entry(k).or_insert(v);
                }
            }
        }
        Identity::from_claims(&claims, "sub")
    }

    /// Plain OAuth2: userinfo read with the access token; the subject is `subject_field`.
    async fn read_userinfo(&self, provider: &Provider, access_token: &str) -> Result<Identity> {
        let url = provider
            .userinfo_url
            .as_deref()
            .ok_or_else(|| Error::bad_request("The provider has no userinfo endpoint"))?;
        let info = self
            .http
            .get_json(url, Some(access_token), "userinfo")
            .await?;
        let Value::Object(info) = info else {
            return Err(http::upstream("userinfo", "not a JSON object"));
        };
        Identity::from_claims(&info, &provider.subject_field)
    }

    /// The provider `slug` for a token login, `None` when there is no such row (then the
    /// name is no strategy at all). A row that is not fully configured is a 400.
    pub async fn token_provider(&self, db: Db<'_>, slug: &str) -> Result<Option<Provider>> {
        match self.provider(db, slug).await {
            Ok(p) => Ok(Some(p)),
            Err(e) if e.code() == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /authentication {strategy: <slug>, id_token | access_token [, nonce]}` with
    /// the provider [`OAuth::token_provider`] found (`strategy::ProviderLogin`).
    pub async fn token_login(
        &self,
        ctx: &Ctx<'_>,
        provider: &Provider,
        data: &Map<String, Value>,
    ) -> Result<Value> {
        let app = self.app()?;
        let text = |name: &str| {
            data.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let identity = match (text("id_token"), text("access_token")) {
            (Some(id_token), access_token) if provider.is_oidc() => {
                let nonce = if provider.nonce {
                    Some(text("nonce").ok_or_else(|| {
                        Error::not_authenticated("A nonce is required for this provider")
                    })?)
                } else {
                    text("nonce")
                };
                let claims =
                    idtoken::validate(&self.http, provider, id_token, nonce, self.config.leeway)
                        .await?;
                self.with_userinfo(provider, claims, access_token).await?
            }
            (_, Some(_)) if provider.is_oidc() => {
                return Err(Error::not_authenticated(
                    "An id_token is required for OpenID Connect providers",
                ));
            }
            (_, Some(access_token)) => self.read_userinfo(provider, access_token).await?,
            _ => {
                return Err(Error::not_authenticated(
                    "An id_token or access_token is required",
                ));
            }
        };
        let link = ctx.params.principal.as_ref().map(|p| p.user_id);
        account::sign_in(&app, provider, &identity, link, &ctx.params.connection).await
    }
}

/// A `Host` header value that is a plain `host[:port]`.
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// The value of cookie `name` in a `Cookie` header.
fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

impl Default for OAuth {
    /// A detached runtime with default settings and an ephemeral cipher (unit tests).
    fn default() -> Self {
        let config = OAuthConfig::default();
        Self {
            http: Http::fallback(),
            cipher: Arc::new(TokenCipher::ephemeral()),
            starts: start_limit(&config),
            config,
            app: AppLink::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cookies_and_hosts() {
        assert_eq!(
            super::cookie_value("a=1; roost_oauth_x=abc; b=2", "roost_oauth_x"),
            Some("abc")
        );
        assert_eq!(super::cookie_value("a=1", "b"), None);
        assert!(super::valid_host("127.0.0.1:3030"));
        assert!(super::valid_host("[::1]:3030"));
        assert!(!super::valid_host("evil.example/x?"));
        assert!(!super::valid_host(""));
    }
}
