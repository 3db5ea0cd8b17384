//! Committed events -> Socket.IO connections.
//!
//! Authenticated sockets join [`AUTHENTICATED_ROOM`]; anonymous sockets are in no room and
//! receive nothing. Logout and disconnect leave every room.
//!
//! Events of a scoped service ([`Realtime::publish_filtered`], DESIGN §5) go only to the
//! connections allowed to read the row: the recipient's scopes are looked up in the scope
//! cache by user id for every event (so a role change applies from the next event on),
//! connections are grouped by (scope fingerprint, owns the row), and each distinct payload
//! (field rules on `users`) is shaped and serialised once per event, however many
//! connections and permission sets receive it.
//!
//! Several instances: [`bus`] carries committed events (and revocations, scope changes)
//! to the other instances, which filter and shape them for their own connections.

pub mod bus;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, OnceLock};

use serde_json::Value;
use serde_json::value::RawValue;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use crate::app::AppState;
use crate::auth::fields;
use crate::auth::scopes::Scopes;
use crate::service::{Db, Method, Policy, Principal};

/// The room every authenticated connection is in.
pub const AUTHENTICATED_ROOM: &str = "authenticated";

/// The connected sockets. Through `of("/")`, as every use of `io` here: once the server
/// is closing (`SocketIo::close` removes the namespace) `SocketIo::sockets`, `to` and
/// `emit` panic; this answers none.
pub fn sockets<A: Adapter>(io: &SocketIo<A>) -> Vec<SocketRef<A>> {
    io.of("/").map(|ns| ns.sockets()).unwrap_or_default()
}

/// The realtime publisher. The Socket.IO handle is attached once the layer exists; the
/// cluster bus once the server starts (PostgreSQL only).
#[derive(Default)]
pub struct Realtime {
    io: OnceLock<SocketIo>,
    bus: OnceLock<bus::Bus>,
}

impl Realtime {
    pub fn attach(&self, io: SocketIo) {
        let _ = self.io.set(io);
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

    pub fn io(&self) -> Option<&SocketIo> {
        self.io.get()
    }

    /// Sends `<path> <event>` with `record` as the single argument to every
    /// authenticated connection (services without a scope prefix).
    pub async fn publish(&self, path: &str, event: &str, record: &Value) {
        let Some(ns) = self.io.get().and_then(|io| io.of("/")) else {
            return;
        };
        let name = format!("{path} {event}");
        if let Err(e) = ns.to(AUTHENTICATED_ROOM).emit(&name, record).await {
            tracing::warn!(event = %name, error = %e, "realtime publish failed");
        }
    }

    /// Sends `<path> <event>` to each authenticated connection allowed to read `record`,
    /// shaped for it. Services without a scope prefix go to every authenticated connection.
    ///
    /// Per event: one scope-cache lookup per connection; what a connection receives is
    /// decided once per (scopes, owns the row), and each distinct payload (a [`Shape`]) is
    /// shaped and serialised once, then sent as is to every connection that gets it.
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
        let Some(ns) = self.io.get().and_then(|io| io.of("/")) else {
            return;
        };
        let name = format!("{path} {event}");
        let mut by_recipient: HashMap<(Arc<Scopes>, bool), Option<usize>> = HashMap::new();
        let mut by_shape: HashMap<Shape, usize> = HashMap::new();
        let mut payloads: Vec<Box<RawValue>> = Vec::new();
        for socket in ns.to(AUTHENTICATED_ROOM).sockets() {
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
            let slot = match by_recipient.entry((scopes, owns)) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) => {
                    let scopes = &e.key().0;
                    let slot = match shape(policy, scopes, owns, record) {
                        None => None,
                        Some(shape) => match by_shape.get(&shape) {
                            Some(i) => Some(*i),
                            None => match render(&shape, scopes, record) {
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
            if let Some(payload) = slot.and_then(|i| payloads.get(i))
                && let Err(e) = socket.emit(&name, payload.as_ref())
            {
                tracing::warn!(event = %name, error = %e, "realtime publish failed");
            }
        }
    }
}

/// What one recipient receives of a record: all of it, or only some fields (`users`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Shape {
    Whole,
    Fields(Vec<&'static str>),
}

/// Whether the own-record rule of `policy` makes `record` readable by `user_id`.
fn owns(policy: &Policy, record: &Value, user_id: i64) -> bool {
    policy
        .scope_rule()
        .and_then(|r| r.own_for(Method::Get))
        .is_some_and(|own| record.get(own.field).and_then(Value::as_i64) == Some(user_id))
}

/// What a recipient with `scopes` (owning the row or not) receives, if anything.
fn shape(policy: &Policy, scopes: &Scopes, owns: bool, record: &Value) -> Option<Shape> {
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
    if policy.scope_prefix == Some("users") && !owns && !scopes.is_full() {
        // `fields::shape_user` keeps exactly these fields for such a viewer.
        Some(Shape::Fields(fields::readable_users_fields(scopes)))
    } else {
        Some(Shape::Whole)
    }
}

/// `record` in `shape` (for a recipient holding `scopes`), serialised once.
fn render(shape: &Shape, scopes: &Scopes, record: &Value) -> Option<Box<RawValue>> {
    let result = match shape {
        Shape::Whole => serde_json::value::to_raw_value(record),
        Shape::Fields(_) => {
            let mut record = record.clone();
            fields::shape_user(&mut record, scopes, None);
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

    use super::*;

    /// DESIGN §4's field table, written out by hand: with `users_read` alone another
    /// user's `id username locale created_at updated_at` are visible; `_full_name` adds
    /// first/middle/last name, `_picture` the picture, `_email` the email and
    /// `email_verified_at`, `_phone` the phone and `phone_verified_at`. The grouping by
    /// [`Shape`] also relies on `shape_user` keeping exactly `readable_users_fields`.
    #[test]
    fn user_shapes_follow_the_design_field_table() {
        let record = json!({
            "id": 5, "username": "u", "email": "e@x.test", "email_verified_at": "v",
            "first_name": "F", "middle_name": "M", "last_name": "L", "phone": "+1",
            "phone_verified_at": "w", "picture": "p", "locale": "en",
            "created_at": "t", "updated_at": "t"
        });
        let base = ["id", "username", "locale", "created_at", "updated_at"];
        let cases: [(&[&str], &[&str]); 6] = [
            (&["users_read"], &[]),
            (
                &["users_read", "users_read_email"],
                &["email", "email_verified_at"],
            ),
            (
                &["users_read", "users_read_full_name"],
                &["first_name", "middle_name", "last_name"],
            ),
            (
                &["users_read", "users_read_phone"],
                &["phone", "phone_verified_at"],
            ),
            (
                &["users_read", "users_read_picture", "roles_read"],
                &["picture"],
            ),
            (
                &[
                    "users_read",
                    "users_read_full_name",
                    "users_read_picture",
                    "users_read_email",
                    "users_read_phone",
                ],
                &[
                    "first_name",
                    "middle_name",
                    "last_name",
                    "picture",
                    "email",
                    "email_verified_at",
                    "phone",
                    "phone_verified_at",
                ],
            ),
        ];
        for (set, added) in cases {
            let scopes = Scopes::new(set.iter().map(|s| s.to_string()));
            let mut shaped = record.clone();
            fields::shape_user(&mut shaped, &scopes, None);
            let mut got: Vec<&str> = shaped
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            got.sort_unstable();
            let mut want: Vec<&str> = base.iter().chain(added).copied().collect();
            want.sort_unstable();
            assert_eq!(got, want, "{set:?}");
            for key in &want {
                assert_eq!(shaped[*key], record[*key], "{set:?}: {key} unchanged");
            }
            let mut readable: Vec<&str> = fields::readable_users_fields(&scopes)
                .iter()
                .copied()
                .filter(|k| record.get(*k).is_some())
                .collect();
            readable.sort_unstable();
            assert_eq!(readable, want, "{set:?}: readable_users_fields");
        }
    }

    #[test]
    fn raw_payloads_serialise_as_json() {
        let payload = serde_json::value::to_raw_value(&json!({"a": 1})).unwrap();
        assert_eq!(
            serde_json::to_string(&("users created", payload.as_ref())).unwrap(),
            r#"["users created",{"a":1}]"#
        );
    }
}
