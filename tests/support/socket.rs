//! A Socket.IO client written directly over tokio-tungstenite, speaking Engine.IO v4 /
//! Socket.IO v5 frames the way `@feathersjs/socketio-client` (websocket transport) does:
//!
//! ```text
//! S->C 0{"sid":..,"upgrades":[],"pingInterval":..}   C->S 40   S->C 40{"sid":..}
//! C->S 42<ack>["find","users",{}]                     S->C 43<ack>[null,{...}]
//! S->C 2 (ping)  C->S 3 (pong)      S->C 42["users created",{...}]      S->C 41
//! ```
//!
//! Ack ids are deterministic: 0, 1, 2, ... per socket. Events pushed by the server are
//! collected in order into a channel for the realtime tests.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;

use super::client::{Client, FeathersError, Res};

/// How long a call waits for its ack before the test fails.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(15);

/// Tells the writer task to close the websocket.
const CLOSE: &str = "\u{0}close";

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Vec<Value>>>>>;

/// An event pushed by the server: `42["<name>", args...]`.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: String,
    pub args: Vec<Value>,
}

impl Event {
    /// The first argument (Feathers sends the record as the only argument).
    pub fn data(&self) -> &Value {
        self.args.first().unwrap_or(&Value::Null)
    }
}

pub struct SocketClient {
    out: mpsc::UnboundedSender<String>,
    pending: Pending,
    next_ack: AtomicU64,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Event>>,
    closed: watch::Receiver<Option<String>>,
    token: Mutex<Option<String>>,
    /// The Engine.IO open packet.
    pub handshake: Value,
    /// The Socket.IO CONNECT answer (`40{"sid":..}`).
    pub connect: Value,
}

impl SocketClient {
    /// Opens `ws://addr/socket.io/?EIO=4&transport=websocket` and joins namespace `/`.
    pub async fn connect(addr: &str) -> Self {
        match Self::connect_with(addr, &[]).await {
            Ok(s) => s,
            Err(refusal) => panic!("namespace CONNECT refused: {refusal}"),
        }
    }

    /// Like [`connect`](Self::connect) with extra handshake headers (socket.io
    /// `extraHeaders`). `Err` carries the payload of a `44` CONNECT_ERROR.
    pub async fn connect_with(addr: &str, headers: &[(&str, &str)]) -> Result<Self, Value> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let mut request = url
            .as_str()
            .into_client_request()
            .expect("websocket request");
        for (k, v) in headers {
            request.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes())
                    .expect("header name"),
                v.parse().expect("header value"),
            );
        }
        let (ws, _) = tokio::time::timeout(ACK_TIMEOUT, tokio_tungstenite::connect_async(request))
            .await
            .unwrap_or_else(|_| panic!("websocket connect to {url} timed out"))
            .unwrap_or_else(|e| panic!("websocket connect to {url} failed: {e}"));
        let (mut sink, mut stream) = ws.split();

        // Engine.IO open packet, then the namespace CONNECT exchange.
        let open = next_text(&mut stream).await;
        let handshake: Value = match open.strip_prefix('0') {
            Some(json) => serde_json::from_str(json).expect("open packet JSON"),
            None => panic!("expected Engine.IO open packet `0{{...}}`, got {open:?}"),
        };
        assert!(
            handshake["sid"].is_string(),
            "open packet without sid: {handshake}"
        );
        assert!(
            handshake["pingInterval"].is_u64(),
            "open packet: {handshake}"
        );
        sink.send(Message::text("40")).await.expect("send 40");
        let connect = loop {
            let frame = next_text(&mut stream).await;
            if frame == "2" {
                sink.send(Message::text("3")).await.expect("send pong");
                continue;
            }
            if let Some(rest) = frame.strip_prefix("40") {
                break serde_json::from_str::<Value>(if rest.is_empty() { "{}" } else { rest })
                    .expect("CONNECT JSON");
            }
            if let Some(rest) = frame.strip_prefix("44") {
                return Err(serde_json::from_str(rest).unwrap_or(Value::String(rest.to_string())));
            }
            panic!("expected Socket.IO CONNECT `40{{...}}`, got {frame:?}");
        };

        let (out, mut out_rx) = mpsc::unbounded_channel::<String>();
        let pending: Pending = Arc::default();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (closed_tx, closed) = watch::channel(None);

        // Writer: the only owner of the sink.
        tokio::spawn(async move {
            while let Some(text) = out_rx.recv().await {
                if text == CLOSE {
                    break;
                }
                if sink.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });

        // Reader: pings, acks, events, disconnects.
        let reader_out = out.clone();
        let reader_pending = pending.clone();
        tokio::spawn(async move {
            let reason = loop {
                let msg = match stream.next().await {
                    Some(Ok(msg)) => msg,
                    Some(Err(e)) => break format!("transport error: {e}"),
                    None => break "transport close".to_string(),
                };
                let text = match msg {
                    Message::Text(t) => t.as_str().to_string(),
                    Message::Close(_) => break "transport close".to_string(),
                    _ => continue,
                };
                match text.as_bytes().first() {
                    Some(b'2') => {
                        let _ = reader_out.send("3".into());
                    }
                    Some(b'1') => break "transport close (engine.io 1)".to_string(),
                    Some(b'4') => match text.as_bytes().get(1) {
                        Some(b'1') => break "io server disconnect".to_string(),
                        Some(b'2') => {
                            let (_, args) = split_ack_id(&text[2..]);
                            let args = parse_args(args, &text);
                            let name = args
                                .first()
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string();
                            let _ = events_tx.send(Event {
                                name,
                                args: args.into_iter().skip(1).collect(),
                            });
                        }
                        Some(b'3') => {
                            let (id, args) = split_ack_id(&text[2..]);
                            let args = parse_args(args, &text);
                            let waiter =
                                id.and_then(|id| reader_pending.lock().unwrap().remove(&id));
                            match waiter {
                                Some(tx) => {
                                    let _ = tx.send(args);
                                }
                                None => eprintln!("socket: ack for no pending call: {text}"),
                            }
                        }
                        _ => eprintln!("socket: unexpected packet {text}"),
                    },
                    _ => {}
                }
            };
            // Fail every waiting call: their senders are dropped here.
            reader_pending.lock().unwrap().clear();
            let _ = closed_tx.send(Some(reason));
        });

        Ok(Self {
            out,
            pending,
            next_ack: AtomicU64::new(0),
            events: tokio::sync::Mutex::new(events_rx),
            closed,
            token: Mutex::new(None),
            handshake,
            connect,
        })
    }

    pub fn token(&self) -> Option<String> {
        self.token.lock().unwrap().clone()
    }

    /// Leaves the namespace (`41`) and closes the websocket, as `socket.disconnect()` does.
    pub fn disconnect(&self) {
        let _ = self.out.send("41".into());
        let _ = self.out.send(CLOSE.into());
    }

    /// Sends `42<id>[args...]` and waits up to `timeout` for `43<id>[...]`.
    /// `None` when no ack came (or the socket closed first).
    pub async fn emit_with_ack(&self, args: Vec<Value>, timeout: Duration) -> Option<Vec<Value>> {
        let id = self.next_ack.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        let frame = format!("42{id}{}", Value::Array(args));
        if self.out.send(frame).is_err() {
            return None;
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(args)) => Some(args),
            _ => {
                self.pending.lock().unwrap().remove(&id);
                None
            }
        }
    }

    /// Sends a raw text frame (e.g. a malformed packet).
    pub fn send_raw(&self, frame: &str) {
        let _ = self.out.send(frame.to_string());
    }

    /// A Feathers call: `[method, path, ...args]`; ack `[null, result]` or `[error]`.
    pub async fn call(&self, args: Vec<Value>) -> Res {
        let what = format!("{args:?}");
        let Some(ack) = self.emit_with_ack(args, ACK_TIMEOUT).await else {
            panic!(
                "no ack within {ACK_TIMEOUT:?} for {what} (socket closed: {:?})",
                self.closed_reason()
            );
        };
        ack_to_result(ack)
    }

    /// Why the socket closed, if it did.
    pub fn closed_reason(&self) -> Option<String> {
        self.closed.borrow().clone()
    }

    /// Waits until the socket is closed, up to `timeout`; returns the reason.
    pub async fn wait_closed(&self, timeout: Duration) -> Option<String> {
        let mut rx = self.closed.clone();
        let wait = async {
            loop {
                if let Some(reason) = rx.borrow().clone() {
                    return reason;
                }
                if rx.changed().await.is_err() {
                    return "closed".to_string();
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.ok()
    }

    /// The next pushed event, waiting up to `timeout`.
    pub async fn next_event(&self, timeout: Duration) -> Option<Event> {
        let mut rx = self.events.lock().await;
        tokio::time::timeout(timeout, rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next event called `name`, skipping others; waits up to `timeout` in all.
    pub async fn wait_event(&self, name: &str, timeout: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.next_event(left).await?;
            if event.name == name {
                return Some(event);
            }
        }
    }

    /// The next event whose name starts with one of `prefixes` (others are skipped);
    /// fails the test if none arrives within `ACK_TIMEOUT` (a failure deadline only).
    ///
    /// To prove that an action produced NO event, cause a sentinel event after it and
    /// assert that the sentinel is what this returns: events reach a socket in order, so
    /// an unwanted one would come first.
    pub async fn next_of(&self, prefixes: &[&str]) -> Event {
        let deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(event) = self.next_event(left).await else {
                panic!("no {prefixes:?} event within {ACK_TIMEOUT:?}");
            };
            if prefixes.iter().any(|p| event.name.starts_with(p)) {
                return event;
            }
        }
    }

    /// Every event received so far (without waiting).
    pub async fn drain_events(&self) -> Vec<Event> {
        let mut rx = self.events.lock().await;
        let mut out = Vec::new();
        while let Ok(e) = rx.try_recv() {
            out.push(e);
        }
        out
    }
}

impl Drop for SocketClient {
    fn drop(&mut self) {
        let _ = self.out.send(CLOSE.into());
    }
}

/// `[null, result]` -> Ok(result); `[error]` -> Err(error).
pub fn ack_to_result(ack: Vec<Value>) -> Res {
    match ack.first() {
        Some(Value::Null) => Ok(ack.get(1).cloned().unwrap_or(Value::Null)),
        Some(err) => Err(FeathersError {
            status: None,
            body: err.clone(),
        }),
        None => panic!("empty ack"),
    }
}

/// `123[...]` -> (Some(123), "[...]").
fn split_ack_id(s: &str) -> (Option<u64>, &str) {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    (s[..digits].parse().ok(), &s[digits..])
}

fn parse_args(json: &str, frame: &str) -> Vec<Value> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Array(args)) => args,
        _ => panic!("bad Socket.IO payload in {frame:?}"),
    }
}

async fn next_text<S>(stream: &mut S) -> String
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let msg = tokio::time::timeout(ACK_TIMEOUT, stream.next())
            .await
            .expect("handshake timed out")
            .expect("socket closed during handshake")
            .expect("websocket error during handshake");
        if let Message::Text(t) = msg {
            return t.as_str().to_string();
        }
    }
}

impl Client for SocketClient {
    async fn find(&self, path: &str, query: Value) -> Res {
        self.call(vec![json!("find"), json!(path), query]).await
    }
    async fn get(&self, path: &str, id: Value, query: Value) -> Res {
        self.call(vec![json!("get"), json!(path), id, query]).await
    }
    async fn create(&self, path: &str, data: Value, query: Value) -> Res {
        self.call(vec![json!("create"), json!(path), data, query])
            .await
    }
    async fn update(&self, path: &str, id: Value, data: Value, query: Value) -> Res {
        self.call(vec![json!("update"), json!(path), id, data, query])
            .await
    }
    async fn patch(&self, path: &str, id: Value, data: Value, query: Value) -> Res {
        self.call(vec![json!("patch"), json!(path), id, data, query])
            .await
    }
    async fn remove(&self, path: &str, id: Value, query: Value) -> Res {
        self.call(vec![json!("remove"), json!(path), id, query])
            .await
    }
    async fn authenticate(&self, data: Value) -> Res {
        let result = self.create("authentication", data, json!({})).await?;
        *self.token.lock().unwrap() = result["accessToken"].as_str().map(str::to_string);
        Ok(result)
    }
    async fn logout(&self) -> Res {
        let result = self.remove("authentication", Value::Null, json!({})).await;
        *self.token.lock().unwrap() = None;
        result
    }
}
