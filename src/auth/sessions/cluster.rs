//! Announcing this instance's revocations on the cluster bus (`realtime::bus`, through
//! [`Announce`]), so other instances refuse the `jti`s and log out their own sockets
//! bound to them.

use std::sync::Arc;

use super::Sessions;
use crate::auth::Announce;

impl Sessions {
    /// Announces this instance's revocations to the others from now on.
    pub fn attach_bus(&self, bus: Arc<dyn Announce>) {
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
            bus.revoked(jtis.to_vec(), ids, Vec::new());
        }
    }

    /// Tells the other instances that `users` were deleted (with all their sessions).
    pub(super) fn announce_removed_users(&self, users: Vec<i64>) {
        if let Some(bus) = self.bus.get()
            && !users.is_empty()
        {
            bus.revoked(Vec::new(), Vec::new(), users);
        }
    }
}
