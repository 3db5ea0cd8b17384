//! The audit log: every mutation writes one `events` row in its own transaction, naming
//! the actor and the previous actor on that row; the log is append-only.

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::scenarios;
use crate::support::*;

scenarios!(
    mutations_write_audit_rows,
    previous_user_id_names_the_previous_actor,
    failed_mutations_write_no_audit_rows,
    every_service_is_audited,
    events_are_append_only,
    a_failed_audit_write_rolls_back_the_mutation,
);

/// The audit rows of one record, oldest first.
async fn rows_for(c: &Conn, table: &str, id: &Value) -> Vec<Value> {
    let page = ok(c
        .find(
            "events",
            json!({"source_table": table, "table_id": id, "$sort": {"id": 1}, "$limit": 50}),
        )
        .await);
    page_data(&page)
}

/// The id of the user a client is logged in as (from its token's `sub`).
fn actor(c: &Conn) -> Value {
    let sub = decode_jwt(&c.token().expect("logged in")).claims["sub"]
        .as_str()
        .unwrap()
        .to_string();
    json!(sub.parse::<i64>().unwrap())
}

async fn mutations_write_audit_rows(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let me = actor(&c);
    let role = ok(c
        .create("roles", json!({"name": "Audited", "slug": "audited"}), q())
        .await);
    let id = role["id"].clone();
    ok(
        c.patch("roles", id.clone(), json!({"name": "Audited 2"}), q())
            .await,
    );
    ok(c.update(
        "roles",
        id.clone(),
        json!({"name": "Audited 3", "slug": "audited"}),
        q(),
    )
    .await);
    ok(c.remove("roles", id.clone(), q()).await);
    let rows = rows_for(&c, "roles", &id).await;
    let events: Vec<&Value> = rows.iter().map(|r| &r["event"]).collect();
    assert_eq!(
        events,
        ["created", "patched", "updated", "removed"],
        "{rows:?}"
    );
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["source_table"], "roles");
        assert_eq!(row["table_id"], id);
        assert_eq!(row["user_id"], me, "actor of {row}");
        let previous = if i == 0 { Value::Null } else { me.clone() };
        assert_eq!(row["previous_user_id"], previous, "previous actor of {row}");
        assert!(row["created_at"].is_string(), "{row}");
    }
    // Rows are readable one by one too.
    let one = ok(c.get("events", rows[0]["id"].clone(), q()).await);
    assert_eq!(one, rows[0]);
}

async fn previous_user_id_names_the_previous_actor(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let admin_id = actor(&admin);
    let deputy_user = srv
        .create_full_access_user(&admin, "deputy@roost.test")
        .await;
    let deputy = srv.login("deputy@roost.test", PASSWORD).await;
    assert_eq!(actor(&deputy), deputy_user["id"]);

    let role = ok(admin
        .create("roles", json!({"name": "Shared", "slug": "shared"}), q())
        .await);
    let id = role["id"].clone();
    ok(deputy
        .patch("roles", id.clone(), json!({"name": "By deputy"}), q())
        .await);
    ok(admin
        .patch("roles", id.clone(), json!({"name": "By admin"}), q())
        .await);
    ok(deputy.remove("roles", id.clone(), q()).await);
    let rows = rows_for(&admin, "roles", &id).await;
    let got: Vec<(Value, Value, Value)> = rows
        .iter()
        .map(|r| {
            (
                r["event"].clone(),
                r["user_id"].clone(),
                r["previous_user_id"].clone(),
            )
        })
        .collect();
    let d = deputy_user["id"].clone();
    assert_eq!(
        got,
        [
            (json!("created"), admin_id.clone(), Value::Null),
            (json!("patched"), d.clone(), admin_id.clone()),
            (json!("patched"), admin_id.clone(), d.clone()),
            (json!("removed"), d, admin_id),
        ]
    );
}

async fn count_rows(c: &Conn, tables: &[&str]) -> u64 {
    ok(c.find(
        "events",
        json!({"source_table": {"$in": tables}, "$limit": 0}),
    )
    .await)["total"]
        .as_u64()
        .unwrap()
}

async fn failed_mutations_write_no_audit_rows(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let tables = ["roles", "access_groups", "users", "user_roles"];
    ok(c.create("roles", json!({"slug": "taken"}), q()).await);
    let before = count_rows(&c, &tables).await;
    assert!(before >= 1);
    expect_err(
        c.create("roles", json!({"slug": "taken"}), q()).await,
        "Conflict",
        409,
    );
    expect_err(
        c.create(
            "access_groups",
            json!({"type_id": 987654, "name": "x", "slug": "x"}),
            q(),
        )
        .await,
        "BadRequest",
        400,
    );
    expect_err(
        c.create(
            "user_roles",
            json!({"user_id": 987654, "role_id": 987654}),
            q(),
        )
        .await,
        "BadRequest",
        400,
    );
    expect_err(
        c.patch("roles", json!(987654), json!({"name": "x"}), q())
            .await,
        "NotFound",
        404,
    );
    expect_err(c.remove("roles", json!(987654), q()).await, "NotFound", 404);
    expect_err(
        c.create(
            "users",
            json!({"email": ADMIN_EMAIL, "password": PASSWORD}),
            q(),
        )
        .await,
        "Conflict",
        409,
    );
    assert_eq!(
        count_rows(&c, &tables).await,
        before,
        "failed mutations left audit rows"
    );
}

async fn every_service_is_audited(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let me = actor(&c);
    let user = srv.create_user(&c, "audited@roost.test").await;
    let role = ok(c.create("roles", json!({"slug": "r"}), q()).await);
    let kind = ok(c
        .create("access_group_types", json!({"slug": "k"}), q())
        .await);
    let group = ok(c
        .create(
            "access_groups",
            json!({"type_id": kind["id"], "slug": "g"}),
            q(),
        )
        .await);
    let ur = ok(c
        .create(
            "user_roles",
            json!({"user_id": user["id"], "role_id": role["id"]}),
            q(),
        )
        .await);
    let ras = ok(c
        .create(
            "role_access_scopes",
            json!({"role_id": role["id"], "access_scope_id": 3}),
            q(),
        )
        .await);
    let ugr = ok(c
        .create(
            "user_group_roles",
            json!({"user_id": user["id"], "group_id": group["id"], "role_id": role["id"]}),
            q(),
        )
        .await);
    for (table, record) in [
        ("users", &user),
        ("roles", &role),
        ("access_group_types", &kind),
        ("access_groups", &group),
        ("user_roles", &ur),
        ("role_access_scopes", &ras),
        ("user_group_roles", &ugr),
    ] {
        let rows = rows_for(&c, table, &record["id"]).await;
        assert_eq!(rows.len(), 1, "{table}: {rows:?}");
        assert_eq!(rows[0]["event"], "created", "{table}");
        assert_eq!(rows[0]["user_id"], me, "{table}");
    }
    let all = ok(c.find("events", json!({"$limit": 50})).await);
    assert_no_password(&all, PASSWORD);
    assert_no_password(&all, ADMIN_PASSWORD);
}

async fn events_are_append_only(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let role = ok(c.create("roles", json!({"slug": "logged"}), q()).await);
    let row = rows_for(&c, "roles", &role["id"]).await.remove(0);
    let id = row["id"].clone();
    expect_err(
        c.patch("events", id.clone(), json!({"user_id": null}), q())
            .await,
        "MethodNotAllowed",
        405,
    );
    expect_err(
        c.update(
            "events",
            id.clone(),
            json!({"event": "created", "source_table": "roles"}),
            q(),
        )
        .await,
        "MethodNotAllowed",
        405,
    );
    expect_err(
        c.remove("events", id.clone(), q()).await,
        "MethodNotAllowed",
        405,
    );
    expect_err(
        c.patch("events", Value::Null, json!({"user_id": null}), q())
            .await,
        "MethodNotAllowed",
        405,
    );
    expect_err(
        c.remove("events", Value::Null, q()).await,
        "MethodNotAllowed",
        405,
    );
    assert_eq!(
        ok(c.get("events", id, q()).await),
        row,
        "the row is unchanged"
    );
}

/// Makes every `events` insert fail, through the app's own database handle.
async fn break_audit_writes(srv: &TestServer) {
    let db = &srv.app().db;
    let sql: &[&str] = match srv.setup.backend {
        Backend::Sqlite => &[
            "CREATE TRIGGER no_audit BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'no'); END;",
        ],
        Backend::Postgres => &[
            "CREATE FUNCTION no_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'no'; END; $$ LANGUAGE plpgsql;",
            "CREATE TRIGGER no_audit BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION no_audit();",
        ],
    };
    for statement in sql {
        db.execute_unprepared(statement).await.unwrap();
    }
}

async fn repair_audit_writes(srv: &TestServer) {
    srv.app()
        .db
        .execute_unprepared("DROP TRIGGER no_audit ON events")
        .await
        .or(srv
            .app()
            .db
            .execute_unprepared("DROP TRIGGER no_audit")
            .await)
        .unwrap();
}

/// The converse of "the audit row is inside the mutation's transaction": when the audit
/// row cannot be written, the mutation answers an error (500 GeneralError, no detail)
/// and does not happen.
async fn a_failed_audit_write_rolls_back_the_mutation(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let keep = ok(c
        .create("roles", json!({"slug": "keep", "name": "Keep"}), q())
        .await);
    let id = keep["id"].clone();
    let roles_before = ok(c.find("roles", json!({"$limit": 50})).await);
    let events_before = ok(c.find("events", json!({"$limit": 50})).await);
    break_audit_writes(&srv).await;

    let refused = |r: Res, what: &str| {
        let e = expect_err(r, "GeneralError", 500);
        assert_eq!(e.message(), "Internal server error", "{what}: {}", e.body);
        let text = e.body.to_string();
        for leak in ["no_audit", "events", "trigger", "RAISE", "INSERT", "'no'"] {
            assert!(!text.contains(leak), "{what} leaked {leak}: {text}");
        }
    };
    refused(
        c.create("roles", json!({"slug": "ghost"}), q()).await,
        "create",
    );
    refused(
        c.patch("roles", id.clone(), json!({"name": "Changed"}), q())
            .await,
        "patch",
    );
    refused(
        c.update(
            "roles",
            id.clone(),
            json!({"slug": "keep", "name": "Changed"}),
            q(),
        )
        .await,
        "update",
    );
    refused(c.remove("roles", id.clone(), q()).await, "remove");
    // Nothing happened: the same rows, the same audit log.
    assert_eq!(
        ok(c.find("roles", json!({"$limit": 50})).await),
        roles_before
    );
    assert_eq!(ok(c.get("roles", id.clone(), q()).await), keep);

    repair_audit_writes(&srv).await;
    assert_eq!(
        ok(c.find("events", json!({"$limit": 50})).await),
        events_before
    );
    assert_eq!(
        ok(c.find("roles", json!({"slug": "ghost"})).await)["total"],
        0
    );
    // Once audit writes work again, so do mutations.
    ok(c.create("roles", json!({"slug": "ghost"}), q()).await);
}
