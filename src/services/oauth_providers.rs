//! `oauth_providers` — configured OAuth2 / OpenID Connect providers.
//!
//! - Path `oauth_providers`; methods find, get, create, update, patch, remove; paginated;
//!   multi off.
//! - Fields: `id, name, slug, key, scope, nonce, created_at, updated_at`; `slug` required,
//!   unique; `nonce` defaults to false. `secret` is **write-only**: accepted and stored,
//!   never returned nor usable in a query.
//! - Scopes (prefix `auth_providers`): `auth_providers_read`, `auth_providers_write`.
//! - Events: `oauth_providers created|updated|patched|removed` (without `secret`).

use serde_json::json;

use crate::config::Config;
use crate::store::{Column, SqlService, Table};

pub const PATH: &str = "oauth_providers";

pub fn table() -> Table {
    Table::new(PATH)
        .column(Column::text("name"))
        .column(Column::text("slug").required())
        .column(Column::text("key"))
        .column(Column::text("secret").write_only())
        .column(Column::text("scope"))
        .column(Column::bool("nonce").default_value(json!(false)))
        .unique(&["slug"])
}

pub fn service(config: &Config) -> SqlService {
    super::standard(table(), "auth_providers", config)
}
