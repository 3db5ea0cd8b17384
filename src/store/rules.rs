//! What a resource adds to the generic [`SqlService`]: checks and rewrites around its
//! writes. A service with rules is still one `SqlService` (no wrapper forwarding every
//! method); the rules run inside the call's transaction, so a refusal or an error rolls the
//! whole write back.

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::SqlService;
use crate::error::Result;
use crate::service::{Call, Caller, Ctx};

/// A single-record write about to happen. Multi-record calls and malformed ids never reach
/// the rules: the store refuses them first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    Create,
    /// `update` (replace) of the row with this id.
    Update(&'a Value),
    /// `patch` (merge) of the row with this id.
    Patch(&'a Value),
    Remove(&'a Value),
}

impl Change<'_> {
    /// The id of the row written, `None` for a create.
    pub fn id(&self) -> Option<&Value> {
        match self {
            Change::Create => None,
            Change::Update(id) | Change::Patch(id) | Change::Remove(id) => Some(id),
        }
    }
}

/// The data a rule lets through, plus values the service sets itself (written even to
/// columns callers may not write).
pub struct Prepared {
    pub data: Value,
    pub server: Map<String, Value>,
    /// Columns an `update` (replace) must keep as they are instead of resetting them
    /// when data leaves them out: those this caller may not write.
    pub keep: Vec<&'static str>,
    /// A create that must answer as if it wrote the row, without writing it (see
    /// [`StandIn`]).
    pub stand_in: Option<StandIn>,
}

impl Prepared {
    pub fn new(data: Value) -> Self {
        Self {
            data,
            server: Map::new(),
            keep: Vec::new(),
            stand_in: None,
        }
    }
}

/// How a create answers without writing: the row is inserted with `placeholders` in
/// place of values it cannot hold (taken unique ones), read back, and rolled back; the
/// answer shows `shown` for those fields. So it has the very shape, defaults and kind of
/// id a real row would have, and the id is used up as a rolled-back insert's would be.
#[derive(Debug, Default)]
pub struct StandIn {
    pub placeholders: Map<String, Value>,
    pub shown: Map<String, Value>,
}

#[async_trait]
pub trait WriteRules: Send + Sync + 'static {
    /// Before a create, update or patch: checks `data`, may rewrite it (hash, seal,
    /// normalise) and add server-set values. `data` is whatever the caller sent.
    async fn before_write(
        &self,
        _ctx: &Ctx<'_>,
        _store: &SqlService,
        _change: Change<'_>,
        data: Value,
    ) -> Result<Prepared> {
        Ok(Prepared::new(data))
    }

    /// Before a remove of one row.
    async fn before_remove(&self, _ctx: &Ctx<'_>, _store: &SqlService, _id: &Value) -> Result<()> {
        Ok(())
    }

    /// After a single-record write succeeded, with the record as stored (not yet
    /// committed: an error here rolls the write back).
    async fn after_write(
        &self,
        _ctx: &Ctx<'_>,
        _store: &SqlService,
        _change: Change<'_>,
        _record: &Value,
    ) -> Result<()> {
        Ok(())
    }

    /// Adjusts the JSON schemas the store derives from the table.
    fn schema(&self, _schema: &mut Value) {}

    /// The table's own authorization rules ([`crate::service::Service::authorize`]).
    async fn authorize(&self, _caller: &Caller<'_>, _call: &mut Call) -> Result<()> {
        Ok(())
    }
}
