//! `user_oauth_providers` — external identities linked to a user: provider `slug` and the
//! provider's subject id `sub`.
//!
//! - Path `user_oauth_providers`; methods find, get, create, update, patch, remove;
//!   paginated; multi off.
//! - Fields: `id, user_id, slug, sub, created_at, updated_at`; all required; `user_id` must
//!   exist (400); `(slug, sub)` is unique (409): one identity links to one user.
//! - Scopes (prefix `user_oauth_providers`): `user_oauth_providers_read`,
//!   `user_oauth_providers_write`.
//! - Events: `user_oauth_providers created|updated|patched|removed`.

use crate::config::Config;
use crate::store::{Column, SqlService, Table};

pub const PATH: &str = "user_oauth_providers";

pub fn table() -> Table {
    Table::new(PATH)
        .column(Column::integer("user_id").required().references("users"))
        .column(Column::text("slug").required())
        .column(Column::text("sub").required())
        .unique(&["slug", "sub"])
}

pub fn service(config: &Config) -> SqlService {
    super::standard(table(), "user_oauth_providers", config)
}
