//! Resolves the caller: a socket already bound by login, or a token sent with the request.

use std::sync::Arc;

use super::AppState;
use crate::auth::principal;
use crate::error::{Error, Result};
use crate::service::{Access, Binding, Call, Service};

pub async fn run(app: &AppState, service: &dyn Service, call: &mut Call) -> Result<()> {
    let policy = service.policy();
    let params = &mut call.params;
    if params.is_internal() {
        return Ok(());
    }
    let needs_caller = match policy.access(call.method) {
        Access::Authenticated => true,
        Access::Signup => !app.config.signup.open,
        Access::Public | Access::Deny => false,
    };
    if let Some(bound) = &params.principal {
        // A socket keeps its principal until logout; its token may expire meanwhile.
        // A revoked session ends it at once (the cache answers; no query).
        let revoked = app.sessions.is_revoked_cached(bound.session_id());
        if revoked || bound.expires_at() <= chrono::Utc::now().timestamp() {
            params.principal = None;
            if needs_caller {
                return Err(Error::not_authenticated(if revoked {
                    "Session revoked"
                } else {
                    "jwt expired"
                }));
            }
        }
        return Ok(());
    }
    // A login authenticates with its data, never with a stale header.
    if service.binds(call.method) == Binding::Login {
        return Ok(());
    }
    let Some(token) = params.access_token.clone() else {
        return Ok(());
    };
    match principal::from_token(app.token_check(), &token).await {
        Ok(p) => params.principal = Some(Arc::new(p)),
        // On open methods a bad token is treated as no token.
        Err(e) if needs_caller => return Err(e),
        Err(_) => {}
    }
    Ok(())
}
