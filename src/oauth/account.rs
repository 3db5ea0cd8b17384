//! Which Roost account an external identity signs in to, and the login itself.
//!
//! In this order:
//! 1. `user_oauth_providers(slug, sub)` names the account (returning user). When the flow
//!    also carries a user to link to who is someone else: 409.
//! 2. A user to link to: the identity is linked to them (`oauth_linked`). That user comes
//!    only from a proof by the account holder: the flow state of `POST /oauth/:slug/link`
//!    (the caller's `Authorization` header, and the callback in the same browser), or a
//!    token-strategy call on a socket that user's login bound. Never from a URL.
//! 3. An account with the same email: linked only when the provider asserts
//!    `email_verified` AND the local email is verified; otherwise refused (409), so nobody
//!    takes over an account through a provider that lets anyone claim any address.
//! 4. Otherwise a new account (no password, no roles) when `signup.open` or the provider's
//!    `allow_signup` is set; the email counts as verified only if the provider says so.
//!
//! A link to an existing account (2 and 3) is told to that account: once the link has
//! committed, an email "a sign-in method (<provider>) was linked" goes to its address
//! (no token in it), so a link its holder did not make does not go unnoticed.
//!
//! The login is a normal one: a Roost JWT and an `auth_sessions` row with `auth_provider` =
//! slug (`login` event), plus `oauth_login`. Rows are written through the service pipeline
//! (internal calls), so they are audited and published like any other change.

use serde_json::{Map, Value, json};

use super::provider::Provider;
use crate::auth::principal;
use crate::auth::sessions::NewSession;
use crate::error::{Error, Result};
use crate::hooks::App;
use crate::notify::{Message, To};
use crate::service::{Call, Connection, Db, Method, Params};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query};

/// What the provider says about the person.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identity {
    pub sub: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub picture: Option<String>,
}

fn short_text(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 512)
        .map(str::to_string)
}

impl Identity {
    /// Reads `subject_field` (a string or a number: GitHub ids are numbers) and the
    /// standard claims.
    pub fn from_claims(claims: &Map<String, Value>, subject_field: &str) -> Result<Self> {
        let sub = match claims.get(subject_field) {
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 255 => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(Error::not_authenticated(
                    "The provider did not identify the user",
                ));
            }
        };
        let email_verified = match claims.get("email_verified") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        };
        Ok(Self {
            sub,
            email: short_text(claims, "email").map(|e| e.to_lowercase()),
            email_verified,
            given_name: short_text(claims, "given_name"),
            family_name: short_text(claims, "family_name"),
            picture: short_text(claims, "picture"),
        })
    }
}

fn col(name: &str) -> Alias {
    Alias::new(name)
}

/// The user linked to `(slug, sub)`, if any.
async fn linked_user(app: &App, slug: &str, sub: &str) -> Result<Option<i64>> {
    let db = Db::Pool(&app.db);
    let select = Query::select()
        .column(col("user_id"))
        .from(col("user_oauth_providers"))
        .and_where(Expr::col(col("slug")).eq(slug))
        .and_where(Expr::col(col("sub")).eq(sub))
        .limit(1)
        .to_owned();
    let row = db
        .query_one(db.build(&select))
        .await
        .map_err(Error::internal)?;
    row.map(|r| r.try_get::<i64>("", "user_id").map_err(Error::internal))
        .transpose()
}

/// `(id, email verified)` of the user with `email` (case-insensitive).
async fn user_by_email(app: &App, email: &str) -> Result<Option<(i64, bool)>> {
    let db = Db::Pool(&app.db);
    let select = Query::select()
        .columns([col("id"), col("email_verified_at")])
        .from(col("users"))
        .and_where(Expr::expr(Func::lower(Expr::col(col("email")))).eq(email))
        .limit(1)
        .to_owned();
    let row = db
        .query_one(db.build(&select))
        .await
        .map_err(Error::internal)?;
    let Some(row) = row else { return Ok(None) };
    let id: i64 = row.try_get("", "id").map_err(Error::internal)?;
    // Read as a value of any type: only NULL or not matters.
    let verified = row
        .try_get::<Option<chrono::DateTime<chrono::Utc>>>("", "email_verified_at")
        .map(|v| v.is_some())
        .or_else(|_| {
            row.try_get::<Option<String>>("", "email_verified_at")
                .map(|v| v.is_some())
        })
        .map_err(Error::internal)?;
    Ok(Some((id, verified)))
}

/// An internal `create` through the pipeline (audited and published).
async fn create(app: &App, path: &str, data: Value) -> Result<Value> {
    let call = Call {
        path: path.to_string(),
        method: Method::Create,
        id: None,
        data,
        params: Params::internal(),
    };
    Ok(crate::hooks::run(app, call).await?.value)
}

async fn link(app: &App, provider: &Provider, sub: &str, user_id: i64) -> Result<()> {
    create(
        app,
        super::LINKS_PATH,
        json!({ "user_id": user_id, "slug": provider.slug, "sub": sub }),
    )
    .await
    .map(drop) // `oauth_linked` is recorded with the link (`services::user_oauth_providers`)
}

/// Tells `user_id` that `provider` was linked to their account (after the link
/// committed). A failure to queue the mail is logged, never turned into a failed login:
/// the link itself is done and audited.
async fn tell_linked(app: &App, provider: &Provider, user_id: i64) {
    match contact(app, user_id).await {
        Ok(Some((email, locale))) => {
            let name: String = provider
                .name
                .chars()
                .filter(|c| !c.is_control())
                .take(100)
                .collect();
            let (subject, body) =
                crate::notify::templates::linked(locale.as_deref(), &name, &email);
            app.notifier.send(Message {
                to: To::Email(email),
                subject,
                body,
            });
        }
        Ok(None) => {}
        Err(e) => tracing::error!(user_id, error = %e, "cannot read the address for a link notice"),
    }
}

/// `(email, locale)` of `user_id`, when the account has an email.
async fn contact(app: &App, user_id: i64) -> Result<Option<(String, Option<String>)>> {
    let db = Db::Pool(&app.db);
    let select = Query::select()
        .columns([col("email"), col("locale")])
        .from(col("users"))
        .and_where(Expr::col(col("id")).eq(user_id))
        .limit(1)
        .to_owned();
    let row = db
        .query_one(db.build(&select))
        .await
        .map_err(Error::internal)?;
    let Some(row) = row else { return Ok(None) };
    let email: Option<String> = row.try_get("", "email").map_err(Error::internal)?;
    let locale: Option<String> = row.try_get("", "locale").map_err(Error::internal)?;
    Ok(email.filter(|e| !e.is_empty()).map(|e| (e, locale)))
}

fn taken(provider: &Provider) -> Error {
    Error::conflict(format!(
        "An account with this email address already exists. Sign in to it, then link {} from there; if you cannot sign in, recover the account by email (recover), which also ends every other session.",
        provider.name
    ))
}

/// Resolves the account (module docs) and logs it in: the Feathers authentication result.
pub async fn sign_in(
    app: &App,
    provider: &Provider,
    identity: &Identity,
    link_user: Option<i64>,
    connection: &Connection,
) -> Result<Value> {
    let user_id = match (
        linked_user(app, &provider.slug, &identity.sub).await?,
        link_user,
    ) {
        (Some(owner), Some(current)) if owner != current => {
            return Err(Error::conflict(format!(
                "This {} account is already linked to another user",
                provider.name
            )));
        }
        (Some(owner), _) => owner,
        (None, Some(current)) => {
            link(app, provider, &identity.sub, current).await?;
            tell_linked(app, provider, current).await;
            current
        }
        (None, None) => match &identity.email {
            Some(email) => match user_by_email(app, email).await? {
                Some((id, local_verified)) if identity.email_verified && local_verified => {
                    link(app, provider, &identity.sub, id).await?;
                    tell_linked(app, provider, id).await;
                    id
                }
                Some(_) => return Err(taken(provider)),
                None => sign_up(app, provider, identity, email).await?,
            },
            None => {
                return Err(Error::forbidden(format!(
                    "{} did not share an email address; sign in first, then link it",
                    provider.name
                )));
            }
        },
    };
    let (token, claims) = app.keys.issue(user_id, chrono::Utc::now().timestamp())?;
    app.sessions
        .open(NewSession {
            user_id,
            strategy: &provider.slug,
            connection,
            token: &token,
            jti: &claims.jti,
            rehash: None,
        })
        .await?;
    app.sessions
        .record_event("oauth_login", Some(user_id))
        .await?;
    let user = principal::load_user(
        app.registry.get(principal::USERS_PATH),
        Db::Pool(&app.db),
        user_id,
    )
    .await?;
    Ok(json!({
        "accessToken": token,
        "authentication": { "strategy": provider.slug, "payload": claims },
        "user": user,
    }))
}

async fn sign_up(app: &App, provider: &Provider, identity: &Identity, email: &str) -> Result<i64> {
    if !(app.config.signup.open || provider.allow_signup) {
        return Err(Error::forbidden(format!(
            "Sign-up is closed: no account is linked to this {} account",
            provider.name
        )));
    }
    let now = crate::store::format_timestamp(&crate::store::now());
    let mut data = json!({
        "email": email,
        "first_name": identity.given_name,
        "last_name": identity.family_name,
        "picture": identity.picture,
        "joined_date": now,
    });
    if identity.email_verified {
        data["email_verified_at"] = json!(now);
    }
    let user = create(app, principal::USERS_PATH, data).await?;
    let id = user
        .get("id")
        .and_then(Value::as_i64)
        .ok_or_else(|| Error::internal("created user has no id"))?;
    link(app, provider, &identity.sub, id).await?;
    Ok(id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_identities() {
        let claims = json!({"id": 12345, "email": "A@B.example", "email_verified": "true"});
        let id = Identity::from_claims(claims.as_object().unwrap(), "id").unwrap();
        assert_eq!(id.sub, "12345");
        assert_eq!(id.email.as_deref(), Some("a@b.example"));
        assert!(id.email_verified);
        let claims = json!({"sub": "", "email": "x@y.z"});
        assert!(Identity::from_claims(claims.as_object().unwrap(), "sub").is_err());
        let claims = json!({"sub": "s", "email_verified": true});
        let id = Identity::from_claims(claims.as_object().unwrap(), "sub").unwrap();
        assert!(id.email.is_none());
    }
}
