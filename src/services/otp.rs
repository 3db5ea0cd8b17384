//! `otp` — one-time login codes (DESIGN §3).
//!
//! - `create({email} | {phone})` -> 201 `{sent: true}`, the same answer whether or not
//!   the address belongs to an account; when it does, a 6-digit code (stored hashed,
//!   valid 10 minutes, 5 attempts, single use) is mailed / texted and `otp_sent` audited.
//!   Sends are throttled per address and per IP (429 + `Retry-After`).
//! - `patch(code, {email} | {phone})` -> the body of a login (`{accessToken,
//!   authentication: {strategy: "otp", payload}, user}`) and an `auth_sessions` row
//!   (`auth_provider` "otp"). A wrong, expired or used code, or an unknown address, is the
//!   same 401 "Invalid login"; attempts are throttled like logins (counted before the
//!   code is checked, one count per account whichever address names it). The code travels
//!   in the path: it is never logged (the transports mask that id).
//! - A code sent to an address the account never verified is its first proof of
//!   ownership: the address becomes verified, the account's other sessions are revoked and
//!   its password is cleared (see [`OtpService::first_proof`]).
//!
//! `authentication.create({strategy: "otp", email|phone, otp})` does the same as `patch`.

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use crate::accounts::tokens::{self, Purpose};
use crate::accounts::{self, Account, Accounts, AddressInput};
use crate::auth::principal;
use crate::auth::sessions::NewSession;
use crate::auth::strategy::Strategy;
use crate::error::{Error, Result};
use crate::notify::Kind;
use crate::service::{Binding, Ctx, Field, Method, Policy, Service, parse};

pub const PATH: &str = "otp";
/// The name of the login strategy (`authentication.create({strategy: "otp", ...})`).
pub const STRATEGY: &str = "otp";

const INVALID_LOGIN: &str = "Invalid login";
const MAX_ATTEMPTS: i64 = 5;
const TTL_MINUTES: i64 = 10;

pub struct OtpService {
    accounts: Arc<Accounts>,
    policy: Policy,
}

impl OtpService {
    pub fn new(accounts: Arc<Accounts>) -> Self {
        Self {
            accounts,
            policy: accounts::public_create_patch(),
        }
    }

    /// Exchanges `code` for a login (see the module docs).
    pub async fn login(&self, ctx: &Ctx<'_>, address: &AddressInput, code: &Code) -> Result<Value> {
        let (column, address) = address
            .resolve(true)
            .map_err(|_| Error::not_authenticated(INVALID_LOGIN))?;
        let code = code.0.trim();
        let ip = ctx.params.connection.ip.as_deref();
        let account = self.accounts.find_member(ctx.db, column, &address).await?;
        // Counted before the code is checked, one count per account (as logins are).
        let throttle_key = format!(
            "otp:{}",
            crate::auth::strategy::throttle_key(account.as_ref().map(|a| a.id), column, &address)
        );
        let throttle = &self.accounts.sessions.throttle;
        throttle.attempt(&throttle_key, ip)?;
        let well_formed = code.len() == 6 && code.chars().all(|c| c.is_ascii_digit());
        let ok = match (&account, well_formed) {
            (Some(account), true) => {
                self.accounts
                    .consume(account, Purpose::Otp, column, &address, code, MAX_ATTEMPTS)
                    .await?
            }
            _ => false,
        };
        let user_id = match (account, ok) {
            (Some(account), true) => {
                self.first_proof(ctx, &account, column).await?;
                account.id
            }
            (account, _) => {
                let known = account.map(|a| a.id);
                if let Err(e) = self
                    .accounts
                    .sessions
                    .record_event("login_failed", known)
                    .await
                {
                    tracing::warn!(error = %e, "could not record login_failed");
                }
                return Err(Error::not_authenticated(INVALID_LOGIN));
            }
        };
        throttle.succeeded(&throttle_key, ip);
        let (token, claims) = self
            .accounts
            .keys
            .issue(user_id, chrono::Utc::now().timestamp())?;
        self.accounts
            .sessions
            .open(NewSession {
                user_id,
                strategy: STRATEGY,
                connection: &ctx.params.connection,
                token: &token,
                jti: &claims.jti,
                rehash: None,
            })
            .await?;
        let user = principal::load_user(Some(&self.accounts.users), ctx.db, user_id).await?;
        Ok(json!({
            "accessToken": token,
            "authentication": { "strategy": STRATEGY, "payload": claims },
            "user": user,
        }))
    }
}

/// A one-time code as sent: a string, or a number (`123456`).
#[derive(Debug)]
pub struct Code(String);

impl Code {
    /// The code in `value`, or the answer to a login without one.
    fn of(value: Option<&Value>) -> Result<Self> {
        match value {
            Some(Value::String(code)) => Ok(Code(code.clone())),
            Some(Value::Number(n)) => Ok(Code(n.to_string())),
            _ => Err(Error::not_authenticated(INVALID_LOGIN)),
        }
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Code::of(Some(&value)).map_err(|_| D::Error::custom("must be a string or a number"))
    }
}

/// The data of `authentication.create({strategy: "otp", email|phone, otp})`.
#[derive(Debug, Deserialize)]
struct OtpLogin {
    #[serde(default)]
    otp: Field<Code>,
    #[serde(flatten)]
    address: AddressInput,
}

#[async_trait]
impl Strategy for OtpService {
    async fn authenticate(&self, ctx: &Ctx<'_>, data: &Value) -> Result<Value> {
        let input: OtpLogin = parse(data)?;
        let Some(code) = input.otp.get() else {
            return Err(Error::not_authenticated(INVALID_LOGIN));
        };
        self.login(ctx, &input.address, code).await
    }
}

impl OtpService {
    /// A code sent to an address the account never verified is the first proof that the
    /// signer-in owns it (pre-account-takeover defence, Sudhodanan and Paverd 2022):
    /// whoever registered the address before may not keep a way in. The address becomes
    /// verified, every other session is revoked and the password set before stops working
    /// (the owner sets a new one from this session, or through recovery).
    async fn first_proof(&self, ctx: &Ctx<'_>, account: &Account, column: &str) -> Result<()> {
        let verified = if column == "phone" {
            account.phone_verified
        } else {
            account.email_verified
        };
        if verified {
            return Ok(());
        }
        let now = chrono::Utc::now();
        let stamp = if column == "phone" {
            "phone_verified_at"
        } else {
            "email_verified_at"
        };
        let update = Query::update()
            .table(Alias::new("users"))
            .value(Alias::new(stamp), now)
            .value(Alias::new("password"), Option::<String>::None)
            .value(Alias::new("updated_at"), now)
            .and_where(Expr::col(Alias::new("id")).eq(account.id))
            .to_owned();
        self.accounts
            .secure_after_proof(ctx.pipeline, account.id, update, "verified")
            .await
    }
}

#[async_trait]
impl Service for OtpService {
    fn methods(&self) -> &'static [Method] {
        &[Method::Create, Method::Patch]
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Exchanging a code answers like a login, and binds like one.
    fn binds(&self, method: Method) -> Binding {
        if method == Method::Patch {
            Binding::Login
        } else {
            Binding::None
        }
    }

    fn schema(&self) -> Option<Value> {
        let text = json!({ "type": "string" });
        Some(json!({
            "record": { "type": "object", "properties": { "sent": { "type": "boolean" } } },
            "data": { "type": "object", "properties": { "email": text, "phone": text } },
        }))
    }

    async fn create(&self, ctx: &Ctx<'_>, data: Value) -> Result<Value> {
        let (column, address) = parse::<AddressInput>(&data)?.resolve(true)?;
        self.accounts
            .throttle_send(ctx, Purpose::Otp, column, &address)?;
        let account = self.accounts.find_member(ctx.db, column, &address).await?;
        let code = tokens::otp_code();
        self.accounts
            .send_secret(
                account.as_ref(),
                Purpose::Otp,
                Kind::Otp,
                column,
                &address,
                &code,
                chrono::Duration::minutes(TTL_MINUTES),
                "otp_sent",
            )
            .await?;
        Ok(json!({ "sent": true }))
    }

    async fn patch(&self, ctx: &Ctx<'_>, id: Option<&Value>, data: Value) -> Result<Value> {
        let code = Code::of(id)?;
        let address: AddressInput = parse(&data)?;
        self.login(ctx, &address, &code).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_reads_the_code_as_text_or_number_and_the_address_beside_it() {
        let data = json!({"strategy": "otp", "email": " A@Corp.test ", "otp": 123456});
        let input: OtpLogin = parse(&data).unwrap();
        assert_eq!(input.otp.get().map(|c| c.0.as_str()), Some("123456"));
        let address = input.address.resolve(true).unwrap();
        assert_eq!(address, ("email", "a@corp.test".to_string()));
        // A code of another type is no code; an email that is not a string falls back to
        // the phone, as before typed input.
        let input: OtpLogin = parse(&json!({"otp": [1], "email": 5, "phone": "+1 555"})).unwrap();
        assert!(input.otp.get().is_none() && !input.otp.is_absent());
        let address = input.address.resolve(true).unwrap();
        assert_eq!(address, ("phone", "+1 555".to_string()));
    }
}
