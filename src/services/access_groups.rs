//! `access_groups` — groups of users; roles held inside a group apply to it only.
//!
//! - Path `access_groups`; methods find, get, create, update, patch, remove; paginated;
//!   multi off. Removing a group removes its memberships and group links (CASCADE).
//! - Fields: `id, type_id, name, slug, description, created_at, updated_at`; `type_id`
//!   required (an `access_group_types` id); `slug` unique when set.
//! - Scopes (prefix `access_groups`): `access_groups_read`, `access_groups_create`,
//!   `access_groups_write`.
//! - Events: `access_groups created|updated|patched|removed`.

use crate::config::Config;
use crate::service::{Method, Policy, ScopeRule};
use crate::store::{Column, SqlService, Table};

pub const PATH: &str = "access_groups";

/// Who may do what (DESIGN §4).
pub const POLICY: Policy = Policy::scoped(
    ScopeRule::read_write("access_groups", "access_groups_read", "access_groups_write")
        .create("access_groups_create")
        .group("id"),
)
.changes_scopes(&Method::MUTATIONS);

pub fn table() -> Table {
    Table::new(PATH)
        .column(
            Column::integer("type_id")
                .required()
                .references("access_group_types"),
        )
        .column(Column::text("name"))
        .column(Column::text("slug"))
        .column(Column::text("description").max_len(4_096))
        .unique(&["slug"])
}

pub fn service(config: &Config) -> SqlService {
    super::standard(table(), POLICY, config)
}
