//! `local`: `{strategy?: "local", email|username|phone, password}`.
//!
//! A login opens an `auth_sessions` row named by the token's `jti`, with the custom audit
//! event `login`, in one transaction (`auth::sessions`). Attempts are throttled per
//! account (one count whichever identifier is used) and per IP, counted before the
//! password is checked (429 + `Retry-After`, `auth::throttle`); password checks pass the
//! bounded gate of `auth::password` (503 + `Retry-After` when it is full). Failures are
//! recorded as `login_failed` (with the user id when the account exists). Unknown accounts
//! and wrong passwords answer the same 401 "Invalid login" after the same work (a decoy
//! hash). Imported bcrypt hashes (`$2a$`/`$2b$`/`$2y$`) are accepted and replaced by an
//! argon2id hash on the first successful login.

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::{Strategy, login_result};
use crate::auth::sessions::{NewSession, Sessions};
use crate::auth::{Keys, password, principal};
use crate::error::{Error, Result};
use crate::service::{Ctx, Field, Service, parse};

pub const NAME: &str = "local";

const INVALID_LOGIN: &str = "Invalid login";

pub struct Local {
    pub keys: Arc<Keys>,
    pub users: Arc<dyn Service>,
    pub sessions: Arc<Sessions>,
    /// Every hash and verification passes this gate (`auth::password`).
    pub passwords: Arc<password::PasswordGate>,
    /// A real hash to verify against when the user does not exist, so an unknown account
    /// costs the same time as a wrong password.
    decoy_hash: OnceCell<String>,
}

impl Local {
    pub fn new(
        keys: Arc<Keys>,
        users: Arc<dyn Service>,
        sessions: Arc<Sessions>,
        passwords: Arc<password::PasswordGate>,
    ) -> Self {
        Self {
            keys,
            users,
            sessions,
            passwords,
            decoy_hash: OnceCell::new(),
        }
    }

    /// `(id, password hash)` of the user whose `column` equals `login`.
    async fn stored_hash(
        &self,
        ctx: &Ctx<'_>,
        column: &'static str,
        login: &str,
    ) -> Result<Option<(i64, Option<String>)>> {
        let select = Query::select()
            .columns([Alias::new("id"), Alias::new("password")])
            .from(Alias::new("users"))
            .and_where(Expr::col(Alias::new(column)).eq(login))
            .limit(1)
            .to_owned();
        let row = ctx
            .db
            .query_one(ctx.db.build(&select))
            .await
            .map_err(Error::internal)?;
        let Some(row) = row else { return Ok(None) };
        let id: i64 = row.try_get("", "id").map_err(Error::internal)?;
        let hash: Option<String> = row.try_get("", "password").map_err(Error::internal)?;
        Ok(Some((id, hash)))
    }

    async fn decoy(&self) -> Result<String> {
        self.decoy_hash
            .get_or_try_init(|| self.passwords.hash(uuid::Uuid::new_v4().to_string()))
            .await
            .cloned()
    }
}

/// `{email|username|phone, password}`: a field that is not a string reads as absent, and
/// every miss is the same 401 "Invalid login".
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LocalLogin {
    password: Field<String>,
    email: Field<String>,
    username: Field<String>,
    phone: Field<String>,
}

#[async_trait]
impl Strategy for Local {
    async fn authenticate(&self, ctx: &Ctx<'_>, data: &Value) -> Result<Value> {
        let input: LocalLogin = parse(data)?;
        let password = input
            .password
            .non_empty()
            .ok_or_else(|| Error::not_authenticated(INVALID_LOGIN))?;
        let (column, login) = input.identity()?;
        let ip = ctx.params.connection.ip.as_deref();
        let stored = self.stored_hash(ctx, column, &login).await?;
        // One count per account, whichever identifier names it (see `throttle_key`),
        // taken before the password is checked.
        let throttle_key = throttle_key(stored.as_ref().map(|(id, _)| *id), column, &login);
        let _turn = self.sessions.throttle.turn(&throttle_key).await?;
        self.sessions.throttle.attempt(&throttle_key, ip)?;
        let known_id = stored.as_ref().map(|(id, _)| *id);
        let (user_id, hash) = match stored {
            Some((id, Some(hash))) => (Some(id), hash),
            _ => (None, self.decoy().await?),
        };
        let is_bcrypt = password::is_bcrypt(&hash);
        let matches = self
            .passwords
            .verify_any(password.to_string(), hash)
            .await?;
        let user_id = match (user_id, matches) {
            (Some(id), true) => id,
            _ => {
                if let Err(e) = self.sessions.record_event("login_failed", known_id).await {
                    tracing::warn!(error = %e, "could not record login_failed");
                }
                return Err(Error::not_authenticated(INVALID_LOGIN));
            }
        };
        self.sessions.throttle.succeeded(&throttle_key, ip);
        let rehash = if is_bcrypt {
            Some(self.passwords.hash(password.to_string()).await?)
        } else {
            None
        };
        let (token, claims) = self.keys.issue(user_id, chrono::Utc::now().timestamp())?;
        self.sessions
            .open(NewSession {
                user_id,
                strategy: NAME,
                connection: &ctx.params.connection,
                token: &token,
                jti: &claims.jti,
                rehash,
            })
            .await?;
        let user = principal::load_user(Some(&self.users), ctx.db, user_id).await?;
        Ok(login_result(NAME, &token, &claims, user, false))
    }
}

/// The throttle key of a login or code attempt: the user id when the account exists, so
/// email, username and phone share one count; else the normalised identifier.
pub fn throttle_key(user_id: Option<i64>, column: &str, login: &str) -> String {
    match user_id {
        Some(id) => format!("user:{id}"),
        None => format!("{column}:{}", login.trim().to_lowercase()),
    }
}

impl LocalLogin {
    /// Which column the login names: the first of email (case-insensitive), username and
    /// phone that is a string with more than white space.
    fn identity(&self) -> Result<(&'static str, String)> {
        let named = [
            ("email", &self.email),
            ("username", &self.username),
            ("phone", &self.phone),
        ];
        for (column, value) in named {
            let Some(value) = value.get().map(|v| v.trim()).filter(|v| !v.is_empty()) else {
                continue;
            };
            let value = if column == "email" {
                value.to_lowercase()
            } else {
                value.to_string()
            };
            return Ok((column, value));
        }
        Err(Error::not_authenticated(INVALID_LOGIN))
    }
}
