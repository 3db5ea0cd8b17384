//! sea-orm storage: the generic SQL service ([`SqlService`]) that gives any table the full
//! Feathers query language, pagination, `multi` gating and Feathers errors.
//!
//! A table-backed resource is one definition:
//!
//! ```no_run
//! use roost::service::Policy;
//! use roost::store::{Column, SqlService, Table};
//!
//! let people = Table::new("people")
//!     .without_timestamps()
//!     .column(Column::text("name").required())
//!     .column(Column::integer("age"))
//!     .column(Column::bool("created"));
//! let service = SqlService::new(people.clone(), Policy::public());
//! // registry.register("people", Arc::new(service));
//! // At start, for a table no migration creates:
//! // roost::store::ensure_table(&db, &people).await?;
//! ```
//!
//! Backend notes:
//! - `$like` / `$notlike` are case-sensitive on both backends. SQLite needs
//!   `PRAGMA case_sensitive_like = ON` on every connection: [`sqlite_options`] sets it (and
//!   foreign keys), `app::connect` does the same.
//! - Timestamps are written with millisecond precision and returned as
//!   `2026-11-23T13:41:30.123Z`; booleans are JSON booleans on both backends.
//! - Unique indexes must be named `uq_<table>_<cols>` (the migrations do) so a violation is
//!   reported as 409 naming the field.

pub mod audit;
mod coerce;
mod data;
pub mod errors;
pub mod filter;
mod options;
mod rows;
mod rules;
mod schema;
mod sql_service;
mod table;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) mod tests;

use sea_orm::sea_query::{ColumnDef, ForeignKey, ForeignKeyAction, Index, Table as SqlTable};
use sea_orm::{ConnectionTrait, DbErr};

pub use coerce::format_timestamp;
pub use data::now;
pub use options::{Multi, RowId, id_display, parse_id};
pub use rules::{Change, Prepared, StandIn, WriteRules};
pub use sql_service::SqlService;
pub use table::{Column, ColumnType, Table, Write, unknown_field};

/// SQLite connection settings the store relies on: case-sensitive `LIKE` and enforced
/// foreign keys, on every pooled connection.
pub fn sqlite_options(
    options: sea_orm::sqlx::sqlite::SqliteConnectOptions,
) -> sea_orm::sqlx::sqlite::SqliteConnectOptions {
    options
        .foreign_keys(true)
        .pragma("case_sensitive_like", "ON")
}

/// `CREATE TABLE IF NOT EXISTS` for a table no migration creates (examples, tests), with
/// its unique indexes (`uq_<table>_<cols>`) and foreign keys, on either backend.
pub async fn ensure_table<C: ConnectionTrait>(db: &C, table: &Table) -> Result<(), DbErr> {
    let mut create = SqlTable::create();
    create.table(table.name).if_not_exists();
    for column in table.columns() {
        let mut def = ColumnDef::new(column.name);
        match column.ty {
            ColumnType::Integer => def.big_integer(),
            ColumnType::Text => def.text(),
            ColumnType::Bool => def.boolean(),
            ColumnType::Timestamp => def.timestamp_with_time_zone(),
        };
        if column.name == table::ID {
            def.not_null().auto_increment().primary_key();
        } else if column.required || column.server_managed {
            def.not_null();
        } else {
            def.null();
        }
        if let Some(default) = &column.default
            && let Ok(value) = coerce::coerce(column, default)
        {
            def.default(value);
        }
        create.col(&mut def);
        if let Some(target) = column.references {
            create.foreign_key(
                ForeignKey::create()
                    .name(format!("fk_{}_{}", table.name, column.name))
                    .from(table.name, column.name)
                    .to(target, table::ID)
                    .on_delete(ForeignKeyAction::Cascade),
            );
        }
    }
    db.execute(&create).await?;
    for key in table.unique_keys() {
        let mut index = Index::create();
        index
            .name(table.unique_index_name(key))
            .table(table.name)
            .unique()
            .if_not_exists();
        for col in key {
            index.col(*col);
        }
        db.execute(&index).await?;
    }
    Ok(())
}
