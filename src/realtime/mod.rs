//! Committed events -> Socket.IO connections.
//!
//! Authenticated sockets join [`AUTHENTICATED_ROOM`]; anonymous sockets are in no room and
//! receive nothing. Logout and disconnect leave every room.
//!
//! Events of a scoped service ([`Realtime::publish_filtered`], DESIGN §5) go only to the
//! connections allowed to read the row: the recipient's scopes are looked up in the scope
//! cache by user id for every event (so a role change applies from the next event on), each
//! recipient's share of the row is decided from them ([`Fanout`]: remembered by the scopes
//! until a role change replaces them), and each distinct payload (a policy's field rules)
//! is shaped and serialised once per event, however many connections and permission sets
//! receive it. A service whose every record any authenticated caller reads whole (`get`
//! open, no field rules) skips all of that: one payload, encoded once, to the room.
//!
//! Several instances: [`bus`] carries committed events (and revocations, scope changes)
//! to the other instances, which filter and shape them for their own connections.

pub mod binding;
pub mod bus;
mod fanout;

pub use fanout::Fanout;

use std::sync::{Arc, OnceLock};

use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use crate::auth::principal_cache::PrincipalCache;
use crate::service::{Db, Policy, Principal};

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
    /// shaped for it. Services whose records every authenticated caller reads whole
    /// ([`fanout::whole_for_everyone`]) go to every authenticated connection at once.
    ///
    /// Per event: one scope-cache lookup per connection; what a connection receives follows
    /// from its scopes' remembered share (or, under a group rule, is decided once per
    /// (scopes, owns the row)), and each distinct payload ([`Fanout`]) is shaped and
    /// serialised once, then sent as is to every connection that gets it.
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
        if fanout::whole_for_everyone(policy) {
            return self.publish(path, event, record).await;
        }
        let Some(ns) = self.io().and_then(|io| io.of("/")) else {
            return 0;
        };
        let mut sent = 0;
        let name = format!("{path} {event}");
        let sockets = ns.to(AUTHENTICATED_ROOM).sockets();
        let mut fanout = Fanout::new(policy, record, sockets.len());
        for socket in sockets {
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
            if let Some(payload) = fanout.payload_for(principal.user_id, scopes) {
                match socket.emit(&name, payload) {
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
