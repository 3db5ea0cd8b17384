//! The attack review's escalation findings (issue 9), each a scenario over REST and
//! Socket.IO on SQLite and PostgreSQL: ids in other spellings, scope renames, rights
//! brought by group links, `/v1/users` fields, `update` of unwritable fields, 403 vs 404,
//! own session revocation and text bounds. The property test over random grant writes is
//! in `escalation_property.rs`.

use serde_json::{Value, json};

use crate::scenarios;
use crate::support::roles::{grant, role_with, scope_id, user_with};
use crate::support::*;

scenarios!(
    unusual_id_spellings_grant_nothing_unheld,
    scope_slugs_are_identities,
    group_membership_is_judged_with_its_links,
    revoking_needs_what_the_grant_confers,
    v1_users_shows_no_more_than_users,
    update_keeps_fields_the_caller_may_not_write,
    readable_rows_answer_403_and_hidden_ones_404,
    users_revoke_their_own_sessions,
    session_rows_are_written_by_logins_only,
    text_values_are_bounded,
);

/// The role the bootstrap administrator holds (it carries `full_access`).
async fn admin_role(admin: &impl Client) -> Value {
    let me = ok(admin.find("users", json!({"email": ADMIN_EMAIL})).await);
    let me = page_data(&me)[0]["id"].clone();
    let rows = ok(admin.find("user_roles", json!({"user_id": me})).await);
    page_data(&rows)[0]["role_id"].clone()
}

/// The scope slugs `user` holds, as the server computes them.
async fn held(srv: &TestServer, user: &Value) -> Vec<String> {
    let db = roost::service::Db::Pool(&srv.app().db);
    let scopes = roost::auth::scopes::load(db, user["id"].as_i64().unwrap())
        .await
        .unwrap();
    scopes.slugs().map(str::to_string).collect()
}

/// Ids in every spelling a transport can carry for row `id`: each is refused when it would
/// grant what the caller lacks, exactly as the plain number is.
fn spellings(id: i64) -> Vec<Value> {
    vec![
        json!(id),
        json!(format!("{id} ")),
        json!(format!(" {id}")),
        json!(id as f64),
        json!(format!("0{id}")),
        json!(format!("+{id}")),
    ]
}

async fn unusual_id_spellings_grant_nothing_unheld(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let top = admin_role(&admin).await.as_i64().unwrap();
    let full = scope_id(&admin, "full_access").await.as_i64().unwrap();
    let delegate = user_with(
        &srv,
        &admin,
        "delegate@roost.test",
        &[
            "user_roles_read",
            "user_roles_write",
            "role_scopes_read",
            "role_scopes_write",
            "user_group_roles_read",
            "user_group_roles_write",
        ],
    )
    .await;
    let own_role = page_data(&ok(admin
        .find("user_roles", json!({"user_id": delegate["id"]}))
        .await))[0]["role_id"]
        .clone();
    let kind = ok(admin
        .create("access_group_types", json!({"name": "T", "slug": "t"}), q())
        .await);
    let group = ok(admin
        .create(
            "access_groups",
            json!({"type_id": kind["id"], "name": "g", "slug": "g"}),
            q(),
        )
        .await);
    let c = srv.login("delegate@roost.test", PASSWORD).await;
    let before = held(&srv, &delegate).await;
    for id in spellings(top) {
        let data = json!({"user_id": delegate["id"], "role_id": id});
        expect_err(c.create("user_roles", data, q()).await, "Forbidden", 403);
        let data = json!({"user_id": delegate["id"], "group_id": group["id"], "role_id": id});
        expect_err(
            c.create("user_group_roles", data, q()).await,
            "Forbidden",
            403,
        );
    }
    for id in spellings(full) {
        let data = json!({"role_id": own_role, "access_scope_id": id});
        expect_err(
            c.create("role_access_scopes", data, q()).await,
            "Forbidden",
            403,
        );
    }
    // A held grant moved onto the top role through patch and update: refused too.
    let mine = page_data(&ok(c
        .find("user_roles", json!({"user_id": delegate["id"]}))
        .await))[0]
        .clone();
    for id in spellings(top) {
        expect_err(
            c.patch(
                "user_roles",
                mine["id"].clone(),
                json!({"role_id": id}),
                q(),
            )
            .await,
            "Forbidden",
            403,
        );
        let data = json!({"user_id": delegate["id"], "role_id": id});
        expect_err(
            c.update("user_roles", mine["id"].clone(), data, q()).await,
            "Forbidden",
            403,
        );
    }
    // Spellings that name no integer are refused as such, never let through.
    for bad in [json!("1.5"), json!("one"), json!([1]), json!({"$gt": 0})] {
        let data = json!({"user_id": delegate["id"], "role_id": bad});
        expect_err(c.create("user_roles", data, q()).await, "BadRequest", 400);
    }
    assert_eq!(held(&srv, &delegate).await, before);
    assert!(!before.contains(&"full_access".to_string()));
    // What the caller holds, it may grant, whatever the spelling.
    let lesser = role_with(&admin, &["user_roles_read"]).await;
    let other = srv.create_user(&admin, "other@roost.test").await;
    let spelled = json!(format!(" {} ", lesser["id"]));
    let row = ok(c
        .create(
            "user_roles",
            json!({"user_id": other["id"], "role_id": spelled}),
            q(),
        )
        .await);
    assert_eq!(row["role_id"], lesser["id"]);
}

async fn scope_slugs_are_identities(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    user_with(
        &srv,
        &admin,
        "scopes@roost.test",
        &["scopes_read", "scopes_write"],
    )
    .await;
    let c = srv.login("scopes@roost.test", PASSWORD).await;
    let full = scope_id(&admin, "full_access").await;
    let held = scope_id(&admin, "scopes_read").await;
    let refused = |r: Res| {
        let e = expect_err(r, "Forbidden", 403);
        assert!(e.message().contains("full_access"), "{}", e.message());
    };
    refused(
        c.patch(
            "access_scopes",
            full.clone(),
            json!({"slug": "fa_old"}),
            q(),
        )
        .await,
    );
    refused(
        c.patch(
            "access_scopes",
            held.clone(),
            json!({"slug": "full_access"}),
            q(),
        )
        .await,
    );
    refused(
        c.update(
            "access_scopes",
            held.clone(),
            json!({"slug": "other_slug", "name": "x"}),
            q(),
        )
        .await,
    );
    refused(c.remove("access_scopes", held.clone(), q()).await);
    // Describing a scope is not renaming it.
    let described = ok(c
        .patch(
            "access_scopes",
            held.clone(),
            json!({"description": "Read scopes"}),
            q(),
        )
        .await);
    assert_eq!(described["slug"], "scopes_read");
    let created = ok(c
        .create(
            "access_scopes",
            json!({"slug": "reports_read", "name": "R"}),
            q(),
        )
        .await);
    refused(
        c.patch(
            "access_scopes",
            created["id"].clone(),
            json!({"slug": "x"}),
            q(),
        )
        .await,
    );
    // Nothing changed; full_access still names scope 1 and the admin still holds it.
    let slug = ok(admin.get("access_scopes", full.clone(), q()).await)["slug"].clone();
    assert_eq!(slug, "full_access");
    ok(admin.find("roles", q()).await);
    // full_access itself may rename.
    ok(admin
        .patch(
            "access_scopes",
            created["id"].clone(),
            json!({"slug": "reports"}),
            q(),
        )
        .await);
}

async fn group_membership_is_judged_with_its_links(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let kind = ok(admin
        .create("access_group_types", json!({"name": "T", "slug": "t"}), q())
        .await);
    let group = |slug: &str| json!({"type_id": kind["id"], "name": slug, "slug": slug});
    let parent = ok(admin.create("access_groups", group("q"), q()).await);
    let child = ok(admin.create("access_groups", group("p"), q()).await);
    let powerful = role_with(&admin, &["full_access"]).await;
    ok(admin
        .create(
            "group_group_roles",
            json!({"parent_group_id": parent["id"], "child_group_id": child["id"],
                   "role_id": powerful["id"]}),
            q(),
        )
        .await);
    let empty = role_with(&admin, &[]).await;
    let joiner = user_with(
        &srv,
        &admin,
        "joiner@roost.test",
        &["user_group_roles_read", "user_group_roles_write"],
    )
    .await;
    let c = srv.login("joiner@roost.test", PASSWORD).await;
    let join = json!({"user_id": joiner["id"], "group_id": child["id"], "role_id": empty["id"]});
    expect_err(
        c.create("user_group_roles", join.clone(), q()).await,
        "Forbidden",
        403,
    );
    expect_err(
        c.patch(
            "access_groups",
            parent["id"].clone(),
            json!({"name": "mine"}),
            q(),
        )
        .await,
        "Forbidden",
        403,
    );
    // A group without links: joining with an empty role is fine.
    let lone = ok(admin.create("access_groups", group("lone"), q()).await);
    ok(c.create(
        "user_group_roles",
        json!({"user_id": joiner["id"], "group_id": lone["id"], "role_id": empty["id"]}),
        q(),
    )
    .await);
    // Links are judged the same way: a link conferring what the caller lacks is refused.
    user_with(
        &srv,
        &admin,
        "linker@roost.test",
        &["group_group_roles_read", "group_group_roles_write"],
    )
    .await;
    let l = srv.login("linker@roost.test", PASSWORD).await;
    let link = json!({"parent_group_id": lone["id"], "child_group_id": child["id"],
                      "role_id": powerful["id"]});
    expect_err(
        l.create("group_group_roles", link, q()).await,
        "Forbidden",
        403,
    );
    let link = json!({"parent_group_id": lone["id"], "child_group_id": child["id"],
                      "role_id": empty["id"]});
    // Linking `lone` under nothing powerful: the parent `lone` has no links above it.
    ok(l.create("group_group_roles", link, q()).await);
}

async fn revoking_needs_what_the_grant_confers(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let top = admin_role(&admin).await;
    user_with(
        &srv,
        &admin,
        "revoker@roost.test",
        &[
            "user_roles_read",
            "user_roles_write",
            "roles",
            "role_scopes_read",
            "role_scopes_write",
        ],
    )
    .await;
    let c = srv.login("revoker@roost.test", PASSWORD).await;
    let admin_grant =
        page_data(&ok(admin.find("user_roles", json!({"role_id": top})).await))[0].clone();
    expect_err(
        c.remove("user_roles", admin_grant["id"].clone(), q()).await,
        "Forbidden",
        403,
    );
    expect_err(c.remove("roles", top.clone(), q()).await, "Forbidden", 403);
    let full_row = page_data(&ok(admin
        .find("role_access_scopes", json!({"role_id": top}))
        .await))[0]
        .clone();
    expect_err(
        c.remove("role_access_scopes", full_row["id"].clone(), q())
            .await,
        "Forbidden",
        403,
    );
    // The administrator still holds everything.
    ok(admin.find("events", q()).await);
    // A grant the caller could make, it may also revoke.
    let lesser = role_with(&admin, &["user_roles_read"]).await;
    let other = srv.create_user(&admin, "revoked@roost.test").await;
    let row = grant(&admin, &other, &lesser).await;
    ok(c.remove("user_roles", row["id"].clone(), q()).await);
}

async fn v1_users_shows_no_more_than_users(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let reader = user_with(&srv, &admin, "reader@roost.test", &["users_read"]).await;
    let c = srv.login("reader@roost.test", PASSWORD).await;
    let page = ok(c.find("v1/users", json!({"page_size": 50})).await);
    let users = page["users"].as_array().unwrap();
    assert!(users.len() >= 2);
    for user in users {
        let own = user["_id"] == json!(reader["id"].to_string());
        for hidden in [
            "name",
            "email",
            "invited_by",
            "invited_date",
            "joined_date",
            "updated_by",
        ] {
            if !own {
                assert_eq!(user[hidden], Value::Null, "{hidden} of {}", user["_id"]);
            }
        }
        if !own {
            assert_eq!(user["role"], Value::Null, "role of {}", user["_id"]);
        }
    }
    let me = users
        .iter()
        .find(|u| u["_id"] == json!(reader["id"].to_string()))
        .unwrap();
    assert_eq!(me["email"], "reader@roost.test");
    assert!(me["role"]["permissions"].is_array());
    // Who holds which role needs user_roles_read; the role's scopes need roles_read.
    user_with(
        &srv,
        &admin,
        "roles-reader@roost.test",
        &["users_read", "user_roles_read"],
    )
    .await;
    let r = srv.login("roles-reader@roost.test", PASSWORD).await;
    let page = ok(r.find("v1/users", json!({"page_size": 50})).await);
    let admin_row = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["_id"] == "1")
        .unwrap()
        .clone();
    assert!(admin_row["role"]["name"].is_string(), "{admin_row}");
    assert_eq!(admin_row["role"]["permissions"], Value::Null);
}

async fn update_keeps_fields_the_caller_may_not_write(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let target = ok(admin
        .create(
            "users",
            json!({"email": "kept@roost.test", "password": PASSWORD, "username": "kept",
                   "first_name": "Kay", "phone": "+15550001111", "picture": "https://p/k.png"}),
            q(),
        )
        .await);
    user_with(
        &srv,
        &admin,
        "writer@roost.test",
        &[
            "users_read",
            "users_write",
            "users_write_email",
            "users_write_password",
        ],
    )
    .await;
    let c = srv.login("writer@roost.test", PASSWORD).await;
    ok(c.update(
        "users",
        target["id"].clone(),
        json!({"email": "moved@roost.test", "password": "Another-Long-Passphrase-9"}),
        q(),
    )
    .await);
    let after = ok(admin.get("users", target["id"].clone(), q()).await);
    assert_eq!(after["email"], "moved@roost.test");
    for field in ["username", "first_name", "phone", "picture"] {
        assert_eq!(after[field], target[field], "{field} was reset");
    }
    // Sent, a field the caller may not write is refused, and nothing changes.
    expect_err(
        c.update(
            "users",
            target["id"].clone(),
            json!({"email": "x@roost.test", "password": "Another-Long-Passphrase-9", "phone": "+1"}),
            q(),
        )
        .await,
        "Forbidden",
        403,
    );
    let unchanged = ok(admin.get("users", target["id"].clone(), q()).await);
    assert_eq!(unchanged["email"], "moved@roost.test");
    assert_eq!(unchanged["phone"], target["phone"]);
}

async fn readable_rows_answer_403_and_hidden_ones_404(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let other = srv.create_user(&admin, "someone@roost.test").await;
    user_with(&srv, &admin, "looker@roost.test", &["users_read"]).await;
    srv.create_user(&admin, "plain@roost.test").await;
    let looker = srv.login("looker@roost.test", PASSWORD).await;
    let plain = srv.login("plain@roost.test", PASSWORD).await;
    let data = json!({"first_name": "X"});
    expect_err(
        looker
            .patch("users", other["id"].clone(), data.clone(), q())
            .await,
        "Forbidden",
        403,
    );
    expect_err(
        plain
            .patch("users", other["id"].clone(), data.clone(), q())
            .await,
        "NotFound",
        404,
    );
    // A row that does not exist is 404 for both.
    expect_err(
        looker
            .patch("users", json!(999_999), data.clone(), q())
            .await,
        "NotFound",
        404,
    );
    let unchanged = ok(admin.get("users", other["id"].clone(), q()).await);
    assert_eq!(unchanged["first_name"], Value::Null);
}

async fn users_revoke_their_own_sessions(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let user = srv.create_user(&admin, "revokes@roost.test").await;
    let c = srv.login("revokes@roost.test", PASSWORD).await;
    let second = srv
        .login_over(Transport::Rest, "revokes@roost.test", PASSWORD)
        .await;
    let sessions = page_data(&ok(c.find("auth_sessions", q()).await));
    assert_eq!(sessions.len(), 2);
    // The later session is the second login's.
    let all = page_data(&ok(admin
        .find(
            "auth_sessions",
            json!({"user_id": user["id"], "$sort": {"id": 1}}),
        )
        .await));
    let other_session = all.last().unwrap()["id"].clone();
    let revoked = ok(c
        .patch(
            "auth_sessions",
            other_session.clone(),
            json!({"revoked": true}),
            q(),
        )
        .await);
    assert_eq!(revoked["revoked"], true);
    expect_err(second.find("users", q()).await, "NotAuthenticated", 401);
    // Once revoked, always revoked.
    let e = expect_err(
        c.patch(
            "auth_sessions",
            other_session.clone(),
            json!({"revoked": false}),
            q(),
        )
        .await,
        "BadRequest",
        400,
    );
    assert!(e.message().contains("revoked"), "{}", e.message());
    expect_err(second.find("users", q()).await, "NotAuthenticated", 401);
    // Another user's session: not visible, so 404.
    let theirs = page_data(&ok(admin
        .find("auth_sessions", json!({"user_id": {"$ne": user["id"]}}))
        .await))[0]["id"]
        .clone();
    expect_err(
        c.patch("auth_sessions", theirs, json!({"revoked": true}), q())
            .await,
        "NotFound",
        404,
    );
}

async fn session_rows_are_written_by_logins_only(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let victim = srv.create_user(&admin, "victim@roost.test").await;
    // REST: a revoked socket is disconnected (tested in sessions.rs); here the token is.
    let c = srv
        .login_over(Transport::Rest, "victim@roost.test", PASSWORD)
        .await;
    let row = json!({"user_id": victim["id"], "ip": "1.2.3.4"});
    expect_err(
        admin.create("auth_sessions", row.clone(), q()).await,
        "MethodNotAllowed",
        405,
    );
    let session = page_data(&ok(admin
        .find("auth_sessions", json!({"user_id": victim["id"]}))
        .await))[0]
        .clone();
    expect_err(
        admin
            .update("auth_sessions", session["id"].clone(), row, q())
            .await,
        "MethodNotAllowed",
        405,
    );
    // Even full_access cannot undo a revocation or rewrite who and where.
    ok(admin
        .patch(
            "auth_sessions",
            session["id"].clone(),
            json!({"revoked": true}),
            q(),
        )
        .await);
    expect_err(
        admin
            .patch(
                "auth_sessions",
                session["id"].clone(),
                json!({"revoked": false}),
                q(),
            )
            .await,
        "BadRequest",
        400,
    );
    expect_err(c.find("users", q()).await, "NotAuthenticated", 401);
    for field in ["user_id", "ip", "auth_provider", "title"] {
        let e = expect_err(
            admin
                .patch(
                    "auth_sessions",
                    session["id"].clone(),
                    json!({field: "1"}),
                    q(),
                )
                .await,
            "BadRequest",
            400,
        );
        assert!(e.message().contains(field), "{}", e.message());
    }
    let unchanged = ok(admin.get("auth_sessions", session["id"].clone(), q()).await);
    for field in ["user_id", "ip", "auth_provider", "title"] {
        assert_eq!(unchanged[field], session[field], "{field}");
    }
}

async fn text_values_are_bounded(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let user = srv.create_user(&admin, "bounded@roost.test").await;
    let long: String = (0..1_500)
        .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
        .collect();
    let e = expect_err(
        admin
            .patch(
                "users",
                user["id"].clone(),
                json!({"first_name": long}),
                q(),
            )
            .await,
        "BadRequest",
        400,
    );
    assert!(e.message().contains("'first_name'"), "{}", e.message());
    let e = expect_err(
        admin
            .patch(
                "users",
                user["id"].clone(),
                json!({"username": &long[..300]}),
                q(),
            )
            .await,
        "BadRequest",
        400,
    );
    assert!(e.message().contains("'username'"), "{}", e.message());
    // At the bound it is stored.
    let fits: String = long.chars().take(1_024).collect();
    let stored = ok(admin
        .patch(
            "users",
            user["id"].clone(),
            json!({"first_name": fits.clone()}),
            q(),
        )
        .await);
    assert_eq!(stored["first_name"], json!(fits));
}
