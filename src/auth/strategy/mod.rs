//! Login strategies: what `authentication.create({strategy: <name>, ...})` runs.
//!
//! Each strategy is one [`Strategy`] value, registered by its name in [`Strategies`] when
//! the authentication service is built: `local` and `jwt` (here), `otp`
//! (`services::otp`) and the OAuth providers (`oauth::strategy`). OAuth providers are
//! rows of `oauth_providers`, created and removed while the server runs, so they come
//! from a [`StrategySource`] that resolves a name the fixed map does not hold (a provider
//! slug) on each call, instead of a map that would go stale.
//!
//! A name neither registered nor resolved, or a `strategy` that is not a string, answers
//! what Feathers v5 answers for a strategy outside `authStrategies`: 401 NotAuthenticated
//! [`NOT_ALLOWED`]. A missing or null `strategy` is `local` (DESIGN §3).

pub mod jwt;
pub mod local;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::auth::Claims;
use crate::error::{Error, Result};
use crate::service::{Ctx, Field};

pub use local::throttle_key;

/// Feathers' `AuthenticationBase.authenticate` message for a strategy that is not
/// registered or not allowed (`@feathersjs/authentication` v5 `core.ts`).
pub const NOT_ALLOWED: &str =
    "Invalid authentication information (strategy not allowed in authStrategies)";

/// The strategy of a request without one.
pub const DEFAULT: &str = "local";

/// One way to log in.
#[async_trait]
pub trait Strategy: Send + Sync {
    /// Checks the credentials in `data` (the whole `authentication.create` body, an
    /// object, read with `service::parse` into the strategy's own input) and answers the
    /// Feathers authentication result `{accessToken, authentication, user}`.
    async fn authenticate(&self, ctx: &Ctx<'_>, data: &Value) -> Result<Value>;
}

/// Strategies whose names are data, not code (OAuth provider slugs).
#[async_trait]
pub trait StrategySource: Send + Sync {
    /// The strategy called `name`, or `None` when this source has none by that name.
    async fn resolve(&self, ctx: &Ctx<'_>, name: &str) -> Result<Option<Arc<dyn Strategy>>>;
}

/// The strategies of the authentication service, by name.
#[derive(Default)]
pub struct Strategies {
    named: BTreeMap<String, Arc<dyn Strategy>>,
    sources: Vec<Arc<dyn StrategySource>>,
}

impl Strategies {
    /// Registers `strategy` as `name` (replacing one registered before by that name).
    pub fn register(&mut self, name: &str, strategy: Arc<dyn Strategy>) {
        self.named.insert(name.to_string(), strategy);
    }

    /// Adds a source asked, in order, for names not registered.
    pub fn add_source(&mut self, source: Arc<dyn StrategySource>) {
        self.sources.push(source);
    }

    /// The strategy the `strategy` field names; see the module docs for the answers.
    pub async fn get(
        &self,
        ctx: &Ctx<'_>,
        strategy: &Field<Option<String>>,
    ) -> Result<Arc<dyn Strategy>> {
        let name = match strategy {
            Field::Absent | Field::Valid(None) => DEFAULT,
            Field::Valid(Some(name)) => name.as_str(),
            Field::Invalid => return Err(Error::not_authenticated(NOT_ALLOWED)),
        };
        if let Some(strategy) = self.named.get(name) {
            return Ok(strategy.clone());
        }
        for source in &self.sources {
            if let Some(strategy) = source.resolve(ctx, name).await? {
                return Ok(strategy);
            }
        }
        Err(Error::not_authenticated(NOT_ALLOWED))
    }
}

/// The Feathers authentication result. `jwt` echoes the token it was given.
pub fn login_result(
    strategy: &str,
    token: &str,
    claims: &Claims,
    user: Value,
    echo_token: bool,
) -> Value {
    let mut authentication = Map::new();
    authentication.insert("strategy".into(), json!(strategy));
    if echo_token {
        authentication.insert("accessToken".into(), json!(token));
    }
    authentication.insert("payload".into(), json!(claims));
    json!({ "accessToken": token, "authentication": authentication, "user": user })
}
