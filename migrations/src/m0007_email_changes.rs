//! `email_changes`: an account's move to a new email address, waiting for the link sent to
//! that address. Until the link comes back the account keeps its address, so a change
//! answers the same whether or not the new address already has an account. Only a SHA-256
//! hash of the token is stored; a row is single use (`used_at`), expires (`expires_at`)
//! and counts wrong attempts (`attempts`). Internal: no service exposes this table.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_query::ForeignKeyAction::Cascade;

use crate::schema::{TableDef, drop_table};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0007_email_changes"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        TableDef::new("email_changes")
            .reference("user_id", "users", true, Cascade, true)
            .text_not_null("email")
            .text_not_null("token_hash")
            .timestamp("expires_at")
            .big_integer("attempts")
            .timestamp("used_at")
            .index(&["email"])
            .create(manager)
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, "email_changes").await
    }
}
