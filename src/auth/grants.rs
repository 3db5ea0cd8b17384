//! No escalation, judged by effect (DESIGN §4).
//!
//! A write to a table that decides what someone holds is checked against what the rows it
//! leaves (and the rows it replaces or removes) confer, read back from the database inside
//! the write's transaction: the typed values actually stored, never the request's spelling.
//! The caller must already hold all of it, in the same context (globally, or inside the
//! group), group links followed transitively, unless it holds `full_access`.
//!
//! - `user_roles (user, role)`: the role's scopes, globally.
//! - `user_group_roles (user, group, role)`: the role's scopes in the group, plus every
//!   role the group's links confer above it (membership brings the links' rights).
//! - `group_group_roles (parent, child, role)`: the role's scopes in the parent, plus what
//!   the parent's own links confer above it.
//! - `role_access_scopes (role, scope)`: the scope, globally (whoever holds the role).
//! - `roles`: removing a role takes its scopes from its holders: they must be held.
//! - `access_scopes`: slugs are identities. Renaming or removing a scope, or any write
//!   naming `full_access`, needs `full_access`.
//!
//! Granting and revoking are judged alike: a caller manages only grants it could make.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde_json::Value;

use super::scopes::{self, FULL_ACCESS, Scopes};
use crate::error::{Error, Result};
use crate::service::{Ctx, Db};
use crate::store::{Change, Prepared, SqlService, WriteRules, parse_id};

/// Scopes a row confers: globally, and inside groups.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Conferred {
    pub global: BTreeSet<String>,
    pub groups: BTreeMap<i64, BTreeSet<String>>,
}

impl Conferred {
    /// Everything `scopes` holds (what signing in as its owner would give).
    pub fn everything_in(scopes: &Scopes) -> Self {
        Self {
            global: scopes.slugs().map(str::to_string).collect(),
            groups: scopes.group_slugs().clone(),
        }
    }

    /// Does `scopes` hold all of it, each in its context?
    pub fn held_by(&self, scopes: &Scopes) -> bool {
        scopes.is_full()
            || (self.global.iter().all(|s| scopes.has(s))
                && self
                    .groups
                    .iter()
                    .all(|(group, slugs)| slugs.iter().all(|s| scopes.has_in_group(*group, s))))
    }

    fn names_full_access(&self) -> bool {
        self.global.contains(FULL_ACCESS) || self.groups.values().any(|g| g.contains(FULL_ACCESS))
    }

    fn add_global(&mut self, scopes: &Scopes) {
        self.global.extend(scopes.slugs().map(str::to_string));
    }

    fn add_in(&mut self, group: i64, scopes: &Scopes) {
        self.groups
            .entry(group)
            .or_default()
            .extend(scopes.slugs().map(str::to_string));
    }

    /// What a member of `group` holding `role` there gets: the role in the group and
    /// every link role above it.
    async fn add_membership(&mut self, db: Db<'_>, group: i64, role: i64) -> Result<()> {
        self.add_in(group, &scopes::of_role(db, role).await?);
        for (above, link_role) in scopes::roles_above(db, group).await? {
            self.add_in(above, &scopes::of_role(db, link_role).await?);
        }
        Ok(())
    }
}

/// The tables whose rows confer scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    UserRoles,
    UserGroupRoles,
    GroupGroupRoles,
    RoleScopes,
    Roles,
    Scopes,
}

fn int(row: &Value, field: &str) -> Option<i64> {
    row.get(field).and_then(Value::as_i64)
}

fn text<'a>(row: &'a Value, field: &str) -> Option<&'a str> {
    row.get(field).and_then(Value::as_str)
}

/// 403 for a grant the caller may not make.
pub fn escalation() -> Error {
    Error::forbidden("You cannot grant access scopes you do not hold yourself")
}

fn scope_identity() -> Error {
    Error::forbidden(
        "Only a caller with full_access may rename or remove an access scope, or change full_access",
    )
}

impl Grant {
    /// What the stored `row` of this table confers (nothing for `roles` and
    /// `access_scopes` rows, whose effect is judged by [`Grant::check_scope`]).
    pub async fn conferred(self, db: Db<'_>, row: &Value) -> Result<Conferred> {
        let mut out = Conferred::default();
        match self {
            Grant::UserRoles => {
                if let Some(role) = int(row, "role_id") {
                    out.add_global(&scopes::of_role(db, role).await?);
                }
            }
            Grant::UserGroupRoles => {
                if let (Some(group), Some(role)) = (int(row, "group_id"), int(row, "role_id")) {
                    out.add_membership(db, group, role).await?;
                }
            }
            Grant::GroupGroupRoles => {
                if let (Some(parent), Some(role)) =
                    (int(row, "parent_group_id"), int(row, "role_id"))
                {
                    out.add_membership(db, parent, role).await?;
                }
            }
            Grant::RoleScopes => {
                if let Some(scope) = int(row, "access_scope_id")
                    && let Some(slug) = scopes::slug_of(db, scope).await?
                {
                    out.global.insert(slug);
                }
            }
            Grant::Roles => {
                if let Some(role) = int(row, "id") {
                    out.add_global(&scopes::of_role(db, role).await?);
                }
            }
            Grant::Scopes => {}
        }
        Ok(out)
    }

    /// `access_scopes`: a slug is an identity. `before` is the row replaced or removed,
    /// `after` the row stored (`None` for a remove).
    fn check_scope(before: Option<&Value>, after: Option<&Value>, caller: &Scopes) -> Result<()> {
        if caller.is_full() {
            return Ok(());
        }
        let old = before.and_then(|r| text(r, "slug"));
        let new = after.and_then(|r| text(r, "slug"));
        let renamed_or_removed = before.is_some() && old != new;
        if renamed_or_removed || old == Some(FULL_ACCESS) || new == Some(FULL_ACCESS) {
            return Err(scope_identity());
        }
        Ok(())
    }

    /// Refuses unless `caller` holds what `row` confers (or changes, for scopes).
    async fn check_row(
        self,
        db: Db<'_>,
        caller: &Scopes,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> Result<()> {
        if self == Grant::Scopes {
            return Self::check_scope(before, after, caller);
        }
        for row in [before, after].into_iter().flatten() {
            let conferred = self.conferred(db, row).await?;
            if !conferred.held_by(caller) {
                return Err(if conferred.names_full_access() {
                    scope_identity()
                } else {
                    escalation()
                });
            }
        }
        Ok(())
    }
}

/// The caller's scopes for a rule: `None` for server-side calls (not judged); an outside
/// call without a principal holds nothing.
fn caller(ctx: &Ctx<'_>) -> Option<std::sync::Arc<Scopes>> {
    if ctx.params.is_internal() {
        return None;
    }
    Some(
        ctx.params
            .principal
            .as_ref()
            .map(|p| p.scopes.clone())
            .unwrap_or_default(),
    )
}

/// The stored row `id` names, read inside the write's transaction.
async fn stored(ctx: &Ctx<'_>, store: &SqlService, id: &Value) -> Result<Option<Value>> {
    match parse_id(id) {
        Some(id) => store.find_by_id(ctx.db, id).await,
        None => Ok(None),
    }
}

/// Identity writes are grants: setting another user's password, email or phone, or
/// linking or unlinking their sign-in identities, lets the caller sign in as them. Refused
/// (403) unless the caller holds everything `target` holds (or it is the caller itself).
pub async fn may_act_as(ctx: &Ctx<'_>, target: i64) -> Result<()> {
    let Some(caller) = caller(ctx) else {
        return Ok(());
    };
    if caller.is_full() || ctx.params.user_id() == Some(target) {
        return Ok(());
    }
    let theirs = scopes::load(ctx.db, target).await?;
    if Conferred::everything_in(&theirs).held_by(&caller) {
        Ok(())
    } else {
        Err(Error::forbidden(
            "You cannot change how a user who holds access you do not hold signs in",
        ))
    }
}

/// The no-escalation rule as [`WriteRules`], for tables with no rules of their own, and
/// its steps for tables that have some ([`GrantRules::before`] etc.).
pub struct GrantRules(pub Grant);

impl GrantRules {
    /// Before a create, update or patch: the row being replaced must be the caller's to
    /// manage. `access_scopes` is judged here on the parsed data, which is what is stored.
    pub async fn before(
        &self,
        ctx: &Ctx<'_>,
        store: &SqlService,
        change: Change<'_>,
        data: &Value,
    ) -> Result<()> {
        let Some(caller) = caller(ctx) else {
            return Ok(());
        };
        let row = match change.id() {
            Some(id) => match stored(ctx, store, id).await? {
                Some(row) => Some(row),
                None => return Ok(()), // the write answers 404
            },
            None => None,
        };
        if self.0 == Grant::Scopes {
            let mut after = row.clone().unwrap_or(Value::Null);
            if let (Value::Object(after), Value::Object(data)) = (&mut after, data) {
                after.extend(data.clone());
            } else if let Value::Object(data) = data {
                after = Value::Object(data.clone());
            }
            return Grant::check_scope(row.as_ref(), Some(&after), &caller);
        }
        match row {
            Some(row) => self.0.check_row(ctx.db, &caller, Some(&row), None).await,
            None => Ok(()),
        }
    }

    /// After a create, update or patch: the row as stored (read back, whatever `$select`
    /// the caller asked for) must confer only what the caller holds.
    pub async fn after(
        &self,
        ctx: &Ctx<'_>,
        store: &SqlService,
        change: Change<'_>,
        record: &Value,
    ) -> Result<()> {
        let Some(caller) = caller(ctx) else {
            return Ok(());
        };
        if matches!(change, Change::Remove(_)) || self.0 == Grant::Scopes {
            return Ok(());
        }
        let id = record.get("id").unwrap_or(&Value::Null);
        let Some(row) = stored(ctx, store, id).await? else {
            return Err(Error::internal(
                "a written grant row could not be read back",
            ));
        };
        self.0.check_row(ctx.db, &caller, None, Some(&row)).await
    }

    /// Before a remove: the row removed must be the caller's to manage.
    pub async fn before_remove(&self, ctx: &Ctx<'_>, store: &SqlService, id: &Value) -> Result<()> {
        let Some(caller) = caller(ctx) else {
            return Ok(());
        };
        let Some(row) = stored(ctx, store, id).await? else {
            return Ok(()); // the remove answers 404
        };
        self.0.check_row(ctx.db, &caller, Some(&row), None).await
    }
}

#[async_trait]
impl WriteRules for GrantRules {
    async fn before_write(
        &self,
        ctx: &Ctx<'_>,
        store: &SqlService,
        change: Change<'_>,
        data: Value,
    ) -> Result<Prepared> {
        self.before(ctx, store, change, &data).await?;
        Ok(Prepared::new(data))
    }

    async fn before_remove(&self, ctx: &Ctx<'_>, store: &SqlService, id: &Value) -> Result<()> {
        GrantRules::before_remove(self, ctx, store, id).await
    }

    async fn after_write(
        &self,
        ctx: &Ctx<'_>,
        store: &SqlService,
        change: Change<'_>,
        record: &Value,
    ) -> Result<()> {
        self.after(ctx, store, change, record).await
    }
}
