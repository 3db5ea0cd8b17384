//! The browser flow: [`OAuth::start`] stores a pending state and sends the browser to the
//! provider; [`OAuth::callback`] takes that state back (single use, expiring, bound to the
//! browser by a cookie), exchanges the code and signs in, answering with a redirect to the
//! app or JSON. Also the small `Host` and `Cookie` header readers the flow needs.

use serde_json::{Map, Value};

use super::state::{self, Pending};
use super::{Finished, NO_FLOW, OAuth, Started, account, http, redirect};
use crate::error::{Error, Result};
use crate::hooks::App;
use crate::service::{Connection, Db};

impl OAuth {
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
