//! Account logic: what to send and when, kept apart from [`crate::notify`], which only
//! delivers. Here is what the account services (`otp`, `verify`, `recover`, `users`,
//! `v1/users`) share: the database, the notifier, sessions, send throttling, and the
//! lookups they all make. Every answer they give is the same whether the address belongs
//! to an account or not.
//!
//! - [`tokens`]: one-time codes and tokens (hashed, single use, bound to an address).
//! - [`email_change`]: email changes that wait for the new address to answer.

pub mod email_change;
pub mod tokens;

use std::sync::Arc;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use serde::Deserialize;
use serde_json::Value;

use self::tokens::Purpose;
use crate::auth::Keys;
use crate::auth::sessions::Sessions;
use crate::auth::throttle::Throttle;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::notify::{Kind, Message, Notifier, To};
use crate::service::{Access, Ctx, Database, Db, Field, Pipeline, Policy, Service, parse};
use crate::store::audit::record_custom;

/// The shared dependencies of the account services.
pub struct Accounts {
    pub db: Database,
    pub notifier: Arc<Notifier>,
    pub sessions: Arc<Sessions>,
    pub keys: Arc<Keys>,
    pub users: Arc<dyn Service>,
    /// The password gate (`auth::password`).
    pub passwords: Arc<crate::auth::password::PasswordGate>,
    pub config: Arc<Config>,
    /// Sends per address and per IP (each send counts; 5 per address are free).
    pub sends: Throttle,
}

/// An account the services act on.
pub struct Account {
    pub id: i64,
    pub locale: Option<String>,
    pub email: String,
    pub password: Option<String>,
    /// Invited (`invited_date` set) and not yet joined (`joined_date` unset).
    pub pending: bool,
    /// `email_verified_at` / `phone_verified_at` are set.
    pub email_verified: bool,
    pub phone_verified: bool,
}

/// Create and patch open to anyone; nothing audited as a row change or published; ids
/// (an address, a code) kept out of request logs.
pub const fn public_create_patch() -> Policy {
    Policy {
        create: Access::Public,
        patch: Access::Public,
        ..Policy::deny_all()
    }
    .secret_ids()
}

/// A plausible address: `local@domain.tld`, no spaces or control characters.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && domain.contains('.')
        && !domain.starts_with(['.', '-'])
        && !domain.ends_with(['.', '-'])
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
}

/// `{email}` or `{phone}`: the address an account service acts on. A field that is not
/// a string reads as absent (an email that is not a string falls back to the phone).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AddressInput {
    pub email: Field<String>,
    pub phone: Field<String>,
}

impl AddressInput {
    /// The address named by a patch id: one with `@` is an email, else a phone.
    pub fn of_id(id: &str) -> Self {
        let value = Field::Valid(id.to_string());
        if id.contains('@') {
            Self {
                email: value,
                ..Self::default()
            }
        } else {
            Self {
                phone: value,
                ..Self::default()
            }
        }
    }

    /// `("email" | "phone", normalised address)`, or 400.
    pub fn resolve(&self, allow_phone: bool) -> Result<(&'static str, String)> {
        if let Some(email) = self.email.get() {
            let email = email.trim().to_lowercase();
            if valid_email(&email) {
                return Ok(("email", email));
            }
            return Err(Error::bad_request("'email' must be a valid email address"));
        }
        if allow_phone && let Some(phone) = self.phone.get() {
            let phone = phone.trim();
            if !phone.is_empty() && phone.len() <= 32 && !phone.chars().any(char::is_control) {
                return Ok(("phone", phone.to_string()));
            }
            return Err(Error::bad_request("'phone' must be a phone number"));
        }
        Err(Error::bad_request(if allow_phone {
            "An email or phone is required"
        } else {
            "An email is required"
        }))
    }
}

impl Accounts {
    /// The account whose `column` (`email` / `phone`) is `value`, pending invitations
    /// included.
    pub async fn find(&self, db: Db<'_>, column: &str, value: &str) -> Result<Option<Account>> {
        let select = Query::select()
            .columns([
                Alias::new("id"),
                Alias::new("locale"),
                Alias::new("email"),
                Alias::new("password"),
                Alias::new("invited_date"),
                Alias::new("joined_date"),
                Alias::new("email_verified_at"),
                Alias::new("phone_verified_at"),
            ])
            .from(Alias::new("users"))
            .and_where(Expr::col(Alias::new(column)).eq(value))
            .limit(1)
            .to_owned();
        let Some(row) = db
            .query_one(db.build(&select))
            .await
            .map_err(Error::internal)?
        else {
            return Ok(None);
        };
        let stamp = |column: &str| -> Result<bool> {
            let value: Option<chrono::DateTime<chrono::Utc>> =
                row.try_get("", column).map_err(Error::internal)?;
            Ok(value.is_some())
        };
        let password: Option<String> = row.try_get("", "password").map_err(Error::internal)?;
        Ok(Some(Account {
            id: row.try_get("", "id").map_err(Error::internal)?,
            locale: row.try_get("", "locale").map_err(Error::internal)?,
            email: row.try_get("", "email").map_err(Error::internal)?,
            pending: password.is_none() && stamp("invited_date")? && !stamp("joined_date")?,
            email_verified: stamp("email_verified_at")?,
            phone_verified: stamp("phone_verified_at")?,
            password,
        }))
    }

    /// [`Accounts::find`] without pending invitations: an invited address gets in only by
    /// accepting its invitation, never by a code, a verification or a recovery link.
    pub async fn find_member(
        &self,
        db: Db<'_>,
        column: &str,
        value: &str,
    ) -> Result<Option<Account>> {
        Ok(self.find(db, column, value).await?.filter(|a| !a.pending))
    }

    /// 429 when this address or IP asked for too many messages; else counts this one.
    pub fn throttle_send(
        &self,
        ctx: &Ctx<'_>,
        purpose: Purpose,
        column: &str,
        value: &str,
    ) -> Result<()> {
        let key = format!("{}:{column}:{value}", purpose.as_str());
        let ip = ctx.params.connection.ip.as_deref();
        self.sends.attempt(&key, ip)
    }

    /// `create` of `verify` / `recover`: throttles, then mails or texts a random one-hour
    /// single-use token when the address belongs to an account. Answers `{sent: true}`
    /// either way, so the answer never tells whether the account exists.
    pub async fn send_link_token(
        &self,
        ctx: &Ctx<'_>,
        data: Value,
        allow_phone: bool,
        purpose: Purpose,
        kind: Kind,
        event: &str,
    ) -> Result<Value> {
        let (column, address) = parse::<AddressInput>(&data)?.resolve(allow_phone)?;
        self.throttle_send(ctx, purpose, column, &address)?;
        let account = self.find_member(ctx.db, column, &address).await?;
        let token = tokens::random_token();
        self.send_secret(
            account.as_ref(),
            purpose,
            kind,
            column,
            &address,
            &token,
            chrono::Duration::hours(1),
            event,
        )
        .await?;
        Ok(serde_json::json!({ "sent": true }))
    }

    /// Issues a secret for `account`, records `event` and queues the message. Every step
    /// runs whether or not there is an account (the same queries: the token insert stores
    /// nothing for user id 0, the audit row is `<purpose>_unknown_address`; the same token
    /// hashing and rendering); the only branch is the final, non-blocking enqueue. So the
    /// time of the answer does not tell whether the address has an account.
    #[allow(clippy::too_many_arguments)]
    pub async fn send_secret(
        &self,
        account: Option<&Account>,
        purpose: Purpose,
        kind: Kind,
        channel: &'static str,
        address: &str,
        secret: &str,
        ttl: chrono::Duration,
        event: &str,
    ) -> Result<()> {
        let user_id = account.map(|a| a.id);
        let unknown_event = format!("{}_unknown_address", purpose.as_str());
        let event = if user_id.is_some() {
            event
        } else {
            unknown_event.as_str()
        };
        {
            let tx = self.db.write().await?;
            // Ids start at 1: 0 names no user, so nothing is stored for it.
            let token_owner = user_id.unwrap_or(0);
            tokens::issue(tx.db(), token_owner, purpose, channel, address, secret, ttl).await?;
            record_custom(tx.db(), event, user_id).await?;
            tx.commit().await?;
        }
        let locale = account.and_then(|a| a.locale.as_deref());
        let (subject, body) = crate::notify::templates::render(kind, locale, secret, address);
        let to = if channel == "phone" {
            To::Phone(address.to_string())
        } else {
            To::Email(address.to_string())
        };
        if user_id.is_some() {
            self.notifier.send(Message { to, subject, body });
        }
        Ok(())
    }

    /// Checks and uses up a secret of `account`, which was found by its `channel` column
    /// holding `address`, counting misses.
    pub async fn consume(
        &self,
        account: &Account,
        purpose: Purpose,
        channel: &str,
        address: &str,
        secret: &str,
        max_attempts: i64,
    ) -> Result<bool> {
        let tx = self.db.write().await?;
        let ok = tokens::consume(
            tx.db(),
            account.id,
            purpose,
            channel,
            address,
            secret,
            max_attempts,
        )
        .await?;
        tx.commit().await?;
        Ok(ok)
    }

    /// A proof of ownership changed how `user_id` signs in (`update`, audited as
    /// `event`): every session of the account is revoked and its sockets logged out, so
    /// whoever held it before keeps no way in.
    pub async fn secure_after_proof(
        &self,
        pipeline: &dyn Pipeline,
        user_id: i64,
        update: sea_orm::sea_query::UpdateStatement,
        event: &str,
    ) -> Result<()> {
        self.write(pipeline, vec![update], event, user_id).await?;
        let revoked = self.sessions.revoke_user_sessions(user_id, None).await?;
        pipeline.log_out(revoked);
        Ok(())
    }

    /// A server-side `users` call through the whole pipeline (audit row, realtime event).
    pub async fn run_users(
        &self,
        pipeline: &dyn Pipeline,
        method: crate::service::Method,
        id: Option<Value>,
        data: Value,
        params: crate::service::Params,
    ) -> Result<Value> {
        let call = crate::service::Call {
            path: crate::auth::principal::USERS_PATH.to_string(),
            method,
            id,
            data,
            params,
        };
        Ok(pipeline.run(call).await?.value)
    }

    /// Completes a waiting email change that `secret` proves (`email_change`): the account
    /// moves to `email` through the `users` service (audited and published like any
    /// change; codes for the old address retired, the old address told), and the new
    /// address is verified. `None` when no waiting change matches.
    pub async fn confirm_email_change(
        &self,
        pipeline: &dyn Pipeline,
        email: &str,
        secret: &str,
        max_attempts: i64,
    ) -> Result<Option<i64>> {
        let user_id = {
            let tx = self.db.write().await?;
            let user_id = email_change::confirm(tx.db(), email, secret, max_attempts).await?;
            tx.commit().await?;
            user_id
        };
        let Some(user_id) = user_id else {
            return Ok(None);
        };
        self.run_users(
            pipeline,
            crate::service::Method::Patch,
            Some(serde_json::json!(user_id)),
            serde_json::json!({ "email": email }),
            crate::service::Params::internal(),
        )
        .await?;
        let verified = Query::update()
            .table(Alias::new("users"))
            .value(Alias::new("email_verified_at"), chrono::Utc::now())
            .and_where(Expr::col(Alias::new("id")).eq(user_id))
            .and_where(Expr::col(Alias::new("email")).eq(email))
            .to_owned();
        self.write(pipeline, vec![verified], "verified", user_id)
            .await?;
        Ok(Some(user_id))
    }

    /// Runs `f` on a transaction under the write gate, then records `event` in it.
    pub async fn write(
        &self,
        pipeline: &dyn Pipeline,
        updates: Vec<sea_orm::sea_query::UpdateStatement>,
        event: &str,
        user_id: i64,
    ) -> Result<()> {
        let tx = self.db.write().await?;
        let db = tx.db();
        for update in &updates {
            db.execute(db.build(update))
                .await
                .map_err(Error::internal)?;
        }
        record_custom(db, event, Some(user_id)).await?;
        tx.commit().await?;
        // The account's record changed: cached principals are stale (on every instance).
        pipeline.principals_changed();
        Ok(())
    }
}
