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
//!
//! This file holds the runtime ([`OAuth`]) and its start-up check; the browser flow is in
//! `flow.rs`, the code exchange, ID token and userinfo reading and the token login in
//! `identify.rs`.

pub mod account;

/// The service of provider identities linked to users (`services::user_oauth_providers`
/// serves it; the flow creates its rows, so the path is named here, once).
pub const LINKS_PATH: &str = "user_oauth_providers";

mod flow;
pub mod http;
mod identify;
pub mod idtoken;
pub mod provider;
pub mod redirect;
pub mod routes;
pub mod state;
pub mod strategy;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::auth::crypto::TokenCipher;
use crate::auth::throttle::RateLimit;
use crate::config::{Config, OAuthConfig};
use crate::error::Result;
use crate::hooks::{App, AppLink};
use crate::service::Db;
use http::Http;
use provider::Provider;

/// Message for a callback without a flow this server started (Feathers' wording).
pub const NO_FLOW: &str =
    "No valid oAuth response. You must initiate the oAuth flow from the authorize endpoint.";

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

    /// The cipher of client secrets and PKCE verifiers (the `auth_sessions` token key).
    pub fn shared_cipher(&self) -> Arc<TokenCipher> {
        self.cipher.clone()
    }

    async fn provider(&self, db: Db<'_>, slug: &str) -> Result<Provider> {
        provider::load(db, &self.http, &self.cipher, slug).await
    }
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
