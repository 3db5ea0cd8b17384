//! Every seed table, and the 39 seeded access scopes (ids 1..39).
//!
//! ON DELETE rules, chosen on purpose:
//! - join rows (`role_access_scopes`, `user_roles`, `user_group_roles`,
//!   `group_group_roles`, `user_oauth_providers`) and `auth_sessions` go with the user,
//!   role, scope or group they hang off (CASCADE);
//! - a group type still used by a group cannot be removed (RESTRICT);
//! - `users.invited_by` / `users.updated_by` are cleared when that user goes (SET NULL);
//! - `events.user_id` / `previous_user_id` have no foreign key: the audit log must survive
//!   the deletion of the users it names.

use sea_orm_migration::prelude::*;

use crate::schema::{TableDef, drop_table, insert_scopes, resync_sequence};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0001_schema"
    }
}

/// The seed's access scopes: `(slug, name)` for ids 1..39, in id order.
pub const SEEDED_SCOPES: [(&str, &str); 39] = [
    ("full_access", "Full access"),
    ("roles", "Roles"),
    ("roles_read", "Roles read"),
    ("roles_write", "Roles write"),
    ("roles_create", "Roles create"),
    ("roles_remove", "Roles remove"),
    ("scopes_read", "Access scopes read"),
    ("scopes_write", "Access scopes write"),
    ("users_read", "Users read"),
    ("users_write", "Users write"),
    ("users_create", "Users create"),
    ("users_remove", "Users remove"),
    ("users_read_full_name", "Users read full name"),
    ("users_read_picture", "Users read picture"),
    ("users_read_email", "Users read email"),
    ("users_read_phone", "Users read phone"),
    ("users_write_username", "Users write username"),
    ("users_write_full_name", "Users write full name"),
    ("users_write_picture", "Users write picture"),
    ("users_write_email", "Users write email"),
    ("users_write_phone", "Users write phone"),
    ("users_write_password", "Users write password"),
    (
        "user_oauth_providers_read",
        "User authentication providers read",
    ),
    (
        "user_oauth_providers_write",
        "User authentication providers write",
    ),
    ("auth_sessions_read", "Authentication sessions read"),
    ("auth_sessions_write", "Authentication sessions write"),
    ("auth_providers_read", "Authentication providers read"),
    ("auth_providers_write", "Authentication providers write"),
    ("user_roles_read", "User roles read"),
    ("user_roles_write", "User roles write"),
    ("role_scopes_read", "Role access scopes read"),
    ("role_scopes_write", "Role access scopes write"),
    ("access_group_types_read", "Group types read"),
    ("access_group_types_write", "Group types write"),
    ("access_groups_read", "Groups read"),
    ("access_groups_write", "Groups write"),
    ("access_groups_create", "Groups create"),
    ("user_group_roles_read", "User group roles read"),
    ("user_group_roles_write", "User group roles write"),
];

/// Tables in creation order (referenced tables first); dropped in reverse.
const TABLES: [&str; 13] = [
    "oauth_providers",
    "users",
    "auth_sessions",
    "access_group_types",
    "access_groups",
    "access_scopes",
    "roles",
    "role_access_scopes",
    "user_oauth_providers",
    "user_roles",
    "user_group_roles",
    "group_group_roles",
    "events",
];

/// The values `events.event` may take.
pub const EVENT_KINDS: [&str; 5] = ["created", "updated", "patched", "removed", "custom"];

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::{Cascade, Restrict, SetNull};

        TableDef::new("oauth_providers")
            .text("name")
            .text_not_null("slug")
            .text("key")
            .text("secret")
            .text("scope")
            .boolean("nonce", false)
            .unique(&["slug"])
            .create(manager)
            .await?;

        TableDef::new("users")
            .text("username")
            .text_not_null("email")
            // An argon2id PHC string; NULL for invited users who have not set one yet.
            .text("password")
            .text("first_name")
            .text("middle_name")
            .text("last_name")
            .text("picture")
            .text("locale")
            .text("phone")
            .timestamp("email_verified_at")
            .timestamp("phone_verified_at")
            .reference("invited_by", "users", false, SetNull, true)
            .timestamp("invited_date")
            .timestamp("joined_date")
            .reference("updated_by", "users", false, SetNull, true)
            .unique(&["username"])
            .unique(&["email"])
            .unique(&["phone"])
            .create(manager)
            .await?;

        let mut sessions = TableDef::new("auth_sessions")
            .text("title")
            .reference("user_id", "users", true, Cascade, true);
        for col in [
            "auth_provider",
            "ip",
            "hostname",
            "city",
            "region",
            "country",
            "loc",
            "org",
            "postal",
            "timezone",
            "useragent",
            "browser_name",
            "browser_version",
            "engine_name",
            "engine_version",
            "device_vendor",
            "device_model",
            "device_type",
            "os_name",
            "os_version",
            "cpu_arch",
            "encrypted_token",
        ] {
            sessions = sessions.text(col);
        }
        sessions.boolean("revoked", false).create(manager).await?;

        TableDef::new("access_group_types")
            .text("name")
            .text_not_null("slug")
            .text("description")
            .unique(&["slug"])
            .create(manager)
            .await?;

        TableDef::new("access_groups")
            .reference("type_id", "access_group_types", true, Restrict, true)
            .text("name")
            .text("slug")
            .text("description")
            .unique(&["slug"])
            .create(manager)
            .await?;

        for name in ["access_scopes", "roles"] {
            TableDef::new(name)
                .text("name")
                .text_not_null("slug")
                .text("description")
                .unique(&["slug"])
                .create(manager)
                .await?;
        }

        TableDef::new("role_access_scopes")
            .reference("role_id", "roles", true, Cascade, false)
            .reference("access_scope_id", "access_scopes", true, Cascade, true)
            .unique(&["role_id", "access_scope_id"])
            .create(manager)
            .await?;

        TableDef::new("user_oauth_providers")
            .reference("user_id", "users", true, Cascade, true)
            .text_not_null("slug")
            .text_not_null("sub")
            .unique(&["slug", "sub"])
            .create(manager)
            .await?;

        TableDef::new("user_roles")
            .reference("user_id", "users", true, Cascade, false)
            .reference("role_id", "roles", true, Cascade, true)
            .unique(&["user_id", "role_id"])
            .create(manager)
            .await?;

        TableDef::new("user_group_roles")
            .reference("user_id", "users", true, Cascade, false)
            .reference("group_id", "access_groups", true, Cascade, true)
            .reference("role_id", "roles", true, Cascade, true)
            .unique(&["user_id", "group_id", "role_id"])
            .create(manager)
            .await?;

        TableDef::new("group_group_roles")
            .reference("parent_group_id", "access_groups", true, Cascade, false)
            .reference("child_group_id", "access_groups", true, Cascade, true)
            .reference("role_id", "roles", true, Cascade, true)
            .unique(&["parent_group_id", "child_group_id", "role_id"])
            .create(manager)
            .await?;

        TableDef::new("events")
            .text("source_table")
            .text_enum("event", &EVENT_KINDS, "custom")
            .text("custom_event")
            .big_integer("table_id")
            .big_integer("user_id")
            .big_integer("previous_user_id")
            .index(&["source_table", "table_id"])
            .index(&["user_id"])
            .index(&["created_at"])
            .create(manager)
            .await?;

        let scopes: Vec<(Option<i64>, &str, &str)> = SEEDED_SCOPES
            .iter()
            .zip(1i64..)
            .map(|((slug, name), id)| (Some(id), *slug, *name))
            .collect();
        insert_scopes(manager, &scopes).await?;
        resync_sequence(manager, "access_scopes").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in TABLES.iter().rev() {
            drop_table(manager, name).await?;
        }
        Ok(())
    }
}
