//! Realtime events: `<path> created|updated|patched|removed` with the record as the one
//! argument, to authenticated sockets only, once per record. The mutations are made over
//! the scenario's transport; the listeners are always sockets.

use serde_json::json;

use crate::scenarios;
use crate::support::socket::Event;
use crate::support::*;

scenarios!(
    events_reach_authenticated_sockets_only,
    no_events_after_logout,
    user_events_never_carry_passwords,
    failed_mutations_publish_nothing,
    events_name_the_service_path,
);

/// The next `n` events whose name starts with `prefix` (others skipped). Duplicates and
/// strays are caught by a sentinel afterwards (see `sentinel`).
async fn collect(sock: &SocketClient, prefix: &str, n: usize) -> Vec<Event> {
    let mut out = Vec::new();
    while out.len() < n {
        out.push(sock.next_of(&[prefix]).await);
    }
    out
}

/// Creates a role through `c` (an event every admin socket receives) and asserts that it
/// is the next `roles `/`users `/`access_group` event each of `socks` sees: an event
/// that should not have been sent to them would arrive before it.
async fn sentinel(c: &impl Client, socks: &[&SocketClient]) {
    let slug = format!("sentinel-{}", uuid::Uuid::new_v4().simple());
    ok(c.create("roles", json!({"slug": slug}), q()).await);
    for sock in socks {
        let next = sock.next_of(&["roles ", "users ", "access_group"]).await;
        assert_eq!(next.name, "roles created", "{:?}", next.args);
        assert_eq!(next.data()["slug"], json!(slug), "{:?}", next.args);
    }
}

fn names(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.name.as_str()).collect()
}

async fn events_reach_authenticated_sockets_only(s: Setup) {
    let srv = s.server().await;
    let listener = srv.admin_socket().await;
    let anonymous = srv.socket().await;
    let c = srv.admin().await;

    let created = ok(c
        .create(
            "roles",
            json!({"name": "Live", "slug": "live", "description": "d"}),
            q(),
        )
        .await);
    let id = created["id"].clone();
    let patched = ok(c
        .patch("roles", id.clone(), json!({"name": "Live 2"}), q())
        .await);
    let updated = ok(c
        .update(
            "roles",
            id.clone(),
            json!({"name": "Live 3", "slug": "live"}),
            q(),
        )
        .await);
    let removed = ok(c.remove("roles", id.clone(), q()).await);

    let events = collect(&listener, "roles ", 4).await;
    assert_eq!(
        names(&events),
        [
            "roles created",
            "roles patched",
            "roles updated",
            "roles removed"
        ],
        "exactly one event per mutation, in order"
    );
    for (event, result) in events.iter().zip([&created, &patched, &updated, &removed]) {
        assert_eq!(event.args.len(), 1, "one argument: {:?}", event.args);
        assert_eq!(
            event.data(),
            result,
            "{} carries what the method returned",
            event.name
        );
    }
    if let Conn::Socket(caller) = &c {
        let own = collect(caller, "roles ", 4).await;
        assert_eq!(
            names(&own),
            names(&events),
            "the authenticated caller's socket gets the events too"
        );
        sentinel(&c, &[&listener, caller]).await;
    } else {
        sentinel(&c, &[&listener]).await;
    }
    // The anonymous socket logs in: the first event it then sees must be the sentinel
    // (anything sent while it was anonymous would be queued before it).
    ok(anonymous
        .authenticate(
            json!({"strategy": "local", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await);
    sentinel(&c, &[&anonymous]).await;
}

async fn no_events_after_logout(s: Setup) {
    let srv = s.server().await;
    let leaving = srv.admin_socket().await;
    let sentinel = srv.admin_socket().await;
    let c = srv.admin().await;
    ok(c.create("roles", json!({"slug": "before"}), q()).await);
    assert_eq!(
        names(&collect(&leaving, "roles ", 1).await),
        ["roles created"]
    );
    assert_eq!(
        names(&collect(&sentinel, "roles ", 1).await),
        ["roles created"]
    );

    ok(leaving.logout().await);
    let after = ok(c.create("roles", json!({"slug": "after"}), q()).await);
    let seen = collect(&sentinel, "roles ", 1).await;
    assert_eq!(seen[0].data(), &after);

    // Logging in again subscribes again; the first event it then sees is the new one
    // ("after", sent while logged out, would be queued before it).
    ok(leaving
        .authenticate(
            json!({"strategy": "local", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await);
    ok(c.create("roles", json!({"slug": "again"}), q()).await);
    let back = collect(&leaving, "roles ", 1).await;
    assert_eq!(
        back[0].data()["slug"],
        "again",
        "logged-out socket got {:?}",
        back[0]
    );
}

async fn user_events_never_carry_passwords(s: Setup) {
    let srv = s.server().await;
    let listener = srv.admin_socket().await;
    let c = srv.admin().await;
    let user = srv.create_user(&c, "evented@roost.test").await;
    let new_password = "Another-Secret-Pass-99";
    ok(c.patch(
        "users",
        user["id"].clone(),
        json!({"password": new_password, "first_name": "Eve"}),
        q(),
    )
    .await);
    let events = collect(&listener, "users ", 2).await;
    assert_eq!(names(&events), ["users created", "users patched"]);
    sentinel(&c, &[&listener]).await;
    for e in &events {
        assert_no_password(e.data(), PASSWORD);
        assert_no_password(e.data(), new_password);
        assert_eq!(e.data()["id"], user["id"]);
    }
    assert_eq!(events[1].data()["first_name"], "Eve");
}

async fn failed_mutations_publish_nothing(s: Setup) {
    let srv = s.server().await;
    let listener = srv.admin_socket().await;
    let c = srv.admin().await;
    let first = ok(c.create("roles", json!({"slug": "dup"}), q()).await);
    expect_err(
        c.create("roles", json!({"slug": "dup"}), q()).await,
        "Conflict",
        409,
    );
    expect_err(
        c.patch("roles", json!(987654), json!({"name": "x"}), q())
            .await,
        "NotFound",
        404,
    );
    expect_err(c.remove("roles", json!(987654), q()).await, "NotFound", 404);
    expect_err(
        c.patch("access_groups", json!(987654), json!({"type_id": 1}), q())
            .await,
        "NotFound",
        404,
    );
    let last = ok(c.create("roles", json!({"slug": "sentinel"}), q()).await);
    let events = collect(&listener, "roles ", 2).await;
    assert_eq!(names(&events), ["roles created", "roles created"]);
    assert_eq!(events[0].data(), &first);
    assert_eq!(events[1].data(), &last);
    // Reads publish nothing.
    ok(c.find("roles", q()).await);
    ok(c.get("roles", first["id"].clone(), q()).await);
    sentinel(&c, &[&listener]).await;
}

async fn events_name_the_service_path(s: Setup) {
    let srv = s.server().await;
    let listener = srv.admin_socket().await;
    let c = srv.admin().await;
    let t = ok(c
        .create("access_group_types", json!({"name": "T", "slug": "t"}), q())
        .await);
    let g = ok(c
        .create(
            "access_groups",
            json!({"type_id": t["id"], "name": "G", "slug": "g"}),
            q(),
        )
        .await);
    let e = collect(&listener, "access_group", 2).await;
    assert_eq!(
        names(&e),
        ["access_group_types created", "access_groups created"]
    );
    assert_eq!(e[0].data(), &t);
    assert_eq!(e[1].data(), &g);
    sentinel(&c, &[&listener]).await;
}
