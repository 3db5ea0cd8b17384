//! The Feathers query language and pagination, over both transports (REST sends every
//! value as a qs-encoded string; sockets keep JSON types: both must give the same rows).
//!
//! Fixed data: the 39 seeded `access_scopes` (ids 1..39). Every query that could see rows
//! a later migration adds is bounded with `id <= 39`.

use serde_json::{Value, json};

use crate::scenarios;
use crate::support::*;

scenarios!(
    in_and_nin,
    comparison_operators,
    or_and_and,
    like_notlike_ilike,
    boolean_values,
    special_characters_round_trip,
    long_in_list,
    unknown_operators_and_fields_are_bad_requests,
);

/// Seeded scopes (ids 1..39) matching `query`, sorted by id unless `query` has a `$sort`.
/// Rows a later migration adds are filtered out here rather than in the query, so the
/// query keeps its own nesting (qs parses at most 5 levels of brackets).
async fn scope_ids(c: &Conn, mut query: Value) -> Vec<i64> {
    let filters = query.as_object_mut().unwrap();
    if !filters.contains_key("$sort") {
        filters.insert("$sort".into(), json!({"id": 1}));
    }
    filters.insert("$limit".into(), json!(50));
    let page = ok(c.find("access_scopes", query).await);
    page_ids(&page).into_iter().filter(|id| *id <= 39).collect()
}

async fn in_and_nin(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    assert_eq!(
        scope_ids(&c, json!({"id": {"$in": [1, 5, 9]}})).await,
        [1, 5, 9]
    );
    assert_eq!(
        scope_ids(&c, json!({"slug": {"$in": ["roles", "users_read"]}})).await,
        [2, 9]
    );
    assert_eq!(
        scope_ids(&c, json!({"id": {"$in": [999]}})).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        scope_ids(&c, json!({"id": {"$lte": 5, "$nin": [2, 4]}})).await,
        [1, 3, 5]
    );
    assert_eq!(
        scope_ids(&c, json!({"id": {"$lte": 3}, "slug": {"$nin": ["roles"]}})).await,
        [1, 3]
    );
}

async fn comparison_operators(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    assert_eq!(scope_ids(&c, json!({"id": {"$lt": 3}})).await, [1, 2]);
    assert_eq!(scope_ids(&c, json!({"id": {"$lte": 3}})).await, [1, 2, 3]);
    assert_eq!(scope_ids(&c, json!({"id": {"$gt": 37}})).await, [38, 39]);
    assert_eq!(
        scope_ids(&c, json!({"id": {"$gte": 37}})).await,
        [37, 38, 39]
    );
    assert_eq!(
        scope_ids(&c, json!({"id": {"$gt": 2, "$lt": 5}, "$sort": {"id": -1}})).await,
        [4, 3]
    );
    assert_eq!(
        scope_ids(&c, json!({"id": {"$ne": 1, "$lte": 3}})).await,
        [2, 3]
    );
    assert_eq!(
        scope_ids(&c, json!({"slug": {"$ne": "roles"}, "id": {"$lt": 4}})).await,
        [1, 3]
    );
    assert_eq!(scope_ids(&c, json!({"id": 7})).await, [7]);
    assert_eq!(
        scope_ids(&c, json!({"slug": "users_write", "id": 10})).await,
        [10]
    );
    assert_eq!(
        scope_ids(&c, json!({"slug": "users_write", "id": 11})).await,
        Vec::<i64>::new()
    );
}

async fn or_and_and(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    assert_eq!(
        scope_ids(&c, json!({"$or": [{"slug": "full_access"}, {"id": 3}]})).await,
        [1, 3]
    );
    assert_eq!(
        scope_ids(
            &c,
            json!({"$and": [{"id": {"$gte": 2}}, {"id": {"$lte": 4}}]})
        )
        .await,
        [2, 3, 4]
    );
    assert_eq!(
        scope_ids(
            &c,
            json!({"$and": [{"$or": [{"id": 1}, {"id": 2}]}, {"$or": [{"id": 2}, {"id": 3}]}]})
        )
        .await,
        [2]
    );
    assert_eq!(
        scope_ids(
            &c,
            json!({"$or": [{"id": {"$lt": 3}}, {"id": {"$gt": 37}}], "$sort": {"id": -1}})
        )
        .await,
        [39, 38, 2, 1]
    );
    assert_eq!(
        scope_ids(
            &c,
            json!({"$or": [{"id": 1, "slug": "roles"}, {"id": 2, "slug": "roles"}]})
        )
        .await,
        [2],
        "fields inside one $or branch are AND-ed"
    );
    assert_eq!(
        scope_ids(
            &c,
            json!({"id": {"$lt": 10}, "$or": [{"id": 1}, {"id": 20}]})
        )
        .await,
        [1]
    );
}

async fn like_notlike_ilike(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    assert_eq!(
        scope_ids(&c, json!({"slug": {"$like": "users_read%"}})).await,
        [9, 13, 14, 15, 16]
    );
    assert_eq!(
        scope_ids(&c, json!({"slug": {"$like": "%_remove"}})).await,
        [6, 12]
    );
    assert_eq!(
        scope_ids(&c, json!({"slug": {"$notlike": "%s"}, "id": {"$lte": 10}})).await,
        [3, 4, 5, 6, 7, 8, 9, 10]
    );
    assert_eq!(
        scope_ids(
            &c,
            json!({"slug": {"$notlike": "users%"}, "id": {"$lte": 12}})
        )
        .await,
        [1, 2, 3, 4, 5, 6, 7, 8]
    );
    assert_eq!(
        scope_ids(&c, json!({"slug": {"$ilike": "USERS_READ%"}})).await,
        [9, 13, 14, 15, 16]
    );
    assert_eq!(
        scope_ids(&c, json!({"name": {"$ilike": "FULL%"}})).await,
        [1]
    );
}

async fn boolean_values(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    for (slug, nonce) in [("p1", true), ("p2", false), ("p3", true)] {
        ok(c.create(
            "oauth_providers",
            json!({"name": slug, "slug": slug, "nonce": nonce}),
            q(),
        )
        .await);
    }
    let page = ok(c.find("oauth_providers", json!({"nonce": false})).await);
    assert_eq!(page_field(&page, "slug"), ["p2"]);
    let page = ok(c
        .find(
            "oauth_providers",
            json!({"nonce": true, "$sort": {"slug": -1}}),
        )
        .await);
    assert_eq!(page_field(&page, "slug"), ["p3", "p1"]);
    let page = ok(c
        .find("oauth_providers", json!({"nonce": {"$ne": true}}))
        .await);
    assert_eq!(page_field(&page, "slug"), ["p2"]);
    assert_eq!(page_data(&page)[0]["nonce"], json!(false));
}

async fn special_characters_round_trip(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let names = [
        "R&D = 100% sure",
        "a+b c?d#e/f",
        "Ünïcødé [x] {y}",
        "quote ' and \" and \\",
        "$in",
    ];
    for (i, name) in names.iter().enumerate() {
        ok(c.create(
            "access_group_types",
            json!({"slug": format!("s{i}"), "name": name}),
            q(),
        )
        .await);
    }
    for (i, name) in names.iter().enumerate() {
        let page = ok(c.find("access_group_types", json!({"name": name})).await);
        assert_eq!(
            page_field(&page, "slug"),
            [json!(format!("s{i}"))],
            "find by name {name:?}"
        );
        assert_eq!(page_data(&page)[0]["name"], json!(name));
    }
    let page = ok(c
        .find("access_group_types", json!({"name": {"$like": "%100\\%%"}}))
        .await);
    // `\\%` is a literal percent sign: only "R&D = 100% sure" contains "100%".
    assert_eq!(page_field(&page, "slug"), [json!("s0")], "{page}");
}

async fn long_in_list(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    // qs's arrayLimit (20) must not turn a long `$in` into an object.
    let ids: Vec<i64> = (1..=25).collect();
    assert_eq!(
        scope_ids(&c, json!({"id": {"$in": ids}})).await,
        (1..=25).collect::<Vec<_>>()
    );
    let ids: Vec<i64> = (3..=39).collect();
    assert_eq!(scope_ids(&c, json!({"id": {"$nin": ids}})).await, [1, 2]);
}

async fn unknown_operators_and_fields_are_bad_requests(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let bad = [
        json!({"id": {"$foo": 1}}),
        json!({"$foo": 1}),
        json!({"id": {"$regex": ".*"}}),
        json!({"no_such_column": 1}),
        json!({"$sort": {"no_such_column": 1}}),
        json!({"$select": ["no_such_column"]}),
        json!({"$or": [{"no_such_column": 1}]}),
        json!({"id": {"$in": [1], "$where": "1=1"}}),
    ];
    for query in bad {
        let e = expect_err(
            c.find("access_scopes", query.clone()).await,
            "BadRequest",
            400,
        );
        assert!(!e.message().is_empty(), "{query}: {}", e.body);
    }
    let e = expect_err(
        c.find("access_scopes", json!({"id": {"$foo": 1}})).await,
        "BadRequest",
        400,
    );
    assert!(
        e.message().contains("$foo"),
        "names the operator: {}",
        e.body
    );
}
