#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::*;
use crate::transport::tests::fake_app;

const ALL: &[Method] = &Method::ALL;
const READ_ONLY: &[Method] = &[Method::Find, Method::Get];

fn methods_of(path: &str) -> Option<&'static [Method]> {
    match path {
        "users" | "v1/users" => Some(ALL),
        "logs" => Some(READ_ONLY),
        _ => None,
    }
}

fn planned(event: &str, args: Value) -> Result<Planned> {
    let args = match args {
        Value::Array(a) => a,
        other => vec![other],
    };
    plan(event, args, methods_of)
}

fn failure(event: &str, args: Value) -> (u16, String) {
    match planned(event, args) {
        Ok(p) => panic!("expected an error, got {p:?}"),
        Err(e) => (e.code(), e.message),
    }
}

#[test]
fn argument_positions() {
    let p = planned("find", json!(["users", {"$limit": 5, "name": "x"}])).unwrap();
    assert_eq!((p.method, p.id, p.data), (Method::Find, None, Value::Null));
    assert_eq!(
        Value::Object(p.query).to_string(),
        r#"{"$limit":5,"name":"x"}"#
    );

    let p = planned("find", json!(["/users/"])).unwrap();
    assert_eq!((p.path.as_str(), p.query.len()), ("users", 0));

    let p = planned("get", json!(["users", 1, {"a": 1}])).unwrap();
    assert_eq!(
        (p.id, Value::Object(p.query)),
        (Some(json!(1)), json!({"a": 1}))
    );

    let p = planned("create", json!(["users", {"email": "e"}, {}])).unwrap();
    assert_eq!((p.id, p.data), (None, json!({"email": "e"})));

    let p = planned("create", json!(["users"])).unwrap();
    assert_eq!(p.data, json!({}));

    let p = planned("update", json!(["users", "7", {"a": 1}, {"q": true}])).unwrap();
    assert_eq!(
        (p.id, p.data, Value::Object(p.query)),
        (Some(json!("7")), json!({"a": 1}), json!({"q": true}))
    );

    let p = planned("patch", json!(["v1/users", null, {"a": 1}, {}])).unwrap();
    assert_eq!(
        (p.path.as_str(), p.id, p.data),
        ("v1/users", None, json!({"a": 1}))
    );

    let p = planned("remove", json!(["users", null, null])).unwrap();
    assert_eq!((p.id, p.query.len()), (None, 0));
}

#[test]
fn argument_errors() {
    assert_eq!(
        failure("find", json!([])),
        (404, "Invalid service path".into())
    );
    assert_eq!(
        failure("find", json!([5, {}])),
        (404, "Invalid service path".into())
    );
    assert_eq!(
        failure("find", json!(["nope", {}])),
        (404, "Service 'nope' not found".into())
    );
    assert_eq!(
        failure("remove", json!(["logs", 1, {}])),
        (405, "Method 'remove' not allowed on service 'logs'".into())
    );
    assert_eq!(
        failure("authenticate", json!(["users", {}])),
        (
            405,
            "Method 'authenticate' not allowed on service 'users'".into()
        )
    );
    assert_eq!(
        failure("get", json!(["users", 1, {}, {}])),
        (400, "Too many arguments for 'get' method".into())
    );
    assert_eq!(failure("find", json!(["users", {}, {}])).0, 400);
    assert_eq!(failure("find", json!(["users", "q"])).0, 400);
    assert_eq!(failure("find", json!(["users", [1]])).0, 400);
}

// --- over a real websocket, frame by frame ---

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn serve(app: App) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = crate::transport::router(app, Default::default(), axum::Router::new())
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    addr
}

/// Next non-ping text frame (pings are answered), or `None` after `wait`.
async fn next(ws: &mut Ws, wait: Duration) -> Option<String> {
    loop {
        let msg = tokio::time::timeout(wait, ws.next()).await.ok()??.ok()?;
        match msg {
            Message::Text(t) if t.as_str() == "2" => ws.send(Message::text("3")).await.ok()?,
            Message::Text(t) => return Some(t.to_string()),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

async fn connect(addr: SocketAddr, authorization: Option<&str>) -> (Ws, String) {
    let mut request = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket")
        .into_client_request()
        .unwrap();
    if let Some(a) = authorization {
        request
            .headers_mut()
            .insert("authorization", a.parse().unwrap());
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let open = next(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert!(open.starts_with("0{"), "{open}");
    let handshake: Value = serde_json::from_str(&open[1..]).unwrap();
    assert_eq!(
        (
            handshake["pingInterval"].as_u64(),
            handshake["pingTimeout"].as_u64()
        ),
        (Some(25000), Some(20000))
    );
    ws.send(Message::text("40")).await.unwrap();
    let connected = next(&mut ws, Duration::from_secs(5)).await.unwrap();
    (ws, connected)
}

/// Emits `frame` (an EVENT with ack id `id`) and returns the ack's arguments.
async fn call(ws: &mut Ws, id: u32, args: Value) -> Value {
    ws.send(Message::text(format!("42{id}{args}")))
        .await
        .unwrap();
    let prefix = format!("43{id}");
    loop {
        let frame = next(ws, Duration::from_secs(5)).await.unwrap();
        if let Some(rest) = frame.strip_prefix(&prefix) {
            return serde_json::from_str(rest).unwrap();
        }
    }
}

#[tokio::test]
async fn every_event_with_an_ack_is_answered() {
    let addr = serve(fake_app(|c| c.http.body_limit = 4096)).await;
    let (mut ws, connected) = connect(addr, None).await;
    assert!(connected.starts_with("40{"), "{connected}");

    let ack = call(
        &mut ws,
        1,
        json!(["find", "echo", {"$limit": 5, "name": "x"}]),
    )
    .await;
    assert_eq!(ack[0], Value::Null);
    assert_eq!(ack[1]["query"].to_string(), r#"{"$limit":5,"name":"x"}"#);
    assert_eq!(
        (&ack[1]["provider"], &ack[1]["socket"], &ack[1]["ip"]),
        (&json!("socketio"), &json!(true), &json!("127.0.0.1"))
    );

    let ack = call(&mut ws, 2, json!(["get", "echo", 5, {}])).await;
    assert_eq!((&ack[0], &ack[1]["id"]), (&Value::Null, &json!(5)));

    let ack = call(&mut ws, 3, json!(["foo", "echo", {}])).await;
    assert_eq!(
        ack,
        json!([{"name": "MethodNotAllowed", "message": "Method 'foo' not allowed on service 'echo'", "code": 405, "className": "method-not-allowed"}])
    );
    let ack = call(&mut ws, 4, json!(["find", "nope", {}])).await;
    assert_eq!(ack[0]["message"], "Service 'nope' not found");
    let ack = call(&mut ws, 5, json!(["find"])).await;
    assert_eq!(ack[0]["message"], "Invalid service path");
    let ack = call(&mut ws, 6, json!(["get", "echo", 1, {}, {}])).await;
    assert_eq!(ack[0]["message"], "Too many arguments for 'get' method");
    let ack = call(&mut ws, 7, json!(["create", "echo", {"x": 1}, {}])).await;
    assert_eq!((&ack[0], &ack[1]["data"]), (&Value::Null, &json!({"x": 1})));
    let ack = call(&mut ws, 8, json!(["find", "echo"])).await;
    assert_eq!(ack[1]["query"], json!({}));
}

#[tokio::test]
async fn login_binds_then_expiry_disconnects() {
    let app = fake_app(|_| {});
    let addr = serve(app.clone()).await;
    let (mut ws, _) = connect(addr, None).await;

    let ack = call(&mut ws, 1, json!(["find", "echo", {}])).await;
    assert_eq!(ack[1]["user"], Value::Null);
    let ack = call(
        &mut ws,
        2,
        json!(["create", "authentication", {"strategy": "jwt", "accessToken": "good-2"}, {}]),
    )
    .await;
    assert_eq!(ack[0], Value::Null);
    let ack = call(&mut ws, 3, json!(["find", "echo", {}])).await;
    assert_eq!(ack[1]["user"], 7);

    app.realtime
        .connections()
        .publish("echo", "created", &json!({"id": 1}))
        .await;
    let event = next(&mut ws, Duration::from_secs(2)).await;
    assert_eq!(event.as_deref(), Some(r#"42["echo created",{"id":1}]"#));

    // the token lives 2 s (1 s resolution): the server sends DISCONNECT `41`
    let frame = next(&mut ws, Duration::from_secs(4)).await;
    assert_eq!(frame.as_deref(), Some("41"));
}

#[tokio::test]
async fn relogin_replaces_the_timer_and_logout_unbinds() {
    let app = fake_app(|_| {});
    let addr = serve(app.clone()).await;
    let (mut ws, _) = connect(addr, None).await;
    let login = |token: &str| json!(["create", "authentication", {"strategy": "jwt", "accessToken": token}, {}]);
    assert_eq!(call(&mut ws, 1, login("good-1")).await[0], Value::Null);
    assert_eq!(call(&mut ws, 2, login("good-100")).await[0], Value::Null);
    // the first login's timer must not fire
    assert_eq!(next(&mut ws, Duration::from_millis(2500)).await, None);
    let ack = call(&mut ws, 3, json!(["find", "echo", {}])).await;
    assert_eq!(ack[1]["user"], 7);

    let ack = call(&mut ws, 4, json!(["remove", "authentication", null, {}])).await;
    assert_eq!(ack, json!([null, {"bye": true}]));
    let ack = call(&mut ws, 5, json!(["find", "echo", {}])).await;
    assert_eq!(ack[1]["user"], Value::Null);
    app.realtime
        .connections()
        .publish("echo", "created", &json!({"id": 2}))
        .await;
    assert_eq!(next(&mut ws, Duration::from_millis(300)).await, None);
}

#[tokio::test]
async fn handshake_authorization() {
    let addr = serve(fake_app(|_| {})).await;
    let (mut ws, connected) = connect(addr, Some("Bearer good-100")).await;
    assert!(connected.starts_with("40{"), "{connected}");
    let ack = call(&mut ws, 1, json!(["find", "echo", {}])).await;
    assert_eq!(ack[1]["user"], 7);

    let (_, refused) = connect(addr, Some("Bearer nope")).await;
    assert_eq!(refused, r#"44{"message":"jwt malformed"}"#);

    let (mut ws, connected) = connect(addr, Some("Basic dXNlcjpwYXNz")).await;
    assert!(connected.starts_with("40{"), "{connected}");
    assert_eq!(
        call(&mut ws, 1, json!(["find", "echo", {}])).await[1]["user"],
        Value::Null
    );
}
