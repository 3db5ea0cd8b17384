//! A provider as the flow uses it, resolved from its `oauth_providers` row on every use (a
//! changed row takes effect at once) plus its issuer's discovery document (cached).
//!
//! - `issuer` set: OpenID Connect. Endpoints come from discovery; explicit URL columns
//!   override them; an ID token is required and validated against the issuer's JWKS.
//! - `issuer` null: plain OAuth2. `authorize_url`, `token_url` and `userinfo_url` are all
//!   required; the subject is the userinfo field `subject_field` (default `id`).
//!
//! `secret` is stored encrypted (`enc:` + AES-256-GCM, [`seal_secret`]); a value without
//! the prefix (written before encryption existed) is used as it is.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};

use super::http::Http;
use crate::auth::crypto::TokenCipher;
use crate::error::{Error, Result};
use crate::service::Db;

const SEALED: &str = "enc:";

/// Encrypts a client secret for storage.
pub fn seal_secret(cipher: &TokenCipher, secret: &str) -> Result<String> {
    Ok(format!("{SEALED}{}", cipher.encrypt(secret)?))
}

/// The client secret of a stored value (see the module docs).
pub fn open_secret(cipher: &TokenCipher, stored: &str) -> Result<String> {
    match stored.strip_prefix(SEALED) {
        Some(sealed) => cipher
            .decrypt(sealed)
            .ok_or_else(|| Error::internal("an OAuth client secret cannot be decrypted")),
        None => Ok(stored.to_string()),
    }
}

#[derive(Debug, Clone)]
pub struct Provider {
    pub slug: String,
    pub name: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub scope: Option<String>,
    pub nonce: bool,
    pub allow_signup: bool,
    /// Set for OpenID Connect providers.
    pub issuer: Option<String>,
    pub authorize_url: String,
    pub token_url: String,
    pub userinfo_url: Option<String>,
    pub jwks_uri: Option<String>,
    pub subject_field: String,
    /// Client authentication at the token endpoint: HTTP Basic (else form fields).
    pub basic_auth: bool,
    pub id_token_algs: Option<Vec<String>>,
}

impl Provider {
    pub fn is_oidc(&self) -> bool {
        self.issuer.is_some()
    }
}

fn not_configured(slug: &str, what: &str) -> Error {
    Error::bad_request(format!(
        "OAuth provider '{slug}' is not fully configured ({what})"
    ))
}

/// Loads and resolves the provider `slug`. 404 when there is no such row.
pub async fn load(db: Db<'_>, http: &Http, cipher: &TokenCipher, slug: &str) -> Result<Provider> {
    let columns = [
        "name",
        "slug",
        "key",
        "secret",
        "scope",
        "nonce",
        "issuer",
        "authorize_url",
        "token_url",
        "userinfo_url",
        "subject_field",
        "allow_signup",
    ];
    let select = Query::select()
        .columns(columns.map(Alias::new))
        .from(Alias::new("oauth_providers"))
        .and_where(Expr::col(Alias::new("slug")).eq(slug))
        .limit(1)
        .to_owned();
    let row = db
        .query_one(db.build(&select))
        .await
        .map_err(Error::internal)?
        .ok_or_else(|| Error::not_found(format!("No OAuth provider '{slug}'")))?;
    let text = |name: &str| {
        row.try_get::<Option<String>>("", name)
            .map(|v| v.filter(|s| !s.trim().is_empty()))
            .map_err(Error::internal)
    };
    let client_id = text("key")?.ok_or_else(|| not_configured(slug, "key"))?;
    let client_secret = match text("secret")? {
        Some(stored) => Some(open_secret(cipher, &stored)?),
        None => None,
    };
    let issuer = text("issuer")?;
    let discovery = match &issuer {
        Some(issuer) => Some(http.discovery(issuer).await?),
        None => None,
    };
    let authorize_url = text("authorize_url")?
        .or_else(|| discovery.as_ref().map(|d| d.authorization_endpoint.clone()))
        .ok_or_else(|| not_configured(slug, "authorize_url"))?;
    let token_url = text("token_url")?
        .or_else(|| discovery.as_ref().and_then(|d| d.token_endpoint.clone()))
        .ok_or_else(|| not_configured(slug, "token_url"))?;
    let userinfo_url = text("userinfo_url")?
        .or_else(|| discovery.as_ref().and_then(|d| d.userinfo_endpoint.clone()));
    if issuer.is_none() && userinfo_url.is_none() {
        return Err(not_configured(slug, "userinfo_url"));
    }
    let jwks_uri = discovery.as_ref().and_then(|d| d.jwks_uri.clone());
    if issuer.is_some() && jwks_uri.is_none() {
        return Err(not_configured(slug, "jwks_uri in discovery"));
    }
    // RFC 8414 / OIDC Discovery: without the list, client_secret_basic is the default.
    let basic_auth = match &discovery {
        Some(d) => d
            .token_endpoint_auth_methods_supported
            .as_ref()
            .is_none_or(|m| m.iter().any(|m| m == "client_secret_basic")),
        None => false,
    };
    let subject_field = text("subject_field")?
        .unwrap_or_else(|| if issuer.is_some() { "sub" } else { "id" }.to_string());
    Ok(Provider {
        slug: slug.to_string(),
        name: text("name")?.unwrap_or_else(|| slug.to_string()),
        client_id,
        client_secret,
        scope: text("scope")?,
        nonce: row.try_get::<bool>("", "nonce").unwrap_or(false),
        allow_signup: row.try_get::<bool>("", "allow_signup").unwrap_or(false),
        id_token_algs: discovery
            .as_ref()
            .and_then(|d| d.id_token_signing_alg_values_supported.clone()),
        issuer: discovery.as_ref().map(|d| d.issuer.clone()),
        authorize_url,
        token_url,
        userinfo_url,
        jwks_uri,
        subject_field,
        basic_auth,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_sealed_and_legacy_values_pass() {
        let cipher = TokenCipher::new(&[3u8; 32]);
        let sealed = seal_secret(&cipher, "s3cret").unwrap();
        assert!(sealed.starts_with("enc:"));
        assert!(!sealed.contains("s3cret"));
        assert_eq!(open_secret(&cipher, &sealed).unwrap(), "s3cret");
        assert_eq!(open_secret(&cipher, "plain").unwrap(), "plain");
        assert!(open_secret(&TokenCipher::new(&[4u8; 32]), &sealed).is_err());
    }
}
