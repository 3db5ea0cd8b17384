//! Socket.IO: `emit(method, path, ...args, ack)` to service calls, as
//! `@feathersjs/transport-commons` does (feathers-protocol §2.2).
//!
//! - success acks `[null, result]`, failures `[error]`;
//! - every event that carries an ack gets an answer, also unknown ones (Feathers leaves
//!   those hanging): a bad path is `NotFound`, a method the service lacks `MethodNotAllowed`;
//! - a login on the socket binds it: the principal lives in the socket's extensions, the
//!   socket joins [`crate::realtime::AUTHENTICATED_ROOM`], and the server disconnects it
//!   (frame `41`) when the token expires; a logout unbinds it and leaves every room.
//!   Nothing else is pushed.
//! - a handshake `Authorization` header (socket.io `extraHeaders`) logs in during connect;
//!   a bad token refuses the connection with a `connect_error` (feathers-protocol §3.5).
//! - at most `socket.max_in_flight` calls run at once per socket; an event beyond that is
//!   answered at once with a 429 `TooManyRequests` ack and not run.
//!
//! This file holds the layer and the event loop; decoding an event's arguments is in
//! `socket/args.rs`. Binding a socket to a login and ending it is realtime's
//! ([`crate::realtime::binding`]): it owns which socket is bound to which login.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::http::header::AUTHORIZATION;
use serde_json::{Map, Value, json};
use socketioxide::SocketIo;
use socketioxide::adapter::{Adapter, LocalAdapter};
use socketioxide::extract::{AckSender, Event, SocketRef, State, TryData};
use socketioxide::handler::{ConnectHandler, FromMessageParts};
use socketioxide::layer::SocketIoLayer;
use socketioxide::socket::Socket;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::layer::util::Stack;
use tower::util::MapRequestLayer;
use tracing::Instrument;

mod args;
mod head;

pub use args::{Args, Planned, plan};

use super::rest::Seen;
use super::{access_token, connection_info};
use crate::error::{Error, ErrorKind, Result};
use crate::hooks;
use crate::hooks::App;
use crate::metrics::{self, Transport};
use crate::realtime::binding::apply;
use crate::service::{Call, Method, Params, Principal, Provider};

/// The Socket.IO layer: Engine.IO's, behind [`head::own_head`].
pub type SocketLayer = Stack<
    SocketIoLayer<LocalAdapter>,
    MapRequestLayer<fn(axum::extract::Request) -> axum::extract::Request>,
>;

/// Builds the Socket.IO layer (Engine.IO v4 at `/socket.io/`, Feathers' ping 25 s /
/// timeout 20 s, messages up to `http.body_limit`), registers the `/` namespace and
/// attaches the handle to `app.realtime` for event publishing.
pub fn socket_layer(app: App) -> (SocketLayer, SocketIo<LocalAdapter>) {
    let limit = app.config.http.body_limit;
    let (layer, io) = SocketIo::builder()
        .req_path(head::PATH)
        .ping_interval(Duration::from_secs(25))
        .ping_timeout(Duration::from_secs(20))
        .max_payload(limit as u64)
        // Every socket keeps a read buffer this size for its life (4 KiB by default);
        // Feathers calls are a few hundred bytes, and a larger frame grows it as needed.
        .ws_read_buffer_size(WS_READ_BUFFER)
        .ws_max_message_size(limit)
        .ws_max_frame_size(limit)
        .with_state(app.clone())
        .build_layer();
    io.ns("/", connected::<LocalAdapter>.with(setup::<LocalAdapter>));
    app.realtime.attach(io.clone());
    let own_head: fn(axum::extract::Request) -> axum::extract::Request = head::own_head;
    (Stack::new(layer, MapRequestLayer::new(own_head)), io)
}

/// Bytes read from a websocket at a time (see `socket_layer`).
const WS_READ_BUFFER: usize = 1024;

/// Runs before the namespace `CONNECT` is answered, so handlers exist and a handshake
/// login is bound before the client can send its first event.
async fn setup<A: Adapter>(
    socket: SocketRef<A>,
    io: SocketIo<A>,
    State(app): State<App>,
) -> Result<(), HandshakeError> {
    let limit = InFlightLimit(Arc::new(Semaphore::new(app.config.socket.max_in_flight)));
    socket.extensions.insert(limit);
    // Every event, method or not, goes to the one handler: as the fallback it needs no
    // per-socket table of event names.
    socket.on_fallback(on_event::<A>);
    socket.on_disconnect(on_disconnect::<A>);

    let header = socket.req_parts().headers.get(AUTHORIZATION);
    let Some(token) = header.and_then(|v| v.to_str().ok()).and_then(access_token) else {
        return Ok(());
    };
    let Some(login) = app.registry.login_path() else {
        return Ok(());
    };
    let call = Call {
        path: login.into(),
        method: Method::Create,
        id: None,
        data: json!({ "strategy": "jwt", "accessToken": token }),
        params: params_for(&app, &socket),
    };
    let span = tracing::info_span!(
        "socket_handshake",
        request_id = %super::new_request_id().to_str().unwrap_or("-"),
    );
    match hooks::run(&app, call).instrument(span).await {
        Ok(outcome) => {
            if let Some(effect) = outcome.effect {
                apply(&socket, &io, effect);
            }
            Ok(())
        }
        Err(e) => {
            tracing::debug!(sid = %socket.id, error = %e, "socket handshake authentication refused");
            Err(HandshakeError(e))
        }
    }
}

async fn connected<A: Adapter>(socket: SocketRef<A>) {
    tracing::debug!(sid = %socket.id, "socket connected");
}

async fn on_disconnect<A: Adapter>(socket: SocketRef<A>) {
    crate::realtime::binding::forget(&socket);
}

/// The calls one socket may have running at once (`socket.max_in_flight`), set up with
/// the socket.
#[derive(Clone)]
struct InFlightLimit(Arc<Semaphore>);

/// A place among the socket's calls in flight, or `None` when all are taken (the call is
/// refused). Taken as an extractor because socketioxide runs extractors in the socket's
/// read loop, in the order events arrive, before it spawns the handler: thousands of
/// events sent at once cannot all get past the check before the first one counts.
struct InFlight(Option<OwnedSemaphorePermit>);

impl<A: Adapter> FromMessageParts<A> for InFlight {
    type Error = Infallible;

    fn from_message_parts(
        socket: &Arc<Socket<A>>,
        _: &mut socketioxide::handler::Value,
        _: &Option<i64>,
    ) -> std::result::Result<Self, Infallible> {
        // No limit installed (cannot happen after `setup`) counts as full: refuse.
        let slot = socket
            .extensions
            .get::<InFlightLimit>()
            .and_then(|InFlightLimit(limit)| limit.try_acquire_owned().ok());
        Ok(InFlight(slot))
    }
}

/// A refused handshake; socket.io sends its message as `44{"message": ...}`.
struct HandshakeError(Error);

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

/// Every event: a service method call, or an error ack. Each runs in a span of its own
/// with a fresh `request_id` (so every log line of the call carries it), and is counted
/// once in the metrics.
async fn on_event<A: Adapter>(
    InFlight(slot): InFlight,
    socket: SocketRef<A>,
    io: SocketIo<A>,
    State(app): State<App>,
    Event(event): Event,
    ack: AckSender<A>,
    TryData(args): TryData<Args>,
) {
    let started = std::time::Instant::now();
    let request_id = super::new_request_id();
    let span = tracing::info_span!(
        "socket_call",
        request_id = %request_id.to_str().unwrap_or("-"),
    );
    let mut seen = Seen::default();
    let result = async {
        match (slot, args) {
            (None, _) => Err(Error::new(
                ErrorKind::TooManyRequests,
                "Too many calls in flight on this connection",
            )),
            (Some(slot), Ok(Args(args))) => {
                let result = run(&app, &socket, &io, &event, args, &mut seen).await;
                // Freed before the ack goes out: a client that waits for it may call again.
                drop(slot);
                result
            }
            (Some(_), Err(_)) => Err(Error::bad_request("Invalid event arguments")),
        }
    }
    .instrument(span.clone())
    .await;
    let _entered = span.enter();
    let status = match &result {
        Ok(value) => success_status(seen.method, value),
        Err(err) => err.code(),
    };
    app.metrics.call(
        Transport::Socketio,
        seen.service.unwrap_or(metrics::UNKNOWN),
        seen.method.map_or(metrics::UNKNOWN, Method::as_str),
        status,
        started.elapsed(),
    );
    let sent = match &result {
        Ok(value) => ack.send(&(Value::Null, value)),
        Err(err) => ack.send(&(err,)),
    };
    if let Err(e) = sent {
        tracing::debug!(sid = %socket.id, error = %e, "could not send ack");
    }
}

/// The status REST would have answered for a successful call, for the metrics: 201 for a
/// create, 204 for a null result, else 200.
fn success_status(method: Option<Method>, value: &Value) -> u16 {
    if value.is_null() {
        204
    } else if method == Some(Method::Create) {
        201
    } else {
        200
    }
}

async fn run<'a, A: Adapter>(
    app: &'a App,
    socket: &SocketRef<A>,
    io: &SocketIo<A>,
    event: &str,
    args: Vec<Value>,
    seen: &mut Seen<'a>,
) -> Result<Value> {
    let registry = &app.registry;
    let planned = plan(event, args, |path| registry.get(path).map(|s| s.methods()))?;
    seen.service = registry.key(&planned.path);
    seen.method = Some(planned.method);
    let mut params = params_for(app, socket);
    params.query = planned.query;
    let call = Call {
        path: planned.path,
        method: planned.method,
        id: planned.id,
        data: planned.data,
        params,
    };
    let outcome = hooks::run(app, call).await?;
    if let Some(effect) = outcome.effect {
        apply(socket, io, effect);
    }
    Ok(outcome.value)
}

fn params_for<A: Adapter>(app: &App, socket: &SocketRef<A>) -> Params {
    let parts = socket.req_parts();
    Params {
        provider: Provider::Socketio,
        query: Map::new(),
        principal: socket.extensions.get::<Arc<Principal>>(),
        access_token: None,
        connection: connection_info(
            &parts.headers,
            &parts.extensions,
            app.config.http.proxies(),
            Some(socket.id.to_string()),
        ),
    }
}

#[cfg(test)]
mod tests;
