//! Committed events -> Socket.IO connections.
//!
//! Authenticated sockets join [`AUTHENTICATED_ROOM`]; anonymous sockets are in no room and
//! receive nothing. Logout and disconnect leave every room.
//!
//! Events of a scoped service ([`Realtime::publish_filtered`], DESIGN §5) go only to the
//! connections allowed to read the row: the recipient's scopes are looked up in the scope
//! cache by user id for every event (so a role change applies from the next event on),
//! connections are grouped by (scope fingerprint, owns the row) and the payload is shaped
//! once per group (field rules on `users`).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde_json::Value;
use socketioxide::SocketIo;

use crate::app::AppState;
use crate::auth::fields;
use crate::auth::scopes::Scopes;
use crate::service::{Db, Method, Policy, Principal};

/// The room every authenticated connection is in.
pub const AUTHENTICATED_ROOM: &str = "authenticated";

/// The realtime publisher. The Socket.IO handle is attached once the layer exists.
#[derive(Default)]
pub struct Realtime {
    io: OnceLock<SocketIo>,
}

impl Realtime {
    pub fn attach(&self, io: SocketIo) {
        let _ = self.io.set(io);
    }

    pub fn io(&self) -> Option<&SocketIo> {
        self.io.get()
    }

    /// Sends `<path> <event>` with `record` as the single argument to every
    /// authenticated connection (services without a scope prefix).
    pub async fn publish(&self, path: &str, event: &str, record: &Value) {
        let Some(io) = self.io.get() else { return };
        let name = format!("{path} {event}");
        if let Err(e) = io.to(AUTHENTICATED_ROOM).emit(&name, record).await {
            tracing::warn!(event = %name, error = %e, "realtime publish failed");
        }
    }

    /// Sends `<path> <event>` to each authenticated connection allowed to read `record`,
    /// shaped for it. Services without a scope prefix go to every authenticated connection.
    pub async fn publish_filtered(
        &self,
        app: &AppState,
        policy: &Policy,
        path: &str,
        event: &str,
        record: &Value,
    ) {
        if policy.scope_prefix.is_none() {
            return self.publish(path, event, record).await;
        }
        let Some(io) = self.io.get() else { return };
        let name = format!("{path} {event}");
        let mut groups: HashMap<(Arc<Scopes>, bool), Option<Value>> = HashMap::new();
        for socket in io.to(AUTHENTICATED_ROOM).sockets() {
            let Some(principal) = socket.extensions.get::<Arc<Principal>>() else {
                continue;
            };
            let scopes = match app.scopes.get(Db::Pool(&app.db), principal.user_id).await {
                Ok(scopes) => scopes,
                Err(e) => {
                    tracing::warn!(error = %e.message, "realtime: cannot resolve scopes");
                    continue;
                }
            };
            let owns = owns(policy, record, principal.user_id);
            let payload = groups
                .entry((scopes.clone(), owns))
                .or_insert_with(|| shape(policy, &scopes, owns, record));
            if let Some(payload) = payload
                && let Err(e) = socket.emit(&name, payload)
            {
                tracing::warn!(event = %name, error = %e, "realtime publish failed");
            }
        }
    }
}

/// Whether the own-record rule of `policy` makes `record` readable by `user_id`.
fn owns(policy: &Policy, record: &Value, user_id: i64) -> bool {
    policy
        .scope_rule()
        .and_then(|r| r.own_for(Method::Get))
        .is_some_and(|own| record.get(own.field).and_then(Value::as_i64) == Some(user_id))
}

/// What a recipient with `scopes` (owning the row or not) receives, if anything.
fn shape(policy: &Policy, scopes: &Scopes, owns: bool, record: &Value) -> Option<Value> {
    let readable = scopes.is_full()
        || owns
        || policy.scope_rule().is_some_and(|r| {
            let needed = r.required(Method::Get);
            scopes.has_any(&needed)
                || r.group.is_some_and(|field| {
                    record
                        .get(field)
                        .and_then(Value::as_i64)
                        .is_some_and(|g| needed.iter().any(|slug| scopes.has_in_group(g, slug)))
                })
        });
    if !readable {
        return None;
    }
    let mut record = record.clone();
    if policy.scope_prefix == Some("users") && !owns {
        fields::shape_user(&mut record, scopes, None);
    }
    Some(record)
}
