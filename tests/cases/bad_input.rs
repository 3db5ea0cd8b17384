//! Bad input over both transports: missing required fields are 400, and nothing a client
//! sends produces a 500 or a malformed error.

use serde_json::json;

use crate::scenarios;
use crate::support::*;

scenarios!(
    missing_required_fields_are_bad_requests,
    bad_inputs_never_give_500,
    nul_characters_are_refused_naming_the_field,
);

/// A NUL character anywhere (login, data, id, query) is a 400 naming the field, on every
/// database: PostgreSQL cannot store one, so it must never reach it.
async fn nul_characters_are_refused_naming_the_field(s: Setup) {
    let srv = s.server().await;
    let anon = srv.client().await;
    let named = |r: Res, field: &str| {
        let e = expect_err(r, "BadRequest", 400);
        assert!(
            e.message().contains(&format!("'{field}'")),
            "{}",
            e.message()
        );
        assert!(e.message().contains("NUL"), "{}", e.message());
    };
    named(
        anon.authenticate(json!({"strategy": "a\u{0}b", "id_token": "x"}))
            .await,
        "strategy",
    );
    named(
        anon.authenticate(json!({"strategy": "local", "email": "a\u{0}@x.com", "password": "p"}))
            .await,
        "email",
    );
    named(
        anon.create("otp", json!({"email": "a\u{0}@x.com"}), q())
            .await,
        "email",
    );
    let admin = srv.admin().await;
    named(admin.find("roles", json!({"slug": "a\u{0}"})).await, "slug");
    named(
        admin
            .find(
                "roles",
                json!({"$or": [{"name": {"$in": ["x", "a\u{0}"]}}]}),
            )
            .await,
        "name",
    );
    named(admin.get("roles", json!("1\u{0}"), q()).await, "id");
    named(
        admin.create("roles", json!({"slug": "s\u{0}"}), q()).await,
        "slug",
    );
    // Nothing was written.
    let roles = ok(admin.find("roles", json!({"slug": {"$like": "s%"}})).await);
    assert_eq!(roles["total"], 0, "{roles}");
}

async fn missing_required_fields_are_bad_requests(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    expect_err(
        c.create("roles", json!({"name": "No slug"}), q()).await,
        "BadRequest",
        400,
    );
    expect_err(c.create("roles", json!({}), q()).await, "BadRequest", 400);
    expect_err(
        c.create("roles", json!({"slug": null}), q()).await,
        "BadRequest",
        400,
    );
    expect_err(
        c.create("users", json!({"email": "np@roost.test"}), q())
            .await,
        "BadRequest",
        400,
    );
    expect_err(
        c.create("users", json!({"password": PASSWORD}), q()).await,
        "BadRequest",
        400,
    );
    expect_err(
        c.create(
            "users",
            json!({"email": "not-an-email", "password": PASSWORD}),
            q(),
        )
        .await,
        "BadRequest",
        400,
    );
    expect_err(
        c.create(
            "access_groups",
            json!({"name": "no type", "slug": "nt"}),
            q(),
        )
        .await,
        "BadRequest",
        400,
    );
    let role = ok(c.create("roles", json!({"slug": "req"}), q()).await);
    expect_err(
        c.update("roles", role["id"].clone(), json!({"name": "no slug"}), q())
            .await,
        "BadRequest",
        400,
    );
    expect_err(
        c.patch("roles", role["id"].clone(), json!({"slug": null}), q())
            .await,
        "BadRequest",
        400,
    );
    assert_eq!(
        ok(c.get("roles", role["id"].clone(), q()).await)["slug"],
        "req"
    );
}

/// Fails when `res` is a 5xx or not a well-formed Feathers error.
#[track_caller]
fn assert_not_500(res: Res, what: &str) {
    if let Err(e) = res {
        assert!(
            e.code() > 0 && e.code() < 500,
            "{what} -> {:?} {}",
            e.status,
            e.body
        );
        e.assert_well_formed();
    }
}

async fn bad_inputs_never_give_500(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let deep = (0..12).fold(json!({"id": 1}), |acc, _| json!({"$or": [acc]}));
    let queries = [
        json!({"$limit": -1}),
        json!({"$limit": "abc"}),
        json!({"$limit": 1.5}),
        json!({"$skip": "x"}),
        json!({"$skip": -5}),
        json!({"$sort": {"id": "sideways"}}),
        json!({"$sort": "id"}),
        json!({"$sort": {"id": {"$gt": 1}}}),
        json!({"$select": "slug"}),
        json!({"$select": {"a": 1}}),
        json!({"id": {"$in": "notarray"}}),
        json!({"id": {"$in": {"a": 1}}}),
        json!({"$or": "x"}),
        json!({"$or": [1, 2]}),
        json!({"$and": {}}),
        deep,
        json!({"id": {"$gt": "abc"}}),
        json!({"id": "abc"}),
        json!({"id": 1e300}),
        json!({"id": "99999999999999999999999"}),
        json!({"created_at": {"$gt": "not a date"}}),
        json!({"slug": {"$like": 5}}),
        json!({"slug": "nul\u{0}byte"}),
        json!({"slug": {"$in": [[1], {"a": 1}]}}),
        json!({"slug": {"a": {"b": 1}}}),
        json!({"": 1}),
        json!({"$": 1}),
        json!({"id": {"$ne": null}, "slug": null}),
        json!({"__proto__": {"x": 1}}),
    ];
    for query in queries {
        assert_not_500(
            c.find("access_scopes", query.clone()).await,
            &format!("find {query}"),
        );
        assert_not_500(
            c.find("users", query.clone()).await,
            &format!("find users {query}"),
        );
        assert_not_500(
            c.get("access_scopes", json!(1), query.clone()).await,
            &format!("get 1 {query}"),
        );
    }
    let data = [
        json!({"slug": 5}),
        json!({"slug": "ok-1", "name": {"nested": true}}),
        json!({"slug": "ok-2", "name": [1, 2]}),
        json!({"slug": "ok-3", "nope": 1}),
        json!({"slug": "ok-4", "id": "abc"}),
        json!({"slug": "ok-5", "created_at": "garbage"}),
        json!({"slug": "x".repeat(10_000)}),
        json!({"slug": "nul\u{0}byte"}),
        json!("just a string"),
        json!(42),
        json!(null),
    ];
    let victim = ok(c.create("roles", json!({"slug": "victim"}), q()).await);
    for d in data {
        let what = d.to_string().chars().take(80).collect::<String>();
        assert_not_500(
            c.create("roles", d.clone(), q()).await,
            &format!("create {what}"),
        );
        assert_not_500(
            c.patch("roles", victim["id"].clone(), d.clone(), q()).await,
            &format!("patch {what}"),
        );
        assert_not_500(
            c.update("roles", victim["id"].clone(), d.clone(), q())
                .await,
            &format!("update {what}"),
        );
    }
    for d in [
        json!({"email": 5, "password": PASSWORD}),
        json!({"email": "x@roost.test", "password": 12345678901234_i64}),
        json!({"email": "y@roost.test", "password": ["a"]}),
    ] {
        assert_not_500(c.create("users", d, q()).await, "create user");
    }
    let injected = c
        .authenticate(
            json!({"strategy": "local", "email": {"$ne": null}, "password": {"$ne": null}}),
        )
        .await
        .expect_err("query operators in login data must not log anyone in");
    assert!(matches!(injected.code(), 400 | 401), "{}", injected.body);
    injected.assert_well_formed();
    assert_not_500(c.authenticate(json!("string")).await, "login with a string");
    assert_not_500(
        c.authenticate(json!({"strategy": 5})).await,
        "login with a numeric strategy",
    );
    // The server still works.
    ok(srv.admin().await.find("roles", q()).await);
}
