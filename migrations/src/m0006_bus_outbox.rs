//! `bus_outbox`: cluster bus messages too large for a PostgreSQL `NOTIFY` payload (8000
//! bytes). The sending instance inserts the message here and notifies its id; the other
//! instances read it by id. Rows are pruned after a few minutes. Internal: no service
//! exposes this table, and SQLite (one instance) never writes it.

use sea_orm_migration::prelude::*;

use crate::schema::{TableDef, drop_table};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0006_bus_outbox"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        TableDef::new("bus_outbox")
            .text_not_null("payload")
            .index(&["created_at"])
            .create(manager)
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, "bus_outbox").await
    }
}
