//! Pagination, sorting and selection: `{total, limit, skip, data}`, the default and maximum
//! `$limit`, `$limit: 0`, `$skip`, `$sort` (key order matters) and `$select`.

use serde_json::{Value, json};

use crate::scenarios;
use crate::support::*;

scenarios!(
    pagination_shape_and_default_limit,
    limit_is_capped_at_max,
    limit_zero_counts_only,
    skip_and_sort,
    multi_key_sort_follows_key_order,
    select_returns_id_and_fields,
);

async fn pagination_shape_and_default_limit(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let page = ok(c.find("access_scopes", q()).await);
    assert_page_shape(&page);
    assert_eq!(page["limit"], 10);
    assert_eq!(page["skip"], 0);
    assert!(page["total"].as_u64().unwrap() >= 39);
    assert_eq!(page_data(&page).len(), 10);
    let page = ok(c.find("access_scopes", json!({"$sort": {"id": 1}})).await);
    assert_eq!(page_ids(&page), (1..=10).collect::<Vec<_>>());
    let page = ok(c
        .find(
            "access_scopes",
            json!({"$limit": 3, "$skip": 2, "$sort": {"id": 1}}),
        )
        .await);
    assert_eq!(
        (page["limit"].clone(), page["skip"].clone()),
        (json!(3), json!(2))
    );
    assert_eq!(page_ids(&page), [3, 4, 5]);
    // An empty result is still a page.
    let empty = ok(c.find("access_group_types", q()).await);
    assert_eq!(
        empty,
        json!({"total": 0, "limit": 10, "skip": 0, "data": []})
    );
}

/// `n` access group types with slugs `t00`, `t01`, ...
async fn make_types(c: &Conn, n: usize) -> Vec<Value> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(ok(c
            .create(
                "access_group_types",
                json!({"name": format!("Type {i:02}"), "slug": format!("t{i:02}")}),
                q(),
            )
            .await));
    }
    out
}

async fn limit_is_capped_at_max(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    make_types(&c, 55).await;
    let page = ok(c.find("access_group_types", json!({"$limit": 1000})).await);
    assert_eq!(page["limit"], 50, "{}", page["limit"]);
    assert_eq!(page["total"], 55);
    assert_eq!(page_data(&page).len(), 50);
    let page = ok(c
        .find("access_group_types", json!({"$limit": 51, "$skip": 50}))
        .await);
    assert_eq!(page["limit"], 50);
    assert_eq!(page["skip"], 50);
    assert_eq!(page_data(&page).len(), 5);
    let page = ok(c.find("access_group_types", json!({"$limit": 50})).await);
    assert_eq!(page_data(&page).len(), 50);
}

async fn limit_zero_counts_only(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    make_types(&c, 3).await;
    let page = ok(c.find("access_group_types", json!({"$limit": 0})).await);
    assert_eq!(page, json!({"total": 3, "limit": 0, "skip": 0, "data": []}));
    let page = ok(c
        .find(
            "access_group_types",
            json!({"$limit": 0, "slug": {"$in": ["t00", "t02"]}}),
        )
        .await);
    assert_eq!(page, json!({"total": 2, "limit": 0, "skip": 0, "data": []}));
}

async fn skip_and_sort(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let page = ok(c
        .find(
            "access_scopes",
            json!({"$sort": {"id": 1}, "$skip": 5, "$limit": 3}),
        )
        .await);
    assert_eq!(page_ids(&page), [6, 7, 8]);
    let page = ok(c
        .find(
            "access_scopes",
            json!({"id": {"$lte": 39}, "$sort": {"id": -1}, "$limit": 2}),
        )
        .await);
    assert_eq!(page_ids(&page), [39, 38]);
    let page = ok(c
        .find("access_scopes", json!({"id": {"$lte": 39}, "$skip": 100}))
        .await);
    assert_eq!(page["total"], 39);
    assert_eq!(page_data(&page).len(), 0);
    let page = ok(c
        .find(
            "access_scopes",
            json!({"id": {"$lte": 5}, "$sort": {"slug": 1}}),
        )
        .await);
    assert_eq!(
        page_field(&page, "slug"),
        [
            "full_access",
            "roles",
            "roles_create",
            "roles_read",
            "roles_write"
        ]
    );
    let page = ok(c
        .find(
            "access_scopes",
            json!({"id": {"$lte": 5}, "$sort": {"slug": -1}}),
        )
        .await);
    assert_eq!(
        page_field(&page, "slug"),
        [
            "roles_write",
            "roles_read",
            "roles_create",
            "roles",
            "full_access"
        ]
    );
}

async fn multi_key_sort_follows_key_order(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    for (slug, name, desc) in [
        ("a", "Zed", "x"),
        ("b", "Amy", "y"),
        ("c", "Bob", "x"),
        ("d", "Cid", "y"),
    ] {
        ok(c.create(
            "access_group_types",
            json!({"slug": slug, "name": name, "description": desc}),
            q(),
        )
        .await);
    }
    let page = ok(c
        .find(
            "access_group_types",
            json!({"$sort": {"description": 1, "name": -1}}),
        )
        .await);
    assert_eq!(page_field(&page, "slug"), ["a", "c", "d", "b"]);
    let page = ok(c
        .find(
            "access_group_types",
            json!({"$sort": {"name": -1, "description": 1}}),
        )
        .await);
    assert_eq!(page_field(&page, "slug"), ["a", "d", "c", "b"]);
    let page = ok(c
        .find(
            "access_group_types",
            json!({"$sort": {"description": -1, "name": 1}}),
        )
        .await);
    assert_eq!(page_field(&page, "slug"), ["b", "d", "c", "a"]);
    // Strings compare as strings.
    let page = ok(c
        .find(
            "access_group_types",
            json!({"slug": {"$gt": "b"}, "$sort": {"slug": 1}}),
        )
        .await);
    assert_eq!(page_field(&page, "slug"), ["c", "d"]);
    let page = ok(c
        .find(
            "access_group_types",
            json!({"name": {"$lte": "Bob"}, "$sort": {"name": 1}}),
        )
        .await);
    assert_eq!(page_field(&page, "name"), ["Amy", "Bob"]);
}

async fn select_returns_id_and_fields(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let page = ok(c
        .find(
            "access_scopes",
            json!({"$select": ["slug"], "$sort": {"id": 1}, "$limit": 2}),
        )
        .await);
    assert_eq!(
        page_data(&page),
        [
            json!({"id": 1, "slug": "full_access"}),
            json!({"id": 2, "slug": "roles"})
        ]
    );
    let page = ok(c
        .find(
            "access_scopes",
            json!({"$select": ["name", "slug"], "id": 3}),
        )
        .await);
    let row = &page_data(&page)[0];
    let mut keys: Vec<&String> = row.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["id", "name", "slug"]);
    let got = ok(c
        .get("access_scopes", json!(1), json!({"$select": ["slug"]}))
        .await);
    assert_eq!(got, json!({"id": 1, "slug": "full_access"}));
}
