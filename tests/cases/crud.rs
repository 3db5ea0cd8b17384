//! CRUD on several resources, exactly as a Feathers client app calls them.

use serde_json::{Value, json};

use crate::scenarios;
use crate::support::*;

scenarios!(
    roles_crud,
    users_crud_never_return_passwords,
    access_scopes_are_seeded,
    every_resource_is_findable,
    patch_ignores_id_in_data,
    id_and_query_must_both_match,
    mutations_honour_select,
);

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

async fn roles_crud(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let created = ok(c
        .create(
            "roles",
            json!({"name": "Editors", "slug": "editors", "description": "Edit things"}),
            q(),
        )
        .await);
    let id = id_of(&created);
    assert_eq!(created["name"], "Editors");
    assert_eq!(created["slug"], "editors");
    assert_eq!(created["description"], "Edit things");
    for k in [
        "id",
        "name",
        "slug",
        "description",
        "created_at",
        "updated_at",
    ] {
        assert!(created.get(k).is_some(), "role lacks {k}: {created}");
    }
    assert!(created["created_at"].is_string(), "{created}");

    let got = ok(c.get("roles", id.clone(), q()).await);
    assert_eq!(got, created, "get returns what create returned");

    let page = ok(c.find("roles", json!({"slug": "editors"})).await);
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page_data(&page)[0], created);

    let patched = ok(c
        .patch("roles", id.clone(), json!({"name": "Editors 2"}), q())
        .await);
    assert_eq!(patched["id"], id);
    assert_eq!(patched["name"], "Editors 2");
    assert_eq!(patched["slug"], "editors", "patch merges");
    assert_eq!(patched["description"], "Edit things", "patch merges");
    assert_eq!(patched["created_at"], created["created_at"]);

    let updated = ok(c
        .update(
            "roles",
            id.clone(),
            json!({"slug": "writers", "name": "Writers"}),
            q(),
        )
        .await);
    assert_eq!(updated["id"], id, "update keeps the id");
    assert_eq!(updated["slug"], "writers");
    assert_eq!(updated["name"], "Writers");
    assert_ne!(
        updated["description"],
        json!("Edit things"),
        "update replaces: {updated}"
    );
    assert_eq!(ok(c.get("roles", id.clone(), q()).await), updated);

    let removed = ok(c.remove("roles", id.clone(), q()).await);
    assert_eq!(removed, updated, "remove returns the removed record");
    let e = expect_err(c.get("roles", id.clone(), q()).await, "NotFound", 404);
    assert_eq!(e.message(), format!("No record found for id '{id}'"));
    expect_err(c.remove("roles", id.clone(), q()).await, "NotFound", 404);
    expect_err(
        c.patch("roles", id.clone(), json!({"name": "x"}), q())
            .await,
        "NotFound",
        404,
    );
    expect_err(
        c.update("roles", id, json!({"slug": "x"}), q()).await,
        "NotFound",
        404,
    );
    assert_eq!(
        ok(
            c.find("roles", json!({"slug": {"$in": ["editors", "writers"]}}))
                .await
        )["total"],
        0
    );
}

async fn users_crud_never_return_passwords(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let data = json!({
        "email": "jane@roost.test", "password": PASSWORD, "username": "jane",
        "first_name": "Jane", "middle_name": "Q", "last_name": "Doe",
        "picture": "https://img.test/j.png", "locale": "en", "phone": "+15555550100"
    });
    let user = ok(c.create("users", data, q()).await);
    let id = id_of(&user);
    assert_no_password(&user, PASSWORD);
    for (k, v) in [
        ("email", "jane@roost.test"),
        ("username", "jane"),
        ("first_name", "Jane"),
        ("last_name", "Doe"),
        ("locale", "en"),
    ] {
        assert_eq!(user[k], json!(v), "{k}: {user}");
    }
    for k in ["created_at", "updated_at"] {
        assert!(user.get(k).is_some(), "user lacks {k}: {user}");
    }
    assert_no_password(&ok(c.get("users", id.clone(), q()).await), PASSWORD);
    assert_no_password(&ok(c.find("users", q()).await), PASSWORD);
    assert_no_password(
        &ok(c.find("users", json!({"email": "jane@roost.test"})).await),
        PASSWORD,
    );
    // Asking for the hash explicitly does not reveal it either.
    let e = expect_err(
        c.find("users", json!({"$select": ["password"]})).await,
        "BadRequest",
        400,
    );
    assert_eq!(e.message(), "Unknown field 'password'", "{}", e.body);

    let patched = ok(c
        .patch("users", id.clone(), json!({"first_name": "Janet"}), q())
        .await);
    assert_eq!(patched["first_name"], "Janet");
    assert_eq!(patched["email"], "jane@roost.test");
    assert_no_password(&patched, PASSWORD);

    // A new password works at once and the old one stops working.
    let new_password = "Brand-New-Password-2024";
    let changed = ok(c
        .patch("users", id.clone(), json!({"password": new_password}), q())
        .await);
    assert_no_password(&changed, new_password);
    srv.login("jane@roost.test", new_password).await;
    let e = expect_err(
        srv.client()
            .await
            .authenticate(
                json!({"strategy": "local", "email": "jane@roost.test", "password": PASSWORD}),
            )
            .await,
        "NotAuthenticated",
        401,
    );
    assert_eq!(e.message(), "Invalid login");

    let removed = ok(c.remove("users", id.clone(), q()).await);
    assert_eq!(removed["email"], "jane@roost.test");
    assert_no_password(&removed, new_password);
    expect_err(c.get("users", id, q()).await, "NotFound", 404);
}

async fn access_scopes_are_seeded(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let full = ok(c.get("access_scopes", json!(1), q()).await);
    assert_eq!(full["slug"], "full_access", "{full}");
    let page = ok(c
        .find("access_scopes", json!({"$limit": 50, "$sort": {"id": 1}}))
        .await);
    assert!(page["total"].as_u64().unwrap() >= 39, "{page}");
    let rows = page_data(&page);
    for (i, slug) in SEEDED_SCOPES.iter().enumerate() {
        assert_eq!(rows[i]["id"], json!(i + 1), "seeded id order");
        assert_eq!(rows[i]["slug"], json!(slug), "scope {}", i + 1);
    }
    let by_slug = ok(c
        .find("access_scopes", json!({"slug": "users_read_email"}))
        .await);
    assert_eq!(page_ids(&by_slug), [15]);
}

async fn every_resource_is_findable(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    for path in RESOURCES {
        let page = ok(c.find(path, q()).await);
        assert_page_shape(&page);
        assert_eq!(page["limit"], 10, "{path}: {page}");
        assert_eq!(page["skip"], 0, "{path}: {page}");
        assert_no_password(&page, ADMIN_PASSWORD);
    }
    // The bootstrap admin exists with a full_access role.
    let users = ok(c.find("users", json!({"email": ADMIN_EMAIL})).await);
    assert_eq!(users["total"], 1, "{users}");
    let admin_id = page_data(&users)[0]["id"].clone();
    let links = ok(c.find("user_roles", json!({"user_id": admin_id})).await);
    assert!(
        links["total"].as_u64().unwrap() >= 1,
        "admin holds a role: {links}"
    );
    let role_ids: Vec<Value> = page_field(&links, "role_id");
    let grants = ok(c
        .find(
            "role_access_scopes",
            json!({"role_id": {"$in": role_ids}, "access_scope_id": 1}),
        )
        .await);
    assert!(
        grants["total"].as_u64().unwrap() >= 1,
        "an admin role grants full_access: {grants}"
    );
}

async fn patch_ignores_id_in_data(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let role = ok(c
        .create("roles", json!({"name": "A", "slug": "a-role"}), q())
        .await);
    let patched = ok(c
        .patch(
            "roles",
            role["id"].clone(),
            json!({"id": 987654, "name": "B"}),
            q(),
        )
        .await);
    assert_eq!(patched["id"], role["id"]);
    assert_eq!(patched["name"], "B");
    expect_err(c.get("roles", json!(987654), q()).await, "NotFound", 404);
    let updated = ok(c
        .update(
            "roles",
            role["id"].clone(),
            json!({"id": 987655, "slug": "a-role", "name": "C"}),
            q(),
        )
        .await);
    assert_eq!(updated["id"], role["id"]);
    expect_err(c.get("roles", json!(987655), q()).await, "NotFound", 404);
}

async fn id_and_query_must_both_match(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let role = ok(c
        .create("roles", json!({"name": "Q", "slug": "q-role"}), q())
        .await);
    let id = role["id"].clone();
    assert_eq!(
        ok(c.get("roles", id.clone(), json!({"slug": "q-role"})).await),
        role
    );
    let miss = json!({"slug": "other"});
    expect_err(
        c.get("roles", id.clone(), miss.clone()).await,
        "NotFound",
        404,
    );
    expect_err(
        c.patch(
            "roles",
            id.clone(),
            json!({"name": "changed"}),
            miss.clone(),
        )
        .await,
        "NotFound",
        404,
    );
    expect_err(
        c.update(
            "roles",
            id.clone(),
            json!({"slug": "q-role", "name": "changed"}),
            miss.clone(),
        )
        .await,
        "NotFound",
        404,
    );
    expect_err(c.remove("roles", id.clone(), miss).await, "NotFound", 404);
    assert_eq!(ok(c.get("roles", id, q()).await), role, "nothing changed");
}

async fn mutations_honour_select(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let sel = json!({"$select": ["slug"]});
    let created = ok(c
        .create(
            "roles",
            json!({"name": "S", "slug": "s-role", "description": "d"}),
            sel.clone(),
        )
        .await);
    assert_eq!(keys(&created), ["id", "slug"], "{created}");
    let id = created["id"].clone();
    assert_eq!(
        keys(&ok(c.get("roles", id.clone(), sel.clone()).await)),
        ["id", "slug"]
    );
    let patched = ok(c
        .patch(
            "roles",
            id.clone(),
            json!({"name": "S2"}),
            json!({"$select": ["name"]}),
        )
        .await);
    assert_eq!(patched, json!({"id": id, "name": "S2"}));
    let updated = ok(c
        .update(
            "roles",
            id.clone(),
            json!({"name": "S3", "slug": "s-role"}),
            sel.clone(),
        )
        .await);
    assert_eq!(updated, json!({"id": id, "slug": "s-role"}));
    let removed = ok(c
        .remove("roles", id.clone(), json!({"$select": ["name", "slug"]}))
        .await);
    assert_eq!(keys(&removed), ["id", "name", "slug"]);
}
