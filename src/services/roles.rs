//! `roles` — named sets of access scopes, granted to users globally (`user_roles`) or
//! inside a group (`user_group_roles`).
//!
//! - Path `roles`; methods find, get, create, update, patch, remove; paginated; multi off.
//! - Fields: `id, name, slug, description, created_at, updated_at`; `slug` required, unique.
//! - Scopes (prefix `roles`, also an umbrella): `roles_read`, `roles_create`, `roles_write`,
//!   `roles_remove`.
//! - Events: `roles created|updated|patched|removed`.

use crate::auth::grants::{Grant, GrantRules};
use crate::config::Config;
use crate::service::{Method, Policy, ScopeRule};
use crate::store::{Column, SqlService, Table};

pub const PATH: &str = "roles";

/// Who may do what (DESIGN §4).
pub const POLICY: Policy = Policy::scoped(
    ScopeRule::crud(
        "roles",
        "roles_read",
        "roles_create",
        "roles_write",
        "roles_remove",
    )
    .umbrella("roles"),
)
.changes_scopes(&Method::MUTATIONS);

pub fn table() -> Table {
    Table::new(PATH)
        .column(Column::text("name"))
        .column(Column::text("slug").required().non_empty())
        .column(Column::text("description").max_len(4_096))
        .unique(&["slug"])
}

pub fn service(config: &Config) -> SqlService {
    super::standard(table(), POLICY, config).with_rules(GrantRules(Grant::Roles))
}
