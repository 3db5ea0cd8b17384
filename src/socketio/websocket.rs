//! Engine.IO over a websocket: opened directly (`transport=websocket`, no `sid`), or as the
//! upgrade of a polling session (`2probe` / `3probe`, then `5`). One reader task per
//! socket reads the client's frames (tungstenite parses them); writes go through the
//! socket's [`Wire`].

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::wire::{self, Duplex, Reader, Wire};
use super::{Io, Socket, engine_error, packet, peer_of};

/// Answers the websocket handshake (`101`) and serves the socket once upgraded: a new
/// one, or `existing`'s upgrade from polling.
pub(super) fn upgrade<S: Send + Sync + 'static>(
    io: &Io<S>,
    existing: Option<Arc<Socket<S>>>,
    mut req: Request,
) -> Response {
    let headers = req.headers();
    let has = |name, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    let valid = req.method() == Method::GET
        && has(header::UPGRADE, "websocket")
        && has(header::CONNECTION, "upgrade")
        && headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_some_and(|v| v == "13");
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY).filter(|_| valid) else {
        return engine_error(3, "Bad request: expected a websocket upgrade");
    };
    let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) else {
        return engine_error(3, "Bad request: expected a websocket upgrade");
    };
    let kept = (io.config().keep_headers)(headers);
    let peer = peer_of(&req);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let io = io.clone();
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let (read, write) = wire::split(upgraded);
        let wire = Wire::websocket(write);
        match existing {
            None => {
                let socket = io.open(kept, peer, wire);
                socket.send_packet(&io.open_packet(&socket, false));
                let ws = stream(&io, read, socket.wire.clone()).await;
                spawn_reader(io, socket, ws);
            }
            Some(socket) => {
                let wire = Arc::new(wire);
                let ws = stream(&io, read, wire.clone()).await;
                if let Some(ws) = probe(&io, &socket, wire, ws).await {
                    spawn_reader(io, socket, ws);
                }
            }
        }
    });
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::UPGRADE, HeaderValue::from_static("websocket")),
            (header::CONNECTION, HeaderValue::from_static("Upgrade")),
            (header::SEC_WEBSOCKET_ACCEPT, accept),
        ],
    )
        .into_response()
}

type Ws = WebSocketStream<Duplex>;

async fn stream<S: Send + Sync + 'static>(io: &Io<S>, read: Reader, wire: Arc<Wire>) -> Ws {
    let limit = io.config().max_payload;
    let config = WebSocketConfig::default()
        // Kept for the socket's life; Feathers calls are a few hundred bytes and a larger
        // frame grows it as needed.
        .read_buffer_size(1024)
        // What tungstenite writes itself (pongs) goes out at once.
        .write_buffer_size(0)
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    WebSocketStream::from_raw_socket(Duplex { read, wire }, Role::Server, Some(config)).await
}

/// Upgrades a polling socket: answers `2probe` with `3probe`, ends the waiting long-poll,
/// and once the client sends `5` moves the socket onto the websocket. `None` when the
/// client gave up (the socket goes on polling) or the socket is gone.
async fn probe<S: Send + Sync + 'static>(
    io: &Io<S>,
    socket: &Arc<Socket<S>>,
    wire: Arc<Wire>,
    mut ws: Ws,
) -> Option<Ws> {
    let deadline = io.config().ping_timeout;
    let mut probed = false;
    loop {
        let text = match tokio::time::timeout(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => text,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            _ => return None,
        };
        match text.as_str() {
            "2probe" if !probed => {
                probed = true;
                wire.send(packet::PROBE_ANSWER).ok()?;
                // The waiting long-poll returns (with this noop), and the client upgrades.
                socket.send_packet(packet::NOOP);
            }
            "5" if probed => {
                socket.wire.upgrade(&wire).ok()?;
                ws.get_mut().wire = socket.wire.clone();
                return Some(ws);
            }
            _ => return None,
        }
    }
}

/// Reads the socket's frames in a task of its own until either side ends the socket.
fn spawn_reader<S: Send + Sync + 'static>(io: Io<S>, socket: Arc<Socket<S>>, ws: Ws) {
    let task = tokio::spawn(read(io.clone(), socket.clone(), ws));
    *socket.reader.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.abort_handle());
    // Ended before the handle was stored: `end` found nothing to stop.
    if socket.ended.load(Ordering::Acquire) {
        task.abort();
    }
}

async fn read<S: Send + Sync + 'static>(io: Io<S>, socket: Arc<Socket<S>>, mut ws: Ws) {
    while let Some(message) = ws.next().await {
        match message {
            Ok(Message::Text(text)) => {
                if let Err(e) = io.receive(&socket, text.as_str()).await {
                    tracing::debug!(sid = %socket.id, reason = e.0, "closing a socket that sent a bad packet");
                    break;
                }
            }
            Ok(Message::Binary(_)) => {
                tracing::debug!(sid = %socket.id, "closing a socket that sent a binary frame");
                break;
            }
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
        }
        if socket.ended.load(Ordering::Acquire) {
            return;
        }
    }
    // This task ends by itself: `end` has nothing to abort.
    socket
        .reader
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    io.end(&socket);
}
