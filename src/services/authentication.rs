//! `authentication` — log in and out (feathers-protocol §3).
//!
//! - `create {strategy?, email|username|phone, password}` (`local`, the default) or
//!   `{strategy: "jwt", accessToken}` -> 201 `{accessToken, authentication, user}`.
//! - `{strategy: "<oauth_providers slug>", id_token | access_token [, nonce]}`: a login with
//!   a provider token the app obtained itself, validated like the browser flow (`oauth`).
//! - `remove(null | <the same token>)` -> logout; answers with the JWT result.
//!
//! Both are open to anonymous callers (they are how one stops being anonymous). Nothing
//! is audited as a row change or published; a socket that logs in is bound to the user by
//! the pipeline's connection stage.
//!
//! Sessions (`auth::sessions`): a `local` login opens an `auth_sessions` row named by the
//! token's `jti`, with the custom audit event `login`, in one transaction. `jwt`
//! re-authentication reuses the session of the token it presents (refused once revoked):
//! no new row and no `login` event, so reconnecting clients do not pile up sessions.
//! Logout revokes the session (`logout` event).
//!
//! Hardening: login attempts are throttled per account (one count whichever identifier is
//! used) and per IP, counted before the password is checked (429 + `Retry-After`,
//! `auth::throttle`); password checks pass the bounded gate of `auth::password` (503 +
//! `Retry-After` when it is full). Failures are recorded as `login_failed` (with the user id when the account
//! exists). Unknown accounts and wrong passwords answer the same 401 "Invalid login" after
//! the same work (a decoy hash). Imported bcrypt hashes (`$2a$`/`$2b$`/`$2y$`) are accepted
//! and replaced by an argon2id hash on the first successful login.

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use serde_json::{Map, Value, json};
use tokio::sync::OnceCell;

use crate::auth::sessions::{NewSession, Sessions};
use crate::auth::{Claims, Keys, password, principal};
use crate::error::{Error, Result};
use crate::service::{Access, Binding, Ctx, Method, Policy, Principal, Service};

pub const PATH: &str = "authentication";

const INVALID_LOGIN: &str = "Invalid login";

pub struct AuthenticationService {
    keys: Arc<Keys>,
    users: Arc<dyn Service>,
    sessions: Arc<Sessions>,
    policy: Policy,
    /// A real hash to verify against when the user does not exist, so an unknown account
    /// costs the same time as a wrong password.
    decoy_hash: OnceCell<String>,
    /// Every hash and verification passes this gate (`auth::password`).
    passwords: Arc<password::PasswordGate>,
    /// The `otp` strategy (`services::otp`), when registered.
    otp: Option<Arc<super::otp::OtpService>>,
    /// OAuth provider strategies (`strategy: <provider slug>`), when enabled.
    oauth: Option<Arc<crate::oauth::OAuth>>,
}

impl AuthenticationService {
    pub fn new(
        keys: Arc<Keys>,
        users: Arc<dyn Service>,
        sessions: Arc<Sessions>,
        passwords: Arc<password::PasswordGate>,
    ) -> Self {
        let policy = Policy {
            create: Access::Public,
            remove: Access::Public,
            ..Policy::deny_all()
        }
        .secret_ids(); // `DELETE /authentication/<access token>`
        Self {
            keys,
            users,
            sessions,
            passwords,
            policy,
            decoy_hash: OnceCell::new(),
            otp: None,
            oauth: None,
        }
    }

    /// Enables `{strategy: <oauth_providers slug>, id_token | access_token}` (`oauth`).
    pub fn with_oauth(mut self, oauth: Arc<crate::oauth::OAuth>) -> Self {
        self.oauth = Some(oauth);
        self
    }

    /// Enables the `otp` strategy: `{strategy: "otp", email|phone, otp}`.
    pub fn with_otp(mut self, otp: Arc<super::otp::OtpService>) -> Self {
        self.otp = Some(otp);
        self
    }

    async fn local(&self, ctx: &Ctx<'_>, data: &Map<String, Value>) -> Result<Value> {
        let password = data
            .get("password")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| Error::not_authenticated(INVALID_LOGIN))?;
        let (column, login) = login_identity(data)?;
        let ip = ctx.params.connection.ip.as_deref();
        let stored = self.stored_hash(ctx, column, &login).await?;
        // One count per account, whichever identifier names it (see `throttle_key`),
        // taken before the password is checked.
        let throttle_key = throttle_key(stored.as_ref().map(|(id, _)| *id), column, &login);
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
                strategy: "local",
                connection: &ctx.params.connection,
                token: &token,
                jti: &claims.jti,
                rehash,
            })
            .await?;
        let user = principal::load_user(Some(&self.users), ctx.db, user_id).await?;
        Ok(result("local", &token, &claims, user, false))
    }

    async fn jwt(&self, ctx: &Ctx<'_>, data: &Map<String, Value>) -> Result<Value> {
        let token = data
            .get("accessToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::not_authenticated("No access token"))?;
        let claims = self.keys.verify(token)?;
        // Re-authentication reuses the token's session (see the module docs).
        self.sessions.check(&claims.jti).await?;
        let user_id: i64 = claims
            .sub
            .parse()
            .map_err(|_| Error::not_authenticated("jwt subject is not a user id"))?;
        let user = principal::load_user(Some(&self.users), ctx.db, user_id).await?;
        Ok(result("jwt", token, &claims, user, true))
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

/// The throttle key of a login or code attempt: the user id when the account exists, so
/// email, username and phone share one count; else the normalised identifier.
pub fn throttle_key(user_id: Option<i64>, column: &str, login: &str) -> String {
    match user_id {
        Some(id) => format!("user:{id}"),
        None => format!("{column}:{}", login.trim().to_lowercase()),
    }
}

/// Which column the login names: email (case-insensitive), username or phone.
fn login_identity(data: &Map<String, Value>) -> Result<(&'static str, String)> {
    for column in ["email", "username", "phone"] {
        if let Some(value) = data.get(column).and_then(Value::as_str) {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            let value = if column == "email" {
                value.to_lowercase()
            } else {
                value.to_string()
            };
            return Ok((column, value));
        }
    }
    Err(Error::not_authenticated(INVALID_LOGIN))
}

/// The Feathers authentication result. `jwt` echoes the token it was given.
fn result(strategy: &str, token: &str, claims: &Claims, user: Value, echo_token: bool) -> Value {
    let mut authentication = Map::new();
    authentication.insert("strategy".into(), json!(strategy));
    if echo_token {
        authentication.insert("accessToken".into(), json!(token));
    }
    authentication.insert("payload".into(), json!(claims));
    json!({ "accessToken": token, "authentication": authentication, "user": user })
}

fn principal_result(p: &Principal) -> Value {
    json!({
        "accessToken": p.access_token,
        "authentication": { "strategy": "jwt", "accessToken": p.access_token, "payload": p.payload },
        "user": p.user,
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
        let Value::Object(data) = data else {
            return Err(Error::bad_request("Authentication data must be an object"));
        };
        match data.get("strategy") {
            None | Some(Value::Null) => self.local(ctx, &data).await,
            Some(Value::String(s)) if s == "local" => self.local(ctx, &data).await,
            Some(Value::String(s)) if s == "jwt" => self.jwt(ctx, &data).await,
            Some(Value::String(s)) if s == "otp" && self.otp.is_some() => {
                let code = match data.get("otp") {
                    Some(Value::String(code)) => code.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => return Err(Error::not_authenticated(INVALID_LOGIN)),
                };
                match &self.otp {
                    Some(otp) => otp.login(ctx, &data, &code).await,
                    None => Err(Error::not_authenticated(INVALID_LOGIN)),
                }
            }
            Some(Value::String(slug)) if self.oauth.is_some() => match &self.oauth {
                Some(oauth) => oauth.token_login(ctx, slug, &data).await,
                None => Err(Error::not_authenticated(INVALID_LOGIN)),
            },
            Some(_) => Err(Error::not_authenticated(
                "Invalid authentication information (strategy not allowed in authStrategies)",
            )),
        }
    }

    async fn remove(&self, ctx: &Ctx<'_>, id: Option<&Value>) -> Result<Value> {
        let principal = ctx.params.principal.as_ref().ok_or_else(|| {
            Error::not_authenticated("Invalid authentication information (no `strategy` set)")
        })?;
        match id {
            None | Some(Value::Null) => {}
            Some(Value::String(t)) if *t == principal.access_token => {}
            Some(_) => return Err(Error::not_authenticated("Invalid access token")),
        }
        self.sessions
            .revoke_for_logout(&principal.session_id, principal.user_id)
            .await?;
        Ok(principal_result(principal))
    }
}
