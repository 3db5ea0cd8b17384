//! Login cost and attempt counting (attack review): the password gate answers 503 +
//! `Retry-After` past its queue; attempts are counted before they are checked, one count
//! per account whatever identifier names it (logins and one-time codes); the client IP is
//! read from the right of `X-Forwarded-For`; account services do the same work for
//! unknown addresses; weak passwords are refused naming the rule.

use futures_util::future::join_all;
use roost::proxies::TrustedProxies;
use serde_json::{Value, json};

use crate::scenarios;
use crate::support::*;

scenarios!(
    password_checks_past_the_queue_are_unavailable,
    simultaneous_attempts_count_before_they_are_checked,
    simultaneous_right_logins_all_succeed,
    one_count_per_account_whatever_the_identifier,
    otp_code_bursts_count_before_they_are_checked,
    rotating_the_left_most_forwarded_entry_gains_nothing,
    account_services_do_the_same_work_for_unknown_addresses,
    weak_passwords_are_refused_naming_the_rule,
    a_password_may_not_be_a_stored_identifier,
);

/// `n` calls made at once, each on its own client (a socket each over Socket.IO).
async fn burst(srv: &TestServer, datas: Vec<Value>) -> Vec<Res> {
    let mut clients = Vec::new();
    for _ in 0..datas.len() {
        clients.push(srv.client().await);
    }
    join_all(
        clients
            .iter()
            .zip(datas)
            .map(|(c, data)| c.authenticate(data)),
    )
    .await
}

fn codes(results: &[Res]) -> Vec<u64> {
    results
        .iter()
        .map(|r| match r {
            Ok(_) => 201,
            Err(e) => e.code(),
        })
        .collect()
}

async fn password_checks_past_the_queue_are_unavailable(s: Setup) {
    // No room to wait: only calls that find a worker free are checked.
    let srv = s.server_with(|c| c.password.hash_queue = 0).await;
    let datas = (0..12)
        .map(
            |i| json!({"email": format!("nobody{i}@roost.test"), "password": "Not-The-Password-1"}),
        )
        .collect();
    let results = burst(&srv, datas).await;
    let codes = codes(&results);
    assert!(codes.iter().all(|c| [401, 503].contains(c)), "{codes:?}");
    let busy = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .find(|e| e.code() == 503)
        .unwrap_or_else(|| panic!("no 503 in {codes:?}"));
    assert_eq!(busy.name(), "Unavailable");
    assert!(busy.message().contains("busy"), "{}", busy.message());
    if s.is_rest() {
        // The header, from a burst over raw REST.
        let body = json!({"email": "x@roost.test", "password": "Not-The-Password-1"}).to_string();
        let c = srv.rest();
        let calls = (0..6).map(|_| c.raw("POST", "/authentication", Some(body.clone()), &[]));
        let answers = join_all(calls).await;
        let refused = answers
            .iter()
            .find(|r| r.status == 503)
            .expect("no 503 over REST");
        assert_eq!(refused.header("retry-after"), Some("1"));
    }
    // Afterwards the gate is free again (every attempt above counted for this IP: 18 of
    // its 20 free ones).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    srv.admin().await;
}

async fn simultaneous_attempts_count_before_they_are_checked(s: Setup) {
    let srv = s.server().await;
    // Time stands still: a delay that starts during the burst does not run out in it (a
    // burst over 80 sockets takes seconds to connect on a busy machine).
    let clock = std::sync::Arc::new(roost::auth::throttle::ManualClock::new(1_000_000_000));
    srv.app().sessions.throttle.set_clock(clock);
    let admin = srv.rest_admin().await;
    srv.create_user(&admin, "burst@roost.test").await;
    // 79 wrong passwords at once: each is counted before it is checked.
    let datas: Vec<Value> = (0..79)
        .map(|i| json!({"email": "burst@roost.test", "password": format!("Wrong-Password-{i}")}))
        .collect();
    let results = burst(&srv, datas).await;
    let codes = codes(&results);
    let checked = codes.iter().filter(|c| **c != 429).count();
    // Five free attempts, and the one that starts the delay.
    assert!(checked <= 6, "{checked} attempts were checked: {codes:?}");
    assert!(codes.iter().all(|c| [401, 429].contains(c)), "{codes:?}");
    // The right password during the delay is refused unchecked too. (Sent inside the
    // burst it could be checked among the first six, and a success starts the account's
    // count afresh: that is not what this test is about.)
    let right = srv.client().await;
    expect_err(
        right
            .authenticate(json!({"email": "burst@roost.test", "password": PASSWORD}))
            .await,
        "TooManyRequests",
        429,
    );
}

async fn simultaneous_right_logins_all_succeed(s: Setup) {
    // Many devices (or a load test) signing in to one account at once: they take turns
    // (`Throttle::turn`), so none is refused although each is counted before its check.
    let srv = s.server().await;
    let admin = srv.rest_admin().await;
    srv.create_user(&admin, "many@roost.test").await;
    let datas = (0..24)
        .map(|_| json!({"email": "many@roost.test", "password": PASSWORD}))
        .collect();
    let codes = codes(&burst(&srv, datas).await);
    assert!(codes.iter().all(|c| *c == 201), "{codes:?}");
}

async fn one_count_per_account_whatever_the_identifier(s: Setup) {
    let srv = s.server().await;
    let admin = srv.rest_admin().await;
    ok(admin
        .create(
            "users",
            json!({"email": "many@roost.test", "username": "many-names",
                   "phone": "+15550100200", "password": PASSWORD}),
            q(),
        )
        .await);
    let c = srv.client().await;
    for id in [
        json!({"email": "many@roost.test"}),
        json!({"username": "many-names"}),
        json!({"phone": "+15550100200"}),
    ] {
        for _ in 0..2 {
            let mut data = id.clone();
            data["password"] = json!("Not-The-Password-1");
            expect_err(c.authenticate(data).await, "NotAuthenticated", 401);
        }
    }
    // Six misses on one account, whichever name: the delay has started.
    let e = expect_err(
        c.authenticate(json!({"email": "many@roost.test", "password": PASSWORD}))
            .await,
        "TooManyRequests",
        429,
    );
    assert!(e.message().contains("Too many failed login attempts"));
}

async fn otp_code_bursts_count_before_they_are_checked(s: Setup) {
    let srv = s.server().await;
    let admin = srv.rest_admin().await;
    srv.create_user(&admin, "codes@roost.test").await;
    let c = srv.client().await;
    ok(c.create("otp", json!({"email": "codes@roost.test"}), q())
        .await);
    // 40 guesses at once, half through `otp.patch`, half through strategy "otp".
    let mut clients = Vec::new();
    for _ in 0..40 {
        clients.push(srv.client().await);
    }
    let calls = clients.iter().enumerate().map(|(i, c)| async move {
        let code = format!("{:06}", 100_000 + i);
        if i % 2 == 0 {
            c.patch(
                "otp",
                json!(code),
                json!({"email": "codes@roost.test"}),
                q(),
            )
            .await
        } else {
            c.authenticate(json!({"strategy": "otp", "email": "CODES@roost.test", "otp": code}))
                .await
        }
    });
    let results = join_all(calls).await;
    let codes = codes(&results);
    let checked = codes.iter().filter(|c| **c != 429).count();
    assert!(checked <= 6, "{checked} guesses were checked: {codes:?}");
}

async fn rotating_the_left_most_forwarded_entry_gains_nothing(s: Setup) {
    let srv = s
        .server_with(|c| c.http.trusted_proxies = TrustedProxies::Hops(1))
        .await;
    // Our one proxy appends the address it saw (203.0.113.5); the client writes the rest.
    let mut refused_at = None;
    for i in 0..30 {
        let xff = format!("198.51.100.{i}, 203.0.113.5");
        let data =
            json!({"email": format!("rotate{i}@roost.test"), "password": "Not-The-Password-1"});
        let code = if s.is_rest() {
            let body = data.to_string();
            let headers = [("x-forwarded-for", xff.as_str())];
            srv.rest()
                .raw("POST", "/authentication", Some(body), &headers)
                .await
                .status
        } else {
            let socket =
                SocketClient::connect_with(&srv.addr.to_string(), &[("x-forwarded-for", &xff)])
                    .await
                    .expect("socket");
            match socket.authenticate(data).await {
                Ok(_) => 201,
                Err(e) => e.code() as u16,
            }
        };
        if code == 429 {
            refused_at = Some(i);
            break;
        }
        assert_eq!(code, 401);
    }
    // Twenty free attempts per IP, one more starts the delay.
    assert_eq!(refused_at, Some(21), "the IP was never throttled");
    // Another client IP (as our proxy reports it) is not affected.
    let other = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).to_string();
    let res = srv
        .rest()
        .raw(
            "POST",
            "/authentication",
            Some(other),
            &[("x-forwarded-for", "203.0.113.6")],
        )
        .await;
    assert_eq!(res.status, 201);
}

async fn account_services_do_the_same_work_for_unknown_addresses(s: Setup) {
    let srv = s.server().await;
    let admin = srv.rest_admin().await;
    let u = srv.create_user(&admin, "present@roost.test").await;
    let c = srv.client().await;
    for (path, sent) in [
        ("otp", "otp_sent"),
        ("verify", "verify_sent"),
        ("recover", "recover_sent"),
    ] {
        let a = ok(c
            .create(path, json!({"email": "present@roost.test"}), q())
            .await);
        let b = ok(c
            .create(path, json!({"email": "absent@roost.test"}), q())
            .await);
        assert_eq!(a, b);
        // Both ran the same transaction: token insert and audit row (the insert stores
        // nothing for the unknown address).
        let known = ok(admin
            .find("events", json!({"custom_event": sent, "user_id": u["id"]}))
            .await);
        assert_eq!(known["total"], 1, "{path}: {known}");
        let event = format!("{path}_unknown_address");
        let unknown = ok(admin
            .find("events", json!({"custom_event": event, "user_id": null}))
            .await);
        assert_eq!(unknown["total"], 1, "{path}: {unknown}");
    }
}

async fn weak_passwords_are_refused_naming_the_rule(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    for (password, rule) in [
        ("abcdefghijkl", "Password must not be a sequence"),
        ("123456789012", "Password must not be a sequence"),
        ("qwertyuiopas", "Password must not be a sequence"),
        ("aaaaaaaaaaaa", "Password must not repeat"),
        ("passwordpassword", "Password must not repeat"),
        ("abcabcabcabc", "Password must not repeat"),
        ("maria-roost-2024", "Password must not be mostly your"),
        ("MariaQuintero!!", "Password must not be mostly your"),
        ("quintero.example", "Password must not be mostly your"),
    ] {
        let e = expect_err(
            admin
                .create(
                    "users",
                    json!({"email": "maria.quintero@example.org", "first_name": "Maria",
                           "last_name": "Quintero", "password": password}),
                    q(),
                )
                .await,
            "BadRequest",
            400,
        );
        assert!(e.message().starts_with(rule), "{password}: {}", e.message());
        assert!(e.body.get("errors").is_none(), "{}", e.body);
        assert!(!e.body.to_string().contains(password));
    }
    ok(admin
        .create(
            "users",
            json!({"email": "maria.quintero@example.org", "password": "Quiet-Lantern-Orbit-77"}),
            q(),
        )
        .await);
}

async fn a_password_may_not_be_a_stored_identifier(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let user = ok(admin
        .create(
            "users",
            json!({"email": "ident@roost.test", "username": "lantern-keeper-9",
                   "phone": "+1 555 010 0300", "password": PASSWORD}),
            q(),
        )
        .await);
    let id = user["id"].clone();
    // A patch that sends only the password is checked against the stored values.
    for (password, field) in [
        ("Lantern-Keeper-9", "username"),
        ("+1 555 010 0300", "phone"),
        ("1-555-010-0300", "phone"),
        ("IDENT@roost.test", "email"),
    ] {
        let e = expect_err(
            admin
                .patch("users", id.clone(), json!({"password": password}), q())
                .await,
            "BadRequest",
            400,
        );
        assert_eq!(e.message(), format!("Password must not be your {field}"));
    }
    // The user changing their own password, too.
    let me = srv.login("ident@roost.test", PASSWORD).await;
    let e = expect_err(
        me.patch(
            "users",
            id.clone(),
            json!({"password": "lantern-keeper-9", "current_password": PASSWORD}),
            q(),
        )
        .await,
        "BadRequest",
        400,
    );
    assert_eq!(e.message(), "Password must not be your username");
    ok(admin
        .patch(
            "users",
            id,
            json!({"password": "Harbour-Light-Sonnet-5"}),
            q(),
        )
        .await);
}
