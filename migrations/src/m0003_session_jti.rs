//! `auth_sessions.jti`: the `jti` of the access token a session issued, so a token names
//! its session and revocation can refuse it. Nullable (rows written before this migration
//! have none) and unique (`uq_auth_sessions_jti`; NULLs never collide). Internal: the
//! server never outputs it; clients see the row `id`.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0003_session_jti"
    }
}

const INDEX: &str = "uq_auth_sessions_jti";

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite cannot add a UNIQUE column: add it plain, then the unique index.
        manager
            .alter_table(
                Table::alter()
                    .table("auth_sessions")
                    .add_column(ColumnDef::new("jti").text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table("auth_sessions")
                    .col("jti")
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table("auth_sessions").to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("auth_sessions")
                    .drop_column("jti")
                    .to_owned(),
            )
            .await
    }
}
