//! CRUD on the access-control resources: group types and groups, memberships, users with
//! roles, OAuth providers.

use serde_json::{Value, json};

use crate::scenarios;
use crate::support::*;

scenarios!(
    access_group_types_and_groups,
    full_access_user_can_act,
    group_memberships,
    oauth_provider_secret_is_write_only,
);

async fn access_group_types_and_groups(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let team = ok(c
        .create(
            "access_group_types",
            json!({"name": "Team", "slug": "team", "description": "A team"}),
            q(),
        )
        .await);
    let org = ok(c
        .create(
            "access_group_types",
            json!({"name": "Org", "slug": "org"}),
            q(),
        )
        .await);
    let red = ok(c
        .create(
            "access_groups",
            json!({"type_id": team["id"], "name": "Red", "slug": "red", "description": "r"}),
            q(),
        )
        .await);
    let blue = ok(c
        .create(
            "access_groups",
            json!({"type_id": team["id"], "name": "Blue", "slug": "blue"}),
            q(),
        )
        .await);
    let acme = ok(c
        .create(
            "access_groups",
            json!({"type_id": org["id"], "name": "Acme", "slug": "acme"}),
            q(),
        )
        .await);
    assert_eq!(red["type_id"], team["id"]);
    for k in [
        "id",
        "type_id",
        "name",
        "slug",
        "description",
        "created_at",
        "updated_at",
    ] {
        assert!(red.get(k).is_some(), "group lacks {k}: {red}");
    }
    let teams = ok(c
        .find(
            "access_groups",
            json!({"type_id": team["id"], "$sort": {"name": 1}}),
        )
        .await);
    assert_eq!(teams["total"], 2);
    assert_eq!(page_field(&teams, "name"), [json!("Blue"), json!("Red")]);

    let moved = ok(c
        .patch(
            "access_groups",
            blue["id"].clone(),
            json!({"type_id": org["id"]}),
            q(),
        )
        .await);
    assert_eq!(moved["type_id"], org["id"]);
    let orgs = ok(c
        .find(
            "access_groups",
            json!({"type_id": org["id"], "$sort": {"slug": 1}}),
        )
        .await);
    assert_eq!(page_field(&orgs, "slug"), [json!("acme"), json!("blue")]);

    ok(c.remove("access_groups", acme["id"].clone(), q()).await);
    ok(c.remove("access_groups", blue["id"].clone(), q()).await);
    ok(c.remove("access_groups", red["id"].clone(), q()).await);
    let gone = ok(c
        .remove("access_group_types", team["id"].clone(), q())
        .await);
    assert_eq!(gone["slug"], "team");
    let left = ok(c
        .find(
            "access_group_types",
            json!({"slug": {"$in": ["team", "org"]}}),
        )
        .await);
    assert_eq!(page_field(&left, "slug"), [json!("org")]);
}

async fn full_access_user_can_act(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let user = srv
        .create_full_access_user(&admin, "deputy@roost.test")
        .await;
    let deputy = srv.login("deputy@roost.test", PASSWORD).await;
    let role = ok(deputy
        .create(
            "roles",
            json!({"name": "By deputy", "slug": "by-deputy"}),
            q(),
        )
        .await);
    ok(deputy.remove("roles", role["id"].clone(), q()).await);
    let me = ok(deputy.get("users", user["id"].clone(), q()).await);
    assert_eq!(me["email"], "deputy@roost.test");
    // Without any role a user cannot touch roles.
    srv.create_user(&admin, "nobody@roost.test").await;
    let nobody = srv.login("nobody@roost.test", PASSWORD).await;
    expect_err(
        nobody.create("roles", json!({"slug": "nope"}), q()).await,
        "Forbidden",
        403,
    );
}

async fn group_memberships(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let user = srv.create_user(&c, "member@roost.test").await;
    let role = ok(c
        .create("roles", json!({"name": "Member", "slug": "member"}), q())
        .await);
    let kind = ok(c
        .create(
            "access_group_types",
            json!({"name": "Team", "slug": "team"}),
            q(),
        )
        .await);
    let mut groups = Vec::new();
    for slug in ["g1", "g2", "g3"] {
        groups.push(ok(c
            .create(
                "access_groups",
                json!({"type_id": kind["id"], "name": slug, "slug": slug}),
                q(),
            )
            .await));
    }
    let ugr = ok(c
        .create(
            "user_group_roles",
            json!({"user_id": user["id"], "group_id": groups[0]["id"], "role_id": role["id"]}),
            q(),
        )
        .await);
    assert_eq!(ugr["user_id"], user["id"]);
    assert_eq!(ugr["group_id"], groups[0]["id"]);
    // g1 -> g2 -> g3 (parent, child)
    let link = |p: usize, ch: usize| json!({"parent_group_id": groups[p]["id"], "child_group_id": groups[ch]["id"], "role_id": role["id"]});
    let ggr = ok(c.create("group_group_roles", link(0, 1), q()).await);
    assert_eq!(ggr["parent_group_id"], groups[0]["id"]);
    ok(c.create("group_group_roles", link(1, 2), q()).await);
    // Closing the loop g3 -> g1 is a cycle, and so is a self-link.
    expect_err(
        c.create("group_group_roles", link(2, 0), q()).await,
        "BadRequest",
        400,
    );
    expect_err(
        c.create("group_group_roles", link(1, 1), q()).await,
        "BadRequest",
        400,
    );
    let page = ok(c.find("group_group_roles", q()).await);
    assert_eq!(page["total"], 2, "{page}");
    let mine = ok(c
        .find("user_group_roles", json!({"user_id": user["id"]}))
        .await);
    assert_eq!(page_ids(&mine), [ugr["id"].as_i64().unwrap()]);
}

async fn oauth_provider_secret_is_write_only(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let secret = "very-secret-client-secret-value";
    let p = ok(c
        .create(
            "oauth_providers",
            json!({"name": "Example", "slug": "example", "key": "client-id", "secret": secret, "scope": "openid email", "nonce": true}),
            q(),
        )
        .await);
    assert_eq!(p["slug"], "example");
    assert_eq!(p["key"], "client-id");
    assert_eq!(p["nonce"], true);
    let id = id_of(&p);
    let no_secret = |v: &Value| {
        assert!(!v.to_string().contains(secret), "secret leaked: {v}");
    };
    no_secret(&p);
    assert!(p.get("secret").is_none(), "{p}");
    no_secret(&ok(c.get("oauth_providers", id.clone(), q()).await));
    no_secret(&ok(c.find("oauth_providers", q()).await));
    let e = expect_err(
        c.find("oauth_providers", json!({"$select": ["secret", "slug"]}))
            .await,
        "BadRequest",
        400,
    );
    assert_eq!(e.message(), "Unknown field 'secret'", "{}", e.body);
    no_secret(&e.body);
    no_secret(&ok(c
        .patch(
            "oauth_providers",
            id.clone(),
            json!({"name": "Example 2"}),
            q(),
        )
        .await));
    no_secret(&ok(c.remove("oauth_providers", id, q()).await));
}
