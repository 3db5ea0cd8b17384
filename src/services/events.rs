//! `events` — the audit log: one row per record a mutation touched (written by the
//! pipeline inside the mutation's transaction), plus `custom` authentication events.
//!
//! - Path `events`; methods find, get, create, update, patch, remove; paginated; multi off.
//! - Fields: `id, source_table, event, custom_event, table_id, user_id, previous_user_id,
//!   created_at, updated_at`; `event` is one of `created updated patched removed custom`
//!   (default `custom`). `user_id` has no foreign key: the log outlives users.
//! - Append-only (ASVS 16.4.2): `update` / `patch` / `remove` answer 405 unless config
//!   `audit.mutable` is on. Its own writes are not audited (no events about events) but are
//!   published.
//! - Scopes (prefix `events`): `events_read`, `events_write`.
//! - Events: `events created` (and `updated|patched|removed` when mutable).

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::service::{Ctx, Method, Policy, Service};
use crate::store::{Column, SqlService, Table};

pub const PATH: &str = "events";

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

/// The audit log service: a [`SqlService`] that refuses changes unless configured.
pub struct EventsService {
    inner: SqlService,
    mutable: bool,
}

pub fn service(config: &Config) -> EventsService {
    let policy = Policy {
        audit: false,
        publish: true,
        ..Policy::authenticated("events")
    };
    EventsService {
        inner: SqlService::new(table(), policy).paginate(Some(config.paginate)),
        mutable: config.audit.mutable,
    }
}

impl EventsService {
    fn check_mutable(&self) -> Result<()> {
        if self.mutable {
            Ok(())
        } else {
            Err(Error::method_not_allowed("The audit log is append-only"))
        }
    }
}

#[async_trait]
impl Service for EventsService {
    fn methods(&self) -> &'static [Method] {
        self.inner.methods()
    }

    fn policy(&self) -> &Policy {
        self.inner.policy()
    }

    fn schema(&self) -> Option<Value> {
        self.inner.schema()
    }

    async fn find(&self, ctx: &Ctx<'_>) -> Result<Value> {
        self.inner.find(ctx).await
    }

    async fn get(&self, ctx: &Ctx<'_>, id: &Value) -> Result<Value> {
        self.inner.get(ctx, id).await
    }

    async fn create(&self, ctx: &Ctx<'_>, data: Value) -> Result<Value> {
        self.inner.create(ctx, data).await
    }

    async fn update(&self, ctx: &Ctx<'_>, id: Option<&Value>, data: Value) -> Result<Value> {
        self.check_mutable()?;
        self.inner.update(ctx, id, data).await
    }

    async fn patch(&self, ctx: &Ctx<'_>, id: Option<&Value>, data: Value) -> Result<Value> {
        self.check_mutable()?;
        self.inner.patch(ctx, id, data).await
    }

    async fn remove(&self, ctx: &Ctx<'_>, id: Option<&Value>) -> Result<Value> {
        self.check_mutable()?;
        self.inner.remove(ctx, id).await
    }
}
