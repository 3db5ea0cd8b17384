//! OAuth providers as login strategies: `authentication.create({strategy: <slug>,
//! id_token | access_token [, nonce]})` ([`OAuth::token_login`]).
//!
//! Providers are rows of `oauth_providers`, added and removed while the server runs, so
//! they are a [`StrategySource`]: a name the fixed strategies do not hold is looked up as
//! a slug on each call. No row by that name: no such strategy (401, Feathers' "strategy
//! not allowed"); a row that is not fully configured: 400 naming what is missing.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::OAuth;
use super::provider::Provider;
use crate::auth::strategy::{Strategy, StrategySource};
use crate::error::Result;
use crate::service::{Ctx, parse};

/// Every configured provider, by slug.
pub struct Providers(pub Arc<OAuth>);

/// One provider, loaded for one login.
pub struct ProviderLogin {
    oauth: Arc<OAuth>,
    provider: Provider,
}

#[async_trait]
impl StrategySource for Providers {
    async fn resolve(&self, ctx: &Ctx<'_>, name: &str) -> Result<Option<Arc<dyn Strategy>>> {
        let Some(provider) = self.0.token_provider(ctx.db, name).await? else {
            return Ok(None);
        };
        Ok(Some(Arc::new(ProviderLogin {
            oauth: self.0.clone(),
            provider,
        })))
    }
}

#[async_trait]
impl Strategy for ProviderLogin {
    async fn authenticate(&self, ctx: &Ctx<'_>, data: &Value) -> Result<Value> {
        self.oauth
            .token_login(ctx, &self.provider, &parse(data)?)
            .await
    }
}
