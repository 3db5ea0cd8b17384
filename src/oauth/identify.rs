//! Who the provider says signed in: the authorization code exchanged at the token
//! endpoint, the ID token validated (OpenID Connect) and completed by userinfo, or
//! userinfo alone (plain OAuth2); and the token login (`POST /authentication` with a
//! provider's `id_token` or `access_token`) that runs the same validation.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::account::{self, Identity};
use super::provider::Provider;
use super::{OAuth, http, idtoken};
use crate::error::{Error, Result};
use crate::service::{Ctx, Db, Field};

/// The data of a token login: tokens the app obtained from the provider itself. A field
/// that is empty or not a string reads as absent.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenLogin {
    pub id_token: Field<String>,
    pub access_token: Field<String>,
    pub nonce: Field<String>,
}

impl OAuth {
    /// The token endpoint's answer to an authorization code.
    pub(super) async fn exchange(
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
    pub(super) async fn identify(
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
        input: &TokenLogin,
    ) -> Result<Value> {
        let app = self.app()?;
        let nonce = input.nonce.non_empty();
        let identity = match (input.id_token.non_empty(), input.access_token.non_empty()) {
            (Some(id_token), access_token) if provider.is_oidc() => {
                let nonce = if provider.nonce {
                    Some(nonce.ok_or_else(|| {
                        Error::not_authenticated("A nonce is required for this provider")
                    })?)
                } else {
                    nonce
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
