//! The pipeline's after-commit stage for sessions, ending with the logout of this
//! instance's sockets bound to what it revoked (realtime owns the sockets).

use serde_json::Value;

use crate::app::AppState;
use crate::service::{Binding, Call, Method, Rows, Service};

/// The pipeline's after-commit stage for sessions: keeps the cache true and logs out the
/// sockets of sessions that a committed call revoked (a revoked or deleted
/// `auth_sessions` row, a logout, a password change). Failures are logged, never
/// returned: the call itself succeeded.
pub async fn after_commit(app: &AppState, service: &dyn Service, call: &Call, records: &Value) {
    let mut revoked: Vec<String> = Vec::new();
    let ids = || -> Vec<i64> {
        match records {
            Value::Array(items) => items.iter().filter_map(|r| r["id"].as_i64()).collect(),
            record => record["id"].as_i64().into_iter().collect(),
        }
    };
    match (service.policy().rows, call.method) {
        (Rows::Sessions, Method::Update | Method::Patch | Method::Remove) => {
            let removed = call.method == Method::Remove;
            // `session_revoked` was recorded with the change (`services::auth_sessions`).
            for (jti, _user) in app.sessions.refresh(records, removed).await {
                revoked.push(jti);
            }
            // A deleted row's `jti` is known here only if this instance cached it.
            let ids = if removed { ids() } else { Vec::new() };
            app.sessions.announce_with_ids(&revoked, ids);
        }
        // A deleted user's sessions went with it (CASCADE): its sockets are logged out
        // here and on every other instance.
        (Rows::Accounts, Method::Remove) => {
            let users = ids();
            app.realtime.log_out_users(&users.iter().copied().collect());
            app.sessions.announce_removed_users(users);
        }
        (Rows::Accounts, Method::Update | Method::Patch)
            if call.data.get("password").is_some_and(Value::is_string) =>
        {
            let Some(user_id) = records.get("id").and_then(Value::as_i64) else {
                return;
            };
            let keep = call
                .params
                .principal
                .as_ref()
                .filter(|p| p.user_id == user_id)
                .map(|p| p.session_id.as_str());
            match app.sessions.revoke_user_sessions(user_id, keep).await {
                Ok(jtis) => revoked.extend(jtis),
                Err(e) => {
                    tracing::warn!(error = %e, "could not revoke sessions after a password change")
                }
            }
        }
        _ if service.binds(call.method) == Binding::Logout => {
            if let Some(p) = &call.params.principal {
                revoked.push(p.session_id.clone());
            }
        }
        _ => {}
    }
    let caller = call.params.connection.socket_id.as_deref();
    app.realtime.log_out(&revoked.into_iter().collect(), caller);
}
