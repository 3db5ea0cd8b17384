//! What binds a socket to a login and ends it: a login puts the principal in the socket's
//! extensions, joins the authenticated room and arms a timer that disconnects the socket
//! when the token expires; a logout, a revoked session or a deleted account unbinds it,
//! leaves every room and (except for the revoking call's own socket) disconnects it.
//!
//! Realtime owns this registry (who is bound to which login): it delivers events by it,
//! and logs sockets out of it for the callers that revoke sessions ([`Connections::log_out`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use tokio::task::AbortHandle;

use super::{AUTHENTICATED_ROOM, Connections};
use crate::service::{ConnectionEffect, Principal};

/// Login binds the socket, logout unbinds it (a call's connection effect).
pub fn apply<A: Adapter>(socket: &SocketRef<A>, io: &SocketIo<A>, effect: ConnectionEffect) {
    match effect {
        ConnectionEffect::Login(principal) => {
            socket.extensions.insert(principal.clone());
            socket.join(AUTHENTICATED_ROOM);
            let timer = expire_at(io.clone(), socket.id, principal);
            if let Some(previous) = socket.extensions.insert(timer) {
                previous.0.abort();
            }
        }
        ConnectionEffect::Logout => {
            socket.extensions.remove::<Arc<Principal>>();
            if let Some(timer) = socket.extensions.remove::<ExpiryTimer>() {
                timer.0.abort();
            }
            socket.leave_all();
        }
    }
}

/// A disconnected socket: its login and expiry timer are dropped.
pub fn forget<A: Adapter>(socket: &SocketRef<A>) {
    socket.extensions.remove::<Arc<Principal>>();
    if let Some(timer) = socket.extensions.remove::<ExpiryTimer>() {
        timer.0.abort();
    }
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
/// unbinds it, leaves every room and disconnects it (server-initiated, so the client does
/// not reconnect on its own). The socket of the revoking call itself (`caller`) is only
/// unbound: it still has to receive its answer.
pub fn log_out_sessions<A: Adapter>(
    io: &SocketIo<A>,
    jtis: &HashSet<String>,
    caller: Option<&str>,
) {
    log_out_where(io, |p| jtis.contains(p.session_id()), caller);
}

/// Logs out every socket bound to one of `users` (deleted accounts), like
/// [`log_out_sessions`].
pub fn log_out_users<A: Adapter>(io: &SocketIo<A>, users: &HashSet<i64>) {
    log_out_where(io, |p| users.contains(&p.user_id), None);
}

fn log_out_where<A: Adapter>(
    io: &SocketIo<A>,
    bound_to: impl Fn(&Principal) -> bool,
    caller: Option<&str>,
) {
    for socket in super::sockets(io) {
        let bound = socket.extensions.get::<Arc<Principal>>();
        if !bound.is_some_and(|p| bound_to(&p)) {
            continue;
        }
        socket.extensions.remove::<Arc<Principal>>();
        if let Some(timer) = socket.extensions.remove::<ExpiryTimer>() {
            timer.0.abort();
        }
        socket.leave_all();
        if caller.is_some_and(|c| c == socket.id.to_string()) {
            continue;
        }
        if let Err(e) = socket.clone().disconnect() {
            tracing::debug!(sid = %socket.id, error = %e, "could not disconnect a revoked socket");
        }
    }
}

/// The task that disconnects a socket when its login expires.
#[derive(Clone)]
struct ExpiryTimer(Arc<AbortHandle>);

/// Disconnects socket `sid` (server-initiated, so the client does not reconnect on its
/// own) once `principal`'s token expires, unless another login replaced it meanwhile.
fn expire_at<A: Adapter>(io: SocketIo<A>, sid: Sid, principal: Arc<Principal>) -> ExpiryTimer {
    let task = tokio::spawn(async move {
        let mut remaining = millis_until(principal.expires_at());
        while remaining > 0 {
            // sleep in bounded steps: far-future deadlines must not overflow `Instant`
            tokio::time::sleep(Duration::from_millis(remaining.min(86_400_000))).await;
            remaining = millis_until(principal.expires_at());
        }
        let Some(socket) = io.of("/").and_then(|ns| ns.get_socket(sid)) else {
            return;
        };
        let current = socket.extensions.get::<Arc<Principal>>();
        if current.is_some_and(|p| p.token == principal.token) {
            socket.extensions.remove::<Arc<Principal>>();
            socket.extensions.remove::<ExpiryTimer>();
            socket.leave_all();
            if let Err(e) = socket.disconnect() {
                tracing::debug!(%sid, error = %e, "could not disconnect an expired socket");
            }
        }
    });
    ExpiryTimer(Arc::new(task.abort_handle()))
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
