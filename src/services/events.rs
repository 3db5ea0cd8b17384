//! `events` — the audit log: one row per record a mutation touched (written by the
//! pipeline inside the mutation's transaction), plus `custom` authentication events.
//!
//! - Path `events`; methods find, get, create, update, patch, remove; paginated; multi off.
//! - Fields: `id, source_table, event, custom_event, table_id, user_id, previous_user_id,
//!   created_at, updated_at`; `event` is one of `created updated patched removed custom`
//!   (default `custom`). `user_id` has no foreign key: the log outlives users.
//! - Written by the server: the pipeline's rows, and custom authentication events. A
//!   hand-written event (`create` from outside, `events_write`) is `custom`, has
//!   `source_table = "manual"` and its real author as `user_id`; sending `user_id`,
//!   `previous_user_id` or `source_table`, or another `event` kind, is 400.
//! - Append-only (ASVS 16.4.2): `update` / `patch` / `remove` answer 405 unless config
//!   `audit.mutable` is on. Its own writes are not audited (no events about events) but are
//!   published.
//! - Scopes (prefix `events`): `events_read`, `events_write`.
//! - Events: `events created` (and `updated|patched|removed` when mutable).

use async_trait::async_trait;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::service::{Ctx, Field, Policy, ScopeRule, peek};
use crate::store::{Change, Column, Prepared, SqlService, Table, WriteRules};

pub const PATH: &str = crate::store::audit::TABLE;

/// `source_table` of an event written by hand through this service (not by the pipeline).
pub const MANUAL: &str = "manual";

/// The values of `event` (the migration's CHECK constraint allows the same).
pub const EVENT_KINDS: &[&str] = &["created", "updated", "patched", "removed", "custom"];

pub fn table() -> Table {
    Table::new(PATH)
        .column(Column::text("source_table"))
        .column(
            Column::text("event")
                .one_of(EVENT_KINDS)
                .default_value(json!("custom")),
        )
        .column(Column::text("custom_event"))
        .column(Column::integer("table_id"))
        .column(Column::integer("user_id"))
        .column(Column::integer("previous_user_id"))
}

/// What a hand-written event may not say: the fields the server sets (any value but
/// null counts as set), and an `event` kind other than `custom`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ManualEvent {
    user_id: Option<IgnoredAny>,
    previous_user_id: Option<IgnoredAny>,
    source_table: Option<IgnoredAny>,
    event: Field<String>,
}

/// Refuses changes to the log unless `audit.mutable` is on.
struct AppendOnly {
    mutable: bool,
}

impl AppendOnly {
    fn check(&self) -> Result<()> {
        if self.mutable {
            Ok(())
        } else {
            Err(Error::method_not_allowed("The audit log is append-only"))
        }
    }
}

#[async_trait]
impl WriteRules for AppendOnly {
    async fn before_write(
        &self,
        ctx: &Ctx<'_>,
        _store: &SqlService,
        change: Change<'_>,
        data: Value,
    ) -> Result<Prepared> {
        if change != Change::Create {
            self.check()?;
        }
        if ctx.params.is_internal() || change != Change::Create {
            // Edits of a mutable log (`audit.mutable`, full_access only) are the operator's.
            return Ok(Prepared::new(data));
        }
        // A hand-written event: its author and kind are the server's to say.
        let input: ManualEvent = peek(&data)?;
        let set = [
            ("user_id", input.user_id.is_some()),
            ("previous_user_id", input.previous_user_id.is_some()),
            ("source_table", input.source_table.is_some()),
        ];
        if let Some((field, _)) = set.into_iter().find(|(_, set)| *set) {
            return Err(
                Error::bad_request(format!("'{field}' of an event is set by the server"))
                    .with_errors(json!({ field: "is set by the server" })),
            );
        }
        if !input.event.is_absent() && input.event.get().map(String::as_str) != Some("custom") {
            return Err(Error::bad_request(
                "Only custom events can be written by hand: 'event' must be \"custom\"",
            )
            .with_errors(json!({ "event": "must be custom" })));
        }
        let mut prepared = Prepared::new(data);
        prepared
            .server
            .insert("user_id".into(), json!(ctx.params.user_id()));
        prepared
            .server
            .insert("previous_user_id".into(), Value::Null);
        prepared.server.insert("source_table".into(), json!(MANUAL));
        prepared.server.insert("event".into(), json!("custom"));
        Ok(prepared)
    }

    async fn before_remove(&self, _ctx: &Ctx<'_>, _store: &SqlService, _id: &Value) -> Result<()> {
        self.check()
    }
}

/// The audit log service. Authorization runs first (changes need `full_access`), then
/// the log refuses them unless configured mutable.
pub fn service(config: &Config) -> SqlService {
    let policy = Policy {
        audit: false,
        publish: true,
        ..Policy::scoped(ScopeRule::crud(
            "events",
            "events_read",
            "events_write",
            "full_access",
            "full_access",
        ))
    };
    SqlService::new(table(), policy)
        .paginate(Some(config.paginate))
        .with_rules(AppendOnly {
            mutable: config.audit.mutable,
        })
}
