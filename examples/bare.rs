//! The "bare limit" for `bench/`: plain axum on the same runtime (tokio, two workers on
//! this machine) answering the chat API's REST routes with fixed bytes, and Roost's own
//! Socket.IO server (`roost::socketio`) answering its socket calls the same way. No token
//! check, no database, no pipeline: what serving these responses costs when nothing is
//! computed, so the chat example's figures can be read against the floor of the HTTP and
//! Socket.IO stacks themselves.
//!
//! ```sh
//! ROOST_PORT=3030 cargo run --release --example bare
//! ../shared/bench/run.sh http://127.0.0.1:3030 --label bare --only rest,socket,fanout
//! ```
//!
//! `GET /messages/:id` answers the bytes `examples/chat` answers for a seeded message
//! (the same length and shape; any id gets message 1). Requests without an
//! `Authorization` header get the chat example's 401 body, so the harness's 401 test
//! measures the same thing. On a socket, `create authentication` answers a fixed login and
//! makes the socket a recipient; `get`/`find` on `messages` answer fixed bytes; every
//! `POST /messages` sends one fixed `messages created` event, framed once, to every
//! recipient: the floor of the harness's fan-out test (the writes themselves).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use roost::socketio::{BoxFuture, Config, Encoded, Handler, Io, Socket};
use serde_json::Value;
use serde_json::value::RawValue;

/// Message 1 as `examples/chat` returns it after `chat seed` (1000 users, 1000 messages).
const MESSAGE: &str = r#"{"id":1,"text":"Seed message 1: the quick brown fox jumps over the lazy dog.","user_id":920,"created_at":1764990000000}"#;
const NOT_AUTHENTICATED: &str = r#"{"name":"NotAuthenticated","message":"Not authenticated","code":401,"className":"not-authenticated"}"#;
const USER: &str = r#"{"id":1,"username":"user1","email":"user1@example.com","first_name":"First1","last_name":"Last1","phone":"+1-555-0000001","created_at":"2025-12-06T00:00:01.000Z","updated_at":"2025-12-06T00:00:01.000Z"}"#;

fn json(status: StatusCode, body: &'static [u8]) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::from(body))
        .unwrap_or_default()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION)
}

/// A page of `limit` messages with ids 1.., built once at start.
fn page(limit: usize) -> &'static [u8] {
    let data: Vec<String> = (1..=limit)
        .map(|i| MESSAGE.replacen(r#""id":1,"#, &format!(r#""id":{i},"#), 1))
        .collect();
    let page = format!(
        r#"{{"total":1000,"limit":{limit},"skip":0,"data":[{}]}}"#,
        data.join(",")
    );
    page.into_bytes().leak()
}

/// A socket's state: it logged in (and so receives `messages created`).
#[derive(Default)]
struct LoggedIn(AtomicBool);

/// Fixed answers to the harness's socket calls.
struct Calls {
    login: &'static RawValue,
    message: &'static RawValue,
    page10: &'static RawValue,
    not_authenticated: &'static RawValue,
    not_found: &'static RawValue,
}

fn raw(bytes: &'static [u8]) -> &'static RawValue {
    let text = String::from_utf8(bytes.to_vec()).unwrap_or_default();
    let raw = RawValue::from_string(text).unwrap_or_else(|_| Default::default());
    Box::leak(raw)
}

impl Handler<LoggedIn> for Calls {
    fn state(&self) -> LoggedIn {
        LoggedIn::default()
    }

    fn connect(&self, _: Arc<Socket<LoggedIn>>) -> BoxFuture<Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    fn event(
        &self,
        socket: &Arc<Socket<LoggedIn>>,
        name: String,
        args: Result<Vec<Value>, String>,
        ack: Option<u64>,
    ) {
        let (Some(ack), Ok(args)) = (ack, args) else {
            return;
        };
        let path = args.first().and_then(Value::as_str).unwrap_or_default();
        let logged_in = &socket.state.0;
        let answer = match (name.as_str(), path) {
            ("create", "authentication") => {
                logged_in.store(true, Ordering::Relaxed);
                Ok(self.login)
            }
            ("get" | "find", "messages") if !logged_in.load(Ordering::Relaxed) => {
                Err(self.not_authenticated)
            }
            ("get", "messages") => Ok(self.message),
            ("find", "messages") => Ok(self.page10),
            _ => Err(self.not_found),
        };
        let _ = match answer {
            Ok(result) => socket.ack(ack, &(Value::Null, result)),
            Err(error) => socket.ack(ack, &[error]),
        };
    }

    fn disconnect(&self, _: &Arc<Socket<LoggedIn>>) {}
}

async fn engine_io(State(io): State<Io<LoggedIn>>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/socket.io/") {
        return io.serve(req).await;
    }
    next.run(req).await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let host = std::env::var("ROOST_HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port: u16 = std::env::var("ROOST_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3030);
    let page10 = page(10);
    let page50 = page(50);
    let login: &'static [u8] = format!(
        r#"{{"accessToken":"bare","authentication":{{"strategy":"local","payload":{{"sub":"1"}}}},"user":{USER}}}"#
    )
    .into_bytes()
    .leak();
    let io = Io::new(
        Config {
            path: "/socket.io/",
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            max_payload: 1 << 20,
            keep_headers: |_| HeaderMap::new(),
        },
        Calls {
            login: raw(login),
            message: raw(MESSAGE.as_bytes()),
            page10: raw(page10),
            not_authenticated: raw(NOT_AUTHENTICATED.as_bytes()),
            not_found: raw(
                br#"{"name":"NotFound","message":"Not found","code":404,"className":"not-found"}"#,
            ),
        },
    );
    let sockets = io.clone();

    let app = Router::new()
        .route(
            "/messages",
            get(
                move |headers: HeaderMap, RawQuery(q): RawQuery| async move {
                    if !authorized(&headers) {
                        return json(StatusCode::UNAUTHORIZED, NOT_AUTHENTICATED.as_bytes());
                    }
                    let fifty =
                        q.is_some_and(|q| q.contains("%24limit=50") || q.contains("$limit=50"));
                    json(StatusCode::OK, if fifty { page50 } else { page10 })
                },
            )
            .post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let sockets = sockets.clone();
                async move {
                    if !authorized(&headers) {
                        return json(StatusCode::UNAUTHORIZED, NOT_AUTHENTICATED.as_bytes());
                    }
                    // The event carries the text sent (the harness matches it), so it is
                    // encoded once per create, as the chat example does.
                    let text = serde_json::from_slice::<Value>(&body)
                        .ok()
                        .and_then(|b| b.get("text").and_then(Value::as_str).map(str::to_owned))
                        .unwrap_or_default();
                    let record = serde_json::json!({
                        "id": 1001, "text": text, "user_id": 1, "created_at": 1764992000000_u64
                    });
                    let Ok(created) = Encoded::event("messages created", &record) else {
                        return json(StatusCode::BAD_REQUEST, b"{}");
                    };
                    sockets.for_each(|socket| {
                        if socket.state.0.load(Ordering::Relaxed) {
                            socket.send(&created);
                        }
                    });
                    let body = serde_json::to_vec(&record).unwrap_or_default();
                    Response::builder()
                        .status(StatusCode::CREATED)
                        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
                        .body(Body::from(body))
                        .unwrap_or_default()
                }
            }),
        )
        .route(
            "/messages/{id}",
            get(|headers: HeaderMap| async move {
                if !authorized(&headers) {
                    return json(StatusCode::UNAUTHORIZED, NOT_AUTHENTICATED.as_bytes());
                }
                json(StatusCode::OK, MESSAGE.as_bytes())
            }),
        )
        .route(
            "/users/{id}",
            get(|headers: HeaderMap| async move {
                if !authorized(&headers) {
                    return json(StatusCode::UNAUTHORIZED, NOT_AUTHENTICATED.as_bytes());
                }
                json(StatusCode::OK, USER.as_bytes())
            }),
        )
        .route(
            "/authentication",
            axum::routing::post(move || async move { json(StatusCode::CREATED, login) }),
        )
        .layer(axum::middleware::from_fn_with_state(io, engine_io));

    let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
    eprintln!("bare limit serving on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
