//! `jwt`: `{strategy: "jwt", accessToken}` answers with the same token (Feathers does not
//! refresh it). Re-authentication reuses the session of the token it presents (refused
//! once revoked): no new `auth_sessions` row and no `login` event, so reconnecting
//! clients do not pile up sessions.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use super::{Strategy, login_result};
use crate::auth::sessions::Sessions;
use crate::auth::{Keys, principal};
use crate::error::{Error, Result};
use crate::service::{Ctx, Field, Service, parse};

pub const NAME: &str = "jwt";

pub struct Jwt {
    pub keys: Arc<Keys>,
    pub users: Arc<dyn Service>,
    pub sessions: Arc<Sessions>,
    /// The user's record comes from the same cache as every authenticated call's.
    pub principals: Arc<crate::auth::principal_cache::PrincipalCache>,
}

/// `{strategy: "jwt", accessToken}`: a token that is missing, empty or not a string is
/// "No access token".
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct JwtLogin {
    access_token: Field<String>,
}

#[async_trait]
impl Strategy for Jwt {
    async fn authenticate(&self, ctx: &Ctx<'_>, data: &Value) -> Result<Value> {
        let input: JwtLogin = parse(data)?;
        let token = input
            .access_token
            .non_empty()
            .ok_or_else(|| Error::not_authenticated("No access token"))?;
        let verified = self.keys.verify(token)?;
        let claims = &verified.claims;
        self.sessions.check(&claims.jti).await?;
        let user_id: i64 = claims
            .sub
            .parse()
            .map_err(|_| Error::not_authenticated("jwt subject is not a user id"))?;
        let user = self
            .principals
            .record(user_id, || {
                principal::load_user(Some(&self.users), ctx.db, user_id)
            })
            .await?;
        Ok(login_result(NAME, token, claims, (*user).clone(), true))
    }
}
