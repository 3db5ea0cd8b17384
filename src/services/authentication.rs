//! `authentication` — log in and out (feathers-protocol §3).
//!
//! - `create {strategy?, ...}` -> 201 `{accessToken, authentication, user}`, answered by
//!   the strategy registered under that name (`auth::strategy`): `local` (the default:
//!   `email|username|phone, password`), `jwt` (`accessToken`), `otp` (`email|phone, otp`,
//!   `services::otp`) and each `oauth_providers` slug (`id_token | access_token [,
//!   nonce]`: a login with a provider token the app obtained itself, validated like the
//!   browser flow, `oauth::strategy`). Any other name is 401 "Invalid authentication
//!   information (strategy not allowed in authStrategies)", as Feathers answers.
//! - `remove(null | <the same token>)` -> logout; answers with the JWT result.
//!
//! Both are open to anonymous callers (they are how one stops being anonymous). Nothing
//! is audited as a row change or published; a socket that logs in is bound to the user by
//! the pipeline's connection stage.
//!
//! Sessions (`auth::sessions`): a login opens an `auth_sessions` row named by the token's
//! `jti`, with the custom audit event `login`; `jwt` re-authentication reuses the session
//! of the token it presents. Logout revokes the session (`logout` event). Throttling,
//! decoy hashes and bcrypt upgrades are the `local` strategy's (`auth::strategy::local`).

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::sessions::Sessions;
use crate::auth::strategy::{Strategies, Strategy, StrategySource, jwt, local};
use crate::auth::{Keys, password};
use crate::error::{Error, Result};
use crate::service::{Access, Binding, Ctx, Field, Method, Policy, Principal, Service, parse};

pub const PATH: &str = "authentication";

pub struct AuthenticationService {
    sessions: Arc<Sessions>,
    policy: Policy,
    /// Built once, here and by the `with_*` calls; read on every login.
    strategies: Strategies,
}

impl AuthenticationService {
    /// The service with the `local` and `jwt` strategies.
    pub fn new(
        keys: Arc<Keys>,
        users: Arc<dyn Service>,
        sessions: Arc<Sessions>,
        passwords: Arc<password::PasswordGate>,
        principals: Arc<crate::auth::principal_cache::PrincipalCache>,
    ) -> Self {
        let policy = Policy {
            create: Access::Public,
            remove: Access::Public,
            ..Policy::deny_all()
        }
        .secret_ids(); // `DELETE /authentication/<access token>`
        let mut strategies = Strategies::default();
        strategies.register(
            jwt::NAME,
            Arc::new(jwt::Jwt {
                keys: keys.clone(),
                users: users.clone(),
                sessions: sessions.clone(),
                principals,
            }),
        );
        strategies.register(
            local::NAME,
            Arc::new(local::Local::new(keys, users, sessions.clone(), passwords)),
        );
        Self {
            sessions,
            policy,
            strategies,
        }
    }

    /// Registers one more strategy under `name`.
    pub fn with_strategy(mut self, name: &str, strategy: Arc<dyn Strategy>) -> Self {
        self.strategies.register(name, strategy);
        self
    }

    /// Enables the `otp` strategy: `{strategy: "otp", email|phone, otp}`.
    pub fn with_otp(self, otp: Arc<super::otp::OtpService>) -> Self {
        self.with_strategy(super::otp::STRATEGY, otp)
    }

    /// Enables `{strategy: <oauth_providers slug>, id_token | access_token}` (`oauth`).
    pub fn with_oauth(mut self, oauth: Arc<crate::oauth::OAuth>) -> Self {
        let source: Arc<dyn StrategySource> = Arc::new(crate::oauth::strategy::Providers(oauth));
        self.strategies.add_source(source);
        self
    }
}

/// What `create` reads itself: the strategy's name (a missing or null one is `local`,
/// anything else that is not a string no strategy at all). The strategy reads the rest.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Login {
    strategy: Field<Option<String>>,
}

fn principal_result(p: &Principal) -> Value {
    json!({
        "accessToken": p.access_token(),
        "authentication": { "strategy": "jwt", "accessToken": p.access_token(), "payload": p.token.claims },
        "user": *p.user,
    })
}

#[async_trait]
impl Service for AuthenticationService {
    fn methods(&self) -> &'static [Method] {
        &[Method::Create, Method::Remove]
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Logging in binds the connection; logging out unbinds it and ends the session.
    fn binds(&self, method: Method) -> Binding {
        match method {
            Method::Create => Binding::Login,
            Method::Remove => Binding::Logout,
            _ => Binding::None,
        }
    }

    fn schema(&self) -> Option<Value> {
        let text = json!({ "type": "string" });
        Some(json!({
            "record": {
                "type": "object",
                "properties": {
                    "accessToken": text,
                    "authentication": { "type": "object", "properties": {
                        "strategy": text, "accessToken": text, "payload": { "type": "object" } } },
                    "user": { "$ref": "#/components/schemas/users" },
                },
            },
            "data": {
                "type": "object",
                "properties": {
                    "strategy": { "type": "string", "description": "local, jwt, otp or an oauth_providers slug", "default": "local" },
                    "email": text, "username": text, "phone": text, "password": text, "accessToken": text, "otp": text,
                    "id_token": text, "access_token": text, "nonce": text,
                },
            },
            "remove": "collection",
        }))
    }

    async fn create(&self, ctx: &Ctx<'_>, data: Value) -> Result<Value> {
        if !data.is_object() {
            return Err(Error::bad_request("Authentication data must be an object"));
        }
        let input: Login = parse(&data)?;
        let strategy = self.strategies.get(ctx, &input.strategy).await?;
        strategy.authenticate(ctx, &data).await
    }

    async fn remove(&self, ctx: &Ctx<'_>, id: Option<&Value>) -> Result<Value> {
        let principal = ctx.params.principal.as_ref().ok_or_else(|| {
            Error::not_authenticated("Invalid authentication information (no `strategy` set)")
        })?;
        match id {
            None | Some(Value::Null) => {}
            Some(Value::String(t)) if t == principal.access_token() => {}
            Some(_) => return Err(Error::not_authenticated("Invalid access token")),
        }
        self.sessions
            .revoke_for_logout(principal.session_id(), principal.user_id)
            .await?;
        Ok(principal_result(principal))
    }
}
