//! The pipeline's after-commit stage for sessions: keeps the cache true and says which
//! sockets the committed call ended (realtime logs them out).

use std::collections::HashSet;

use serde_json::Value;

use super::Sessions;
use crate::service::{Binding, Call, Method, Rows, Service};

/// What a committed call ended: the sockets bound to these must be logged out (on this
/// instance; the others learn of them over the cluster bus).
#[derive(Debug, Default)]
pub struct Ended {
    /// Revoked sessions, by `jti`.
    pub sessions: HashSet<String>,
    /// Deleted accounts: every session of theirs went with them.
    pub users: HashSet<i64>,
}

/// The pipeline's after-commit stage for sessions: keeps the cache true and returns the
/// sessions and accounts that a committed call ended (a revoked or deleted `auth_sessions`
/// row, a logout, a password change, a deleted user). Failures are logged, never
/// returned: the call itself succeeded.
pub async fn after_commit(
    sessions: &Sessions,
    service: &dyn Service,
    call: &Call,
    records: &Value,
) -> Ended {
    let mut ended = Ended::default();
    let ids = || -> Vec<i64> {
        match records {
            Value::Array(items) => items.iter().filter_map(|r| r["id"].as_i64()).collect(),
            record => record["id"].as_i64().into_iter().collect(),
        }
    };
    match (service.policy().rows, call.method) {
        (Rows::Sessions, Method::Update | Method::Patch | Method::Remove) => {
            let removed = call.method == Method::Remove;
            let mut revoked: Vec<String> = Vec::new();
            // `session_revoked` was recorded with the change (`services::auth_sessions`).
            for (jti, _user) in sessions.refresh(records, removed).await {
                revoked.push(jti);
            }
            // A deleted row's `jti` is known here only if this instance cached it.
            let ids = if removed { ids() } else { Vec::new() };
            sessions.announce_with_ids(&revoked, ids);
            ended.sessions.extend(revoked);
        }
        // A deleted user's sessions went with it (CASCADE): its sockets are logged out
        // here and on every other instance.
        (Rows::Accounts, Method::Remove) => {
            let users = ids();
            ended.users.extend(users.iter().copied());
            sessions.announce_removed_users(users);
        }
        (Rows::Accounts, Method::Update | Method::Patch)
            if call.data.get("password").is_some_and(Value::is_string) =>
        {
            let Some(user_id) = records.get("id").and_then(Value::as_i64) else {
                return ended;
            };
            let keep = call
                .params
                .principal
                .as_ref()
                .filter(|p| p.user_id == user_id)
                .map(|p| p.session_id());
            match sessions.revoke_user_sessions(user_id, keep).await {
                Ok(jtis) => ended.sessions.extend(jtis),
                Err(e) => {
                    tracing::warn!(error = %e, "could not revoke sessions after a password change")
                }
            }
        }
        _ if service.binds(call.method) == Binding::Logout => {
            if let Some(p) = &call.params.principal {
                ended.sessions.insert(p.session_id().to_string());
            }
        }
        _ => {}
    }
    ended
}
