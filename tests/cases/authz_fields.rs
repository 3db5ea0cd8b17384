//! Authorization of `users` fields (DESIGN §4, §5): read scopes shape what is returned,
//! hidden fields cannot be filtered or sorted on, and writing another user's fields
//! needs field scopes.

use serde_json::json;

use crate::scenarios;
use crate::support::roles::{keys, user_with};
use crate::support::*;

scenarios!(
    user_fields_are_shaped_by_read_scopes,
    hidden_fields_cannot_be_filtered_or_sorted,
    writing_another_users_fields_needs_field_scopes,
);

async fn user_fields_are_shaped_by_read_scopes(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let target = ok(admin
        .create(
            "users",
            json!({"email": "target@roost.test", "password": PASSWORD, "username": "tgt",
                "first_name": "T", "last_name": "G", "phone": "+15550001", "picture": "p.png",
                "locale": "en"}),
            q(),
        )
        .await);
    let id = target["id"].clone();
    let base = ["created_at", "id", "locale", "updated_at", "username"];

    user_with(&srv, &admin, "r1@roost.test", &["users_read"]).await;
    let c = srv.login("r1@roost.test", PASSWORD).await;
    assert_eq!(keys(&ok(c.get("users", id.clone(), q()).await)), base);
    let page = ok(c.find("users", json!({"id": id})).await);
    assert_eq!(keys(&page_data(&page)[0]), base);
    // $select cannot widen it.
    let page = ok(c
        .find("users", json!({"id": id, "$select": ["id", "email"]}))
        .await);
    assert_eq!(keys(&page_data(&page)[0]), ["id"]);

    user_with(
        &srv,
        &admin,
        "r2@roost.test",
        &["users_read", "users_read_full_name", "users_read_email"],
    )
    .await;
    let c2 = srv.login("r2@roost.test", PASSWORD).await;
    let got = ok(c2.get("users", id.clone(), q()).await);
    assert_eq!(got["first_name"], "T");
    assert_eq!(got["email"], "target@roost.test");
    assert!(got.get("phone").is_none() && got.get("picture").is_none());

    user_with(
        &srv,
        &admin,
        "r3@roost.test",
        &["users_read", "users_read_phone", "users_read_picture"],
    )
    .await;
    let c3 = srv.login("r3@roost.test", PASSWORD).await;
    let got = ok(c3.get("users", id.clone(), q()).await);
    assert_eq!(
        (&got["phone"], &got["picture"]),
        (&json!("+15550001"), &json!("p.png"))
    );
    assert!(got.get("email").is_none() && got.get("first_name").is_none());

    // full_access sees every field.
    let got = ok(admin.get("users", id.clone(), q()).await);
    assert_eq!(got["email"], "target@roost.test");
    assert!(got.get("joined_date").is_some());
}

async fn hidden_fields_cannot_be_filtered_or_sorted(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    srv.create_user(&admin, "secretive@roost.test").await;
    user_with(&srv, &admin, "probe@roost.test", &["users_read"]).await;
    let c = srv.login("probe@roost.test", PASSWORD).await;
    for query in [
        json!({"email": "secretive@roost.test"}),
        json!({"email": {"$in": ["secretive@roost.test"]}}),
        json!({"$sort": {"email": 1}}),
        json!({"$or": [{"username": "x"}, {"phone": {"$ne": null}}]}),
        json!({"first_name": {"$like": "a%"}}),
    ] {
        expect_err(c.find("users", query.clone()).await, "BadRequest", 400);
    }
    ok(
        c.find("users", json!({"$sort": {"username": 1}, "locale": "en"}))
            .await,
    );
    // With the field scope the filter is allowed.
    user_with(
        &srv,
        &admin,
        "probe2@roost.test",
        &["users_read", "users_read_email"],
    )
    .await;
    let c2 = srv.login("probe2@roost.test", PASSWORD).await;
    let page = ok(c2
        .find("users", json!({"email": "secretive@roost.test"}))
        .await);
    assert_eq!(page["total"], 1);
}

async fn writing_another_users_fields_needs_field_scopes(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let target = srv.create_user(&admin, "victim@roost.test").await;
    let id = target["id"].clone();
    user_with(
        &srv,
        &admin,
        "w1@roost.test",
        &["users_write", "users_read"],
    )
    .await;
    let c = srv.login("w1@roost.test", PASSWORD).await;
    ok(c.patch("users", id.clone(), json!({"locale": "fr"}), q())
        .await);
    for data in [
        json!({"first_name": "X"}),
        json!({"email": "x@roost.test"}),
        json!({"password": "Stolen-Password-Horse-1"}),
        json!({"phone": "+1555"}),
        json!({"username": "x"}),
        json!({"picture": "x"}),
    ] {
        expect_err(
            c.patch("users", id.clone(), data, q()).await,
            "Forbidden",
            403,
        );
    }
    user_with(
        &srv,
        &admin,
        "w2@roost.test",
        &[
            "users_write",
            "users_write_full_name",
            "users_write_password",
        ],
    )
    .await;
    let c2 = srv.login("w2@roost.test", PASSWORD).await;
    ok(c2
        .patch("users", id.clone(), json!({"first_name": "Y"}), q())
        .await);
    ok(c2
        .patch(
            "users",
            id.clone(),
            json!({"password": "Reset-By-Helpdesk-42x"}),
            q(),
        )
        .await);
    srv.login("victim@roost.test", "Reset-By-Helpdesk-42x")
        .await;
}
