//! `verify` — address verification (DESIGN §3).
//!
//! - `create({email} | {phone})` -> 201 `{sent: true}` whether or not the address belongs
//!   to an account; when it does, a random token (192 bits, stored hashed, single use,
//!   1 hour) is sent to it. Throttled per address and IP.
//! - `patch(emailOrPhone, {token})` -> `{verified: true}` and sets `email_verified_at` /
//!   `phone_verified_at` (audited as `verified`). A wrong, expired or used token, or an
//!   unknown address, is the same 400 "Invalid or expired token". The same call completes
//!   an email change waiting for the new address (`accounts::email_change`): the account
//!   moves to it, verified.

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::accounts::tokens::Purpose;
use crate::accounts::{self, Accounts, AddressInput};
use crate::error::{Error, Result};
use crate::notify::Kind;
use crate::service::{Ctx, Field, Method, Policy, Service, Text, parse};

pub const PATH: &str = "verify";

pub(crate) const INVALID_TOKEN: &str = "Invalid or expired token";
pub(crate) const MAX_ATTEMPTS: i64 = 5;

pub struct VerifyService {
    accounts: Arc<Accounts>,
    policy: Policy,
}

impl VerifyService {
    pub fn new(accounts: Arc<Accounts>) -> Self {
        Self {
            accounts,
            policy: accounts::public_create_patch(),
        }
    }
}

/// `{email}` or `{phone}` from a patch id: an address with `@` is an email.
pub(crate) fn address_of_id(
    id: Option<&Value>,
    allow_phone: bool,
) -> Result<(&'static str, String)> {
    let Some(Value::String(id)) = id else {
        return Err(Error::bad_request(INVALID_TOKEN));
    };
    AddressInput::of_id(id)
        .resolve(allow_phone)
        .map_err(|_| Error::bad_request(INVALID_TOKEN))
}

/// The data of a `patch` that proves an address with a token (`verify`, and `recover`
/// and invitations with a new password). A token that is missing or not a short text,
/// like a password that is not a string, reads as absent: the method answers for it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct TokenPatch {
    pub token: Field<Text>,
    pub password: Field<String>,
}

impl TokenPatch {
    /// The token, or the answer to a wrong one.
    pub fn token(&self) -> Result<&str> {
        self.token
            .get()
            .map(Text::as_str)
            .ok_or_else(|| Error::bad_request(INVALID_TOKEN))
    }

    /// The new password, or 400.
    pub fn password(&self) -> Result<&str> {
        self.password
            .get()
            .map(String::as_str)
            .ok_or_else(|| Error::bad_request("'password' is required"))
    }
}

#[async_trait]
impl Service for VerifyService {
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
                "sent": { "type": "boolean" }, "verified": { "type": "boolean" } } },
            "data": { "type": "object", "properties": { "email": text, "phone": text, "token": text } },
        }))
    }

    async fn create(&self, ctx: &Ctx<'_>, data: Value) -> Result<Value> {
        self.accounts
            .send_link_token(
                ctx,
                data,
                true,
                Purpose::Verify,
                Kind::Verify,
                "verify_sent",
            )
            .await
    }

    async fn patch(&self, ctx: &Ctx<'_>, id: Option<&Value>, data: Value) -> Result<Value> {
        let (column, address) = address_of_id(id, true)?;
        let input: TokenPatch = parse(&data)?;
        let token = input.token()?;
        if column == "email"
            && self
                .accounts
                .confirm_email_change(ctx.pipeline, &address, token, MAX_ATTEMPTS)
                .await?
                .is_some()
        {
            return Ok(json!({ "verified": true }));
        }
        let account = self.accounts.find_member(ctx.db, column, &address).await?;
        let Some(account) = account else {
            return Err(Error::bad_request(INVALID_TOKEN));
        };
        if !self
            .accounts
            .consume(
                &account,
                Purpose::Verify,
                column,
                &address,
                token,
                MAX_ATTEMPTS,
            )
            .await?
        {
            return Err(Error::bad_request(INVALID_TOKEN));
        }
        let now = chrono::Utc::now();
        let field = if column == "phone" {
            "phone_verified_at"
        } else {
            "email_verified_at"
        };
        let update = Query::update()
            .table(Alias::new("users"))
            .value(Alias::new(field), now)
            .value(Alias::new("updated_at"), now)
            .and_where(Expr::col(Alias::new("id")).eq(account.id))
            .and_where(Expr::col(Alias::new(column)).eq(address.as_str()))
            .to_owned();
        self.accounts
            .write(ctx.pipeline, vec![update], "verified", account.id)
            .await?;
        Ok(json!({ "verified": true }))
    }
}
