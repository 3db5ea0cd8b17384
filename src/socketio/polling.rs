//! Engine.IO long-polling: `GET` waits for the packets sent to the client, `POST` carries
//! the client's packets (both joined by `\x1e`). One `GET` at a time per session; a second
//! one while the first waits ends the session, as Engine.IO's own server does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::packet;
use super::{Io, Socket, engine_error, text_response};

pub(super) async fn serve<S: Send + Sync + 'static>(
    io: &Io<S>,
    socket: Arc<Socket<S>>,
    req: Request,
) -> Response {
    match *req.method() {
        Method::GET => long_poll(io, &socket).await,
        Method::POST => post(io, &socket, req).await,
        _ => engine_error(2, "Bad request method"),
    }
}

async fn long_poll<S: Send + Sync + 'static>(io: &Io<S>, socket: &Arc<Socket<S>>) -> Response {
    if socket.polling.swap(true, Ordering::AcqRel) {
        io.end(socket);
        return engine_error(3, "Overlapping long-poll");
    }
    let _waiting = Waiting(&socket.polling);
    loop {
        match socket.wire.take_polled() {
            Ok(Some(packets)) => return text_response(packets),
            Ok(None) => socket.wire.polled.notified().await,
            // Upgraded to a websocket: this poll ends with a noop. Closed: with a close.
            Err(_) if socket.ended.load(Ordering::Acquire) => {
                return text_response(Bytes::from_static(packet::CLOSE));
            }
            Err(_) => return text_response(Bytes::from_static(packet::NOOP)),
        }
    }
}

/// Marks the session's long-poll as over when it ends, answered or abandoned.
struct Waiting<'a>(&'a AtomicBool);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

async fn post<S: Send + Sync + 'static>(
    io: &Io<S>,
    socket: &Arc<Socket<S>>,
    req: Request,
) -> Response {
    let limit = io.config().max_payload;
    let Ok(body) = axum::body::to_bytes(req.into_body(), limit).await else {
        io.end(socket);
        return (StatusCode::PAYLOAD_TOO_LARGE, "Payload too large").into_response();
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        io.end(socket);
        return engine_error(3, "Packets are not UTF-8 text");
    };
    for packet in text.split('\x1e') {
        if let Err(e) = io.receive(socket, packet).await {
            tracing::debug!(sid = %socket.id, reason = e.0, "closing a socket that sent a bad packet");
            io.end(socket);
            return engine_error(3, e.0);
        }
    }
    text_response(Bytes::from_static(b"ok"))
}
