//! Authorization of own rows (DESIGN §4): a plain user reads and writes its own user
//! record (a new password, email or phone needs the current password) and only its own
//! sessions and linked providers. Every scenario runs over REST and Socket.IO.

use serde_json::{Value, json};

use crate::scenarios;
use crate::support::*;

scenarios!(
    own_user_record,
    own_password_change_needs_current_password,
    own_sessions_and_providers_only,
);

async fn own_user_record(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let me = srv.create_user(&admin, "self@roost.test").await;
    let other = srv.create_user(&admin, "other@roost.test").await;
    let c = srv.login("self@roost.test", PASSWORD).await;

    let got = ok(c.get("users", me["id"].clone(), q()).await);
    assert_eq!(got["email"], "self@roost.test");
    assert!(
        got.get("joined_date").is_some(),
        "own record is fully visible"
    );
    // Another user's row is not found (its existence is not revealed).
    expect_err(
        c.get("users", other["id"].clone(), q()).await,
        "NotFound",
        404,
    );
    // find is narrowed to the caller's own row, totals included.
    let page = ok(c.find("users", q()).await);
    assert_eq!(page["total"], 1);
    assert_eq!(page_ids(&page), [me["id"].as_i64().unwrap()]);
    let page = ok(c.find("users", json!({"id": other["id"]})).await);
    assert_eq!(page["total"], 0);

    let patched = ok(c
        .patch("users", me["id"].clone(), json!({"first_name": "Me"}), q())
        .await);
    assert_eq!(patched["first_name"], "Me");
    expect_err(
        c.patch(
            "users",
            other["id"].clone(),
            json!({"first_name": "X"}),
            q(),
        )
        .await,
        "NotFound",
        404,
    );
    expect_err(
        c.remove("users", me["id"].clone(), q()).await,
        "Forbidden",
        403,
    );
    let still = ok(admin.get("users", other["id"].clone(), q()).await);
    assert!(still["first_name"].is_null());
}

async fn own_password_change_needs_current_password(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let me = srv.create_user(&admin, "pw@roost.test").await;
    let c = srv.login("pw@roost.test", PASSWORD).await;
    let id = me["id"].clone();
    let new = "Another-Fine-Passphrase-9";
    expect_err(
        c.patch("users", id.clone(), json!({"password": new}), q())
            .await,
        "BadRequest",
        400,
    );
    expect_err(
        c.patch(
            "users",
            id.clone(),
            json!({"password": new, "current_password": "Wrong-Password-123"}),
            q(),
        )
        .await,
        "BadRequest",
        400,
    );
    let done = ok(c
        .patch(
            "users",
            id.clone(),
            json!({"password": new, "current_password": PASSWORD}),
            q(),
        )
        .await);
    assert_no_password(&done, new);
    assert!(done.get("current_password").is_none());
    srv.login("pw@roost.test", new).await;
}

async fn own_sessions_and_providers_only(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let me = srv.create_user(&admin, "own@roost.test").await;
    let other = srv.create_user(&admin, "else@roost.test").await;
    for path in ["auth_sessions", "user_oauth_providers"] {
        let c = srv.login("own@roost.test", PASSWORD).await;
        let (mine, theirs) = if path == "auth_sessions" {
            // Session rows come from logins: a second one of mine, one of theirs.
            srv.login_over(Transport::Rest, "own@roost.test", PASSWORD)
                .await;
            srv.login_over(Transport::Rest, "else@roost.test", PASSWORD)
                .await;
            let last = |user: &Value| {
                let query = json!({"user_id": user["id"], "$sort": {"id": -1}, "$limit": 1});
                let admin = &admin;
                async move { page_data(&ok(admin.find(path, query).await))[0].clone() }
            };
            (last(&me).await, last(&other).await)
        } else {
            let data =
                |user: &Value, n: &str| json!({"user_id": user["id"], "slug": "gh", "sub": n});
            let mine = ok(admin.create(path, data(&me, "mine"), q()).await);
            let theirs = ok(admin.create(path, data(&other, "theirs"), q()).await);
            (mine, theirs)
        };
        let page = ok(c.find(path, q()).await);
        let users: Vec<Value> = page_field(&page, "user_id");
        assert!(!users.is_empty(), "{path}");
        assert!(users.iter().all(|u| *u == me["id"]), "{path}: {page}");
        assert_eq!(page["total"].as_u64(), Some(users.len() as u64));
        let page = ok(c.find(path, json!({"user_id": other["id"]})).await);
        assert_eq!(page["total"], 0, "{path}");
        ok(c.get(path, mine["id"].clone(), q()).await);
        expect_err(
            c.get(path, theirs["id"].clone(), q()).await,
            "NotFound",
            404,
        );
        expect_err(
            c.remove(path, theirs["id"].clone(), q()).await,
            "NotFound",
            404,
        );
        // Only `revoked` can be changed on a session (by its owner too); a link not at all.
        let (name, status) = if path == "auth_sessions" {
            ("BadRequest", 400)
        } else {
            ("Forbidden", 403)
        };
        expect_err(
            c.patch(path, mine["id"].clone(), json!({"title": "x"}), q())
                .await,
            name,
            status,
        );
        ok(c.remove(path, mine["id"].clone(), q()).await);
        ok(admin.get(path, theirs["id"].clone(), q()).await);
    }
}
