//! Error classes over both transports: 409 for unique violations naming the field, 400
//! for bad foreign keys and bad input, 404 for unknown ids and paths, 405 for multi
//! operations; and no input ever produces a 500.

use serde_json::{Value, json};

use crate::scenarios;
use crate::support::*;

scenarios!(
    unique_violation_is_conflict_naming_the_field,
    foreign_key_violation_is_bad_request,
    wrong_shape_ids_are_not_found,
    unknown_service_is_not_found,
    multi_operations_are_method_not_allowed,
);

#[track_caller]
fn assert_names_field(e: &FeathersError, field: &str) {
    assert!(
        e.body["errors"].get(field).is_some(),
        "409 must name the field in `errors.{field}`: {}",
        e.body
    );
}

async fn unique_violation_is_conflict_naming_the_field(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let first = ok(c
        .create("roles", json!({"name": "One", "slug": "one"}), q())
        .await);
    let e = expect_err(
        c.create("roles", json!({"name": "Two", "slug": "one"}), q())
            .await,
        "Conflict",
        409,
    );
    assert_names_field(&e, "slug");
    // Patching into a taken value is a conflict too, and changes nothing.
    let other = ok(c
        .create("roles", json!({"name": "Other", "slug": "other"}), q())
        .await);
    let e = expect_err(
        c.patch("roles", other["id"].clone(), json!({"slug": "one"}), q())
            .await,
        "Conflict",
        409,
    );
    assert_names_field(&e, "slug");
    assert_eq!(
        ok(c.get("roles", other["id"].clone(), q()).await)["slug"],
        "other"
    );
    let e = expect_err(
        c.update(
            "roles",
            other["id"].clone(),
            json!({"slug": "one", "name": "x"}),
            q(),
        )
        .await,
        "Conflict",
        409,
    );
    assert_names_field(&e, "slug");

    let e = expect_err(
        c.create(
            "users",
            json!({"email": ADMIN_EMAIL, "password": PASSWORD}),
            q(),
        )
        .await,
        "Conflict",
        409,
    );
    assert_names_field(&e, "email");
    assert_no_password(&e.body, PASSWORD);

    ok(c.create("access_group_types", json!({"slug": "team"}), q())
        .await);
    let e = expect_err(
        c.create("access_group_types", json!({"slug": "team"}), q())
            .await,
        "Conflict",
        409,
    );
    assert_names_field(&e, "slug");

    let e = expect_err(
        c.create(
            "access_scopes",
            json!({"name": "Dup", "slug": "full_access"}),
            q(),
        )
        .await,
        "Conflict",
        409,
    );
    assert_names_field(&e, "slug");
    // The original is intact.
    assert_eq!(ok(c.get("roles", first["id"].clone(), q()).await), first);
}

async fn foreign_key_violation_is_bad_request(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    expect_err(
        c.create(
            "access_groups",
            json!({"type_id": 987654, "name": "G", "slug": "g"}),
            q(),
        )
        .await,
        "BadRequest",
        400,
    );
    let kind = ok(c
        .create("access_group_types", json!({"slug": "k"}), q())
        .await);
    let group = ok(c
        .create(
            "access_groups",
            json!({"type_id": kind["id"], "name": "G", "slug": "g"}),
            q(),
        )
        .await);
    expect_err(
        c.patch(
            "access_groups",
            group["id"].clone(),
            json!({"type_id": 987654}),
            q(),
        )
        .await,
        "BadRequest",
        400,
    );
    assert_eq!(
        ok(c.get("access_groups", group["id"].clone(), q()).await)["type_id"],
        kind["id"]
    );
    expect_err(
        c.create("user_roles", json!({"user_id": 987654, "role_id": 1}), q())
            .await,
        "BadRequest",
        400,
    );
    expect_err(
        c.create(
            "role_access_scopes",
            json!({"role_id": 987654, "access_scope_id": 1}),
            q(),
        )
        .await,
        "BadRequest",
        400,
    );
    let role = ok(c.create("roles", json!({"slug": "r"}), q()).await);
    expect_err(
        c.create(
            "role_access_scopes",
            json!({"role_id": role["id"], "access_scope_id": 987654}),
            q(),
        )
        .await,
        "BadRequest",
        400,
    );
    assert_eq!(
        ok(c.find("access_groups", json!({"$limit": 0})).await)["total"],
        1
    );
}

async fn wrong_shape_ids_are_not_found(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let ids = [
        json!("568225fbfe21222432e836ff"),
        json!(123456789),
        json!("abc"),
        json!("1.5"),
        json!(-1),
        json!("99999999999999999999999"),
        json!("1 OR 1=1"),
        json!("%00"),
    ];
    for path in ["roles", "users", "access_scopes", "events"] {
        for id in &ids {
            let e = expect_err(c.get(path, id.clone(), q()).await, "NotFound", 404);
            let shown = rest::id_string(id);
            // Ids needing percent-encoding may be shown decoded or not (Feathers does not decode).
            if rest::encode_uri_component(&shown) == shown {
                assert_eq!(
                    e.message(),
                    format!("No record found for id '{shown}'"),
                    "{path}/{id}"
                );
            }
        }
    }
    for id in &ids {
        expect_err(
            c.patch("roles", id.clone(), json!({"name": "x"}), q())
                .await,
            "NotFound",
            404,
        );
        expect_err(
            c.update("roles", id.clone(), json!({"slug": "x"}), q())
                .await,
            "NotFound",
            404,
        );
        expect_err(c.remove("roles", id.clone(), q()).await, "NotFound", 404);
    }
    assert_eq!(ok(c.find("roles", json!({"slug": "x"})).await)["total"], 0);
}

async fn unknown_service_is_not_found(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    expect_err(c.find("nothing", q()).await, "NotFound", 404);
    expect_err(c.get("nothing", json!(1), q()).await, "NotFound", 404);
    expect_err(c.create("nothing", json!({}), q()).await, "NotFound", 404);
    expect_err(c.find("Roles", q()).await, "NotFound", 404);
    let anon = srv.client().await;
    let e = anon.find("nothing", q()).await.expect_err("unknown path");
    assert!(matches!(e.code(), 401 | 404), "{}", e.body);
    e.assert_well_formed();
}

async fn multi_operations_are_method_not_allowed(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    ok(c.create("roles", json!({"slug": "stay"}), q()).await);
    let e = expect_err(
        c.patch(
            "roles",
            Value::Null,
            json!({"name": "all"}),
            json!({"slug": "stay"}),
        )
        .await,
        "MethodNotAllowed",
        405,
    );
    assert_eq!(e.message(), "Can not patch multiple entries");
    let e = expect_err(
        c.remove("roles", Value::Null, json!({"slug": "stay"}))
            .await,
        "MethodNotAllowed",
        405,
    );
    assert_eq!(e.message(), "Can not remove multiple entries");
    let e = expect_err(
        c.create("roles", json!([{"slug": "m1"}, {"slug": "m2"}]), q())
            .await,
        "MethodNotAllowed",
        405,
    );
    assert_eq!(e.message(), "Can not create multiple entries");
    let e = expect_err(
        c.update("roles", Value::Null, json!({"slug": "all"}), q())
            .await,
        "BadRequest",
        400,
    );
    assert_eq!(
        e.message(),
        "You can not replace multiple instances. Did you mean 'patch'?"
    );
    let page = ok(c
        .find(
            "roles",
            json!({"slug": {"$in": ["stay", "m1", "m2", "all"]}}),
        )
        .await);
    assert_eq!(page_field(&page, "slug"), ["stay"]);
}
