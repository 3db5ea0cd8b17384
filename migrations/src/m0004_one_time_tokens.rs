//! `one_time_tokens`: the codes and tokens Roost sends by email or SMS (one-time login
//! codes, verification, recovery and invitation tokens). Only a SHA-256 hash of each is
//! stored; a row is single use (`used_at`), expires (`expires_at`) and counts wrong
//! attempts (`attempts`). `channel` is the address the token was sent to (`email` /
//! `phone`). Internal: no service exposes this table.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_query::ForeignKeyAction::Cascade;

use crate::schema::{TableDef, drop_table};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0004_one_time_tokens"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        TableDef::new("one_time_tokens")
            .reference("user_id", "users", true, Cascade, false)
            .text_enum("purpose", &["otp", "verify", "recover", "invite"], "otp")
            .text_enum("channel", &["email", "phone"], "email")
            .text_not_null("token_hash")
            .timestamp("expires_at")
            .big_integer("attempts")
            .timestamp("used_at")
            .index(&["user_id", "purpose"])
            .create(manager)
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, "one_time_tokens").await
    }
}
