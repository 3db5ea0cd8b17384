//! `role_access_scopes` — which scopes a role grants.
//!
//! - Path `role_access_scopes`; methods find, get, create, update, patch, remove;
//!   paginated; multi off.
//! - Fields: `id, role_id, access_scope_id, created_at, updated_at`; both ids required and
//!   must exist (400 otherwise); the pair is unique (409).
//! - Scopes (prefix `role_scopes`): `role_scopes_read`, `role_scopes_write`.
//! - Events: `role_access_scopes created|updated|patched|removed`.

use crate::auth::grants::{Grant, GrantRules};
use crate::config::Config;
use crate::service::{Method, Policy, ScopeRule};
use crate::store::{Column, SqlService, Table};

pub const PATH: &str = "role_access_scopes";

/// Who may do what (DESIGN §4).
pub const POLICY: Policy = Policy::scoped(ScopeRule::read_write(
    "role_scopes",
    "role_scopes_read",
    "role_scopes_write",
))
.changes_scopes(&Method::MUTATIONS);

pub fn table() -> Table {
    Table::new(PATH)
        .column(Column::integer("role_id").required().references("roles"))
        .column(
            Column::integer("access_scope_id")
                .required()
                .references("access_scopes"),
        )
        .unique(&["role_id", "access_scope_id"])
}

pub fn service(config: &Config) -> SqlService {
    super::standard(table(), POLICY, config).with_rules(GrantRules(Grant::RoleScopes))
}
