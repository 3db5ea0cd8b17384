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
//! - Rows are written by logins only: `create` and `update` are not methods (405), and
//!   `patch` from outside may set `revoked` to `true` and nothing else (a revoked session stays
//!   revoked; the other columns are server-written and ignored in data).
//! - Scopes (prefix `auth_sessions`): `auth_sessions_read`, `auth_sessions_write`; a
//!   user may find, get, revoke (`patch {revoked: true}`) and remove their own sessions.
//! - Events: `auth_sessions created|updated|patched|removed`.

use async_trait::async_trait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::service::{Ctx, Db, Field, Method, Policy, Rows, ScopeRule, peek};
use crate::store::audit::record_custom;
use crate::store::{Change, Column, Prepared, SqlService, Table, WriteRules, parse_id};

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

/// Who may do what (DESIGN §4).
pub const POLICY: Policy = Policy::scoped(
    ScopeRule::read_write("auth_sessions", "auth_sessions_read", "auth_sessions_write").own(
        "user_id",
        &[Method::Find, Method::Get, Method::Patch, Method::Remove],
    ),
)
.rows(Rows::Sessions);

pub fn table() -> Table {
    let mut table = Table::new(PATH)
        .column(Column::text("title").internal_write())
        .column(
            Column::integer("user_id")
                .required()
                .references("users")
                .internal_write(),
        );
    for name in TEXT_FIELDS {
        table = table.column(Column::text(name).internal_write());
    }
    table
        .column(
            Column::text("encrypted_token")
                .write_only()
                .internal_write()
                .max_len(8_192),
        )
        .column(Column::bool("revoked").default_value(json!(false)))
}

/// What a patch of a session may say: `revoked`, as a boolean (any other value, null
/// included, is refused from outside). Other fields are refused by name, in the rules.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SessionPatch {
    revoked: Field<bool>,
}

/// `revoked` only goes from false to true; revoking or removing a live session records
/// `session_revoked` in the same transaction.
struct SessionRules;

/// The owner of session `id` while it is live (not revoked).
async fn live_owner(db: Db<'_>, id: &Value) -> Result<Option<i64>> {
    let Some(id) = parse_id(id) else {
        return Ok(None);
    };
    let select = Query::select()
        .column(Alias::new("user_id"))
        .from(Alias::new(PATH))
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .and_where(Expr::col(Alias::new("revoked")).eq(false))
        .to_owned();
    let row = db
        .query_one(db.build(&select))
        .await
        .map_err(Error::internal)?;
    row.map(|r| r.try_get::<Option<i64>>("", "user_id"))
        .transpose()
        .map(Option::flatten)
        .map_err(Error::internal)
}

async fn record_revocation(db: Db<'_>, id: &Value) -> Result<()> {
    match live_owner(db, id).await? {
        Some(owner) => record_custom(db, "session_revoked", Some(owner)).await,
        None => Ok(()),
    }
}

pub fn service(config: &Config) -> SqlService {
    super::standard(table(), POLICY, config)
        .with_methods(&[Method::Find, Method::Get, Method::Patch, Method::Remove])
        .with_rules(SessionRules)
}

#[async_trait]
impl WriteRules for SessionRules {
    async fn before_write(
        &self,
        ctx: &Ctx<'_>,
        _store: &SqlService,
        change: Change<'_>,
        data: Value,
    ) -> Result<Prepared> {
        let input: SessionPatch = peek(&data)?;
        let revoking = input.revoked.get() == Some(&true);
        if revoking && let Some(id) = change.id() {
            record_revocation(ctx.db, id).await?;
        }
        if ctx.params.is_internal() {
            return Ok(Prepared::new(data));
        }
        if let Some(field) = data
            .as_object()
            .and_then(|d| d.keys().find(|k| *k != "revoked"))
        {
            return Err(Error::bad_request(format!(
                "Only 'revoked' can be changed on a session, not '{field}'"
            ))
            .with_errors(json!({ field: "is written by the server" })));
        }
        if !input.revoked.is_absent() && !revoking {
            return Err(Error::bad_request(
                "A session can only be revoked: 'revoked' must be true",
            )
            .with_errors(json!({ "revoked": "must be true" })));
        }
        Ok(Prepared::new(data))
    }

    async fn before_remove(&self, ctx: &Ctx<'_>, _store: &SqlService, id: &Value) -> Result<()> {
        record_revocation(ctx.db, id).await
    }
}
