//! Group roles (DESIGN §4, §5): a role granted in an access group applies inside that
//! group only.

use serde_json::{Value, json};

use crate::scenarios;
use crate::support::roles::role_with;
use crate::support::*;

scenarios!(group_roles_apply_inside_their_group_only);

async fn group_roles_apply_inside_their_group_only(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let kind = ok(admin
        .create(
            "access_group_types",
            json!({"name": "Team", "slug": "team"}),
            q(),
        )
        .await);
    let group = |slug: &str| json!({"type_id": kind["id"], "name": slug, "slug": slug});
    let g1 = ok(admin.create("access_groups", group("g1"), q()).await);
    let g2 = ok(admin.create("access_groups", group("g2"), q()).await);
    let g3 = ok(admin.create("access_groups", group("g3"), q()).await);
    let manager = role_with(
        &admin,
        &[
            "access_groups_read",
            "access_groups_write",
            "user_group_roles_read",
            "user_group_roles_write",
        ],
    )
    .await;
    let reader = role_with(&admin, &["access_groups_read"]).await;
    let member = role_with(&admin, &[]).await;
    let user = srv.create_user(&admin, "lead@roost.test").await;
    let other = srv.create_user(&admin, "member@roost.test").await;
    ok(admin
        .create(
            "user_group_roles",
            json!({"user_id": user["id"], "group_id": g1["id"], "role_id": manager["id"]}),
            q(),
        )
        .await);
    let c = srv.login("lead@roost.test", PASSWORD).await;

    // Inside g1 only.
    ok(c.get("access_groups", g1["id"].clone(), q()).await);
    expect_err(
        c.get("access_groups", g2["id"].clone(), q()).await,
        "NotFound",
        404,
    );
    let page = ok(c.find("access_groups", q()).await);
    assert_eq!(page_ids(&page), [g1["id"].as_i64().unwrap()]);
    ok(c.patch(
        "access_groups",
        g1["id"].clone(),
        json!({"name": "G1"}),
        q(),
    )
    .await);
    expect_err(
        c.patch("access_groups", g2["id"].clone(), json!({"name": "x"}), q())
            .await,
        "NotFound",
        404,
    );
    // Not a global scope.
    expect_err(c.find("roles", q()).await, "Forbidden", 403);
    expect_err(
        c.create("access_groups", group("g4"), q()).await,
        "Forbidden",
        403,
    );
    // Membership management inside g1, not elsewhere; no escalation inside the group.
    ok(c.create(
        "user_group_roles",
        json!({"user_id": other["id"], "group_id": g1["id"], "role_id": member["id"]}),
        q(),
    )
    .await);
    expect_err(
        c.create(
            "user_group_roles",
            json!({"user_id": other["id"], "group_id": g2["id"], "role_id": member["id"]}),
            q(),
        )
        .await,
        "Forbidden",
        403,
    );
    let admin_role = page_data(&ok(admin.find("roles", json!({"slug": "admin"})).await))[0].clone();
    expect_err(
        c.create(
            "user_group_roles",
            json!({"user_id": other["id"], "group_id": g1["id"], "role_id": admin_role["id"]}),
            q(),
        )
        .await,
        "Forbidden",
        403,
    );

    // g2 <- g1 (reader) and g3 <- g2 (reader): members of g1 read g2 and, transitively, g3.
    ok(admin
        .create(
            "group_group_roles",
            json!({"parent_group_id": g2["id"], "child_group_id": g1["id"], "role_id": reader["id"]}),
            q(),
        )
        .await);
    ok(c.get("access_groups", g2["id"].clone(), q()).await);
    expect_err(
        c.patch("access_groups", g2["id"].clone(), json!({"name": "x"}), q())
            .await,
        "NotFound",
        404,
    );
    expect_err(
        c.get("access_groups", g3["id"].clone(), q()).await,
        "NotFound",
        404,
    );
    ok(admin
        .create(
            "group_group_roles",
            json!({"parent_group_id": g3["id"], "child_group_id": g2["id"], "role_id": reader["id"]}),
            q(),
        )
        .await);
    ok(c.get("access_groups", g3["id"].clone(), q()).await);
    let page = ok(c.find("access_groups", json!({"$sort": {"id": 1}})).await);
    assert_eq!(page["total"], 3);
    // explain: by which role and group chain the scope is held.
    let why = ok(c
        .find(
            "authorization/explain",
            json!({"scope": "access_groups_read"}),
        )
        .await);
    assert_eq!(why["granted"], false);
    let chains: Vec<Value> = why["via"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["chain"].clone())
        .collect();
    for chain in [
        json!([g1["id"]]),
        json!([g1["id"], g2["id"]]),
        json!([g1["id"], g2["id"], g3["id"]]),
    ] {
        assert!(chains.contains(&chain), "{chain} in {why}");
    }
    expect_err(
        c.find(
            "authorization/explain",
            json!({"scope": "roles_read", "user_id": other["id"]}),
        )
        .await,
        "Forbidden",
        403,
    );
    let why = ok(admin
        .find(
            "authorization/explain",
            json!({"scope": "roles_read", "user_id": user["id"]}),
        )
        .await);
    assert_eq!((&why["granted"], &why["via"]), (&json!(false), &json!([])));
    let me = ok(admin
        .find("authorization/explain", json!({"scope": "roles_read"}))
        .await);
    assert_eq!(me["granted"], true);
    assert_eq!(me["via"][0]["via"], "role");
    assert_eq!(me["via"][0]["scope"], "full_access");
    // A cycle is rejected.
    expect_err(
        admin
            .create(
                "group_group_roles",
                json!({"parent_group_id": g1["id"], "child_group_id": g3["id"], "role_id": reader["id"]}),
                q(),
            )
            .await,
        "BadRequest",
        400,
    );
}
