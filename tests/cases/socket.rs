//! Socket.IO specifics: frames, session binding, argument checks, acks, token expiry.

use std::time::Duration;

use serde_json::{Value, json};

use crate::single_transport;
use crate::support::*;

single_transport!(Socket:
    handshake_frames,
    polling_handshake_offers_websocket_upgrade,
    login_binds_the_socket,
    too_many_arguments,
    unknown_event_still_gets_an_ack,
    unknown_service_and_bad_paths,
    query_argument_may_be_missing,
    concurrent_calls_are_matched_by_ack_id,
    malformed_packets_do_not_hurt_others,
    handshake_authorization_header_logs_in,
    calls_in_flight_are_capped,
);

async fn handshake_frames(s: Setup) {
    let srv = s.server().await;
    let sock = srv.socket().await;
    let h = &sock.handshake;
    assert!(h["sid"].as_str().is_some_and(|s| !s.is_empty()), "{h}");
    assert_eq!(h["upgrades"], json!([]), "already on websocket: {h}");
    assert_eq!(h["pingInterval"], 25000, "{h}");
    assert_eq!(h["pingTimeout"], 20000, "{h}");
    assert!(
        h["maxPayload"].as_u64().is_some_and(|n| n >= 100_000),
        "{h}"
    );
    assert!(
        sock.connect["sid"].is_string(),
        "CONNECT answer carries a sid: {}",
        sock.connect
    );
}

async fn polling_handshake_offers_websocket_upgrade(s: Setup) {
    let srv = s.server().await;
    let r = srv
        .rest()
        .raw("GET", "/socket.io/?EIO=4&transport=polling", None, &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let open = r
        .text
        .strip_prefix('0')
        .unwrap_or_else(|| panic!("open packet: {}", r.text));
    let open: Value = serde_json::from_str(open).expect("open packet JSON");
    assert_eq!(open["upgrades"], json!(["websocket"]), "{open}");
    // Socket.IO 2 / Feathers 4 clients (EIO=3) are refused.
    let r = srv
        .rest()
        .raw("GET", "/socket.io/?EIO=3&transport=polling", None, &[])
        .await;
    assert_eq!(r.status, 400, "EIO=3: {}", r.text);
}

async fn login_binds_the_socket(s: Setup) {
    let srv = s.server().await;
    let sock = srv.socket().await;
    expect_err(sock.find("roles", q()).await, "NotAuthenticated", 401);
    let res = ok(sock
        .authenticate(
            json!({"strategy": "local", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await);
    assert_eq!(res["authentication"]["strategy"], "local");
    // Later calls carry no token: the connection is bound.
    ok(sock.find("roles", q()).await);
    let role = ok(sock
        .create("roles", json!({"name": "Bound", "slug": "bound"}), q())
        .await);
    ok(sock.remove("roles", role["id"].clone(), q()).await);
    // A second login on the same socket rebinds it.
    ok(sock
        .authenticate(
            json!({"strategy": "local", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await);
    ok(sock.find("roles", q()).await);
    // Logout unbinds it.
    ok(sock.logout().await);
    expect_err(sock.find("roles", q()).await, "NotAuthenticated", 401);
    expect_err(
        sock.get("users", json!(1), q()).await,
        "NotAuthenticated",
        401,
    );
    // A failed login leaves the socket anonymous.
    expect_err(
        sock.authenticate(
            json!({"strategy": "local", "email": ADMIN_EMAIL, "password": "wrong-password-xx"}),
        )
        .await,
        "NotAuthenticated",
        401,
    );
    expect_err(sock.find("roles", q()).await, "NotAuthenticated", 401);
    ok(sock
        .authenticate(
            json!({"strategy": "local", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await);
    ok(sock.find("roles", q()).await);
    // Another socket is not affected by this one's login.
    let other = srv.socket().await;
    expect_err(other.find("roles", q()).await, "NotAuthenticated", 401);
}

async fn too_many_arguments(s: Setup) {
    let srv = s.server().await;
    let sock = srv.admin_socket().await;
    let cases = [
        (
            vec![json!("find"), json!("roles"), json!({}), json!({})],
            "find",
        ),
        (
            vec![json!("get"), json!("roles"), json!(1), json!({}), json!({})],
            "get",
        ),
        (
            vec![
                json!("create"),
                json!("roles"),
                json!({"slug": "t"}),
                json!({}),
                json!({}),
            ],
            "create",
        ),
        (
            vec![
                json!("update"),
                json!("roles"),
                json!(1),
                json!({"slug": "t"}),
                json!({}),
                json!({}),
            ],
            "update",
        ),
        (
            vec![
                json!("patch"),
                json!("roles"),
                json!(1),
                json!({}),
                json!({}),
                json!({}),
            ],
            "patch",
        ),
        (
            vec![
                json!("remove"),
                json!("roles"),
                json!(1),
                json!({}),
                json!({}),
            ],
            "remove",
        ),
    ];
    for (args, method) in cases {
        let e = expect_err(sock.call(args).await, "BadRequest", 400);
        assert_eq!(
            e.message(),
            format!("Too many arguments for '{method}' method"),
            "{}",
            e.body
        );
    }
    assert_eq!(
        ok(sock.find("roles", json!({"slug": "t"})).await)["total"],
        0,
        "nothing created"
    );
}

async fn unknown_event_still_gets_an_ack(s: Setup) {
    let srv = s.server().await;
    let sock = srv.admin_socket().await;
    for event in ["foo", "roles::find", "authenticate", "doThing"] {
        let ack = sock
            .emit_with_ack(
                vec![json!(event), json!("roles"), json!({})],
                Duration::from_secs(5),
            )
            .await
            .unwrap_or_else(|| {
                panic!("no ack for unknown event {event:?}: a Feathers client would hang")
            });
        // Feathers sends no ack here (the client hangs); Roost answers the one error
        // Feathers gives for a method the service lacks (feathers-protocol §2.2).
        let e = socket::ack_to_result(ack).expect_err("unknown event must fail");
        e.assert_kind("MethodNotAllowed", 405);
        assert_eq!(
            e.message(),
            format!("Method '{event}' not allowed on service 'roles'"),
            "{}",
            e.body
        );
    }
    // The socket still works afterwards.
    ok(sock.find("roles", q()).await);
}

async fn unknown_service_and_bad_paths(s: Setup) {
    let srv = s.server().await;
    let sock = srv.admin_socket().await;
    let e = expect_err(sock.find("nothing", q()).await, "NotFound", 404);
    assert!(e.message().contains("nothing"), "{}", e.body);
    for path in [
        json!(123),
        json!(null),
        json!({"a": 1}),
        json!(["roles"]),
        json!(""),
    ] {
        let e = expect_err(
            sock.call(vec![json!("find"), path.clone(), json!({})])
                .await,
            "NotFound",
            404,
        );
        assert!(!e.message().is_empty(), "{path}: {}", e.body);
    }
    // Paths are normalised like REST routes.
    ok(sock.find("/roles/", q()).await);
    // No arguments at all.
    let e = sock
        .call(vec![json!("find")])
        .await
        .expect_err("find without a path");
    assert_eq!(e.code(), 404, "{}", e.body);
}

async fn query_argument_may_be_missing(s: Setup) {
    let srv = s.server().await;
    let sock = srv.admin_socket().await;
    let page = ok(sock.call(vec![json!("find"), json!("access_scopes")]).await);
    assert_eq!(page["limit"], 10, "{page}");
    let got = ok(sock
        .call(vec![json!("get"), json!("access_scopes"), json!(1)])
        .await);
    assert_eq!(got["slug"], "full_access");
    let created = ok(sock
        .call(vec![
            json!("create"),
            json!("roles"),
            json!({"slug": "noq"}),
        ])
        .await);
    ok(sock
        .call(vec![json!("remove"), json!("roles"), created["id"].clone()])
        .await);
}

async fn concurrent_calls_are_matched_by_ack_id(s: Setup) {
    let srv = s.server().await;
    let sock = srv.admin_socket().await;
    let calls = (1..=30).map(|id| {
        let sock = &sock;
        async move { (id, sock.get("access_scopes", json!(id), q()).await) }
    });
    for (id, res) in futures_util::future::join_all(calls).await {
        let row = ok(res);
        assert_eq!(row["id"], json!(id), "ack {id} answered with {row}");
        assert_eq!(row["slug"], json!(SEEDED_SCOPES[id as usize - 1]));
    }
    // Mixed slow and fast calls.
    let (page, one) = tokio::join!(
        sock.find("events", json!({"$limit": 50})),
        sock.get("access_scopes", json!(2), q())
    );
    assert_page_shape(&ok(page));
    assert_eq!(ok(one)["slug"], "roles");
}

async fn malformed_packets_do_not_hurt_others(s: Setup) {
    let srv = s.server().await;
    let bystander = srv.admin_socket().await;
    let bad = srv.admin_socket().await;
    for frame in [
        "42[",
        "42{\"a\":1}",
        "4299999999999999999999[\"find\",\"roles\",{}]",
        "43[]",
        "45",
        "4",
        "zzz",
        "42[\"find\"",
        "42[1,2,3]",
    ] {
        bad.send_raw(frame);
    }
    // A packet that does not parse closes the offending connection (socketioxide's
    // PacketParsingError, as the socket.io server does); the wait is only a deadline.
    let reason = bad
        .wait_closed(WAIT)
        .await
        .expect("a malformed packet closes its connection");
    assert!(reason.starts_with("transport close"), "{reason}");
    // The bystander is unaffected.
    ok(bystander.find("roles", q()).await);
    assert!(bystander.closed_reason().is_none());
    let r = srv.rest().raw("GET", "/health", None, &[]).await;
    assert_eq!(r.status, 200);
}

async fn handshake_authorization_header_logs_in(s: Setup) {
    let srv = s.server().await;
    let token = srv.admin_socket().await.token().unwrap();
    let addr = srv.addr.to_string();
    // socket.io-client `extraHeaders: {Authorization}`: the connection is bound at connect.
    let bearer = format!("Bearer {token}");
    let sock = SocketClient::connect_with(&addr, &[("Authorization", &bearer)])
        .await
        .unwrap_or_else(|e| panic!("handshake with a valid token refused: {e}"));
    let page = ok(sock.find("roles", q()).await);
    assert_page_shape(&page);
    // A bad token refuses the connection with CONNECT_ERROR `44{"message":...}`.
    let refused =
        SocketClient::connect_with(&addr, &[("Authorization", "Bearer not-a-token")]).await;
    match refused {
        Ok(_) => panic!("a bad handshake token must refuse the connection"),
        Err(e) => assert_eq!(e["message"], "jwt malformed", "{e}"),
    }
}

/// Holds back every audited write while it lives: the SQLite write gate, or on
/// PostgreSQL a transaction holding an exclusive lock on `roles`.
enum WriteBlock {
    Sqlite(roost::service::Write),
    Pg(sea_orm::DatabaseTransaction),
}

impl WriteBlock {
    async fn hold(srv: &TestServer) -> Self {
        use sea_orm::{ConnectionTrait, TransactionTrait};
        let app = srv.app();
        match app.config.is_sqlite() {
            // A write transaction holds the gate until it ends.
            true => Self::Sqlite(app.db.write().await.unwrap()),
            false => {
                let tx = app.db.begin().await.unwrap();
                tx.execute_unprepared("LOCK TABLE roles IN EXCLUSIVE MODE")
                    .await
                    .unwrap();
                Self::Pg(tx)
            }
        }
    }

    async fn release(self) {
        match self {
            Self::Sqlite(write) => drop(write),
            Self::Pg(tx) => tx.rollback().await.unwrap(),
        }
    }
}

/// Beyond `socket.max_in_flight` calls running on one socket, an event is answered at
/// once with 429 and not run. Deterministic: the first call is held at the database, and
/// the second is sent after it on the same websocket (the server reads events in order).
async fn calls_in_flight_are_capped(s: Setup) {
    let srv = s.server_with(|c| c.socket.max_in_flight = 1).await;
    let sock = srv.admin_socket().await;
    let block = WriteBlock::hold(&srv).await;
    let held = sock.create("roles", json!({"name": "Held", "slug": "held"}), q());
    let refused = async {
        let res = sock.find("roles", q()).await;
        block.release().await;
        res
    };
    // `join!` polls `held` first, so its frame is queued before the `find`.
    let (held, refused) = tokio::join!(held, refused);
    let e = expect_err(refused, "TooManyRequests", 429);
    assert_eq!(
        e.body["message"], "Too many calls in flight on this connection",
        "{}",
        e.body
    );
    assert_eq!(ok(held)["slug"], "held");
    // The refused call was not run, and the place is free again once the ack arrived.
    let page = ok(sock.find("roles", json!({"slug": "held"})).await);
    assert_eq!(page["total"], 1, "{page}");
    let again = ok(sock.find("roles", json!({"slug": "held"})).await);
    assert_eq!(again["total"], 1, "{again}");
}

/// The one slow test: a socket is disconnected by the server when its token expires, and
/// the expired token is refused on REST with `jwt expired`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiry_disconnects_the_socket() {
    let srv = Setup::new(Backend::Sqlite, Transport::Socket)
        .server_with(|c| c.authentication.expires_in = 2)
        .await;
    let sock = srv.admin_socket().await;
    let token = sock.token().unwrap();
    let claims = decode_jwt(&token).claims;
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        2
    );
    let listener_ok = ok(sock.find("roles", q()).await);
    assert_page_shape(&listener_ok);
    let anon = srv.socket().await;
    // The 30 s wait is a failure deadline only (12 test threads share two cores); what
    // is checked is the reason and that the token had expired when it happened.
    let reason = sock
        .wait_closed(Duration::from_secs(30))
        .await
        .expect("the server must disconnect a socket whose token expired");
    let closed_at = chrono::Utc::now().timestamp();
    assert_eq!(
        reason, "io server disconnect",
        "a Socket.IO DISCONNECT packet (41), not a dropped transport"
    );
    assert!(
        closed_at >= claims["exp"].as_i64().unwrap(),
        "disconnected at {closed_at}, before the token expired: {claims}"
    );
    // Anonymous sockets are not disconnected by someone else's expiry.
    assert!(anon.closed_reason().is_none());
    expect_err(anon.find("roles", q()).await, "NotAuthenticated", 401);
    // REST refuses the expired token.
    let rest = srv.rest();
    rest.set_token(Some(token.clone()));
    let e = expect_err(rest.find("roles", q()).await, "NotAuthenticated", 401);
    assert_eq!(e.message(), "jwt expired", "{}", e.body);
    assert_eq!(e.body["data"]["name"], "TokenExpiredError");
    // And so does the jwt strategy.
    let again = srv.socket().await;
    let e = expect_err(
        again
            .authenticate(json!({"strategy": "jwt", "accessToken": token}))
            .await,
        "NotAuthenticated",
        401,
    );
    assert_eq!(e.message(), "jwt expired");
}
