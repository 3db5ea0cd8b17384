//! The resource services against a migrated SQLite database, called directly (the
//! pipeline's own tests cover authentication, authorization, audit and publishing).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::config::Config;
use crate::error::Result;
use crate::service::{Ctx, Db, Method, Params, Provider, Registry};

struct Fixture {
    db: crate::service::Database,
    registry: Registry,
}

impl Fixture {
    async fn new(edit: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::default();
        edit(&mut config);
        let mut registry = Registry::new();
        let keys = crate::auth::Keys::new(&"k".repeat(32), &config.authentication);
        super::register_all(
            &mut registry,
            &super::Deps {
                config: Arc::new(config),
                db: Default::default(),
                keys: Arc::new(keys),
                sessions: Default::default(),
                notifier: Arc::new(crate::notify::Notifier::start(&Config::default()).unwrap()),
                passwords: Arc::new(crate::auth::password::PasswordGate::new(1, 8)),
                oauth: Default::default(),
                principals: Default::default(),
            },
        );
        Self {
            db: crate::service::Database::new(crate::store::tests::sqlite().await),
            registry,
        }
    }

    async fn call(
        &self,
        path: &str,
        method: &str,
        id: Option<Value>,
        data: Value,
        query: Value,
    ) -> Result<Value> {
        let Value::Object(query) = query else {
            panic!("query")
        };
        let params = Params::new(Provider::Rest).with_query(query);
        let effects = crate::service::Effects::default();
        let ctx = Ctx {
            db: Db::Pool(&self.db),
            params: &params,
            path,
            effects: &effects,
            pipeline: &crate::service::Detached,
        };
        let service = self
            .registry
            .get(path)
            .unwrap_or_else(|| panic!("no service {path}"));
        // As the pipeline does: a method the service does not offer is 405.
        if !service.methods().contains(&Method::parse(method).unwrap()) {
            return Err(crate::error::Error::method_not_allowed(format!(
                "Method `{method}` is not supported by this endpoint."
            )));
        }
        match method {
            "find" => service.find(&ctx).await,
            "get" => service.get(&ctx, id.as_ref().unwrap()).await,
            "create" => service.create(&ctx, data).await,
            "update" => service.update(&ctx, id.as_ref(), data).await,
            "patch" => service.patch(&ctx, id.as_ref(), data).await,
            "remove" => service.remove(&ctx, id.as_ref()).await,
            _ => unreachable!(),
        }
    }

    async fn count(&self, table: &str) -> i64 {
        use sea_orm::{ConnectionTrait, Statement};
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                self.db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get("", "n").unwrap()
    }

    async fn create(&self, path: &str, data: Value) -> Result<Value> {
        self.call(path, "create", None, data, json!({})).await
    }
}

const PASSWORD: &str = "Quiet-Lantern-Orbit-77";

#[tokio::test]
async fn every_resource_is_registered_and_findable() {
    let f = Fixture::new(|_| {}).await;
    let paths: Vec<&str> = f.registry.paths().collect();
    // The one list, in order: the 13 table resources, then the custom services.
    assert_eq!(
        paths,
        [
            "users",
            "roles",
            "access_scopes",
            "role_access_scopes",
            "user_roles",
            "access_group_types",
            "access_groups",
            "user_group_roles",
            "group_group_roles",
            "oauth_providers",
            "user_oauth_providers",
            "auth_sessions",
            "events",
            "authorization/explain",
            "otp",
            "verify",
            "recover",
            "v1/users",
            "v1/users/invite",
            "authentication",
        ]
    );
    for path in &paths[..13] {
        let page = f
            .call(path, "find", None, Value::Null, json!({}))
            .await
            .unwrap();
        assert_eq!(page["limit"], 10, "{path}");
        assert!(page["data"].is_array(), "{path}");
    }
}

#[tokio::test]
async fn users_hash_passwords_and_never_return_them() {
    let f = Fixture::new(|_| {}).await;
    let user = f
        .create(
            "users",
            json!({"email": "  Jane@Roost.TEST ", "password": PASSWORD, "username": "jane"}),
        )
        .await
        .unwrap();
    assert_eq!(user["email"], "jane@roost.test");
    assert!(user.get("password").is_none(), "{user}");
    assert!(user["joined_date"].is_string(), "{user}");
    for key in [
        "email_verified_at",
        "invited_by",
        "updated_by",
        "created_at",
        "updated_at",
    ] {
        assert!(user.get(key).is_some(), "{key}: {user}");
    }
    let stored: String = {
        use sea_orm::{ConnectionTrait, Statement};
        let row =
            f.db.query_one_raw(Statement::from_string(
                f.db.get_database_backend(),
                "SELECT password FROM users",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get("", "password").unwrap()
    };
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(
        crate::auth::password::PasswordGate::new(1, 1)
            .verify(PASSWORD.into(), stored)
            .await
            .unwrap()
    );

    // A sign-up (no caller) with a taken address answers like a new account, writes none.
    let again = f
        .create(
            "users",
            json!({"email": "jane@roost.test", "password": PASSWORD}),
        )
        .await
        .unwrap();
    assert_eq!(again["email"], "jane@roost.test");
    assert_ne!(again["id"], user["id"]);
    assert_eq!(f.count("users").await, 1);
    let e = f
        .create(
            "users",
            json!({"email": "x@roost.test", "password": "short"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.message, "Password must be at least 12 characters long");
    for bad in [
        json!({"email": "np@roost.test"}),
        json!({"password": PASSWORD}),
        json!({"email": "nope", "password": PASSWORD}),
        json!({"email": 5, "password": PASSWORD}),
        json!({"email": "y@roost.test", "password": ["a"]}),
    ] {
        assert_eq!(
            f.create("users", bad.clone()).await.unwrap_err().code(),
            400,
            "{bad}"
        );
    }
    let e = f
        .call(
            "users",
            "find",
            None,
            Value::Null,
            json!({"$select": ["password"]}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), 400);
    let e = f
        .call(
            "users",
            "find",
            None,
            Value::Null,
            json!({"password": {"$like": "$argon%"}}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), 400, "the hash is no filter oracle");

    let id = user["id"].clone();
    let patched = f
        .call(
            "users",
            "patch",
            Some(id.clone()),
            json!({"first_name": "Janet", "email_verified_at": "2026-01-01T00:00:00Z"}),
            json!({}),
        )
        .await
        .unwrap();
    assert_eq!(patched["first_name"], "Janet");
    assert_eq!(
        patched["email_verified_at"],
        Value::Null,
        "not writable from outside"
    );
    let e = f
        .call(
            "users",
            "update",
            Some(id.clone()),
            json!({"email": "jane@roost.test"}),
            json!({}),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message.as_str(), e.errors.clone()),
        (400, "'password' is required", None)
    );
    let removed = f
        .call("users", "remove", Some(id), Value::Null, json!({}))
        .await
        .unwrap();
    assert!(removed.get("password").is_none());
}

#[tokio::test]
async fn secrets_are_write_only() {
    let f = Fixture::new(|_| {}).await;
    let p = f
        .create(
            "oauth_providers",
            json!({"name": "Ex", "slug": "ex", "key": "k", "secret": "s3cret", "nonce": "true"}),
        )
        .await
        .unwrap();
    assert!(!p.to_string().contains("s3cret"), "{p}");
    assert_eq!(p["nonce"], true);
    let user = f
        .create(
            "users",
            json!({"email": "s@roost.test", "password": PASSWORD}),
        )
        .await
        .unwrap();
    // Session rows are written by logins only (no `create`): written here as a login does.
    let e = f
        .create("auth_sessions", json!({"user_id": user["id"]}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), 405);
    use sea_orm::ConnectionTrait;
    f.db.execute_unprepared(&format!(
        "INSERT INTO auth_sessions (user_id, encrypted_token, ip, revoked, created_at, updated_at) \
         VALUES ({}, 'tok', '127.0.0.1', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        user["id"]
    ))
    .await
    .unwrap();
    let page = f
        .call("auth_sessions", "find", None, Value::Null, json!({}))
        .await
        .unwrap();
    let session = &page["data"][0];
    assert!(session.get("encrypted_token").is_none(), "{session}");
    assert_eq!(session["revoked"], false);
    // Removing the user removes the session (CASCADE).
    f.call(
        "users",
        "remove",
        Some(user["id"].clone()),
        Value::Null,
        json!({}),
    )
    .await
    .unwrap();
    let page = f
        .call("auth_sessions", "find", None, Value::Null, json!({}))
        .await
        .unwrap();
    assert_eq!(page["total"], 0);
}

#[tokio::test]
async fn group_links_refuse_cycles() {
    let f = Fixture::new(|_| {}).await;
    let role = f.create("roles", json!({"slug": "member"})).await.unwrap();
    let kind = f
        .create("access_group_types", json!({"slug": "team"}))
        .await
        .unwrap();
    let mut groups = Vec::new();
    for slug in ["g1", "g2", "g3"] {
        groups.push(
            f.create(
                "access_groups",
                json!({"type_id": kind["id"], "slug": slug}),
            )
            .await
            .unwrap()["id"]
                .clone(),
        );
    }
    let link = |p: usize, c: usize| json!({"parent_group_id": groups[p], "child_group_id": groups[c], "role_id": role["id"]});
    f.create("group_group_roles", link(0, 1)).await.unwrap();
    let second = f.create("group_group_roles", link(1, 2)).await.unwrap();
    assert_eq!(
        f.create("group_group_roles", link(2, 0))
            .await
            .unwrap_err()
            .code(),
        400
    );
    assert_eq!(
        f.create("group_group_roles", link(1, 1))
            .await
            .unwrap_err()
            .code(),
        400
    );
    let e = f
        .call(
            "group_group_roles",
            "patch",
            Some(second["id"].clone()),
            json!({"child_group_id": groups[0]}),
            json!({}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), 400, "patching into a cycle");
    assert_eq!(
        f.create("group_group_roles", link(0, 2)).await.unwrap()["child_group_id"],
        groups[2]
    );
    // A group type in use cannot go; groups can, taking their links with them.
    assert_eq!(
        f.call(
            "access_group_types",
            "remove",
            Some(kind["id"].clone()),
            Value::Null,
            json!({})
        )
        .await
        .unwrap_err()
        .code(),
        400
    );
    f.call(
        "access_groups",
        "remove",
        Some(groups[1].clone()),
        Value::Null,
        json!({}),
    )
    .await
    .unwrap();
    let page = f
        .call("group_group_roles", "find", None, Value::Null, json!({}))
        .await
        .unwrap();
    assert_eq!(page["total"], 1);
}

#[tokio::test]
async fn events_are_append_only_unless_configured() {
    let f = Fixture::new(|_| {}).await;
    let e = f
        .create("events", json!({"source_table": "roles", "event": "bogus"}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), 400);
    // The author of a hand-written event is the server's to say.
    let e = f
        .create("events", json!({"custom_event": "login", "user_id": 999}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), 400);
    let ev = f
        .create("events", json!({"custom_event": "login"}))
        .await
        .unwrap();
    assert_eq!(ev["event"], "custom");
    assert_eq!(ev["source_table"], "manual");
    assert_eq!(ev["user_id"], Value::Null); // no caller here
    for method in ["update", "patch", "remove"] {
        let e = f
            .call(
                "events",
                method,
                Some(ev["id"].clone()),
                json!({"event": "custom"}),
                json!({}),
            )
            .await
            .unwrap_err();
        assert_eq!(
            (e.code(), e.message.as_str()),
            (405, "The audit log is append-only"),
            "{method}"
        );
    }
    let f = Fixture::new(|c| c.audit.mutable = true).await;
    let ev = f
        .create("events", json!({"custom_event": "note"}))
        .await
        .unwrap();
    let patched = f
        .call(
            "events",
            "patch",
            Some(ev["id"].clone()),
            json!({"custom_event": "x"}),
            json!({}),
        )
        .await
        .unwrap();
    assert_eq!(patched["custom_event"], "x");
}
