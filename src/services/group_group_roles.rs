//! `group_group_roles` — `(parent, child, role)`: members of the child group hold `role` in
//! the parent group, transitively (DESIGN §4).
//!
//! - Path `group_group_roles`; methods find, get, create, update, patch, remove;
//!   paginated; multi off.
//! - Fields: `id, parent_group_id, child_group_id, role_id, created_at, updated_at`. The
//!   seed marks only `role_id` required; a link without both groups means nothing, so both
//!   group ids are required too (400), must exist (400), and the triple is unique (409).
//! - A link that would make a cycle (including a group under itself) is refused: 400.
//! - Scopes (prefix `group_group_roles`, added by migration): `group_group_roles_read`,
//!   `group_group_roles_write`.
//! - Events: `group_group_roles created|updated|patched|removed`.

use std::collections::HashSet;

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use serde_json::{Value, json};

use crate::auth::grants::{Grant, GrantRules};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::service::{Ctx, Db, Method, Policy, ScopeRule};
use crate::store::{Change, Column, Prepared, SqlService, Table, WriteRules, parse_id};

pub const PATH: &str = "group_group_roles";

const PARENT: &str = "parent_group_id";
const CHILD: &str = "child_group_id";
/// Most groups a cycle check walks before giving up with a 400.
const MAX_WALK: usize = 10_000;

/// Who may do what (DESIGN §4).
pub const POLICY: Policy = Policy::scoped(
    ScopeRule::read_write(
        "group_group_roles",
        "group_group_roles_read",
        "group_group_roles_write",
    )
    .group("parent_group_id"),
)
.changes_scopes(&Method::MUTATIONS);

pub fn table() -> Table {
    Table::new(PATH)
        .column(
            Column::integer(PARENT)
                .required()
                .references("access_groups"),
        )
        .column(
            Column::integer(CHILD)
                .required()
                .references("access_groups"),
        )
        .column(Column::integer("role_id").required().references("roles"))
        .unique(&[PARENT, CHILD, "role_id"])
}

/// The cycle check, and no escalation through links.
struct GroupLinkRules;

const LINK_GRANTS: GrantRules = GrantRules(Grant::GroupGroupRoles);

pub fn service(config: &Config) -> SqlService {
    super::standard(table(), POLICY, config).with_rules(GroupLinkRules)
}

/// An integer field of `data` (number or numeric string), if it is one.
fn int_field(data: &Value, name: &str) -> Option<i64> {
    data.get(name).and_then(|v| match v {
        Value::Null => None,
        other => parse_id(other),
    })
}

fn cycle(message: &str) -> Error {
    Error::bad_request(message.to_string())
        .with_errors(json!({ CHILD: "would create a cycle of groups" }))
}

/// Refuses `parent -> child` when `parent` is already reachable from `child` (ignoring the
/// link `exclude`, which the write replaces).
async fn check_cycle(db: Db<'_>, parent: i64, child: i64, exclude: Option<i64>) -> Result<()> {
    if parent == child {
        return Err(cycle("A group cannot be linked to itself"));
    }
    let mut seen = HashSet::from([child]);
    let mut frontier = vec![child];
    while !frontier.is_empty() {
        let mut select = Query::select();
        select
            .column(CHILD)
            .from(PATH)
            .and_where(Expr::col(PARENT).is_in(frontier.iter().copied()));
        if let Some(id) = exclude {
            select.and_where(Expr::col("id").ne(id));
        }
        let rows = db
            .query_all(db.build(&select))
            .await
            .map_err(Error::internal)?;
        frontier = Vec::new();
        for row in rows {
            let next: i64 = row.try_get("", CHILD).map_err(Error::internal)?;
            if next == parent {
                return Err(cycle("This link would create a cycle of groups"));
            }
            if seen.insert(next) {
                frontier.push(next);
            }
        }
        if seen.len() > MAX_WALK {
            return Err(Error::bad_request(
                "The group hierarchy is too deep to check",
            ));
        }
    }
    Ok(())
}

impl GroupLinkRules {
    /// The `(parent, child)` a write to row `id` (or a new row) would leave.
    async fn resulting_pair(
        store: &SqlService,
        ctx: &Ctx<'_>,
        id: Option<&Value>,
        data: &Value,
    ) -> Result<Option<(i64, i64)>> {
        let (parent, child) = (int_field(data, PARENT), int_field(data, CHILD));
        if let (Some(p), Some(c)) = (parent, child) {
            return Ok(Some((p, c)));
        }
        let Some(row_id) = id.and_then(parse_id) else {
            return Ok(None);
        };
        let Some(current) = store.find_by_id(ctx.db, row_id).await? else {
            return Ok(None);
        };
        Ok(parent
            .or_else(|| current.get(PARENT).and_then(Value::as_i64))
            .zip(child.or_else(|| current.get(CHILD).and_then(Value::as_i64))))
    }
}

#[async_trait]
impl WriteRules for GroupLinkRules {
    async fn before_write(
        &self,
        ctx: &Ctx<'_>,
        store: &SqlService,
        change: Change<'_>,
        data: Value,
    ) -> Result<Prepared> {
        LINK_GRANTS.before(ctx, store, change, &data).await?;
        let id = change.id();
        if data.is_object()
            && (data.get(PARENT).is_some() || data.get(CHILD).is_some())
            && let Some((parent, child)) = Self::resulting_pair(store, ctx, id, &data).await?
        {
            check_cycle(ctx.db, parent, child, id.and_then(parse_id)).await?;
        }
        Ok(Prepared::new(data))
    }

    async fn before_remove(&self, ctx: &Ctx<'_>, store: &SqlService, id: &Value) -> Result<()> {
        LINK_GRANTS.before_remove(ctx, store, id).await
    }

    async fn after_write(
        &self,
        ctx: &Ctx<'_>,
        store: &SqlService,
        change: Change<'_>,
        record: &Value,
    ) -> Result<()> {
        LINK_GRANTS.after(ctx, store, change, record).await
    }
}
