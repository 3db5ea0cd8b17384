//! Committed events -> Socket.IO connections.
//!
//! Authenticated sockets join [`AUTHENTICATED_ROOM`]; anonymous sockets are in no room and
//! receive nothing. Logout and disconnect leave every room.
//!
//! Events of a scoped service ([`Realtime::publish_filtered`], DESIGN §5) go only to the
//! connections allowed to read the row: the recipient's scopes are looked up in the scope
//! cache by user id for every event (so a role change applies from the next event on),
//! connections are grouped by (scope fingerprint, owns the row), and each distinct payload
//! (a policy's field rules) is shaped and serialised once per event, however many
//! connections and permission sets receive it.
//!
//! Several instances: [`bus`] carries committed events (and revocations, scope changes)
//! to the other instances, which filter and shape them for their own connections.

pub mod binding;
pub mod bus;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, OnceLock};

use serde_json::Value;
use serde_json::value::RawValue;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use crate::auth::principal_cache::PrincipalCache;
use crate::auth::scopes::Scopes;
use crate::service::{Db, Method, Policy, Principal, fields};

/// The room every authenticated connection is in.
pub const AUTHENTICATED_ROOM: &str = "authenticated";

/// The connected sockets. Through `of("/")`, as every use of `io` here: once the server
/// is closing (`SocketIo::close` removes the namespace) `SocketIo::sockets`, `to` and
/// `emit` panic; this answers none.
pub fn sockets<A: Adapter>(io: &SocketIo<A>) -> Vec<SocketRef<A>> {
    io.of("/").map(|ns| ns.sockets()).unwrap_or_default()
}

/// The realtime publisher: this instance's [`Connections`], and the cluster bus once the
/// server starts (PostgreSQL only).
#[derive(Default)]
pub struct Realtime {
    connections: Connections,
    bus: OnceLock<bus::Bus>,
}

/// This instance's Socket.IO connections: which is bound to which login ([`binding`]),
/// delivery to them and logging them out. A shared handle, cheap to clone; the Socket.IO
/// handle is attached once the layer exists.
#[derive(Clone, Default)]
pub struct Connections(Arc<OnceLock<SocketIo>>);

impl Realtime {
    pub fn attach(&self, io: SocketIo) {
        self.connections.attach(io);
    }

    /// This instance's connections (a shared handle).
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// Installs the running cluster bus; gives it back when one is already installed.
    pub fn set_bus(&self, bus: bus::Bus) -> Result<(), bus::Bus> {
        self.bus.set(bus)
    }

    pub fn bus(&self) -> Option<&bus::Bus> {
        self.bus.get()
    }

    /// Stops the cluster bus tasks (the server is stopping).
    pub fn stop(&self) {
        if let Some(bus) = self.bus.get() {
            bus.stop();
        }
    }

    /// Tells the other instances about a committed mutation's event (`record` protected,
    /// not shaped); they filter and shape it for their own sockets.
    pub fn announce(&self, path: &str, event: &str, record: &Value) {
        if let Some(bus) = self.bus.get() {
            bus.publisher.send(bus::Message::Event {
                path: path.to_string(),
                event: event.to_string(),
                record: record.clone(),
            });
        }
    }
}

impl Connections {
    pub fn attach(&self, io: SocketIo) {
        let _ = self.0.set(io);
    }

    pub fn io(&self) -> Option<&SocketIo> {
        self.0.get()
    }

    /// Sends `<path> <event>` with `record` as the single argument to every
    /// authenticated connection (services without a scope prefix). Returns how many
    /// connections it was sent to.
    pub async fn publish(&self, path: &str, event: &str, record: &Value) -> usize {
        let Some(io) = self.io() else {
            return 0;
        };
        let (Some(ns), Some(count)) = (io.of("/"), io.of("/")) else {
            return 0;
        };
        let name = format!("{path} {event}");
        let recipients = count.to(AUTHENTICATED_ROOM).sockets().len();
        match ns.to(AUTHENTICATED_ROOM).emit(&name, record).await {
            Ok(()) => recipients,
            Err(e) => {
                tracing::warn!(event = %name, error = %e, "realtime publish failed");
                0
            }
        }
    }

    /// Sends `<path> <event>` to each authenticated connection allowed to read `record`,
    /// shaped for it. Services without a scope prefix go to every authenticated connection.
    ///
    /// Per event: one scope-cache lookup per connection; what a connection receives is
    /// decided once per (scopes, owns the row), and each distinct payload (a [`Shape`]) is
    /// shaped and serialised once, then sent as is to every connection that gets it.
    ///
    /// Each recipient's scopes come from `principals` (loaded through `db` when not
    /// cached). Returns how many connections it was sent to (the caller counts them).
    pub async fn publish_filtered(
        &self,
        principals: &PrincipalCache,
        db: Db<'_>,
        policy: &Policy,
        path: &str,
        event: &str,
        record: &Value,
    ) -> usize {
        if policy.scope_rule().is_none() {
            return self.publish(path, event, record).await;
        }
        let Some(ns) = self.io().and_then(|io| io.of("/")) else {
            return 0;
        };
        let mut sent = 0;
        let name = format!("{path} {event}");
        let mut by_recipient: HashMap<(Arc<Scopes>, bool), Option<usize>> = HashMap::new();
        let mut by_shape: HashMap<Shape, usize> = HashMap::new();
        let mut payloads: Vec<Box<RawValue>> = Vec::new();
        for socket in ns.to(AUTHENTICATED_ROOM).sockets() {
            let Some(principal) = socket.extensions.get::<Arc<Principal>>() else {
                continue;
            };
            let scopes = match principals.scopes(db, principal.user_id).await {
                Ok(scopes) => scopes,
                Err(e) => {
                    tracing::warn!(error = %e.message, "realtime: cannot resolve scopes");
                    continue;
                }
            };
            let owns = fields::owns(policy, record, principal.user_id);
            let slot = match by_recipient.entry((scopes, owns)) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) => {
                    let scopes = &e.key().0;
                    let slot = match shape(policy, scopes, owns, record) {
                        None => None,
                        Some(shape) => match by_shape.get(&shape) {
                            Some(i) => Some(*i),
                            None => match render(&shape, record) {
                                Some(payload) => {
                                    payloads.push(payload);
                                    by_shape.insert(shape, payloads.len() - 1);
                                    Some(payloads.len() - 1)
                                }
                                None => None,
                            },
                        },
                    };
                    *e.insert(slot)
                }
            };
            if let Some(payload) = slot.and_then(|i| payloads.get(i)) {
                match socket.emit(&name, payload.as_ref()) {
                    Ok(()) => sent += 1,
                    Err(e) => {
                        tracing::warn!(event = %name, error = %e, "realtime publish failed")
                    }
                }
            }
        }
        sent
    }
}

/// What one recipient receives of a record: all of it, or only some fields (a policy's
/// `readable_fields`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Shape {
    Whole,
    Fields(Vec<&'static str>),
}

/// What a recipient with `scopes` (owning the row or not) receives, if anything.
fn shape(policy: &Policy, scopes: &Scopes, owns: bool, record: &Value) -> Option<Shape> {
    let readable = scopes.is_full()
        || owns
        || policy.scope_rule().is_some_and(|r| {
            r.allows(scopes, Method::Get)
                || r.group.is_some_and(|field| {
                    let needed = r.required(Method::Get);
                    record
                        .get(field)
                        .and_then(Value::as_i64)
                        .is_some_and(|g| needed.iter().any(|slug| scopes.has_in_group(g, slug)))
                })
        });
    if !readable {
        return None;
    }
    match fields::readable(policy, scopes).filter(|_| !owns) {
        Some(fields) => Some(Shape::Fields(fields)),
        None => Some(Shape::Whole),
    }
}

/// `record` in `shape` (for a recipient holding `scopes`), serialised once.
fn render(shape: &Shape, record: &Value) -> Option<Box<RawValue>> {
    let result = match shape {
        Shape::Whole => serde_json::value::to_raw_value(record),
        Shape::Fields(readable) => {
            let mut record = record.clone();
            fields::keep(&mut record, readable);
            serde_json::value::to_raw_value(&record)
        }
    };
    match result {
        Ok(payload) => Some(payload),
        Err(e) => {
            tracing::warn!(error = %e, "realtime: cannot serialise an event");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn raw_payloads_serialise_as_json() {
        let payload = serde_json::value::to_raw_value(&json!({"a": 1})).unwrap();
        assert_eq!(
            serde_json::to_string(&("users created", payload.as_ref())).unwrap(),
            r#"["users created",{"a":1}]"#
        );
    }
}
