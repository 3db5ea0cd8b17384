//! Socket.IO: `emit(method, path, ...args, ack)` to service calls, as
//! `@feathersjs/transport-commons` does (feathers-protocol §2.2).
//!
//! - success acks `[null, result]`, failures `[error]`;
//! - every event that carries an ack gets an answer, also unknown ones (Feathers leaves
//!   those hanging): a bad path is `NotFound`, a method the service lacks `MethodNotAllowed`;
//! - a login on the socket binds it: the principal lives in the socket's
//!   [`Binding`], which makes it a recipient of events, and the server disconnects it
//!   (frame `41`) when the token expires; a logout unbinds it. Nothing else is pushed.
//! - a handshake `Authorization` header (socket.io `extraHeaders`) logs in during connect;
//!   a bad token refuses the connection with a `connect_error` (feathers-protocol §3.5).
//! - at most `socket.max_in_flight` calls run at once per socket; an event beyond that is
//!   answered at once with a 429 `TooManyRequests` ack and not run.
//!
//! The protocol is [`crate::socketio`]'s; this file is what Roost does with a socket, and
//! decoding an event's arguments is in `socket/args.rs`. Binding a socket to a login and ending it is realtime's
//! ([`crate::realtime::binding`]): it owns which socket is bound to which login.

use std::fmt;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Map, Value, json};
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

mod args;
mod head;

pub use args::{Planned, plan};

use super::rest::Seen;
use super::{access_token, connection_info};
use crate::error::{Error, ErrorKind, Result};
use crate::hooks;
use crate::hooks::App;
use crate::metrics::{self, Transport};
use crate::realtime::binding::apply;
use crate::realtime::{Binding, Io, SocketRef};
use crate::service::{Call, Method, Params, Provider};
use crate::socketio::{BoxFuture, Config, Handler};

/// Builds the Socket.IO server (Engine.IO v4 at `/socket.io/`, Feathers' ping 25 s /
/// timeout 20 s, messages up to `http.body_limit`) and attaches it to `app.realtime`
/// for event publishing.
pub fn socket_server(app: App) -> Io {
    let config = Config {
        path: head::PATH,
        ping_interval: Duration::from_secs(25),
        ping_timeout: Duration::from_secs(20),
        max_payload: app.config.http.body_limit,
        keep_headers: head::kept_headers,
    };
    let io = Io::new(config, Sockets { app: app.clone() });
    app.realtime.attach(io.clone());
    io
}

/// Middleware answering Engine.IO's requests (`/socket.io/...`); others pass on.
pub async fn serve(State(io): State<Io>, req: Request, next: Next) -> Response {
    if head::is_engine_io(req.uri().path()) {
        return io.serve(req).await;
    }
    next.run(req).await
}

/// What Roost does with a socket.
struct Sockets {
    app: App,
}

impl Handler<Binding> for Sockets {
    fn state(&self) -> Binding {
        Binding::new(self.app.config.socket.max_in_flight)
    }

    fn connect(&self, socket: SocketRef) -> BoxFuture<std::result::Result<(), String>> {
        Box::pin(handshake(self.app.clone(), socket))
    }

    /// Takes the call's place among those in flight here, in the order events arrive:
    /// thousands of events sent at once cannot all get past the check before the first
    /// one counts. The call itself runs in a task of its own.
    fn event(
        &self,
        socket: &SocketRef,
        name: String,
        args: std::result::Result<Vec<Value>, String>,
        ack: Option<u64>,
    ) {
        let slot = socket.state.in_flight.clone().try_acquire_owned().ok();
        let app = self.app.clone();
        tokio::spawn(on_event(app, socket.clone(), slot, name, args, ack));
    }

    fn disconnect(&self, socket: &SocketRef) {
        tracing::debug!(sid = %socket.id, "socket disconnected");
        crate::realtime::binding::forget(socket);
    }
}

/// Before the namespace `CONNECT` is answered, a handshake `Authorization` header logs the
/// socket in, so it is bound before the client can send its first event. A bad token
/// refuses the connection.
async fn handshake(app: App, socket: SocketRef) -> std::result::Result<(), String> {
    let header = socket.headers.get(AUTHORIZATION);
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
            if let (Some(effect), Some(io)) = (outcome.effect, app.realtime.connections().io()) {
                apply(&socket, io, effect);
            }
            Ok(())
        }
        Err(e) => {
            tracing::debug!(sid = %socket.id, error = %e, "socket handshake authentication refused");
            Err(HandshakeError(e).to_string())
        }
    }
}

/// A refused handshake; sent as `44{"message": ...}`.
struct HandshakeError(Error);

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

/// Every event: a service method call, or an error ack. Each runs in a span of its own
/// with a fresh `request_id` (so every log line of the call carries it), and is counted
/// once in the metrics.
async fn on_event(
    app: App,
    socket: SocketRef,
    slot: Option<OwnedSemaphorePermit>,
    event: String,
    args: std::result::Result<Vec<Value>, String>,
    ack: Option<u64>,
) {
    let started = std::time::Instant::now();
    let request_id = super::new_request_id();
    let span = tracing::info_span!(
        "socket_call",
        request_id = %request_id.to_str().unwrap_or("-"),
    );
    let mut seen = Seen::default();
    let result = async {
        let Some(slot) = slot else {
            return Err(Error::new(
                ErrorKind::TooManyRequests,
                "Too many calls in flight on this connection",
            ));
        };
        let Ok(args) = args else {
            return Err(Error::bad_request("Invalid event arguments"));
        };
        let result = run(&app, &socket, &event, args, &mut seen).await;
        // Freed before the ack goes out: a client that waits for it may call again.
        drop(slot);
        result
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
    let Some(ack) = ack else {
        return;
    };
    let sent = match &result {
        Ok(value) => socket.ack(ack, &(Value::Null, value)),
        Err(err) => socket.ack(ack, &(err,)),
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

async fn run<'a>(
    app: &'a App,
    socket: &SocketRef,
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
    if let (Some(effect), Some(io)) = (outcome.effect, app.realtime.connections().io()) {
        apply(socket, io, effect);
    }
    Ok(outcome.value)
}

fn params_for(app: &App, socket: &SocketRef) -> Params {
    Params {
        provider: Provider::Socketio,
        query: Map::new(),
        principal: socket.state.principal(),
        access_token: None,
        connection: connection_info(
            &socket.headers,
            socket.peer.map(|peer| peer.ip()),
            app.config.http.proxies(),
            Some(socket.id.to_string()),
        ),
    }
}

#[cfg(test)]
mod tests;
