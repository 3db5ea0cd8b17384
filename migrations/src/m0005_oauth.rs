//! OAuth / OpenID Connect login (DESIGN §3).
//!
//! - `oauth_providers` gains nullable endpoint columns: `issuer` (an OpenID Connect issuer:
//!   endpoints and keys come from its discovery document), or explicit `authorize_url`,
//!   `token_url`, `userinfo_url` for plain OAuth2 providers (they also override discovered
//!   ones); `subject_field`, the userinfo JSON field holding the subject id (null: `sub`
//!   for OpenID Connect, `id` for plain OAuth2); `allow_signup` (default false), which lets
//!   the provider create accounts while `signup.open` is off.
//! - `oauth_states`: flows started by `GET /oauth/:slug`, so a callback may land on any
//!   instance. Only a SHA-256 hash of the `state` is stored (`uq_oauth_states_state_hash`)
//!   and of the browser-binding cookie; the PKCE verifier is stored encrypted. A row is
//!   taken with a single `DELETE ... RETURNING` (single use) and expires at `expires_at`
//!   (epoch seconds). Internal: no service exposes this table.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_query::ForeignKeyAction::Cascade;

use crate::schema::{TableDef, drop_table};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0005_oauth"
    }
}

const TEXT_COLUMNS: [&str; 5] = [
    "issuer",
    "authorize_url",
    "token_url",
    "userinfo_url",
    "subject_field",
];

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one ALTER option per statement.
        for name in TEXT_COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table("oauth_providers")
                        .add_column(ColumnDef::new(name).text().null())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("oauth_providers")
                    .add_column(
                        ColumnDef::new("allow_signup")
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;
        TableDef::new("oauth_states")
            .text_not_null("state_hash")
            .text_not_null("browser_hash")
            .text_not_null("slug")
            .text_not_null("code_verifier")
            .text("nonce")
            .text_not_null("redirect_uri")
            .text("redirect")
            .reference("link_user_id", "users", false, Cascade, true)
            .big_integer("expires_at")
            .unique(&["state_hash"])
            .index(&["expires_at"])
            .create(manager)
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, "oauth_states").await?;
        for name in TEXT_COLUMNS.iter().chain(["allow_signup"].iter()) {
            manager
                .alter_table(
                    Table::alter()
                        .table("oauth_providers")
                        .drop_column(*name)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
