//! A Socket.IO v5 server on Engine.IO v4, the part of the protocol Feathers clients speak
//! (feathers-protocol §2): the namespace `/`, text packets, long-polling with the upgrade
//! to a websocket, and websockets from the start.
//!
//! Why not socketioxide: every socket there carries its own channel and writer, reader and
//! heartbeat tasks (about 16 kB a socket, measured with heaptrack), and every delivery is a
//! channel send and a task wake-up before the write. Here a socket is one allocation with
//! its way out ([`wire::Wire`]) and, on a websocket, one reader task; packets are written
//! by whoever sends them, and one task pings every socket (`bench/README.md` has the
//! figures).
//!
//! What the server does with a socket is its [`Handler`]'s: joining `/` (which may be
//! refused), each event, the end. Every socket holds the handler's state `S` for it.

pub mod packet;
mod polling;
mod websocket;
mod wire;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use dashmap::DashMap;
use serde::Serialize;
use serde_json::Value;
use tokio::task::AbortHandle;

pub use packet::Malformed;
use packet::{Inbound, Message};
use wire::Wire;

/// How long a connection may stay open without joining `/` (socket.io's `connectTimeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(45);

/// What a server does with its sockets.
pub trait Handler<S>: Send + Sync + 'static {
    /// The state a new socket holds for the handler.
    fn state(&self) -> S;

    /// The client asks to join `/`: `Err(message)` refuses it (`44{"message":...}`).
    fn connect(&self, socket: Arc<Socket<S>>) -> BoxFuture<Result<(), String>>;

    /// An event `name` with its arguments (`Err` when they are not JSON values the server
    /// reads: nested too deep); `ack` the id the client waits for an answer on. Called in
    /// the order events arrive; may not block.
    fn event(
        &self,
        socket: &Arc<Socket<S>>,
        name: String,
        args: Result<Vec<Value>, String>,
        ack: Option<u64>,
    );

    /// The socket has ended, whichever side ended it. Called once.
    fn disconnect(&self, socket: &Arc<Socket<S>>);
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Engine.IO's settings.
#[derive(Clone)]
pub struct Config {
    /// Where Engine.IO answers (`/socket.io`).
    pub path: &'static str,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// Largest packet (a websocket message, or a polling `POST` body) in bytes.
    pub max_payload: usize,
    /// The request headers a socket keeps (for its handler) from the request that opened it.
    pub keep_headers: fn(&HeaderMap) -> HeaderMap,
}

/// The Socket.IO server: a shared handle, cheap to clone.
pub struct Io<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Io<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<S> {
    config: Config,
    handler: Box<dyn Handler<S>>,
    /// Every open connection, by Engine.IO session id.
    sockets: DashMap<Sid, Arc<Socket<S>>, foldhash::fast::RandomState>,
    /// The ping task runs (started with the first socket).
    pinging: OnceLock<AbortHandle>,
    closed: AtomicBool,
}

/// One client connection, joined to `/` or about to be.
pub struct Socket<S> {
    /// The Engine.IO session id (the `sid` of polling requests and of the upgrade).
    engine_id: Sid,
    /// The Socket.IO id the client is told when it joins `/`.
    pub id: Sid,
    /// The kept headers of the request that opened the connection.
    pub headers: HeaderMap,
    /// Who connected (the TCP peer).
    pub peer: Option<SocketAddr>,
    pub state: S,
    wire: Arc<Wire>,
    opened: std::time::Instant,
    /// Joined to `/`.
    connected: AtomicBool,
    /// A ping went out and its pong has not come back.
    awaiting_pong: AtomicBool,
    /// Ended: `disconnect` was called.
    ended: AtomicBool,
    /// A long-poll is waiting.
    polling: AtomicBool,
    /// The websocket's reader task.
    reader: Mutex<Option<AbortHandle>>,
}

/// A session id: 15 random bytes in URL-safe base64.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sid([u8; 20]);

impl Sid {
    fn new() -> Self {
        use rand::RngExt;
        let mut bytes = [0u8; 15];
        rand::rng().fill(&mut bytes[..]);
        let mut out = [0u8; 20];
        let written = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode_slice(bytes, &mut out)
            .unwrap_or(0);
        debug_assert_eq!(written, 20);
        Self(out)
    }

    fn parse(text: &str) -> Option<Self> {
        text.as_bytes().try_into().ok().map(Self)
    }

    pub fn as_str(&self) -> &str {
        // Only base64 characters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Display for Sid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for Sid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A packet encoded once, to be sent to any number of sockets.
#[derive(Clone)]
pub struct Encoded(wire::Frame);

impl Encoded {
    /// The event `name` with `payload` as its single argument.
    pub fn event(name: &str, payload: &(impl Serialize + ?Sized)) -> serde_json::Result<Self> {
        packet::event(name, payload).map(Self)
    }
}

impl<S: Send + Sync + 'static> Io<S> {
    pub fn new(config: Config, handler: impl Handler<S>) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                handler: Box::new(handler),
                sockets: DashMap::default(),
                pinging: OnceLock::new(),
                closed: AtomicBool::new(false),
            }),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Serves an Engine.IO request (any method, the configured path).
    pub async fn serve(&self, req: Request) -> Response {
        let query = EngineQuery::parse(req.uri().query().unwrap_or(""));
        if query.eio != Some("4") {
            return engine_error(5, "Unsupported protocol version");
        }
        if self.inner.closed.load(Ordering::Relaxed) {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is shutting down",
            )
                .into_response();
        }
        let existing = match query.sid {
            None => None,
            Some(sid) => match Sid::parse(sid).and_then(|sid| self.get(&sid)) {
                Some(socket) => Some(socket),
                None => return engine_error(1, "Session ID unknown"),
            },
        };
        match (query.transport, existing) {
            (Some("polling"), None) if req.method() == Method::GET => self.open_polling(&req),
            (Some("polling"), Some(socket)) => polling::serve(self, socket, req).await,
            (Some("websocket"), existing) => websocket::upgrade(self, existing, req),
            (Some("polling"), None) => engine_error(2, "Bad handshake method"),
            _ => engine_error(0, "Transport unknown"),
        }
    }

    fn get(&self, sid: &Sid) -> Option<Arc<Socket<S>>> {
        self.inner.sockets.get(sid).map(|s| s.value().clone())
    }

    /// A new socket on `wire`, registered.
    /// `headers`: those kept (`Config::keep_headers`).
    fn open(&self, headers: HeaderMap, peer: Option<SocketAddr>, wire: Wire) -> Arc<Socket<S>> {
        self.start_pinging();
        let socket = Arc::new(Socket {
            engine_id: Sid::new(),
            id: Sid::new(),
            headers,
            peer,
            state: self.inner.handler.state(),
            wire: Arc::new(wire),
            opened: std::time::Instant::now(),
            connected: AtomicBool::new(false),
            awaiting_pong: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            polling: AtomicBool::new(false),
            reader: Mutex::new(None),
        });
        self.inner.sockets.insert(socket.engine_id, socket.clone());
        socket
    }

    fn open_polling(&self, req: &Request) -> Response {
        let headers = (self.inner.config.keep_headers)(req.headers());
        let socket = self.open(headers, peer_of(req), Wire::polling());
        let open = self.open_packet(&socket, true);
        text_response(open)
    }

    fn open_packet(&self, socket: &Socket<S>, upgrades: bool) -> Bytes {
        let config = &self.inner.config;
        packet::open(
            socket.engine_id.as_str(),
            upgrades,
            config.ping_interval.as_millis() as u64,
            config.ping_timeout.as_millis() as u64,
            config.max_payload,
        )
    }

    /// Handles one packet from `socket`'s client, in order. `Err`: it did not parse (the
    /// caller closes the connection).
    async fn receive(&self, socket: &Arc<Socket<S>>, text: &str) -> Result<(), Malformed> {
        match packet::decode(text)? {
            Inbound::Pong(_) => socket.awaiting_pong.store(false, Ordering::Relaxed),
            Inbound::Close => self.end(socket),
            Inbound::Ping(_) | Inbound::Upgrade | Inbound::Noop => {}
            Inbound::Message(Message::Connect { namespace: "/" }) => {
                if socket.connected.load(Ordering::Relaxed) {
                    return Ok(());
                }
                match self.inner.handler.connect(socket.clone()).await {
                    Ok(()) => {
                        socket.connected.store(true, Ordering::Relaxed);
                        socket.send_packet(&packet::connected(socket.id.as_str()));
                    }
                    Err(message) => socket.send_packet(&packet::connect_error("/", &message)),
                }
            }
            Inbound::Message(Message::Connect { namespace }) => {
                socket.send_packet(&packet::connect_error(namespace, "Invalid namespace"));
            }
            Inbound::Message(Message::Disconnect { namespace: "/" }) => self.end(socket),
            Inbound::Message(Message::Event {
                namespace: "/",
                ack,
                name,
                args,
            }) if socket.connected.load(Ordering::Relaxed) => {
                self.inner.handler.event(socket, name, args, ack);
            }
            // Events before joining `/` or to another namespace, acks of nothing asked.
            Inbound::Message(_) => {}
        }
        Ok(())
    }

    /// Ends a socket: it leaves the registry, its handler hears of it, its connection
    /// closes. Idempotent.
    fn end(&self, socket: &Arc<Socket<S>>) {
        if socket.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        self.inner.sockets.remove(&socket.engine_id);
        socket.wire.close();
        if let Some(reader) = socket
            .reader
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            reader.abort();
        }
        self.inner.handler.disconnect(socket);
    }

    /// Disconnects `socket` from the server's side: `41`, then the connection closes
    /// (the client does not reconnect on its own).
    pub fn disconnect(&self, socket: &Arc<Socket<S>>) {
        socket.send_packet(packet::DISCONNECT);
        self.end(socket);
    }

    /// Calls `f` with every open socket.
    pub fn for_each(&self, mut f: impl FnMut(&Arc<Socket<S>>)) {
        for entry in self.inner.sockets.iter() {
            f(entry.value());
        }
    }

    /// The open sockets.
    pub fn sockets(&self) -> Vec<Arc<Socket<S>>> {
        self.inner
            .sockets
            .iter()
            .map(|e| e.value().clone())
            .collect()
    }

    /// How many sockets are open.
    pub fn count(&self) -> usize {
        self.inner.sockets.len()
    }

    /// Closes every connection without a Socket.IO disconnect (clients reconnect, as
    /// after a crash) and refuses new ones: the server is stopping.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Relaxed);
        if let Some(pinging) = self.inner.pinging.get() {
            pinging.abort();
        }
        for socket in self.sockets() {
            self.end(&socket);
        }
    }

    fn start_pinging(&self) {
        self.inner.pinging.get_or_init(|| {
            let inner = Arc::downgrade(&self.inner);
            tokio::spawn(async move {
                loop {
                    let Some(config) = inner.upgrade().map(|i| i.config.clone()) else {
                        return;
                    };
                    let Some(io) = inner.upgrade().map(|inner| Io { inner }) else {
                        return;
                    };
                    io.ping_all();
                    drop(io);
                    tokio::time::sleep(config.ping_timeout).await;
                    let Some(io) = inner.upgrade().map(|inner| Io { inner }) else {
                        return;
                    };
                    io.reap();
                    drop(io);
                    let rest = config.ping_interval.saturating_sub(config.ping_timeout);
                    tokio::time::sleep(rest.max(Duration::from_millis(100))).await;
                }
            })
            .abort_handle()
        });
    }

    /// Pings every socket (Engine.IO v4: the server pings, the client answers).
    fn ping_all(&self) {
        let ping = wire::Frame::of_text(packet::PING);
        self.for_each(|socket| {
            socket.awaiting_pong.store(true, Ordering::Relaxed);
            let _ = socket.wire.send_frame(&ping);
        });
    }

    /// Ends the sockets that did not answer the last ping in time, and those that never
    /// joined `/` since the ping before.
    fn reap(&self) {
        let mut dead = Vec::new();
        self.for_each(|socket| {
            let silent = socket.awaiting_pong.load(Ordering::Relaxed);
            let unjoined = !socket.connected.load(Ordering::Relaxed)
                && socket.opened.elapsed() > CONNECT_TIMEOUT;
            if silent || unjoined || socket.wire.is_closed() {
                dead.push(socket.clone());
            }
        });
        for socket in dead {
            tracing::debug!(sid = %socket.id, "closing a socket that did not answer its ping");
            self.end(&socket);
        }
    }
}

impl<S> Socket<S> {
    fn send_packet(&self, packet: &[u8]) {
        let _ = self.wire.send(packet);
    }

    /// Sends a packet encoded once for many sockets. `false` when the connection is gone.
    pub fn send(&self, packet: &Encoded) -> bool {
        self.wire.send_frame(&packet.0).is_ok()
    }

    /// Answers the client's event `id` with `args` (a JSON array).
    pub fn ack(&self, id: u64, args: &impl Serialize) -> serde_json::Result<bool> {
        let packet = packet::ack(id, args)?;
        Ok(self.wire.send_frame(&packet).is_ok())
    }
}

/// The Engine.IO parameters of a request's query string.
#[derive(Default)]
struct EngineQuery<'a> {
    eio: Option<&'a str>,
    transport: Option<&'a str>,
    sid: Option<&'a str>,
}

impl<'a> EngineQuery<'a> {
    fn parse(query: &'a str) -> Self {
        let mut out = Self::default();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "EIO" => out.eio = Some(value),
                "transport" => out.transport = Some(value),
                "sid" => out.sid = Some(value),
                _ => {}
            }
        }
        out
    }
}

fn peer_of(req: &Request) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr)
}

/// Engine.IO's error answer: `400 {"code":..,"message":..}`.
fn engine_error(code: u8, message: &str) -> Response {
    let body = serde_json::json!({ "code": code, "message": message });
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn text_response(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=UTF-8")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_distinct_url_safe_text() {
        let a = Sid::new();
        let b = Sid::new();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 20);
        assert!(
            a.as_str()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(Sid::parse(a.as_str()), Some(a));
        assert_eq!(Sid::parse("short"), None);
    }

    #[test]
    fn engine_query() {
        let q = EngineQuery::parse("EIO=4&transport=polling&t=abc&sid=xyz");
        assert_eq!(q.eio, Some("4"));
        assert_eq!(q.transport, Some("polling"));
        assert_eq!(q.sid, Some("xyz"));
    }
}
