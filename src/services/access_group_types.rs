//! `access_group_types` — kinds of groups (team, organisation, ...).
//!
//! - Path `access_group_types`; methods find, get, create, update, patch, remove;
//!   paginated; multi off. A type still used by a group cannot be removed (400).
//! - Fields: `id, name, slug, description, created_at, updated_at`; `slug` required, unique.
//! - Scopes (prefix `access_group_types`): `access_group_types_read`, `access_group_types_write`.
//! - Events: `access_group_types created|updated|patched|removed`.

use crate::config::Config;
use crate::service::{Policy, ScopeRule};
use crate::store::{Column, SqlService, Table};

pub const PATH: &str = "access_group_types";

/// Who may do what (DESIGN §4).
pub const POLICY: Policy = Policy::scoped(ScopeRule::read_write(
    "access_group_types",
    "access_group_types_read",
    "access_group_types_write",
));

pub fn table() -> Table {
    Table::new(PATH)
        .column(Column::text("name"))
        .column(Column::text("slug").required().non_empty())
        .column(Column::text("description").max_len(4_096))
        .unique(&["slug"])
}

pub fn service(config: &Config) -> SqlService {
    super::standard(table(), POLICY, config)
}
