//! Authentication sessions (issue 3): the `auth_sessions` row a login writes, revocation
//! that bites at once (REST, jwt re-authentication, live sockets), password changes,
//! the common-password rule, bcrypt imports, throttling and the custom audit events.

use std::sync::Arc;

use roost::auth::throttle::ManualClock;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::scenarios;
use crate::support::*;

scenarios!(
    login_writes_a_full_session_row,
    jwt_reauthentication_reuses_the_session,
    logout_revokes_its_session,
    revoking_a_session_logs_out_a_live_socket,
    password_change_revokes_other_sessions,
    common_passwords_are_refused,
    bcrypt_hashes_log_in_and_are_rehashed,
    failed_logins_are_throttled,
    login_events_are_audited,
);

const MAC_CHROME: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/126.0.6478.122 Safari/537.36";

/// Logs in over the scenario's transport with a browser user agent; returns the result
/// and the logged-in client.
async fn login_with_ua(srv: &TestServer, email: &str, password: &str) -> (Value, Conn) {
    let data = json!({"strategy": "local", "email": email, "password": password});
    if srv.setup.is_rest() {
        let c = srv.rest();
        let res = c
            .raw(
                "POST",
                "/authentication",
                Some(data.to_string()),
                &[("user-agent", MAC_CHROME)],
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.text);
        let value = res.json();
        c.set_token(value["accessToken"].as_str().map(str::to_string));
        (value, Conn::Rest(c))
    } else {
        let s = SocketClient::connect_with(&srv.addr.to_string(), &[("user-agent", MAC_CHROME)])
            .await
            .expect("connect");
        let value = ok(s.authenticate(data).await);
        (value, Conn::Socket(s))
    }
}

fn jti_of(result: &Value) -> String {
    result["authentication"]["payload"]["jti"]
        .as_str()
        .expect("jti")
        .to_string()
}

/// `(id, jti, encrypted_token)` of a user's sessions, straight from the database.
async fn db_sessions(srv: &TestServer, user_id: i64) -> Vec<(i64, Option<String>, Option<String>)> {
    let db = &srv.app().db;
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT id, jti, encrypted_token FROM auth_sessions WHERE user_id = {user_id} ORDER BY id"),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get("", "id").unwrap(),
                r.try_get("", "jti").unwrap(),
                r.try_get("", "encrypted_token").unwrap(),
            )
        })
        .collect()
}

async fn sessions_of(admin: &impl Client, user_id: i64) -> Vec<Value> {
    page_data(&ok(admin
        .find(
            "auth_sessions",
            json!({"user_id": user_id, "$sort": {"id": 1}}),
        )
        .await))
}

fn assert_no_session_secrets(v: &Value, token: &str) {
    let rows: Vec<&Value> = match v.get("data").and_then(Value::as_array) {
        Some(rows) => rows.iter().collect(),
        None => vec![v],
    };
    for row in rows {
        assert!(row.get("jti").is_none(), "{row}");
        assert!(row.get("encrypted_token").is_none(), "{row}");
        if row.get("auth_provider").is_some() {
            assert!(!row.to_string().contains(token), "{row}");
        }
    }
    assert!(!v.to_string().contains("encrypted_token"), "{v}");
}

async fn custom_events(admin: &impl Client, name: &str, user_id: Option<i64>) -> Vec<Value> {
    let mut query = json!({"event": "custom", "custom_event": name, "$limit": 50});
    if let Some(id) = user_id {
        query["user_id"] = json!(id);
    }
    page_data(&ok(admin.find("events", query).await))
}

async fn login_writes_a_full_session_row(s: Setup) {
    let srv = s.server().await;
    let admin = srv.rest_admin().await;
    let user = srv.create_user(&admin, "sess@roost.test").await;
    let (res, _c) = login_with_ua(&srv, "sess@roost.test", PASSWORD).await;
    let token = res["accessToken"].as_str().unwrap().to_string();
    let rows = sessions_of(&admin, user["id"].as_i64().unwrap()).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["auth_provider"], "local", "{row}");
    assert_eq!(row["ip"], "127.0.0.1", "{row}");
    assert_eq!(row["useragent"], MAC_CHROME, "{row}");
    assert_eq!(row["browser_name"], "Chrome", "{row}");
    assert!(
        row["browser_version"].as_str().unwrap().starts_with("126"),
        "{row}"
    );
    assert_eq!(row["engine_name"], "Blink", "{row}");
    assert_eq!(row["os_name"], "macOS", "{row}");
    assert!(
        row["os_version"].as_str().unwrap().starts_with("10.15"),
        "{row}"
    );
    assert_eq!(row["device_type"], "desktop", "{row}");
    assert_eq!(row["title"], "Chrome on macOS", "{row}");
    assert_eq!(row["revoked"], false, "{row}");
    assert!(row["city"].is_null(), "no geo database configured: {row}");
    assert_no_session_secrets(row, &token);
    assert_no_session_secrets(&res, &token);
    // Internally the row is named by the token's jti and holds the token encrypted.
    let stored = db_sessions(&srv, user["id"].as_i64().unwrap()).await;
    assert_eq!(stored[0].0, row["id"].as_i64().unwrap());
    assert_eq!(stored[0].1.as_deref(), Some(jti_of(&res).as_str()));
    let encrypted = stored[0].2.clone().expect("encrypted_token stored");
    assert!(!encrypted.contains(&token) && encrypted.len() > token.len());
    // `get` and `$select` do not reveal them either.
    let one = ok(admin.get("auth_sessions", row["id"].clone(), q()).await);
    assert_no_session_secrets(&one, &token);
    let e = expect_err(
        admin
            .find("auth_sessions", json!({"$select": ["jti"]}))
            .await,
        "BadRequest",
        400,
    );
    assert_eq!(e.message(), "Unknown field 'jti'", "{}", e.body);
    assert_no_session_secrets(&e.body, &token);
}

async fn jwt_reauthentication_reuses_the_session(s: Setup) {
    let srv = s.server().await;
    let admin = srv.rest_admin().await;
    let user = srv.create_user(&admin, "again@roost.test").await;
    let uid = user["id"].as_i64().unwrap();
    let c = srv.login("again@roost.test", PASSWORD).await;
    let token = c.token().unwrap();
    for _ in 0..3 {
        let other = srv.client().await;
        let res = ok(other
            .authenticate(json!({"strategy": "jwt", "accessToken": token}))
            .await);
        assert_eq!(res["accessToken"], json!(token));
    }
    // A socket handshake with the token re-authenticates too.
    let auth = format!("Bearer {token}");
    let _s = SocketClient::connect_with(&srv.addr.to_string(), &[("authorization", &auth)])
        .await
        .expect("handshake login");
    assert_eq!(sessions_of(&admin, uid).await.len(), 1, "no new sessions");
}

async fn logout_revokes_its_session(s: Setup) {
    let srv = s.server().await;
    let admin = srv.rest_admin().await;
    let user = srv.create_user(&admin, "bye@roost.test").await;
    let uid = user["id"].as_i64().unwrap();
    let c = srv.login("bye@roost.test", PASSWORD).await;
    let token = c.token().unwrap();
    // A second socket bound with the same token is logged out as well.
    let twin = srv.socket().await;
    ok(twin
        .authenticate(json!({"strategy": "jwt", "accessToken": token}))
        .await);
    ok(c.logout().await);
    let rows = sessions_of(&admin, uid).await;
    assert_eq!(rows[0]["revoked"], true, "{rows:?}");
    let rest = srv.rest();
    rest.set_token(Some(token.clone()));
    expect_err(
        rest.get("users", json!(uid), q()).await,
        "NotAuthenticated",
        401,
    );
    let again = srv.client().await;
    expect_err(
        again
            .authenticate(json!({"strategy": "jwt", "accessToken": token}))
            .await,
        "NotAuthenticated",
        401,
    );
    assert!(twin.wait_closed(WAIT).await.is_some());
    assert_eq!(custom_events(&admin, "logout", Some(uid)).await.len(), 1);
}

async fn revoking_a_session_logs_out_a_live_socket(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let rest_admin = srv.rest_admin().await;
    let user = srv.create_user(&rest_admin, "live@roost.test").await;
    let uid = user["id"].as_i64().unwrap();
    let live = srv.socket().await;
    let res = ok(live
        .authenticate(
            json!({"strategy": "local", "email": "live@roost.test", "password": PASSWORD}),
        )
        .await);
    let token = res["accessToken"].as_str().unwrap().to_string();
    ok(live.get("users", json!(uid), q()).await);
    // The REST token works until revoked (and its state is now cached).
    let rest = srv.rest();
    rest.set_token(Some(token.clone()));
    ok(rest.get("users", json!(uid), q()).await);
    let listener = srv.admin_socket().await;
    let row = sessions_of(&rest_admin, uid).await.remove(0);
    let patched = ok(admin
        .patch(
            "auth_sessions",
            row["id"].clone(),
            json!({"revoked": true}),
            q(),
        )
        .await);
    assert_eq!(patched["revoked"], true);
    assert_no_session_secrets(&patched, &token);
    // WAIT is a failure deadline only: the socket must be disconnected, not "fast".
    let reason = live.wait_closed(WAIT).await;
    assert!(reason.is_some(), "the revoked socket must be disconnected");
    expect_err(
        rest.get("users", json!(uid), q()).await,
        "NotAuthenticated",
        401,
    );
    let again = srv.client().await;
    expect_err(
        again
            .authenticate(json!({"strategy": "jwt", "accessToken": token}))
            .await,
        "NotAuthenticated",
        401,
    );
    // The realtime event carries no secret.
    let event = listener
        .wait_event("auth_sessions patched", WAIT)
        .await
        .expect("the admin listener gets the auth_sessions patched event");
    assert_eq!(event.data()["id"], row["id"], "{:?}", event.args);
    assert_eq!(event.data()["revoked"], true, "{:?}", event.args);
    assert_no_session_secrets(event.data(), &token);
    assert_eq!(
        custom_events(&rest_admin, "session_revoked", Some(uid))
            .await
            .len(),
        1
    );
    // Deleting a session refuses its token too.
    let (res2, _c2) = login_with_ua(&srv, "live@roost.test", PASSWORD).await;
    let rest2 = srv.rest();
    rest2.set_token(res2["accessToken"].as_str().map(str::to_string));
    ok(rest2.get("users", json!(uid), q()).await);
    let newest = sessions_of(&rest_admin, uid).await.pop().unwrap();
    ok(admin
        .remove("auth_sessions", newest["id"].clone(), q())
        .await);
    expect_err(
        rest2.get("users", json!(uid), q()).await,
        "NotAuthenticated",
        401,
    );
}

async fn password_change_revokes_other_sessions(s: Setup) {
    let srv = s.server().await;
    let admin = srv.rest_admin().await;
    let user = srv.create_full_access_user(&admin, "pw@roost.test").await;
    let uid = user["id"].as_i64().unwrap();
    let mine = srv.login("pw@roost.test", PASSWORD).await;
    let other_rest = srv
        .login_over(Transport::Rest, "pw@roost.test", PASSWORD)
        .await;
    let other_socket = srv
        .login_over(Transport::Socket, "pw@roost.test", PASSWORD)
        .await;
    ok(mine
        .patch(
            "users",
            json!(uid),
            json!({"password": "Brand-New-Passphrase-42", "current_password": PASSWORD}),
            q(),
        )
        .await);
    ok(mine.get("users", json!(uid), q()).await);
    expect_err(
        other_rest.get("users", json!(uid), q()).await,
        "NotAuthenticated",
        401,
    );
    assert!(other_socket.socket().wait_closed(WAIT).await.is_some());
    let rows = sessions_of(&admin, uid).await;
    let revoked: Vec<bool> = rows.iter().map(|r| r["revoked"] == true).collect();
    assert_eq!(revoked.iter().filter(|r| **r).count(), 2, "{rows:?}");
    // An admin changing it revokes them all.
    ok(admin
        .patch(
            "users",
            json!(uid),
            json!({"password": "Another-Passphrase-43"}),
            q(),
        )
        .await);
    if s.is_rest() {
        expect_err(
            mine.get("users", json!(uid), q()).await,
            "NotAuthenticated",
            401,
        );
    } else {
        let closed = mine.socket().wait_closed(WAIT).await;
        assert!(closed.is_some(), "the user's own socket is logged out too");
    }
}

async fn common_passwords_are_refused(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    for common in ["1qaz2wsx3edc", "Q1W2E3R4T5Y6", "qwerty123456"] {
        let e = expect_err(
            admin
                .create(
                    "users",
                    json!({"email": "weak@roost.test", "password": common}),
                    q(),
                )
                .await,
            "BadRequest",
            400,
        );
        assert_eq!(
            e.message(),
            "Password is too common: it is one of the most used passwords"
        );
        assert!(!e.body.to_string().contains(common));
    }
    ok(admin
        .create(
            "users",
            json!({"email": "weak@roost.test", "password": PASSWORD}),
            q(),
        )
        .await);
}

async fn bcrypt_hashes_log_in_and_are_rehashed(s: Setup) {
    let srv = s.server().await;
    let admin = srv.rest_admin().await;
    let user = srv.create_user(&admin, "feathers@roost.test").await;
    let uid = user["id"].as_i64().unwrap();
    // As Feathers' local strategy (bcryptjs) stores it.
    let hash = bcrypt::hash("Imported-From-Feathers-1", 4)
        .unwrap()
        .replacen("$2b$", "$2a$", 1);
    let db = &srv.app().db;
    let backend = db.get_database_backend();
    db.execute_raw(sea_orm::Statement::from_string(
        backend,
        format!("UPDATE users SET password = '{hash}' WHERE id = {uid}"),
    ))
    .await
    .unwrap();
    let c = srv.client().await;
    expect_err(
        c.authenticate(json!({"email": "feathers@roost.test", "password": "wrong-one-entirely"}))
            .await,
        "NotAuthenticated",
        401,
    );
    ok(c.authenticate(
        json!({"email": "feathers@roost.test", "password": "Imported-From-Feathers-1"}),
    )
    .await);
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            backend,
            format!("SELECT password FROM users WHERE id = {uid}"),
        ))
        .await
        .unwrap()
        .unwrap();
    let stored: String = row.try_get("", "password").unwrap();
    assert!(stored.starts_with("$argon2id$"), "rehashed");
    let again = srv
        .login("feathers@roost.test", "Imported-From-Feathers-1")
        .await;
    ok(again.get("users", json!(uid), q()).await);
}

async fn failed_logins_are_throttled(s: Setup) {
    let srv = s.server().await;
    let clock = Arc::new(ManualClock::new(1_000_000_000));
    srv.app().sessions.throttle.set_clock(clock.clone());
    let admin = srv.rest_admin().await;
    srv.create_user(&admin, "slow@roost.test").await;
    let c = srv.client().await;
    let wrong = json!({"email": "slow@roost.test", "password": "not-the-password"});
    for _ in 0..6 {
        expect_err(c.authenticate(wrong.clone()).await, "NotAuthenticated", 401);
    }
    let right = json!({"email": "slow@roost.test", "password": PASSWORD});
    let e = expect_err(c.authenticate(right.clone()).await, "TooManyRequests", 429);
    assert!(!e.body.to_string().contains(PASSWORD));
    if s.is_rest() {
        let res = srv
            .rest()
            .raw("POST", "/authentication", Some(right.to_string()), &[])
            .await;
        assert_eq!(res.status, 429);
        assert_eq!(res.header("retry-after"), Some("1"));
    }
    // Other accounts are not affected.
    ok(srv
        .rest()
        .authenticate(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .await);
    // The delay grows: after it passes, another failure doubles it.
    clock.advance_ms(1_000);
    expect_err(c.authenticate(wrong.clone()).await, "NotAuthenticated", 401);
    if s.is_rest() {
        let res = srv
            .rest()
            .raw("POST", "/authentication", Some(right.to_string()), &[])
            .await;
        assert_eq!(res.status, 429);
        assert_eq!(res.header("retry-after"), Some("2"));
    }
    clock.advance_ms(2_000);
    ok(c.authenticate(right).await);
}

async fn login_events_are_audited(s: Setup) {
    let srv = s.server().await;
    let admin = srv.rest_admin().await;
    let user = srv.create_user(&admin, "audit-me@roost.test").await;
    let uid = user["id"].as_i64().unwrap();
    let c = srv.client().await;
    expect_err(
        c.authenticate(json!({"email": "audit-me@roost.test", "password": "wrong-password-xyz"}))
            .await,
        "NotAuthenticated",
        401,
    );
    expect_err(
        c.authenticate(json!({"email": "ghost@roost.test", "password": "wrong-password-xyz"}))
            .await,
        "NotAuthenticated",
        401,
    );
    ok(
        c.authenticate(json!({"email": "audit-me@roost.test", "password": PASSWORD}))
            .await,
    );
    let failed = custom_events(&admin, "login_failed", Some(uid)).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    let all_failed = custom_events(&admin, "login_failed", None).await;
    assert_eq!(all_failed.len(), 2, "{all_failed:?}");
    assert!(all_failed.iter().any(|e| e["user_id"].is_null()));
    assert!(!json!(all_failed).to_string().contains("wrong-password-xyz"));
    let logins = custom_events(&admin, "login", Some(uid)).await;
    assert_eq!(logins.len(), 1, "{logins:?}");
}
