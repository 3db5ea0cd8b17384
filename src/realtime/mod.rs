//! Committed events -> Socket.IO connections.
//!
//! Authenticated sockets join [`AUTHENTICATED_ROOM`]; anonymous sockets are in no room and
//! receive nothing. Logout and disconnect leave every room.

use std::sync::OnceLock;

use serde_json::Value;
use socketioxide::SocketIo;

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
    /// authenticated connection.
    pub async fn publish(&self, path: &str, event: &str, record: &Value) {
        let Some(io) = self.io.get() else { return };
        let name = format!("{path} {event}");
        if let Err(e) = io.to(AUTHENTICATED_ROOM).emit(&name, record).await {
            tracing::warn!(event = %name, error = %e, "realtime publish failed");
        }
    }
}
