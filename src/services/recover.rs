//! `recover` — password recovery (DESIGN §3).
//!
//! - `create({email})` -> 201 `{sent: true}` whether or not the address belongs to an
//!   account; when it does, a random token (192 bits, stored hashed, single use, 1 hour)
//!   is mailed. Throttled per address and IP.
//! - `patch(email, {token, password})` -> `{reset: true}`: the password policy applies;
//!   the password is set, every session of the user revoked (their sockets logged out)
//!   and `password_reset` audited. A wrong, expired or used token, or an unknown address,
//!   is the same 400 "Invalid or expired token".

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use serde_json::{Map, Value, json};

use super::verify::{INVALID_TOKEN, MAX_ATTEMPTS, TokenPatch, address_of_id};
use crate::accounts::tokens::Purpose;
use crate::accounts::{self, Accounts};
use crate::error::{Error, Result};
use crate::notify::Kind;
use crate::service::{Ctx, Method, Policy, Service, parse};

pub const PATH: &str = "recover";

pub struct RecoverService {
    accounts: Arc<Accounts>,
    policy: Policy,
}

impl RecoverService {
    pub fn new(accounts: Arc<Accounts>) -> Self {
        Self {
            accounts,
            policy: accounts::public_create_patch(),
        }
    }
}

#[async_trait]
impl Service for RecoverService {
    fn methods(&self) -> &'static [Method] {
        &[Method::Create, Method::Patch]
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn schema(&self) -> Option<Value> {
        let text = json!({ "type": "string" });
        Some(json!({
            "record": { "type": "object", "properties": {
                "sent": { "type": "boolean" }, "reset": { "type": "boolean" } } },
            "data": { "type": "object", "properties": { "email": text, "token": text, "password": text } },
        }))
    }

    async fn create(&self, ctx: &Ctx<'_>, data: Value) -> Result<Value> {
        self.accounts
            .send_link_token(
                ctx,
                data,
                false,
                Purpose::Recover,
                Kind::Recover,
                "recover_sent",
            )
            .await
    }

    async fn patch(&self, ctx: &Ctx<'_>, id: Option<&Value>, data: Value) -> Result<Value> {
        let (column, address) = address_of_id(id, false)?;
        let input: TokenPatch = parse(&data)?;
        let token = input.token()?;
        let new_password = input.password()?;
        let mut own = Map::new();
        own.insert("email".into(), Value::String(address.clone()));
        super::users::check_password(&self.accounts.config.password, new_password, &own)?;
        let account = self.accounts.find_member(ctx.db, column, &address).await?;
        let Some(account) = account else {
            return Err(Error::bad_request(INVALID_TOKEN));
        };
        if !self
            .accounts
            .consume(
                &account,
                Purpose::Recover,
                column,
                &address,
                token,
                MAX_ATTEMPTS,
            )
            .await?
        {
            return Err(Error::bad_request(INVALID_TOKEN));
        }
        let hash = self
            .accounts
            .passwords
            .hash(new_password.to_string())
            .await?;
        let now = chrono::Utc::now();
        let update = Query::update()
            .table(Alias::new("users"))
            .value(Alias::new("password"), hash)
            .value(Alias::new("updated_at"), now)
            .and_where(Expr::col(Alias::new("id")).eq(account.id))
            .to_owned();
        self.accounts
            .secure_after_proof(ctx.pipeline, account.id, update, "password_reset")
            .await?;
        Ok(json!({ "reset": true }))
    }
}
