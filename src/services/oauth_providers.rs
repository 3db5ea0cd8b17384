//! `oauth_providers` — configured OAuth2 / OpenID Connect providers (see `oauth`).
//!
//! - Path `oauth_providers`; methods find, get, create, update, patch, remove; paginated;
//!   multi off. A row is enough to enable a provider; changes apply to the next login.
//! - Fields: `id, name, slug, key, scope, nonce, issuer, authorize_url, token_url,
//!   userinfo_url, subject_field, allow_signup, created_at, updated_at`; `slug` required,
//!   unique; `nonce` and `allow_signup` default to false. `key` is the client id; `scope`
//!   is sent as given (`openid` when null on an OpenID Connect provider); `nonce` turns on
//!   the OIDC nonce. `issuer` makes it an OpenID Connect provider (endpoints from
//!   discovery); plain OAuth2 providers name `authorize_url`, `token_url`, `userinfo_url`
//!   and `subject_field` (the userinfo field with the subject id; default `sub` / `id`).
//!   Provider URLs must be `https://` (or `http://` on loopback): 400 otherwise.
//! - `secret` is **write-only** and stored encrypted (AES-256-GCM, `enc:` prefix): accepted,
//!   never returned, never usable in a query, never in an event.
//! - Scopes (prefix `auth_providers`): `auth_providers_read`, `auth_providers_write`.
//! - Events: `oauth_providers created|updated|patched|removed` (without `secret`).

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::crypto::TokenCipher;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::service::{Ctx, Field, Policy, ScopeRule, peek};
use crate::store::{Change, Column, Prepared, SqlService, Table, WriteRules};

pub const PATH: &str = "oauth_providers";

/// Who may do what (DESIGN §4).
pub const POLICY: Policy = Policy::scoped(ScopeRule::read_write(
    "auth_providers",
    "auth_providers_read",
    "auth_providers_write",
));

pub fn table() -> Table {
    Table::new(PATH)
        .column(Column::text("name"))
        .column(Column::text("slug").required().non_empty())
        .column(Column::text("key"))
        .column(Column::text("secret").write_only())
        .column(Column::text("scope"))
        .column(Column::bool("nonce").default_value(json!(false)))
        .column(Column::text("issuer"))
        .column(Column::text("authorize_url"))
        .column(Column::text("token_url"))
        .column(Column::text("userinfo_url"))
        .column(Column::text("subject_field"))
        .column(Column::bool("allow_signup").default_value(json!(false)))
        .unique(&["slug"])
}

/// What the rules check in a provider's data; a field that is not a string is the store's
/// to refuse.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ProviderData {
    slug: Field<String>,
    issuer: Field<String>,
    authorize_url: Field<String>,
    token_url: Field<String>,
    userinfo_url: Field<String>,
    secret: Field<String>,
}

impl ProviderData {
    /// The provider URLs, by field name.
    fn urls(&self) -> [(&'static str, &Field<String>); 4] {
        [
            ("issuer", &self.issuer),
            ("authorize_url", &self.authorize_url),
            ("token_url", &self.token_url),
            ("userinfo_url", &self.userinfo_url),
        ]
    }
}

/// Seals `secret` before it is stored and checks slugs and provider URLs.
struct ProviderRules {
    /// The app's key.
    cipher: Arc<TokenCipher>,
}

/// The service, sealing secrets with `cipher` (the app's, shared with the OAuth flow).
pub fn service(config: &Config, cipher: Arc<TokenCipher>) -> SqlService {
    super::standard(table(), POLICY, config).with_rules(ProviderRules { cipher })
}

#[async_trait]
impl WriteRules for ProviderRules {
    /// Slugs go in paths: letters, digits, `-_`.
    async fn before_write(
        &self,
        _ctx: &Ctx<'_>,
        _store: &SqlService,
        _change: Change<'_>,
        mut data: Value,
    ) -> Result<Prepared> {
        // A body that is not an object reads as empty: the store answers with its own 400.
        let input: ProviderData = peek(&data)?;
        if let Some(slug) = input.slug.get()
            && (slug.is_empty()
                || slug.len() > 64
                || !slug
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(Error::bad_request("Invalid slug")
                .with_errors(json!({ "slug": "letters, digits, '-' and '_' only" })));
        }
        for (field, url) in input.urls() {
            if let Some(url) = url.non_empty()
                && crate::oauth::http::check_url(url).is_err()
            {
                return Err(Error::bad_request(format!("Invalid {field}")).with_errors(
                    json!({ field: "must be an https:// URL (http:// only on loopback)" }),
                ));
            }
        }
        if let Some(secret) = input.secret.non_empty()
            && let Value::Object(map) = &mut data
        {
            let sealed = crate::oauth::provider::seal_secret(&self.cipher, secret)?;
            map.insert("secret".into(), Value::String(sealed));
        }
        Ok(Prepared::new(data))
    }
}
