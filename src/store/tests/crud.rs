//! CRUD, errors, queries and the `people` table through SqlService (run on SQLite here and
//! on PostgreSQL by `postgres_when_configured`).

use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

use super::{Svc, paged, roles_table, sqlite};
use crate::service::Policy;
use crate::store::*;

#[tokio::test]
async fn crud_errors_and_queries_on_sqlite() {
    let db = sqlite().await;
    crud_errors_and_queries(&db).await;
}

pub(super) async fn crud_errors_and_queries(db: &DatabaseConnection) {
    let service = paged(SqlService::new(roles_table(), Policy::public()));
    let s = Svc {
        db: crate::service::Database::new(db.clone()),
        service: &service,
        path: "roles",
        effects: Default::default(),
    };
    let created = s
        .create(
            json!({"name": "Editors", "slug": "editors", "description": "d", "id": 5}),
            json!({"$foo": 1}),
        )
        .await
        .unwrap();
    let id = created["id"].clone();
    assert!(id.is_i64());
    assert_eq!(s.get(id.clone(), json!({})).await.unwrap(), created);
    assert_eq!(
        s.get(json!(id.to_string()), json!({"slug": "editors"}))
            .await
            .unwrap(),
        created
    );
    for bad in [
        json!("568225fbfe21222432e836ff"),
        json!("abc"),
        json!("1.5"),
        json!(123456789),
        json!(true),
    ] {
        let e = s.get(bad.clone(), json!({})).await.unwrap_err();
        assert_eq!(e.code(), 404, "{bad}");
        assert_eq!(
            e.message,
            format!("No record found for id '{}'", id_display(&bad))
        );
    }
    assert_eq!(
        s.get(id.clone(), json!({"slug": "other"}))
            .await
            .unwrap_err()
            .code(),
        404
    );

    let patched = s
        .patch(
            Some(id.clone()),
            json!({"name": "E2", "id": 99}),
            json!({"$select": ["name"]}),
        )
        .await
        .unwrap();
    assert_eq!(patched, json!({"id": id, "name": "E2"}));
    let updated = s
        .update(Some(id.clone()), json!({"slug": "writers"}), json!({}))
        .await
        .unwrap();
    assert_eq!(updated["name"], Value::Null, "update replaces");
    assert_eq!(updated["created_at"], created["created_at"]);
    assert_eq!(
        s.update(
            Some(id.clone()),
            json!({"slug": "x"}),
            json!({"slug": "nope"})
        )
        .await
        .unwrap_err()
        .code(),
        404
    );
    assert_eq!(
        s.update(None, json!({"slug": "x"}), json!({}))
            .await
            .unwrap_err()
            .code(),
        400
    );
    assert_eq!(
        s.patch(None, json!({"name": "x"}), json!({}))
            .await
            .unwrap_err()
            .code(),
        405
    );
    assert_eq!(s.remove(None, json!({})).await.unwrap_err().code(), 405);
    assert_eq!(
        s.create(json!([{"slug": "a"}]), json!({}))
            .await
            .unwrap_err()
            .code(),
        405
    );

    // Conflicts name the field, on create and on patch.
    let other = s.create(json!({"slug": "other"}), json!({})).await.unwrap();
    let e = s
        .create(json!({"slug": "writers"}), json!({}))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.errors.clone()),
        (409, Some(json!({"slug": "already exists"}))),
        "{e:?}"
    );
    let e = s
        .patch(
            Some(other["id"].clone()),
            json!({"slug": "writers"}),
            json!({}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), 409);
    let e = s
        .create(json!({"name": "no slug"}), json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.errors, Some(json!({"slug": "is required"})));
    assert_eq!(
        s.create(json!({"slug": "a", "bogus": 1}), json!({}))
            .await
            .unwrap_err()
            .code(),
        400
    );

    // Pagination.
    let page = s.find(json!({"$limit": 0})).await.unwrap();
    assert_eq!(page, json!({"total": 2, "limit": 0, "skip": 0, "data": []}));
    let page = s
        .find(json!({"$limit": "1000", "$sort": {"slug": "-1"}, "$select": ["slug"]}))
        .await
        .unwrap();
    assert_eq!(page["limit"], 50);
    assert_eq!(
        page["data"],
        json!([{"id": id, "slug": "writers"}, {"id": other["id"], "slug": "other"}])
    );
    let page = s.find(json!({"slug": {"$like": "WRI%"}})).await.unwrap();
    assert_eq!(page["total"], 0, "$like is case-sensitive");
    let page = s.find(json!({"slug": {"$ilike": "WRI%"}})).await.unwrap();
    assert_eq!(page["total"], 1);
    let page = s.find(json!({"name": null})).await.unwrap();
    assert_eq!(page["total"], 2);

    let removed = s
        .remove(Some(id.clone()), json!({"$select": ["slug"]}))
        .await
        .unwrap();
    assert_eq!(removed, json!({"id": id, "slug": "writers"}));
    assert_eq!(s.remove(Some(id), json!({})).await.unwrap_err().code(), 404);

    // Foreign keys: 400 naming the reference; RESTRICT on delete is a 400 too.
    let types = SqlService::new(
        Table::new("access_group_types")
            .column(Column::text("slug").required())
            .unique(&["slug"]),
        Policy::public(),
    );
    let groups = SqlService::new(
        Table::new("access_groups")
            .column(
                Column::integer("type_id")
                    .required()
                    .references("access_group_types"),
            )
            .column(Column::text("slug"))
            .unique(&["slug"]),
        Policy::public(),
    );
    let t = Svc {
        db: crate::service::Database::new(db.clone()),
        service: &types,
        path: "access_group_types",
        effects: Default::default(),
    };
    let g = Svc {
        db: crate::service::Database::new(db.clone()),
        service: &groups,
        path: "access_groups",
        effects: Default::default(),
    };
    let e = g
        .create(json!({"type_id": 987654, "slug": "g"}), json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), 400, "{e:?}");
    assert_eq!(
        e.errors,
        Some(json!({"type_id": "does not exist"})),
        "{e:?}"
    );
    let kind = t.create(json!({"slug": "team"}), json!({})).await.unwrap();
    let group = g
        .create(
            json!({"type_id": kind["id"].to_string(), "slug": "g"}),
            json!({}),
        )
        .await
        .unwrap();
    assert_eq!(group["type_id"], kind["id"]);
    let e = t
        .remove(Some(kind["id"].clone()), json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), 400, "{e:?}");
    g.remove(Some(group["id"].clone()), json!({}))
        .await
        .unwrap();
    t.remove(Some(kind["id"].clone()), json!({})).await.unwrap();
}

#[tokio::test]
async fn people_table_without_pagination_and_with_multi() {
    let db = sqlite().await;
    people(&db).await;
}

pub(super) async fn people(db: &DatabaseConnection) {
    let table = Table::new("people")
        .without_timestamps()
        .column(Column::text("name").required())
        .column(Column::integer("age"))
        .column(Column::bool("created"));
    ensure_table(db, &table).await.unwrap();
    ensure_table(db, &table).await.unwrap();
    let service = SqlService::new(table, Policy::public()).multi(Multi::All);
    let s = Svc {
        db: crate::service::Database::new(db.clone()),
        service: &service,
        path: "people",
        effects: Default::default(),
    };
    let made = s
        .create(json!([{"name": "Doug", "age": 32, "created": true}, {"name": "Bob", "age": "25"}, {"name": "Alice", "age": 19}]), json!({}))
        .await
        .unwrap();
    assert_eq!(made.as_array().unwrap().len(), 3);
    assert_eq!(
        made[0],
        json!({"id": made[0]["id"], "name": "Doug", "age": 32, "created": true})
    );
    let found = s
        .find(json!({"age": {"$gt": "20"}, "$sort": {"age": "1"}}))
        .await
        .unwrap();
    assert_eq!(
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].clone())
            .collect::<Vec<_>>(),
        [json!("Bob"), json!("Doug")]
    );
    assert_eq!(
        s.find(json!({"created": "true"}))
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(s.find(json!({"$limit": 0})).await.unwrap(), json!([]));
    let huge = json!({"$limit": "18446744073709551615", "$skip": "18446744073709551615"});
    assert_eq!(
        s.find(huge).await.unwrap(),
        json!([]),
        "huge limits are clamped, not a panic"
    );
    assert_eq!(
        s.find(json!({"$limit": 1, "$skip": 1, "$sort": {"name": 1}}))
            .await
            .unwrap()[0]["name"],
        "Bob"
    );
    let skipped = s
        .find(json!({"$skip": "1", "$sort": {"name": 1}}))
        .await
        .unwrap();
    assert_eq!(
        skipped.as_array().unwrap().len(),
        2,
        "$skip without $limit: {skipped}"
    );
    let patched = s
        .patch(
            None,
            json!({"created": false}),
            json!({"age": {"$lt": 30}, "$limit": 1}),
        )
        .await
        .unwrap();
    assert_eq!(
        patched.as_array().unwrap().len(),
        2,
        "multi patch ignores $limit"
    );
    let removed = s.remove(None, json!({"created": false})).await.unwrap();
    assert_eq!(removed.as_array().unwrap().len(), 2);
    assert_eq!(
        s.find(json!({})).await.unwrap().as_array().unwrap().len(),
        1
    );
    let e = s.get(json!(123456789), json!({})).await.unwrap_err();
    assert_eq!(e.message, "No record found for id '123456789'");
}
