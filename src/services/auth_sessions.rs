//! `auth_sessions` — one row per successful login: where from (IP, geo), with what (parsed
//! user agent), and whether it was revoked.
//!
//! - Path `auth_sessions`; methods find, get, create, update, patch, remove; paginated;
//!   multi off. Sessions go with their user (CASCADE).
//! - Fields: `id, title, user_id, auth_provider, ip, hostname, city, region, country, loc,
//!   org, postal, timezone, useragent, browser_name, browser_version, engine_name,
//!   engine_version, device_vendor, device_model, device_type, os_name, os_version,
//!   cpu_arch, revoked, created_at, updated_at`; `user_id` required; `revoked` defaults to
//!   false. `encrypted_token` is **write-only** (a secret): stored, never returned.
//! - Scopes (prefix `auth_sessions`): `auth_sessions_read`, `auth_sessions_write`.
//! - Events: `auth_sessions created|updated|patched|removed`.

use serde_json::json;

use crate::config::Config;
use crate::store::{Column, SqlService, Table};

pub const PATH: &str = "auth_sessions";

/// The text columns after `user_id`, in seed order.
const TEXT_FIELDS: [&str; 21] = [
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
];

pub fn table() -> Table {
    let mut table = Table::new(PATH)
        .column(Column::text("title"))
        .column(Column::integer("user_id").required().references("users"));
    for name in TEXT_FIELDS {
        table = table.column(Column::text(name));
    }
    table
        .column(Column::text("encrypted_token").write_only())
        .column(Column::bool("revoked").default_value(json!(false)))
}

pub fn service(config: &Config) -> SqlService {
    super::standard(table(), "auth_sessions", config)
}
