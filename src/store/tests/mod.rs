//! Self-check against a real database: migrations run, and SqlService behaves like a
//! Feathers adapter on SQLite (in memory). Set `TEST_DATABASE_URL` to an admin URL such as
//! `postgres://postgres@127.0.0.1:5432/test` to run the same checks on a throwaway
//! PostgreSQL database as well (`.ci/test` reports the test as skipped without it).

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};

mod crud;
mod inline;

use super::*;
use crate::config::PaginateConfig;
use crate::service::{Ctx, Db, Params, Policy, Service};

/// A migrated in-memory SQLite database (one connection: each would be its own database).
pub(crate) async fn sqlite() -> DatabaseConnection {
    let mut options = ConnectOptions::new("sqlite::memory:");
    options
        .max_connections(1)
        .min_connections(1)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(sqlite_options);
    let db = Database::connect(options).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    db
}

fn external(query: Value) -> Params {
    let Value::Object(q) = query else {
        panic!("query must be an object")
    };
    Params::new(crate::service::Provider::Rest).with_query(q)
}

struct Svc<'a> {
    db: crate::service::Database,
    service: &'a dyn Service,
    path: &'static str,
    effects: crate::service::Effects,
}

impl Svc<'_> {
    fn ctx<'b>(&'b self, params: &'b Params) -> Ctx<'b> {
        Ctx {
            db: Db::Pool(&self.db),
            params,
            path: self.path,
            effects: &self.effects,
            pipeline: &crate::service::Detached,
        }
    }
    async fn find(&self, q: Value) -> crate::error::Result<Value> {
        self.service.find(&self.ctx(&external(q))).await
    }
    async fn get(&self, id: Value, q: Value) -> crate::error::Result<Value> {
        self.service.get(&self.ctx(&external(q)), &id).await
    }
    async fn create(&self, data: Value, q: Value) -> crate::error::Result<Value> {
        self.service.create(&self.ctx(&external(q)), data).await
    }
    async fn update(
        &self,
        id: Option<Value>,
        data: Value,
        q: Value,
    ) -> crate::error::Result<Value> {
        self.service
            .update(&self.ctx(&external(q)), id.as_ref(), data)
            .await
    }
    async fn patch(&self, id: Option<Value>, data: Value, q: Value) -> crate::error::Result<Value> {
        self.service
            .patch(&self.ctx(&external(q)), id.as_ref(), data)
            .await
    }
    async fn remove(&self, id: Option<Value>, q: Value) -> crate::error::Result<Value> {
        self.service
            .remove(&self.ctx(&external(q)), id.as_ref())
            .await
    }
}

fn roles_table() -> Table {
    Table::new("roles")
        .column(Column::text("name"))
        .column(Column::text("slug").required())
        .column(Column::text("description"))
        .unique(&["slug"])
}

fn paged(service: SqlService) -> SqlService {
    service.paginate(Some(PaginateConfig {
        default: 10,
        max: 50,
    }))
}

#[tokio::test]
async fn migrations_seed_scopes_and_continue_ids() {
    let db = sqlite().await;
    check_scopes(&db).await;
    // Down and up again: the schema is fully reversible.
    Migrator::down(&db, None).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    check_scopes(&db).await;
}

async fn check_scopes(db: &DatabaseConnection) {
    let table = Table::new("access_scopes")
        .column(Column::text("name"))
        .column(Column::text("slug").required())
        .column(Column::text("description"));
    let service = paged(SqlService::new(table, Policy::public()));
    let s = Svc {
        db: crate::service::Database::new(db.clone()),
        service: &service,
        path: "access_scopes",
        effects: Default::default(),
    };
    let page = s
        .find(json!({"$limit": "50", "$sort": {"id": "1"}}))
        .await
        .unwrap();
    assert_eq!(page["total"], 43);
    let data = page["data"].as_array().unwrap();
    for (i, (slug, name)) in migration::SEEDED_SCOPES.iter().enumerate() {
        assert_eq!(data[i]["id"], json!(i + 1));
        assert_eq!(data[i]["slug"], json!(slug));
        assert_eq!(data[i]["name"], json!(name));
        assert_eq!(data[i]["description"], json!(""));
    }
    assert_eq!(data[39]["id"], 40);
    assert_eq!(data[42]["slug"], "events_write");
    let created = s.create(json!({"slug": "extra"}), json!({})).await.unwrap();
    assert_eq!(
        created["id"], 44,
        "the sequence continues after the seeded ids"
    );
    let ts = created["created_at"].as_str().unwrap();
    assert!(ts.ends_with('Z') && ts.len() == 24, "{ts}");
    s.remove(Some(created["id"].clone()), json!({}))
        .await
        .unwrap();
}

/// The same checks on PostgreSQL, in a throwaway database (`TEST_DATABASE_URL`). Without
/// it the test is filtered out by `.ci/test` (reported as skipped); run by hand without it,
/// it passes vacuously, and under `CI` it fails.
#[tokio::test]
async fn crud_and_scopes_pg() {
    let admin_url = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but TEST_DATABASE_URL is not: PostgreSQL tests cannot run")
        }
        _ => return,
    };
    let name = format!("roost_store_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(admin_url.as_str()).await.unwrap();
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(&admin_url)
        .to_string();
    {
        let db = Database::connect(format!("{base}/{name}")).await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        check_scopes(&db).await;
        crud::crud_errors_and_queries(&db).await;
        crud::people(&db).await;
        Migrator::down(&db, None).await.unwrap();
        db.close().await.unwrap();
    }
    admin
        .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
}
