//! Committed events -> Socket.IO connections.
//!
//! Events go to the sockets bound to a login ([`binding`]); anonymous sockets receive
//! nothing, and logout or disconnect unbinds a socket.
//!
//! Events of a scoped service ([`Realtime::publish_filtered`], DESIGN §5) go only to the
//! connections allowed to read the row: the recipient's scopes are looked up in the scope
//! cache by user id for every event (so a role change applies from the next event on), each
//! recipient's share of the row is decided from them ([`Fanout`]: remembered by the scopes
//! until a role change replaces them), and each distinct payload (a policy's field rules)
//! is shaped and serialised once per event, however many connections and permission sets
//! receive it. A service whose every record any authenticated caller reads whole (`get`
//! open, no field rules) skips all of that: one payload, encoded once, to every bound
//! socket.
//!
//! Several instances: [`bus`] carries committed events (and revocations, scope changes)
//! to the other instances, which filter and shape them for their own connections.

pub mod binding;
pub mod bus;
mod fanout;

pub use fanout::Fanout;

use std::sync::{Arc, OnceLock};

use serde_json::Value;

pub use binding::Binding;

use crate::auth::principal_cache::PrincipalCache;
use crate::service::{Db, Policy};
use crate::socketio::Encoded;

/// The Socket.IO server, each socket holding its [`Binding`].
pub type Io = crate::socketio::Io<Binding>;
/// One Socket.IO connection.
pub type SocketRef = Arc<crate::socketio::Socket<Binding>>;

/// The realtime publisher: this instance's [`Connections`], and the cluster bus once the
/// server starts (PostgreSQL only).
#[derive(Default)]
pub struct Realtime {
    connections: Connections,
    bus: OnceLock<bus::Bus>,
}

/// This instance's Socket.IO connections: which is bound to which login ([`binding`]),
/// delivery to them and logging them out. A shared handle, cheap to clone; the Socket.IO
/// server is attached once the router exists.
#[derive(Clone, Default)]
pub struct Connections(Arc<OnceLock<Io>>);

impl Realtime {
    pub fn attach(&self, io: Io) {
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
    pub fn attach(&self, io: Io) {
        let _ = self.0.set(io);
    }

    pub fn io(&self) -> Option<&Io> {
        self.0.get()
    }

    /// How many sockets are open.
    pub fn count(&self) -> usize {
        self.io().map_or(0, Io::count)
    }

    /// Sends `<path> <event>` with `record` as the single argument to every
    /// authenticated connection, encoded once (services without a scope prefix). Returns
    /// how many connections it was sent to.
    pub async fn publish(&self, path: &str, event: &str, record: &Value) -> usize {
        let Some(io) = self.io() else {
            return 0;
        };
        let name = format!("{path} {event}");
        let packet = match Encoded::event(&name, record) {
            Ok(packet) => packet,
            Err(e) => {
                tracing::warn!(event = %name, error = %e, "realtime publish failed");
                return 0;
            }
        };
        let mut sent = 0;
        io.for_each(|socket| {
            if socket.state.is_bound() && socket.send(&packet) {
                sent += 1;
            }
        });
        sent
    }

    /// Sends `<path> <event>` to each authenticated connection allowed to read `record`,
    /// shaped for it. Services whose records every authenticated caller reads whole
    /// ([`fanout::whole_for_everyone`]) go to every authenticated connection at once.
    ///
    /// Per event: one scope-cache lookup per connection; what a connection receives follows
    /// from its scopes' remembered share (or, under a group rule, is decided once per
    /// (scopes, owns the row)), and each distinct payload ([`Fanout`]) is shaped,
    /// serialised and framed once, then written as is to every connection that gets it.
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
        let Some(io) = self.io() else {
            return 0;
        };
        let mut sent = 0;
        let name = format!("{path} {event}");
        // Collected first: finding scopes may wait on the database.
        let bound: Vec<_> = io
            .sockets()
            .into_iter()
            .filter_map(|socket| socket.state.principal().map(|p| (socket, p)))
            .collect();
        let mut fanout = Fanout::new(policy, record, bound.len());
        // Each distinct payload framed once, by its slot.
        let mut frames: Vec<Option<Encoded>> = Vec::new();
        for (socket, principal) in bound {
            let scopes = match principals.scopes(db, principal.user_id).await {
                Ok(scopes) => scopes,
                Err(e) => {
                    tracing::warn!(error = %e.message, "realtime: cannot resolve scopes");
                    continue;
                }
            };
            let Some(slot) = fanout.slot_for(principal.user_id, scopes) else {
                continue;
            };
            if frames.len() <= slot {
                frames.resize(slot + 1, None);
            }
            let frame = match &frames[slot] {
                Some(frame) => frame,
                None => match Encoded::event(&name, fanout.payload(slot)) {
                    Ok(frame) => frames[slot].insert(frame),
                    Err(e) => {
                        tracing::warn!(event = %name, error = %e, "realtime publish failed");
                        continue;
                    }
                },
            };
            if socket.send(frame) {
                sent += 1;
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
