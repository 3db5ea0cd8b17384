//! The account-takeover findings (issue 15), each a scenario over REST and Socket.IO on
//! SQLite and PostgreSQL: ids in other spellings on the verified-address reset, identity
//! writes judged like grants, hand-written audit rows, deleted users' sockets, and one's
//! own sign-in details behind the current password.

use serde_json::{Value, json};

use crate::accounts::{setup, setup_with};
use crate::scenarios;
use crate::support::roles::user_with;
use crate::support::*;

scenarios!(
    proofs_are_bound_to_their_address,
    otp_sign_in_is_the_first_proof_of_an_unverified_address,
    any_id_spelling_resets_a_changed_address,
    identity_writes_need_what_the_target_holds,
    hand_written_events_record_their_author,
    deleted_users_sockets_are_logged_out,
    own_sign_in_changes_need_the_current_password,
    expired_sessions_read_as_ended,
    email_changes_wait_for_the_new_address,
    signup_does_not_tell_whether_an_address_is_taken,
);

/// A user whose email was verified through the `verify` flow.
async fn verified_user(
    srv: &TestServer,
    smtp: &crate::support::smtp::SmtpServer,
    email: &str,
) -> Value {
    let admin = srv.admin().await;
    let user = srv.create_user(&admin, email).await;
    let c = srv.client().await;
    ok(c.create("verify", json!({"email": email}), q()).await);
    let token = smtp.next_to(email).await.token();
    ok(
        c.patch("verify", json!(email), json!({"token": token}), q())
            .await,
    );
    let user = ok(admin.get("users", user["id"].clone(), q()).await);
    assert!(user["email_verified_at"].is_string(), "{user}");
    user
}

async fn any_id_spelling_resets_a_changed_address(s: Setup) {
    let (srv, smtp) = setup(s).await;
    let admin = srv.admin().await;
    let user = verified_user(&srv, &smtp, "holder@roost.test").await;
    let id = user["id"].as_i64().unwrap();
    // Someone who changes emails at once (they can read every account).
    user_with(
        &srv,
        &admin,
        "desk@roost.test",
        &["users_read", "users_write", "users_write_email"],
    )
    .await;
    let c = srv.login("desk@roost.test", PASSWORD).await;
    // Sockets carry JSON numbers (a float names the same row); REST carries the path text.
    let spelled = if c.is_rest() {
        json!(id.to_string())
    } else {
        json!(id as f64)
    };
    ok(
        c.patch("users", spelled, json!({"email": "victim@corp.test"}), q())
            .await,
    );
    let after = ok(admin.get("users", json!(id), q()).await);
    assert_eq!(after["email"], "victim@corp.test");
    assert_eq!(after["email_verified_at"], Value::Null, "{after}");
}

async fn identity_writes_need_what_the_target_holds(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let plain = srv.create_user(&admin, "plain@roost.test").await;
    user_with(
        &srv,
        &admin,
        "helpdesk@roost.test",
        &[
            "users_read",
            "users_write",
            "users_write_password",
            "users_write_email",
            "users_write_phone",
            "user_oauth_providers_read",
            "user_oauth_providers_write",
        ],
    )
    .await;
    let c = srv.login("helpdesk@roost.test", PASSWORD).await;
    let refused = |r: Res| {
        let e = expect_err(r, "Forbidden", 403);
        assert!(e.message().contains("signs in"), "{}", e.message());
    };
    let admin_id = json!(1);
    refused(
        c.patch(
            "users",
            admin_id.clone(),
            json!({"password": "Taken-Over-Passphrase-1"}),
            q(),
        )
        .await,
    );
    refused(
        c.patch(
            "users",
            admin_id.clone(),
            json!({"email": "mine@evil.test"}),
            q(),
        )
        .await,
    );
    refused(
        c.patch(
            "users",
            admin_id.clone(),
            json!({"phone": "+15550009999"}),
            q(),
        )
        .await,
    );
    refused(
        c.create(
            "user_oauth_providers",
            json!({"user_id": admin_id, "slug": "gh", "sub": "attacker"}),
            q(),
        )
        .await,
    );
    // The administrator can still sign in with their own password.
    srv.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    // A user who holds nothing the caller lacks: allowed.
    ok(c.patch(
        "users",
        plain["id"].clone(),
        json!({"password": "Reset-By-Helpdesk-42"}),
        q(),
    )
    .await);
    let link = ok(c
        .create(
            "user_oauth_providers",
            json!({"user_id": plain["id"], "slug": "gh", "sub": "plain-sub"}),
            q(),
        )
        .await);
    // Moving that link onto the administrator is linking it to them.
    refused(
        c.patch(
            "user_oauth_providers",
            link["id"].clone(),
            json!({"user_id": 1}),
            q(),
        )
        .await,
    );
    let links = ok(admin
        .find("user_oauth_providers", json!({"user_id": 1}))
        .await);
    assert_eq!(links["total"], 0);
}

async fn hand_written_events_record_their_author(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let author = user_with(
        &srv,
        &admin,
        "auditor@roost.test",
        &["events_read", "events_write"],
    )
    .await;
    let c = srv.login("auditor@roost.test", PASSWORD).await;
    for forged in [
        json!({"custom_event": "login", "user_id": 1}),
        json!({"custom_event": "login", "previous_user_id": 1}),
        json!({"custom_event": "login", "source_table": "users"}),
        json!({"event": "created", "table_id": 1}),
    ] {
        expect_err(
            c.create("events", forged.clone(), q()).await,
            "BadRequest",
            400,
        );
    }
    let written = ok(c
        .create(
            "events",
            json!({"custom_event": "maintenance note", "table_id": 3}),
            q(),
        )
        .await);
    assert_eq!(written["user_id"], author["id"]);
    assert_eq!(written["previous_user_id"], Value::Null);
    assert_eq!(written["source_table"], "manual");
    assert_eq!(written["event"], "custom");
    assert_eq!(written["custom_event"], "maintenance note");
    // No forged row exists.
    let forged = ok(admin
        .find(
            "events",
            json!({"custom_event": "login", "user_id": 1, "source_table": {"$ne": null}}),
        )
        .await);
    assert_eq!(forged["total"], 0);
}

async fn deleted_users_sockets_are_logged_out(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let user = srv.create_user(&admin, "leaving@roost.test").await;
    let live = srv.socket().await;
    ok(live
        .authenticate(
            json!({"strategy": "local", "email": "leaving@roost.test", "password": PASSWORD}),
        )
        .await);
    ok(live.get("users", user["id"].clone(), q()).await);
    ok(admin.remove("users", user["id"].clone(), q()).await);
    let reason = live.wait_closed(WAIT).await;
    assert!(
        reason.is_some(),
        "the deleted user's socket stays connected"
    );
}

async fn own_sign_in_changes_need_the_current_password(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let me = srv.create_user(&admin, "careful@roost.test").await;
    let c = srv.login("careful@roost.test", PASSWORD).await;
    for change in [
        json!({"email": "elsewhere@roost.test"}),
        json!({"phone": "+15550001234"}),
        json!({"password": "Brand-New-Passphrase-77"}),
    ] {
        let e = expect_err(
            c.patch("users", me["id"].clone(), change.clone(), q())
                .await,
            "BadRequest",
            400,
        );
        assert!(e.message().contains("current_password"), "{}", e.message());
        let mut wrong = change.clone();
        wrong["current_password"] = json!("Not-The-Password-000");
        expect_err(
            c.patch("users", me["id"].clone(), wrong, q()).await,
            "BadRequest",
            400,
        );
    }
    let unchanged = ok(admin.get("users", me["id"].clone(), q()).await);
    assert_eq!(unchanged["email"], "careful@roost.test");
    assert_eq!(unchanged["phone"], Value::Null);
    // Sending the address one already has (a full-record form) needs nothing.
    ok(c.patch(
        "users",
        me["id"].clone(),
        json!({"email": "Careful@roost.test ", "first_name": "C"}),
        q(),
    )
    .await);
    ok(c.patch(
        "users",
        me["id"].clone(),
        json!({"email": "elsewhere@roost.test", "current_password": PASSWORD}),
        q(),
    )
    .await);
}

async fn proofs_are_bound_to_their_address(s: Setup) {
    let (srv, smtp) = setup(s).await;
    let admin = srv.admin().await;
    let attacker = verified_user(&srv, &smtp, "attacker@roost.test").await;
    let anon = srv.client().await;
    // Secrets sent to the attacker's own address, then the address changes.
    ok(anon
        .create("verify", json!({"email": "attacker@roost.test"}), q())
        .await);
    let link = smtp.next_to("attacker@roost.test").await.token();
    ok(anon
        .create("otp", json!({"email": "attacker@roost.test"}), q())
        .await);
    let code = smtp.next_to("attacker@roost.test").await.code();
    // An administrator moves the account (their change applies at once).
    ok(admin
        .patch(
            "users",
            attacker["id"].clone(),
            json!({"email": "victim@corp.test"}),
            q(),
        )
        .await);
    expect_err(
        anon.patch(
            "verify",
            json!("victim@corp.test"),
            json!({"token": link}),
            q(),
        )
        .await,
        "BadRequest",
        400,
    );
    expect_err(
        anon.patch(
            "otp",
            json!(code),
            json!({"email": "victim@corp.test"}),
            q(),
        )
        .await,
        "NotAuthenticated",
        401,
    );
    let after = ok(admin.get("users", attacker["id"].clone(), q()).await);
    assert_eq!(after["email_verified_at"], Value::Null, "{after}");
    // Changing back does not revive them either: the change retired them.
    ok(admin
        .patch(
            "users",
            attacker["id"].clone(),
            json!({"email": "attacker@roost.test"}),
            q(),
        )
        .await);
    expect_err(
        anon.patch(
            "verify",
            json!("attacker@roost.test"),
            json!({"token": link}),
            q(),
        )
        .await,
        "BadRequest",
        400,
    );
}

async fn otp_sign_in_is_the_first_proof_of_an_unverified_address(s: Setup) {
    let (srv, smtp) = setup(s).await;
    let admin = srv.admin().await;
    // The attacker registers the victim's address with a password and keeps a session.
    let squatter = srv
        .login_over(Transport::Rest, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    let victim = srv.create_user(&squatter, "owner@corp.test").await;
    let attacker = srv
        .login_over(Transport::Rest, "owner@corp.test", PASSWORD)
        .await;
    ok(attacker.get("users", victim["id"].clone(), q()).await);
    // The owner signs in with a code sent to the address.
    let owner = srv.client().await;
    ok(owner
        .create("otp", json!({"email": "owner@corp.test"}), q())
        .await);
    let code = smtp.next_to("owner@corp.test").await.code();
    ok(owner
        .authenticate(json!({"strategy": "otp", "email": "owner@corp.test", "otp": code}))
        .await);
    // The squatter's session and password no longer work; the address is verified.
    expect_err(
        attacker.get("users", victim["id"].clone(), q()).await,
        "NotAuthenticated",
        401,
    );
    let again = srv.client_of(Transport::Rest).await;
    expect_err(
        again
            .authenticate(
                json!({"strategy": "local", "email": "owner@corp.test", "password": PASSWORD}),
            )
            .await,
        "NotAuthenticated",
        401,
    );
    let record = ok(admin.get("users", victim["id"].clone(), q()).await);
    assert!(record["email_verified_at"].is_string(), "{record}");
    ok(owner.get("users", victim["id"].clone(), q()).await);
    // The owner sets a password from this session (none to confirm).
    ok(owner
        .patch(
            "users",
            victim["id"].clone(),
            json!({"password": "Owner-Chosen-Passphrase-5"}),
            q(),
        )
        .await);
    // Once verified, another code login revokes nothing.
    ok(owner
        .create("otp", json!({"email": "owner@corp.test"}), q())
        .await);
    let code = smtp.next_to("owner@corp.test").await.code();
    let second = srv.client().await;
    ok(second
        .patch("otp", json!(code), json!({"email": "owner@corp.test"}), q())
        .await);
    ok(owner.get("users", victim["id"].clone(), q()).await);
}

async fn expired_sessions_read_as_ended(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let user = srv.create_user(&admin, "later@roost.test").await;
    let c = srv.login("later@roost.test", PASSWORD).await;
    let mine = page_data(&ok(c.find("auth_sessions", q()).await));
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["revoked"], false);
    let sessions = &srv.app().sessions;
    let lifetime = chrono::Duration::seconds(srv.config.authentication.expires_in as i64);
    // Not yet expired: nothing changes.
    let now = chrono::Utc::now();
    assert_eq!(sessions.mark_expired(now, lifetime).await.unwrap(), 0);
    // A day and a second later (the sweep's clock moved, not the test's).
    let later = now + lifetime + chrono::Duration::seconds(1);
    assert!(sessions.mark_expired(later, lifetime).await.unwrap() >= 1);
    let rows = ok(admin
        .find("auth_sessions", json!({"user_id": user["id"]}))
        .await);
    for row in page_data(&rows) {
        assert_eq!(row["revoked"], true, "{row}");
    }
}

async fn email_changes_wait_for_the_new_address(s: Setup) {
    let (srv, smtp) = setup(s).await;
    let admin = srv.admin().await;
    let me = srv.create_user(&admin, "first@roost.test").await;
    srv.create_user(&admin, "taken@roost.test").await;
    let c = srv.login("first@roost.test", PASSWORD).await;
    let change = |email: &str| json!({"email": email, "current_password": PASSWORD});
    // A taken address and a free one get the same answer: the account as it is.
    let to_taken = ok(c
        .patch("users", me["id"].clone(), change("Taken@roost.test"), q())
        .await);
    let to_free = ok(c
        .patch("users", me["id"].clone(), change("second@roost.test"), q())
        .await);
    for answer in [&to_taken, &to_free] {
        assert_eq!(answer["email"], "first@roost.test", "{answer}");
    }
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&to_taken), keys(&to_free));
    // The owner of the taken address is told, with nothing to act on.
    let notice = smtp.next_to("taken@roost.test").await;
    assert_eq!(
        notice.subject(),
        Some("Someone tried to use your email address")
    );
    // The free address gets the link; until it comes back nothing has moved.
    let link = smtp.next_to("second@roost.test").await;
    assert_eq!(link.subject(), Some("Confirm your new email address"));
    let token = link.token();
    let now = ok(admin.get("users", me["id"].clone(), q()).await);
    assert_eq!(now["email"], "first@roost.test");
    let anon = srv.client().await;
    expect_err(
        anon.patch(
            "verify",
            json!("second@roost.test"),
            json!({"token": "0".repeat(48)}),
            q(),
        )
        .await,
        "BadRequest",
        400,
    );
    ok(anon
        .patch(
            "verify",
            json!("second@roost.test"),
            json!({"token": token}),
            q(),
        )
        .await);
    let moved = ok(admin.get("users", me["id"].clone(), q()).await);
    assert_eq!(moved["email"], "second@roost.test");
    assert!(moved["email_verified_at"].is_string(), "{moved}");
    // Single use.
    expect_err(
        anon.patch(
            "verify",
            json!("second@roost.test"),
            json!({"token": token}),
            q(),
        )
        .await,
        "BadRequest",
        400,
    );
    // The old address hears of the change that happened, the new one in masked form.
    let notice = smtp.next_to("first@roost.test").await;
    assert_eq!(notice.subject(), Some("Your email address was changed"));
    let body = notice.body();
    assert!(body.contains("s***@roost.test"), "{body}");
    assert!(
        !body.contains("second@roost.test"),
        "the new address in full: {body}"
    );
    // The owner of the taken address still signs in with it.
    srv.login("taken@roost.test", PASSWORD).await;
    srv.login("second@roost.test", PASSWORD).await;
}

async fn signup_does_not_tell_whether_an_address_is_taken(s: Setup) {
    let (srv, smtp) = setup_with(s, |c| c.signup.open = true).await;
    let admin = srv.admin().await;
    let owner = srv.create_user(&admin, "owner@corp.test").await;
    let anon = srv.client().await;
    let sign_up = |email: &str, password: &str| json!({"email": email, "password": password, "first_name": "New"});
    let fresh = ok(anon
        .create("users", sign_up("fresh@roost.test", PASSWORD), q())
        .await);
    let squat = "Squatters-Own-Passphrase-9";
    let taken = ok(anon
        .create("users", sign_up(" Owner@corp.test", squat), q())
        .await);
    // The same shape, the same kinds of values, the address as sent (normalised).
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&fresh), keys(&taken));
    for field in keys(&fresh) {
        assert_eq!(
            fresh[&field].is_null(),
            taken[&field].is_null(),
            "{field}: {fresh} / {taken}"
        );
    }
    assert_eq!(taken["email"], "owner@corp.test");
    assert_eq!(taken["first_name"], "New");
    assert_no_password(&taken, squat);
    // Ids keep counting past the answer, as they would past a real account.
    let next = ok(anon
        .create("users", sign_up("next@roost.test", PASSWORD), q())
        .await);
    let id = |v: &Value| v["id"].as_i64().unwrap();
    assert!(
        id(&fresh) < id(&taken) && id(&taken) < id(&next),
        "{fresh} {taken} {next}"
    );
    // Nothing was written: one account holds the address, the answer's id names none.
    let holders = ok(admin
        .find("users", json!({"email": "owner@corp.test"}))
        .await);
    assert_eq!(page_ids(&holders), vec![id(&owner)]);
    expect_err(
        admin.get("users", taken["id"].clone(), q()).await,
        "NotFound",
        404,
    );
    let again = srv.client_of(Transport::Rest).await;
    expect_err(
        again
            .authenticate(
                json!({"strategy": "local", "email": "owner@corp.test", "password": squat}),
            )
            .await,
        "NotAuthenticated",
        401,
    );
    // The owner is told, and the attempt is on record (not as a created account).
    let notice = smtp.next_to("owner@corp.test").await;
    assert_eq!(
        notice.subject(),
        Some("Someone tried to use your email address")
    );
    let audit = ok(admin
        .find(
            "events",
            json!({"custom_event": "signup_existing_address", "user_id": owner["id"]}),
        )
        .await);
    assert_eq!(audit["total"], 1, "{audit}");
    // Repeated attempts get the same answer but cannot flood the owner's inbox.
    for _ in 0..5 {
        ok(anon
            .create("users", sign_up("owner@corp.test", squat), q())
            .await);
    }
    // Two more notices (three an hour in all, the first one taken above), then none.
    smtp.next_to("owner@corp.test").await;
    smtp.next_to("owner@corp.test").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(smtp.count_to("owner@corp.test"), 0);
    let created = ok(admin
        .find(
            "events",
            json!({"source_table": "users", "table_id": taken["id"]}),
        )
        .await);
    assert_eq!(created["total"], 0, "{created}");
    srv.login("owner@corp.test", PASSWORD).await;
}
