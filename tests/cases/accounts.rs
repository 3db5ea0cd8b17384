//! Accounts (issue 3, second half): one-time login codes, address verification and
//! password recovery, with the codes and tokens read from the mail a real (loopback) SMTP
//! server receives. No answer reveals whether an address has an account, and no code or
//! token ever appears in a response or a log line.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};

use crate::scenarios;
use crate::support::smtp::SmtpServer;
use crate::support::*;

scenarios!(
    otp_login,
    otp_attempts_are_limited,
    verification,
    recovery_resets_the_password_and_revokes_sessions,
    answers_do_not_reveal_accounts,
    invitation_is_accepted_once,
    v1_users_shape_and_pagination,
    otp_by_text_message_through_the_webhook,
    notify_sms_without_smtp,
    sends_are_throttled_with_their_own_message,
);

/// Every log line of this test process (from the first accounts test on), without times,
/// at debug level for every crate: a secret must not appear at any level.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer: Arc<Mutex<Vec<u8>>> = Arc::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .without_time()
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// No log line so far contains `secret`. First proves the capture works: the server's
/// start-up line and debug-level lines are in it (an absent subscriber would make every
/// leak check pass).
fn assert_not_logged(secret: &str) {
    let text = {
        let logs = logs().lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&logs).into_owned()
    };
    assert!(
        text.lines()
            .any(|l| l.contains(" INFO ") && l.contains("listening on http://127.0.0.1:")),
        "the log capture does not work: no start-up line in {} bytes",
        text.len()
    );
    assert!(
        text.lines().any(|l| l.contains("DEBUG ")),
        "the log capture is not at debug level"
    );
    assert!(
        !text.contains(secret),
        "a secret was logged: {}",
        text.lines().find(|l| l.contains(secret)).unwrap_or("")
    );
}

/// A server that mails through a fresh loopback SMTP server.
pub(crate) async fn setup(s: Setup) -> (TestServer, SmtpServer) {
    setup_with(s, |_| {}).await
}

/// [`setup`] with more configuration.
pub(crate) async fn setup_with(
    s: Setup,
    edit: impl FnOnce(&mut roost::config::Config),
) -> (TestServer, SmtpServer) {
    logs();
    let smtp = SmtpServer::start().await;
    let port = smtp.port;
    let srv = s
        .server_with(|c| {
            edit(c);
            c.notify.transport = Some("smtp".into());
            c.notify.smtp.host = "127.0.0.1".into();
            c.notify.smtp.port = port;
            c.notify.smtp.tls = "none".into();
            c.notify.smtp.from = "Roost <roost@roost.test>".into();
            c.notify.backoff_ms = 50;
        })
        .await;
    (srv, smtp)
}

/// A user with `email` and the test password, created by the admin.
async fn user(srv: &TestServer, email: &str) -> Value {
    let admin = srv.admin().await;
    srv.create_user(&admin, email).await
}

fn assert_not_in(value: &Value, secret: &str) {
    assert!(
        !value.to_string().contains(secret),
        "secret in answer: {value}"
    );
}

fn status(res: &Res) -> (u16, Value) {
    match res {
        Ok(v) => (200, v.clone()),
        Err(e) => (e.code() as u16, e.body.clone()),
    }
}

async fn otp_login(s: Setup) {
    let (srv, smtp) = setup(s).await;
    let email = "otp.user@roost.test";
    let u = user(&srv, email).await;
    let c = srv.client().await;

    let sent = ok(c.create("otp", json!({"email": email}), q()).await);
    assert_eq!(sent, json!({"sent": true}));
    let mail = smtp.next_to(email).await;
    assert_eq!(mail.from, "roost@roost.test");
    assert_eq!(mail.subject(), Some("Your sign-in code"));
    let code = mail.code();

    // Exchange it: the body of a login, and an auth_sessions row from provider "otp".
    let login = ok(c
        .patch("otp", json!(code), json!({"email": email}), q())
        .await);
    assert!(login["accessToken"].is_string(), "{login}");
    assert_eq!(login["authentication"]["strategy"], "otp");
    assert_eq!(login["user"]["id"], u["id"]);
    assert!(login["user"].get("password").is_none());
    assert_not_in(&login, &code);
    let token = login["accessToken"].as_str().unwrap().to_string();
    let me = RestClient::new(&srv.url());
    me.set_token(Some(token));
    ok(me.get("users", u["id"].clone(), q()).await);
    let admin = srv.admin().await;
    let sessions = ok(admin
        .find(
            "auth_sessions",
            json!({"user_id": u["id"], "auth_provider": "otp"}),
        )
        .await);
    assert_eq!(sessions["total"], 1, "{sessions}");

    // Single use.
    let again = c
        .patch("otp", json!(code), json!({"email": email}), q())
        .await;
    expect_err(again, "NotAuthenticated", 401);

    // The `otp` strategy of `authentication` does the same.
    ok(c.create("otp", json!({"email": email}), q()).await);
    let code2 = smtp.next_to(email).await.code();
    let fresh = srv.client().await;
    let login = ok(fresh
        .authenticate(json!({"strategy": "otp", "email": email, "otp": code2}))
        .await);
    assert_eq!(login["authentication"]["strategy"], "otp");
    assert_eq!(login["user"]["id"], u["id"]);
    let events = ok(admin
        .find(
            "events",
            json!({"custom_event": "otp_sent", "user_id": u["id"]}),
        )
        .await);
    assert_eq!(events["total"], 2, "{events}");
    assert_not_logged(&code);
    assert_not_logged(&code2);
}

async fn otp_attempts_are_limited(s: Setup) {
    let (srv, smtp) = setup(s).await;
    let email = "tries@roost.test";
    user(&srv, email).await;
    let c = srv.client().await;
    ok(c.create("otp", json!({"email": email}), q()).await);
    let code = smtp.next_to(email).await.code();
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..5 {
        let res = c
            .patch("otp", json!(wrong), json!({"email": email}), q())
            .await;
        expect_err(res, "NotAuthenticated", 401);
    }
    // Five misses killed the code: even the right one fails now.
    let res = c
        .patch("otp", json!(code), json!({"email": email}), q())
        .await;
    let e = res.expect_err("exhausted code accepted");
    assert!(matches!(e.code(), 401 | 429), "{}", e.code());
    assert_not_in(&e.body, &code);
    assert_not_logged(&code);
}

async fn verification(s: Setup) {
    let (srv, smtp) = setup(s).await;
    let email = "verify.me@roost.test";
    let u = user(&srv, email).await;
    assert!(u["email_verified_at"].is_null());
    let c = srv.client().await;
    let sent = ok(c.create("verify", json!({"email": email}), q()).await);
    assert_eq!(sent, json!({"sent": true}));
    let token = smtp.next_to(email).await.token();

    let bad = c
        .patch(
            "verify",
            json!(email),
            json!({"token": "0".repeat(48)}),
            q(),
        )
        .await;
    expect_err(bad, "BadRequest", 400);
    let done = ok(c
        .patch("verify", json!(email), json!({"token": token}), q())
        .await);
    assert_eq!(done, json!({"verified": true}));
    let admin = srv.admin().await;
    let after = ok(admin.get("users", u["id"].clone(), q()).await);
    assert!(after["email_verified_at"].is_string(), "{after}");
    let events = ok(admin
        .find(
            "events",
            json!({"custom_event": "verified", "user_id": u["id"]}),
        )
        .await);
    assert_eq!(events["total"], 1);

    // Single use.
    let again = c
        .patch("verify", json!(email), json!({"token": token}), q())
        .await;
    expect_err(again, "BadRequest", 400);
    assert_not_logged(&token);

    // Writing the same address keeps the date; a new address clears it.
    let same = ok(admin
        .patch(
            "users",
            u["id"].clone(),
            json!({"email": email, "first_name": "V"}),
            q(),
        )
        .await);
    assert!(same["email_verified_at"].is_string(), "{same}");
    let moved = ok(admin
        .patch(
            "users",
            u["id"].clone(),
            json!({"email": "moved@roost.test"}),
            q(),
        )
        .await);
    assert!(moved["email_verified_at"].is_null(), "{moved}");
}

async fn recovery_resets_the_password_and_revokes_sessions(s: Setup) {
    let (srv, smtp) = setup(s).await;
    let email = "forgot@roost.test";
    let u = user(&srv, email).await;
    // A live session, to be revoked by the reset.
    let old = RestClient::new(&srv.url());
    ok(old
        .authenticate(json!({"strategy": "local", "email": email, "password": PASSWORD}))
        .await);
    ok(old.get("users", u["id"].clone(), q()).await);
    // And a live socket, to be logged out by it.
    let live = srv.socket().await;
    ok(live
        .authenticate(json!({"strategy": "local", "email": email, "password": PASSWORD}))
        .await);

    let c = srv.client().await;
    let sent = ok(c.create("recover", json!({"email": email}), q()).await);
    assert_eq!(sent, json!({"sent": true}));
    let token = smtp.next_to(email).await.token();

    // The password policy applies.
    let weak = c
        .patch(
            "recover",
            json!(email),
            json!({"token": token, "password": "short"}),
            q(),
        )
        .await;
    expect_err(weak, "BadRequest", 400);
    let new_password = "Brand-New-Harbour-Light-42";
    let done = ok(c
        .patch(
            "recover",
            json!(email),
            json!({"token": token, "password": new_password}),
            q(),
        )
        .await);
    assert_eq!(done, json!({"reset": true}));
    assert_not_in(&done, &token);

    // Sessions revoked; the new password works, the old one does not.
    expect_err(
        old.get("users", u["id"].clone(), q()).await,
        "NotAuthenticated",
        401,
    );
    let closed = live.wait_closed(std::time::Duration::from_secs(1)).await;
    assert!(closed.is_some(), "the reset logs the user's sockets out");
    srv.login(email, new_password).await;
    let fresh = srv.client().await;
    let res = fresh
        .authenticate(json!({"strategy": "local", "email": email, "password": PASSWORD}))
        .await;
    expect_err(res, "NotAuthenticated", 401);
    // Single use.
    let again = c
        .patch(
            "recover",
            json!(email),
            json!({"token": token, "password": "Another-Fine-Passphrase-9"}),
            q(),
        )
        .await;
    expect_err(again, "BadRequest", 400);
    let admin = srv.admin().await;
    let events = ok(admin
        .find(
            "events",
            json!({"custom_event": "password_reset", "user_id": u["id"]}),
        )
        .await);
    assert_eq!(events["total"], 1);
    assert_not_logged(&token);
    assert_not_logged(new_password);
}

async fn answers_do_not_reveal_accounts(s: Setup) {
    let (srv, smtp) = setup(s).await;
    let known = "known@roost.test";
    let unknown = "nobody@roost.test";
    user(&srv, known).await;
    let c = srv.client().await;
    for path in ["otp", "verify", "recover"] {
        let a = status(&c.create(path, json!({"email": known}), q()).await);
        let b = status(&c.create(path, json!({"email": unknown}), q()).await);
        assert_eq!(a, b, "{path}");
    }
    // Mail went to the known address only.
    for _ in 0..3 {
        smtp.next_to(known).await;
    }
    assert_eq!(smtp.count_to(unknown), 0);

    let a = status(
        &c.patch("otp", json!("123456"), json!({"email": known}), q())
            .await,
    );
    let b = status(
        &c.patch("otp", json!("123456"), json!({"email": unknown}), q())
            .await,
    );
    assert_eq!(a.0, 401);
    assert_eq!(a, b);
    let token = json!({"token": "0".repeat(48)});
    let a = status(&c.patch("verify", json!(known), token.clone(), q()).await);
    let b = status(&c.patch("verify", json!(unknown), token, q()).await);
    assert_eq!(a.0, 400);
    assert_eq!(a, b);
    let data = json!({"token": "0".repeat(48), "password": "Brand-New-Harbour-Light-42"});
    let a = status(&c.patch("recover", json!(known), data.clone(), q()).await);
    let b = status(&c.patch("recover", json!(unknown), data, q()).await);
    assert_eq!(a.0, 400);
    assert_eq!(a, b);
}

async fn sends_are_throttled_with_their_own_message(s: Setup) {
    let (srv, _smtp) = setup(s).await;
    let c = srv.client().await;
    // A few sends per address are free, then each one doubles the wait.
    let mut refused = None;
    for _ in 0..12 {
        match c
            .create("otp", json!({"email": "flood@roost.test"}), q())
            .await
        {
            Ok(sent) => assert_eq!(sent, json!({"sent": true})),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let e = refused.expect("the sends were never throttled");
    assert_eq!((e.name(), e.code()), ("TooManyRequests", 429));
    assert!(
        e.message().contains("codes or links requested"),
        "{}",
        e.message()
    );
}

async fn invitation_is_accepted_once(s: Setup) {
    let (srv, smtp) = setup(s).await;
    let admin = srv.admin().await;
    let me = ok(admin.find("users", json!({"email": ADMIN_EMAIL})).await)["data"][0]["id"].clone();
    let email = "newcomer@roost.test";
    let res = ok(admin
        .create("v1/users/invite", json!({"email": email}), q())
        .await);
    assert_eq!(res, json!({}));
    let first = smtp.next_to(email).await;
    assert_eq!(first.subject(), Some("You are invited"));
    let first = first.token();
    let pending = ok(admin.find("users", json!({"email": email})).await)["data"][0].clone();
    assert_eq!(pending["invited_by"], me);
    assert!(pending["invited_date"].is_string());
    assert!(pending["joined_date"].is_null());
    // The pending user was created through `users`: audited with the inviter as actor.
    let created = ok(admin
        .find(
            "events",
            json!({"source_table": "users", "event": "created", "table_id": pending["id"]}),
        )
        .await);
    assert_eq!(created["total"], 1, "{created}");
    assert_eq!(created["data"][0]["user_id"], me);

    // A pending invitation is accepted only with its token: no code, verification or
    // recovery link is issued for the address (the answers stay the same).
    let c = srv.client().await;
    for service in ["otp", "verify", "recover"] {
        let sent = ok(c.create(service, json!({"email": email}), q()).await);
        assert_eq!(sent, json!({"sent": true}));
    }
    for event in ["otp_sent", "verify_sent", "recover_sent"] {
        let sent = ok(admin.find("events", json!({"custom_event": event})).await);
        assert_eq!(sent["total"], 0, "{event}: {sent}");
    }

    // Re-inviting a pending user issues a new token; the old one is dead.
    ok(admin
        .create("v1/users/invite", json!({"email": email}), q())
        .await);
    let second = smtp.next_to(email).await.token();
    assert_ne!(first, second);
    let data = |t: &str| json!({"token": t, "password": "Welcome-Aboard-Lighthouse-3"});
    expect_err(
        c.patch("v1/users/invite", json!(email), data(&first), q())
            .await,
        "BadRequest",
        400,
    );
    let joined = ok(c
        .patch("v1/users/invite", json!(email), data(&second), q())
        .await);
    assert_eq!(joined, json!({"joined": true}));
    assert_not_in(&joined, &second);
    let member = ok(admin.get("users", pending["id"].clone(), q()).await);
    assert!(member["joined_date"].is_string(), "{member}");
    assert!(member["email_verified_at"].is_string(), "{member}");
    let patched = ok(admin
        .find(
            "events",
            json!({"source_table": "users", "event": "patched", "table_id": pending["id"]}),
        )
        .await);
    assert_eq!(patched["total"], 2, "re-invite and acceptance: {patched}");
    srv.login(email, "Welcome-Aboard-Lighthouse-3").await;
    // Single use, and a member cannot be invited again.
    expect_err(
        c.patch("v1/users/invite", json!(email), data(&second), q())
            .await,
        "BadRequest",
        400,
    );
    expect_err(
        admin
            .create("v1/users/invite", json!({"email": email}), q())
            .await,
        "Conflict",
        409,
    );
    expect_err(
        admin
            .create("v1/users/invite", json!({"email": ADMIN_EMAIL}), q())
            .await,
        "Conflict",
        409,
    );
    // Anonymous callers and users without `users_create` may not invite.
    expect_err(
        c.create("v1/users/invite", json!({"email": "x@roost.test"}), q())
            .await,
        "NotAuthenticated",
        401,
    );
    let member = srv.login(email, "Welcome-Aboard-Lighthouse-3").await;
    expect_err(
        member
            .create("v1/users/invite", json!({"email": "x@roost.test"}), q())
            .await,
        "Forbidden",
        403,
    );
    let events = ok(admin
        .find("events", json!({"custom_event": "invited"}))
        .await);
    assert_eq!(events["total"], 2);
    assert_not_logged(&first);
    assert_not_logged(&second);
}

async fn v1_users_shape_and_pagination(s: Setup) {
    let (srv, _smtp) = setup(s).await;
    let admin = srv.admin().await;
    for i in 0..11 {
        srv.create_user(&admin, &format!("member{i}@roost.test"))
            .await;
    }
    ok(admin
        .create(
            "v1/users/invite",
            json!({"email": "pending@roost.test"}),
            q(),
        )
        .await);
    // 1 admin + 11 members + 1 invited.
    let page = ok(admin.find("v1/users", json!({})).await);
    assert_eq!(
        page["pagination"],
        json!({"page": 1, "page_size": 10, "page_count": 2, "total_document": 13})
    );
    let users = page["users"].as_array().unwrap();
    assert_eq!(users.len(), 10);
    let first = &users[0];
    assert!(first["_id"].is_string(), "{first}");
    assert_eq!(first["email"], ADMIN_EMAIL);
    for key in [
        "name",
        "username",
        "invited_date",
        "invited_by",
        "joined_date",
        "updated_date",
        "updated_by",
    ] {
        assert!(first.get(key).is_some(), "{key} missing: {first}");
    }
    assert!(first.get("password").is_none());
    assert!(first["role"]["_id"].is_string(), "{first}");
    assert!(first["role"]["name"].is_string());
    assert!(
        first["role"]["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("full_access")),
        "{first}"
    );
    let page2 = ok(admin
        .find("v1/users", json!({"page": 2, "page_size": 5}))
        .await);
    assert_eq!(
        page2["pagination"],
        json!({"page": 2, "page_size": 5, "page_count": 3, "total_document": 13})
    );
    assert_eq!(page2["users"].as_array().unwrap().len(), 5);
    let last = ok(admin
        .find("v1/users", json!({"page": 3, "page_size": 5}))
        .await);
    let last = last["users"].as_array().unwrap();
    assert_eq!(last.len(), 3);
    let pending = &last[2];
    assert_eq!(pending["email"], "pending@roost.test");
    assert!(pending["invited_date"].is_string());
    assert!(pending["invited_by"].is_string());
    assert!(pending["joined_date"].is_null());
    assert!(pending["role"].is_null());
    expect_err(
        admin.find("v1/users", json!({"page": 0})).await,
        "BadRequest",
        400,
    );
    // A user without `users_read` sees only themself.
    let member = srv.login("member0@roost.test", PASSWORD).await;
    let own = ok(member.find("v1/users", json!({})).await);
    assert_eq!(own["pagination"]["total_document"], 1);
    assert_eq!(own["users"][0]["email"], "member0@roost.test");
    expect_err(
        srv.client().await.find("v1/users", json!({})).await,
        "NotAuthenticated",
        401,
    );
}

/// A webhook that answers 500 to its first request and 200 afterwards, keeping bodies.
async fn sms_webhook() -> (u16, Arc<Mutex<Vec<Value>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
    let store = bodies.clone();
    tokio::spawn(async move {
        let mut served = 0;
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head, then Content-Length bytes of body.
            let body = loop {
                let n = stream.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break None;
                }
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break Some(body.to_string());
                    }
                }
            };
            served += 1;
            let status = if served == 1 {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            if served > 1
                && let Some(body) = body
            {
                store
                    .lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap());
            }
            let _ = stream
                .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                .await;
        }
    });
    (port, bodies)
}

async fn otp_by_text_message_through_the_webhook(s: Setup) {
    logs();
    let smtp = SmtpServer::start().await;
    let (hook, texts) = sms_webhook().await;
    let srv = s
        .server_with(|c| {
            c.notify.transport = Some("smtp".into());
            c.notify.smtp.host = "127.0.0.1".into();
            c.notify.smtp.port = smtp.port;
            c.notify.smtp.tls = "none".into();
            c.notify.sms.url = Some(format!("http://127.0.0.1:{hook}/sms"));
            c.notify.backoff_ms = 20;
        })
        .await;
    let admin = srv.admin().await;
    let phone = "+15550001234";
    let u = ok(admin
        .create(
            "users",
            json!({"email": "texter@roost.test", "password": PASSWORD, "phone": phone}),
            q(),
        )
        .await);
    let c = srv.client().await;
    ok(c.create("otp", json!({"phone": phone}), q()).await);
    // The first POST fails (500); the retry delivers it.
    let deadline = std::time::Instant::now() + WAIT;
    let text = loop {
        if let Some(t) = texts.lock().unwrap().first().cloned() {
            break t;
        }
        assert!(std::time::Instant::now() < deadline, "no text message");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(text["to"], phone);
    let code = text["message"]
        .as_str()
        .unwrap()
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.chars().all(|c| c.is_ascii_digit()))
        .unwrap()
        .to_string();
    let login = ok(c
        .patch("otp", json!(code), json!({"phone": phone}), q())
        .await);
    assert_eq!(login["user"]["id"], u["id"]);
    // Verification by text sets phone_verified_at.
    ok(c.create("verify", json!({"phone": phone}), q()).await);
    let deadline = std::time::Instant::now() + WAIT;
    let text = loop {
        if let Some(t) = texts.lock().unwrap().get(1).cloned() {
            break t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no second text message"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let token = text["message"]
        .as_str()
        .unwrap()
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 48)
        .unwrap()
        .to_string();
    ok(
        c.patch("verify", json!(phone), json!({"token": token}), q())
            .await,
    );
    let after = ok(admin.get("users", u["id"].clone(), q()).await);
    assert!(after["phone_verified_at"].is_string(), "{after}");
    assert!(after["email_verified_at"].is_null(), "{after}");
    assert_eq!(smtp.count_to("texter@roost.test"), 0);
    assert_not_logged(&code);
    assert_not_logged(&token);
}

/// The SMS channel stands alone (issue 10): no SMTP, no email channel at all, and a code
/// still reaches the phone through the webhook (over reqwest, retried after a 500).
async fn notify_sms_without_smtp(s: Setup) {
    logs();
    let (hook, texts) = sms_webhook().await;
    let srv = s
        .server_with(|c| {
            c.notify.transport = Some("none".into());
            c.notify.sms.url = Some(format!("http://127.0.0.1:{hook}/sms?key=abc"));
            c.notify.backoff_ms = 20;
        })
        .await;
    let admin = srv.admin().await;
    let phone = "+15550009876";
    let u = ok(admin
        .create(
            "users",
            json!({"email": "alone@roost.test", "password": PASSWORD, "phone": phone}),
            q(),
        )
        .await);
    let c = srv.client().await;
    ok(c.create("otp", json!({"phone": phone}), q()).await);
    let deadline = std::time::Instant::now() + WAIT;
    let text = loop {
        if let Some(t) = texts.lock().unwrap().first().cloned() {
            break t;
        }
        assert!(std::time::Instant::now() < deadline, "no text message");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(text["to"], phone);
    let code = text["message"]
        .as_str()
        .unwrap()
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.chars().all(|c| c.is_ascii_digit()))
        .unwrap()
        .to_string();
    let login = ok(c
        .authenticate(json!({"strategy": "otp", "phone": phone, "otp": code}))
        .await);
    assert_eq!(login["user"]["id"], u["id"]);
    assert_not_logged(&code);
}
