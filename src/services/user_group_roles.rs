//! `user_group_roles` — a role a user holds inside one group.
//!
//! - Path `user_group_roles`; methods find, get, create, update, patch, remove; paginated;
//!   multi off.
//! - Fields: `id, user_id, group_id, role_id, created_at, updated_at`; all three ids
//!   required and must exist (400 otherwise); the triple is unique (409).
//! - Scopes (prefix `user_group_roles`): `user_group_roles_read`, `user_group_roles_write`.
//! - Events: `user_group_roles created|updated|patched|removed`.

use crate::auth::grants::{Grant, GrantRules};
use crate::config::Config;
use crate::service::{Method, Policy, ScopeRule};
use crate::store::{Column, SqlService, Table};

pub const PATH: &str = "user_group_roles";

/// Who may do what (DESIGN §4).
pub const POLICY: Policy = Policy::scoped(
    ScopeRule::read_write(
        "user_group_roles",
        "user_group_roles_read",
        "user_group_roles_write",
    )
    .group("group_id"),
)
.changes_scopes(&Method::MUTATIONS);

pub fn table() -> Table {
    Table::new(PATH)
        .column(Column::integer("user_id").required().references("users"))
        .column(
            Column::integer("group_id")
                .required()
                .references("access_groups"),
        )
        .column(Column::integer("role_id").required().references("roles"))
        .unique(&["user_id", "group_id", "role_id"])
}

pub fn service(config: &Config) -> SqlService {
    super::standard(table(), POLICY, config).with_rules(GrantRules(Grant::UserGroupRoles))
}
