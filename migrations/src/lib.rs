//! Roost's database schema: one sea-query source for SQLite and PostgreSQL.
//!
//! Naming rules the server relies on to map constraint errors back to fields
//! (`roost::store::errors`):
//! - unique indexes are `uq_<table>_<col>[_<col>...]`;
//! - foreign keys are `fk_<table>_<col>`;
//! - plain lookup indexes are `ix_<table>_<col>[_<col>...]`.
//!
//! Every table has `id` (big integer, autoincrement primary key), `created_at` and
//! `updated_at` (timestamp with time zone, not null).

mod m0001_schema;
mod m0002_extra_scopes;
mod m0003_session_jti;
mod m0004_one_time_tokens;
mod m0005_oauth;
mod m0006_bus_outbox;
mod m0007_email_changes;
mod schema;

pub use sea_orm_migration::{MigrationTrait, MigratorTrait, SchemaManager};

pub use m0001_schema::SEEDED_SCOPES;
pub use m0002_extra_scopes::EXTRA_SCOPES;

/// Runs every migration in order (`Migrator::up(&db, None)`).
pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_schema::Migration),
            Box::new(m0002_extra_scopes::Migration),
            Box::new(m0003_session_jti::Migration),
            Box::new(m0004_one_time_tokens::Migration),
            Box::new(m0005_oauth::Migration),
            Box::new(m0006_bus_outbox::Migration),
            Box::new(m0007_email_changes::Migration),
        ]
    }
}
