//! Permission-filtered realtime (DESIGN §4, §5): each recipient gets the events its
//! scopes allow, shaped for it, and stops getting them once a role is revoked. Listeners
//! are always sockets.

use serde_json::{Value, json};

use crate::scenarios;
use crate::support::roles::{grant, keys, role_with, user_with};
use crate::support::socket::Event;
use crate::support::*;

scenarios!(
    realtime_is_filtered_and_shaped_per_recipient,
    realtime_stops_after_role_revoked,
);

async fn listener(srv: &TestServer, email: &str) -> SocketClient {
    match srv.login_over(Transport::Socket, email, PASSWORD).await {
        Conn::Socket(s) => s,
        Conn::Rest(_) => unreachable!(),
    }
}

/// The next `roles `/`users ` event `sock` receives (others skipped; fails after a
/// deadline). No event may be missing or extra: each check is followed by a sentinel.
async fn next_event(sock: &SocketClient) -> Event {
    sock.next_of(&["roles ", "users "]).await
}

/// Patches `user`'s first name (an event its owner and every `users_read` holder gets)
/// and asserts it is the next event each of `socks` sees: an event that should not have
/// reached them would arrive first.
async fn user_sentinel(admin: &impl Client, user: &Value, socks: &[&SocketClient]) {
    let name = format!("S{}", uuid::Uuid::new_v4().simple());
    ok(admin
        .patch(
            "users",
            user["id"].clone(),
            json!({"first_name": name}),
            q(),
        )
        .await);
    for sock in socks {
        let e = next_event(sock).await;
        assert_eq!(e.name, "users patched", "{:?}", e.args);
        assert_eq!(e.data()["id"], user["id"], "{:?}", e.args);
    }
}

async fn realtime_is_filtered_and_shaped_per_recipient(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let base = ["created_at", "id", "locale", "updated_at", "username"];
    user_with(&srv, &admin, "base@roost.test", &["users_read"]).await;
    user_with(&srv, &admin, "base2@roost.test", &["users_read"]).await;
    user_with(
        &srv,
        &admin,
        "mail@roost.test",
        &["users_read", "users_read_email"],
    )
    .await;
    let plain = srv.create_user(&admin, "quiet@roost.test").await;
    let full = srv.admin_socket().await;
    let b1 = listener(&srv, "base@roost.test").await;
    let b2 = listener(&srv, "base2@roost.test").await;
    let mail = listener(&srv, "mail@roost.test").await;
    let quiet = listener(&srv, "quiet@roost.test").await;
    let anonymous = srv.socket().await;

    ok(admin
        .create(
            "users",
            json!({"email": "new@roost.test", "password": PASSWORD, "first_name": "N"}),
            q(),
        )
        .await);
    let got = next_event(&full).await;
    assert_eq!(got.name, "users created");
    assert_eq!(got.data()["email"], "new@roost.test");
    assert_eq!(got.data()["first_name"], "N");
    for sock in [&b1, &b2] {
        let got = next_event(sock).await;
        assert_eq!(got.name, "users created");
        assert_eq!(keys(got.data()), base);
    }
    let got = next_event(&mail).await;
    assert_eq!(got.name, "users created");
    assert_eq!(got.data()["email"], "new@roost.test");
    assert!(got.data().get("first_name").is_none());

    // The owner hears about their own row, in full; others with users_read shaped. This
    // patch is also the sentinel: it is the first event `quiet` gets (it could not read
    // the new user) and the next one the others get (no duplicate of "created").
    ok(admin
        .patch(
            "users",
            plain["id"].clone(),
            json!({"first_name": "Q"}),
            q(),
        )
        .await);
    let got = next_event(&quiet).await;
    assert_eq!(got.name, "users patched", "{:?}", got.args);
    assert_eq!(got.data()["first_name"], "Q");
    assert_eq!(got.data()["email"], "quiet@roost.test");
    for sock in [&b1, &b2] {
        let got = next_event(sock).await;
        assert_eq!(got.name, "users patched", "{:?}", got.args);
        assert_eq!(keys(got.data()), base);
    }
    for sock in [&full, &mail] {
        let got = next_event(sock).await;
        assert_eq!(got.name, "users patched", "{:?}", got.args);
        assert_eq!(got.data()["id"], plain["id"]);
    }
    // Other services: only readers.
    ok(admin
        .create(
            "roles",
            json!({"name": "Ev", "slug": "ev-role", "description": "d"}),
            q(),
        )
        .await);
    let got = next_event(&full).await;
    assert_eq!(got.name, "roles created");
    assert_no_password(got.data(), PASSWORD);
    user_sentinel(&admin, &plain, &[&b1, &b2, &quiet, &mail, &full]).await;
    // Anonymous sockets get nothing: once logged in, the sentinel is the first event.
    ok(anonymous
        .authenticate(
            json!({"strategy": "local", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await);
    user_sentinel(&admin, &plain, &[&anonymous]).await;
}

async fn realtime_stops_after_role_revoked(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let user = srv.create_user(&admin, "revoked@roost.test").await;
    let role = role_with(&admin, &["roles_read"]).await;
    let link = grant(&admin, &user, &role).await;
    let sock = listener(&srv, "revoked@roost.test").await;
    let full = srv.admin_socket().await;

    ok(admin
        .create(
            "roles",
            json!({"name": "A", "slug": "a-1", "description": "d"}),
            q(),
        )
        .await);
    assert!(sock.wait_event("roles created", WAIT).await.is_some());

    ok(admin.remove("user_roles", link["id"].clone(), q()).await);
    ok(admin
        .create(
            "roles",
            json!({"name": "B", "slug": "b-1", "description": "d"}),
            q(),
        )
        .await);
    assert_eq!(next_event(&full).await.name, "roles created");
    assert_eq!(next_event(&full).await.name, "roles created");
    // Its own row's event is the next thing it sees: "roles created" (B) would come first.
    user_sentinel(&admin, &user, &[&sock]).await;

    // Granted again: events resume from the next one.
    grant(&admin, &user, &role).await;
    ok(admin
        .create(
            "roles",
            json!({"name": "C", "slug": "c-1", "description": "d"}),
            q(),
        )
        .await);
    let got = sock
        .wait_event("roles created", WAIT)
        .await
        .expect("resumed");
    assert_eq!(got.data()["slug"], "c-1");
}
