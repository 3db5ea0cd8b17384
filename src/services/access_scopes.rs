//! `access_scopes` — the permission names (seeded with ids 1..39 by migration, plus the
//! `group_group_roles_*` and `events_*` scopes).
//!
//! - Path `access_scopes`; methods find, get, create, update, patch, remove; paginated;
//!   multi off.
//! - Fields: `id, name, slug, description, created_at, updated_at`; `slug` required, unique.
//! - Scopes (prefix `scopes`): `scopes_read`, `scopes_write`.
//! - Events: `access_scopes created|updated|patched|removed`.

use crate::auth::grants::{Grant, GrantRules};
use crate::config::Config;
use crate::service::{Method, Policy, ScopeRule};
use crate::store::{Column, SqlService, Table};

pub const PATH: &str = "access_scopes";

/// Who may do what (DESIGN §4).
pub const POLICY: Policy = Policy::scoped(ScopeRule::read_write(
    "scopes",
    "scopes_read",
    "scopes_write",
))
.changes_scopes(&Method::MUTATIONS);

pub fn table() -> Table {
    Table::new(PATH)
        .column(Column::text("name"))
        .column(Column::text("slug").required().non_empty())
        .column(Column::text("description").max_len(4_096))
        .unique(&["slug"])
}

pub fn service(config: &Config) -> SqlService {
    super::standard(table(), POLICY, config).with_rules(GrantRules(Grant::Scopes))
}
