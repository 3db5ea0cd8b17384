//! Role and scope fixtures, made through the API as an admin: a role holding exactly some
//! scopes, a grant, a user holding exactly some scopes, a role's scopes replaced. Shared
//! by the authorization and escalation scenarios.

use serde_json::{Value, json};

use super::{Client, TestServer, ok, page_data, q};

/// The id of the access scope `slug`.
pub async fn scope_id(admin: &impl Client, slug: &str) -> Value {
    let page = ok(admin.find("access_scopes", json!({"slug": slug})).await);
    let data = page_data(&page);
    assert_eq!(data.len(), 1, "scope {slug}");
    data[0]["id"].clone()
}

/// A role holding exactly `slugs`.
pub async fn role_with(admin: &impl Client, slugs: &[&str]) -> Value {
    let slug = format!("r-{}", uuid::Uuid::new_v4().simple());
    let role = ok(admin
        .create(
            "roles",
            json!({"name": slug, "slug": slug, "description": "test"}),
            q(),
        )
        .await);
    for s in slugs {
        let scope = scope_id(admin, s).await;
        ok(admin
            .create(
                "role_access_scopes",
                json!({"role_id": role["id"], "access_scope_id": scope}),
                q(),
            )
            .await);
    }
    role
}

/// Grants `role` to `user`; returns the `user_roles` row.
pub async fn grant(admin: &impl Client, user: &Value, role: &Value) -> Value {
    ok(admin
        .create(
            "user_roles",
            json!({"user_id": user["id"], "role_id": role["id"]}),
            q(),
        )
        .await)
}

/// Creates a user holding exactly `slugs` (through a fresh role); returns the record.
pub async fn user_with(
    srv: &TestServer,
    admin: &impl Client,
    email: &str,
    slugs: &[&str],
) -> Value {
    let user = srv.create_user(admin, email).await;
    if !slugs.is_empty() {
        let role = role_with(admin, slugs).await;
        grant(admin, &user, &role).await;
    }
    user
}

/// Replaces the scopes of `role` with `slugs`.
pub async fn set_role_scopes(admin: &impl Client, role: &Value, slugs: &[&str]) {
    let rows = ok(admin
        .find("role_access_scopes", json!({"role_id": role["id"]}))
        .await);
    for row in page_data(&rows) {
        ok(admin
            .remove("role_access_scopes", row["id"].clone(), q())
            .await);
    }
    for s in slugs {
        let scope = scope_id(admin, s).await;
        ok(admin
            .create(
                "role_access_scopes",
                json!({"role_id": role["id"], "access_scope_id": scope}),
                q(),
            )
            .await);
    }
}

/// The sorted keys of an object (`[]` for anything else).
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}
