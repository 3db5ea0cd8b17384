//! What binds a socket to a login and ends it: a login puts the principal in the socket's
//! [`Binding`] (which puts it among the recipients of events) and arms a timer that
//! disconnects the socket when the token expires; a logout, a revoked session or a deleted
//! account unbinds it and (except for the revoking call's own socket) disconnects it.
//!
//! Realtime owns this registry (who is bound to which login): it delivers events by it,
//! and logs sockets out of it for the callers that revoke sessions ([`Connections::log_out`]).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Semaphore;
use tokio::task::AbortHandle;

use super::{Connections, Io, SocketRef};
use crate::service::{ConnectionEffect, Principal};

/// What Roost keeps for each socket: its login, if any, the timer that ends it, and the
/// calls it may still start at once.
pub struct Binding {
    login: Mutex<Option<Login>>,
    /// Places for calls in flight (`socket.max_in_flight`).
    pub in_flight: Arc<Semaphore>,
}

struct Login {
    principal: Arc<Principal>,
    /// Disconnects the socket when the token expires.
    expiry: AbortHandle,
}

impl Drop for Login {
    fn drop(&mut self) {
        self.expiry.abort();
    }
}

impl Binding {
    pub fn new(max_in_flight: usize) -> Self {
        Self {
            login: Mutex::new(None),
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
        }
    }

    /// The login the socket is bound to (events go to bound sockets only).
    pub fn principal(&self) -> Option<Arc<Principal>> {
        self.lock().as_ref().map(|l| l.principal.clone())
    }

    pub fn is_bound(&self) -> bool {
        self.lock().is_some()
    }

    fn lock(&self) -> MutexGuard<'_, Option<Login>> {
        self.login.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Unbinds the socket (its expiry timer stops); `true` when it was bound.
    fn unbind(&self) -> bool {
        self.lock().take().is_some()
    }
}

/// Login binds the socket, logout unbinds it (a call's connection effect).
pub fn apply(socket: &SocketRef, io: &Io, effect: ConnectionEffect) {
    match effect {
        ConnectionEffect::Login(principal) => {
            let expiry = expire_at(io.clone(), Arc::downgrade(socket), principal.clone());
            // A previous login's timer stops as it is dropped.
            *socket.state.lock() = Some(Login { principal, expiry });
        }
        ConnectionEffect::Logout => {
            socket.state.unbind();
        }
    }
}

/// A disconnected socket: its login and expiry timer are dropped.
pub fn forget(socket: &SocketRef) {
    socket.state.unbind();
}

impl Connections {
    /// Logs out this instance's sockets bound to the revoked sessions `jtis` (other
    /// instances learn of them over the cluster bus). `caller`: the revoking call's own
    /// socket, which is only unbound, as it still has to receive its answer.
    pub fn log_out(&self, jtis: &HashSet<String>, caller: Option<&str>) {
        if jtis.is_empty() {
            return;
        }
        if let Some(io) = self.io() {
            log_out_sessions(io, jtis, caller);
        }
    }

    /// Logs out this instance's sockets bound to one of `users` (deleted accounts).
    pub fn log_out_users(&self, users: &HashSet<i64>) {
        if users.is_empty() {
            return;
        }
        if let Some(io) = self.io() {
            log_out_users(io, users);
        }
    }
}

/// Logs out every socket of this instance bound with one of `jtis` (revoked sessions):
/// unbinds it and disconnects it (server-initiated, so the client does not reconnect on
/// its own). The socket of the revoking call itself (`caller`) is only unbound: it still
/// has to receive its answer.
pub fn log_out_sessions(io: &Io, jtis: &HashSet<String>, caller: Option<&str>) {
    log_out_where(io, |p| jtis.contains(p.session_id()), caller);
}

/// Logs out every socket bound to one of `users` (deleted accounts), like
/// [`log_out_sessions`].
pub fn log_out_users(io: &Io, users: &HashSet<i64>) {
    log_out_where(io, |p| users.contains(&p.user_id), None);
}

fn log_out_where(io: &Io, bound_to: impl Fn(&Principal) -> bool, caller: Option<&str>) {
    for socket in io.sockets() {
        let bound = socket.state.principal();
        if !bound.is_some_and(|p| bound_to(&p)) {
            continue;
        }
        socket.state.unbind();
        if caller.is_some_and(|c| c == socket.id.as_str()) {
            continue;
        }
        io.disconnect(&socket);
    }
}

/// Disconnects `socket` (server-initiated, so the client does not reconnect on its own)
/// once `principal`'s token expires, unless another login replaced it meanwhile.
fn expire_at(
    io: Io,
    socket: Weak<crate::socketio::Socket<Binding>>,
    principal: Arc<Principal>,
) -> AbortHandle {
    tokio::spawn(async move {
        let mut remaining = millis_until(principal.expires_at());
        while remaining > 0 {
            // sleep in bounded steps: far-future deadlines must not overflow `Instant`
            tokio::time::sleep(Duration::from_millis(remaining.min(86_400_000))).await;
            remaining = millis_until(principal.expires_at());
        }
        let Some(socket) = socket.upgrade() else {
            return;
        };
        let current = socket.state.principal();
        if current.is_some_and(|p| Arc::ptr_eq(&p.token, &principal.token)) {
            // Unbinding aborts this task, which takes effect at its next await: there is
            // none left.
            socket.state.unbind();
            io.disconnect(&socket);
        }
    })
    .abort_handle()
}

/// Milliseconds from now until `expires_at` (seconds since the epoch); 0 when past.
fn millis_until(expires_at: i64) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    u64::try_from(expires_at.saturating_mul(1000).saturating_sub(now)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::millis_until;

    #[test]
    fn expiry_in_the_past_is_now() {
        assert_eq!(millis_until(0), 0);
        assert_eq!(millis_until(i64::MIN), 0);
        assert!(millis_until(i64::MAX) > 0);
    }
}
