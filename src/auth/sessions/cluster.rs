//! Announcing this instance's revocations on the cluster bus
//! ([`crate::realtime::bus`]), so other instances refuse the `jti`s and log out their
//! own sockets bound to them.

use super::Sessions;
use crate::realtime::bus::{Message, Publisher};

impl Sessions {
    /// Announces this instance's revocations to the others from now on.
    pub fn attach_bus(&self, bus: Publisher) {
        let _ = self.bus.set(bus);
    }

    /// Tells the other instances that `jtis` were revoked (committed).
    pub(super) fn announce(&self, jtis: &[String]) {
        self.announce_with_ids(jtis, Vec::new());
    }

    /// [`announce`](Self::announce), plus deleted rows (`ids`) whose `jti` is unknown here.
    pub(super) fn announce_with_ids(&self, jtis: &[String], ids: Vec<i64>) {
        if let Some(bus) = self.bus.get()
            && !(jtis.is_empty() && ids.is_empty())
        {
            bus.send(Message::Revoked {
                jtis: jtis.to_vec(),
                ids,
                users: Vec::new(),
            });
        }
    }

    /// Tells the other instances that `users` were deleted (with all their sessions).
    pub(super) fn announce_removed_users(&self, users: Vec<i64>) {
        if let Some(bus) = self.bus.get()
            && !users.is_empty()
        {
            bus.send(Message::Revoked {
                jtis: Vec::new(),
                ids: Vec::new(),
                users,
            });
        }
    }
}
