//! Scopes for the two resources the seed list lacks (DESIGN §4): `group_group_roles` and
//! `events` get `_read` / `_write`. They take the next ids (40..), which also proves the
//! id sequence continues after the 39 seeded rows.

use sea_orm_migration::prelude::*;

use crate::schema::insert_scopes;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0002_extra_scopes"
    }
}

/// `(slug, name)` of the scopes this migration adds.
pub const EXTRA_SCOPES: [(&str, &str); 4] = [
    ("group_group_roles_read", "Group group roles read"),
    ("group_group_roles_write", "Group group roles write"),
    ("events_read", "Events read"),
    ("events_write", "Events write"),
];

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let scopes: Vec<(Option<i64>, &str, &str)> = EXTRA_SCOPES
            .iter()
            .map(|(slug, name)| (None, *slug, *name))
            .collect();
        insert_scopes(manager, &scopes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let delete = Query::delete()
            .from_table("access_scopes")
            .and_where(Expr::col("slug").is_in(EXTRA_SCOPES.iter().map(|(slug, _)| *slug)))
            .to_owned();
        manager.exec_stmt(delete).await
    }
}
