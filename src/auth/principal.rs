//! Turning an access token into a [`Principal`], and an authentication result back into one
//! (to bind a socket after login).

use std::sync::Arc;

use serde_json::{Value, json};

use super::Keys;
use super::principal_cache::PrincipalCache;
use super::sessions::Sessions;
use crate::error::{Error, Result};
use crate::service::{Ctx, Db, Effects, Params, Principal, Service};

/// The path of the users service, which authentication loads principals from.
pub const USERS_PATH: &str = "users";

/// What turning an access token into a [`Principal`] reads: the keys that verify it, the
/// session it names, the principal cache, and the users service (read through `db`) for
/// a user not cached yet.
#[derive(Clone, Copy)]
pub struct TokenCheck<'a> {
    pub keys: &'a Keys,
    pub sessions: &'a Sessions,
    pub principals: &'a PrincipalCache,
    pub users: Option<&'a Arc<dyn Service>>,
    pub db: Db<'a>,
}

/// Verifies `token` and finds its user (in the principal cache, or loaded once). A deleted
/// user is `NotAuthenticated`.
pub async fn from_token(check: TokenCheck<'_>, token: &str) -> Result<Principal> {
    let token = check.keys.verify(token)?;
    check.sessions.check(&token.claims.jti).await?;
    let user_id: i64 = token
        .claims
        .sub
        .parse()
        .map_err(|_| Error::not_authenticated("jwt subject is not a user id"))?;
    let db = check.db;
    let user = check
        .principals
        .record(user_id, || load_user(check.users, db, user_id))
        .await?;
    let scopes = check.principals.scopes(db, user_id).await?;
    Ok(Principal {
        user_id,
        user,
        token,
        scopes,
    })
}

/// Loads the safe record of `user_id` through the users service (as an internal call).
pub async fn load_user(
    users: Option<&Arc<dyn Service>>,
    db: Db<'_>,
    user_id: i64,
) -> Result<Value> {
    let users = users.ok_or_else(|| Error::internal("users service is not registered"))?;
    let params = Params::internal();
    let effects = Effects::default();
    let ctx = Ctx {
        db,
        params: &params,
        path: USERS_PATH,
        effects: &effects,
        // A read of one row: it calls nothing else.
        pipeline: &crate::service::Detached,
    };
    match users.get(&ctx, &json!(user_id)).await {
        Ok(user) => Ok(user),
        Err(e) if e.code() == 404 => Err(Error::not_authenticated("User not found")),
        Err(e) => Err(e),
    }
}

/// Rebuilds the principal from a successful `authentication.create` result. Its token was
/// just issued or checked, so `keys` remember it: the principal shares their copy.
pub fn from_auth_result(keys: &Keys, result: &Value) -> Option<Principal> {
    let token = keys.verify(result.get("accessToken")?.as_str()?).ok()?;
    Some(Principal {
        user_id: token.claims.sub.parse().ok()?,
        user: Arc::new(result.get("user")?.clone()),
        token,
        // Filled in from the scope cache by the authorize stage of every call.
        scopes: Arc::default(),
    })
}
