//! The /v1 invitations (seed 002, DESIGN §6).
//!
//! - `v1/users/invite` `create({email})` (`POST /v1/users/invite`) -> `{}`: creates a
//!   pending user (no password) with `invited_by` / `invited_date` and mails a random
//!   token (192 bits, stored hashed, single use, 7 days), audited as `invited`.
//!   Re-inviting a pending user issues a new token (the old one dies); inviting a member
//!   who has joined is 409.
//! - `v1/users/invite` `patch(email, {token, password})` -> `{joined: true}`: anyone
//!   holding the token sets the password (policy applies) and `joined_date` (the address
//!   counts as verified). Wrong, used or expired tokens, unknown addresses and members
//!   who already joined all answer the same 400.
//!
//! `invite` is under the `users` scope rule (`users_create`).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::v1_users::policy;
use super::verify::{INVALID_TOKEN, TokenPatch};
use crate::accounts::tokens::{self, Purpose};
use crate::accounts::{Accounts, AddressInput};
use crate::error::{Error, Result};
use crate::notify::{Kind, Message, To};
use crate::service::{Access, Ctx, Method, Params, Policy, Service, parse};
use crate::store::audit::record_custom;

pub const INVITE_PATH: &str = "v1/users/invite";

const INVITE_DAYS: i64 = 7;

pub struct InviteService {
    accounts: Arc<Accounts>,
    policy: Policy,
}

impl InviteService {
    pub fn new(accounts: Arc<Accounts>) -> Self {
        Self {
            accounts,
            // Inviting needs `users_create` (the users scope rule); accepting is open. The
            // id of a patch is the invited address.
            policy: Policy {
                scope: super::users::POLICY.scope,
                ..policy(Access::Authenticated, Access::Public, Access::Deny)
            }
            .secret_ids(),
        }
    }

    /// [`Accounts::run_users`] with the inviter as the actor.
    async fn as_inviter(
        &self,
        ctx: &Ctx<'_>,
        method: Method,
        id: Option<Value>,
        data: Value,
    ) -> Result<Value> {
        let mut params = Params::internal();
        params.principal = ctx.params.principal.clone();
        self.accounts
            .run_users(ctx.pipeline, method, id, data, params)
            .await
    }
}

#[async_trait]
impl Service for InviteService {
    fn methods(&self) -> &'static [Method] {
        &[Method::Create, Method::Patch]
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn schema(&self) -> Option<Value> {
        let text = json!({ "type": "string" });
        Some(json!({
            "record": { "type": "object" },
            "data": { "type": "object", "properties": { "email": text, "token": text, "password": text } },
        }))
    }

    async fn create(&self, ctx: &Ctx<'_>, data: Value) -> Result<Value> {
        let (_, email) = parse::<AddressInput>(&data)?.resolve(false)?;
        let inviter = ctx.params.user_id();
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let stamp = json!({ "invited_by": inviter, "invited_date": now });
        // The user row changes through `users`, so it is audited and published like any
        // other change, with the inviter as the actor.
        let (user_id, locale) = match self.accounts.find(ctx.db, "email", &email).await? {
            Some(account) if !account.pending => {
                return Err(Error::conflict("This user is already a member")
                    .with_errors(json!({ "email": "already a member" })));
            }
            Some(account) => {
                self.as_inviter(ctx, Method::Patch, Some(json!(account.id)), stamp)
                    .await?;
                (account.id, account.locale)
            }
            None => {
                let mut data = stamp;
                data["email"] = Value::String(email.clone());
                let user = self.as_inviter(ctx, Method::Create, None, data).await?;
                let id = user
                    .get("id")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| Error::internal("invited user has no id"))?;
                (id, None)
            }
        };
        let token = tokens::random_token();
        {
            let write = self.accounts.db.write().await?;
            let db = write.db();
            tokens::issue(
                db,
                user_id,
                Purpose::Invite,
                "email",
                &email,
                &token,
                chrono::Duration::days(INVITE_DAYS),
            )
            .await?;
            record_custom(db, "invited", inviter).await?;
            write.commit().await?;
        }
        let (subject, body) =
            crate::notify::templates::render(Kind::Invite, locale.as_deref(), &token, &email);
        self.accounts.notifier.send(Message {
            to: To::Email(email),
            subject,
            body,
        });
        Ok(json!({}))
    }

    async fn patch(&self, ctx: &Ctx<'_>, id: Option<&Value>, data: Value) -> Result<Value> {
        let (_, email) = super::verify::address_of_id(id, false)?;
        let input: TokenPatch = parse(&data)?;
        let token = input.token()?;
        let new_password = input.password()?;
        let mut own = Map::new();
        own.insert("email".into(), Value::String(email.clone()));
        super::users::check_password(&self.accounts.config.password, new_password, &own)?;
        let Some(account) = self.accounts.find(ctx.db, "email", &email).await? else {
            return Err(Error::bad_request(INVALID_TOKEN));
        };
        if account.password.is_some()
            || !self
                .accounts
                .consume(
                    &account,
                    Purpose::Invite,
                    "email",
                    &email,
                    token,
                    super::verify::MAX_ATTEMPTS,
                )
                .await?
        {
            return Err(Error::bad_request(INVALID_TOKEN));
        }
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let data = json!({
            "password": new_password,
            "joined_date": now,
            "email_verified_at": now,
        });
        self.accounts
            .run_users(
                ctx.pipeline,
                Method::Patch,
                Some(json!(account.id)),
                data,
                Params::internal(),
            )
            .await?;
        self.accounts
            .write(ctx.pipeline, Vec::new(), "invite_accepted", account.id)
            .await?;
        Ok(json!({ "joined": true }))
    }
}
