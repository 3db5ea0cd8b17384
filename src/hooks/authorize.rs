//! Decides whether the caller may run this method (DESIGN §4). Internal calls skip it.
//!
//! - Denials: 401 `NotAuthenticated` without a caller, 403 `Forbidden` with one.
//! - The caller's effective scopes are looked up in the scope cache by user id on every
//!   call (a socket-bound principal sees role changes from its next call on).
//! - A method needs the slug of its service's [`ScopeRule`](crate::service::policy::ScopeRule)
//!   (or the umbrella slug, or `full_access`).
//! - Own records: without the scope, a method the own-record rule covers is allowed but
//!   restricted to the caller's rows by AND-ing `<field> = me` into `params.query` before
//!   the service runs (so `find` totals are right). Another user's row then answers
//!   **404** (as if it did not exist; its existence is not revealed).
//! - `users`: field rules (see [`crate::auth::fields`]); filters and sorts on fields the
//!   caller may not read are refused with 400; writing another user's fields needs the
//!   matching `users_write_<field>` scope; changing one's own password needs the current
//!   one in `current_password` (checked here, removed from the data).
//! - Group roles: on services with group-scoped rows (`access_groups` by `id`,
//!   `user_group_roles` by `group_id`, `group_group_roles` by `parent_group_id`) a scope
//!   held only inside some groups allows the method on those groups' rows: the query is
//!   restricted to them (404 for others) and written data may only name them (403).
//! - No escalation: granting a role (`user_roles`, `user_group_roles`) or adding a scope
//!   to a role (`role_access_scopes`) needs every scope granted, unless `full_access`.

use std::sync::Arc;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use serde_json::{Map, Value, json};

use crate::app::App;
use crate::auth::fields;
use crate::auth::scopes::{self, Scopes};
use crate::error::{Error, Result};
use crate::service::policy::ScopeRule;
use crate::service::{Access, Call, Db, Method, Policy, Principal, not_supported};

/// The field a caller sends to prove it knows its current password.
pub const CURRENT_PASSWORD: &str = "current_password";

pub async fn run(app: &App, policy: &Policy, call: &mut Call) -> Result<()> {
    if call.params.is_internal() {
        return Ok(());
    }
    if policy.access(call.method) == Access::Deny {
        return Err(not_supported(&call.path, call.method));
    }
    let open = match policy.access(call.method) {
        Access::Public | Access::Deny => true,
        Access::Signup => app.config.signup.open,
        Access::Authenticated => false,
    };
    // Current scopes for every later stage (result shaping included), even on open methods
    // of scoped services; open methods of unscoped services need none.
    let needs_scopes = !open || policy.scope_prefix.is_some();
    let current = match call.params.principal.clone().filter(|_| needs_scopes) {
        Some(principal) => {
            let scopes = match app.scopes.get(Db::Pool(&app.db), principal.user_id).await {
                Ok(scopes) => scopes,
                // An open method does not depend on scopes: keep the ones it had.
                Err(_) if open => principal.scopes.clone(),
                Err(e) => return Err(e),
            };
            if !Arc::ptr_eq(&principal.scopes, &scopes) {
                call.params.principal = Some(Arc::new(Principal {
                    scopes: scopes.clone(),
                    ..(*principal).clone()
                }));
            }
            Some((principal, scopes))
        }
        None => None,
    };
    if open {
        return Ok(());
    }
    let Some((principal, scopes)) = current else {
        return Err(Error::not_authenticated("Not authenticated"));
    };
    let Some(prefix) = policy.scope_prefix else {
        return Ok(()); // any authenticated caller
    };
    let me = principal.user_id;
    let Some(rule) = policy.scope_rule() else {
        return if scopes.is_full() {
            Ok(())
        } else {
            Err(forbidden(call))
        };
    };
    let allowed = scopes.has_any(&rule.required(call.method));
    if allowed {
        no_escalation(app, call, &scopes, None).await?;
    } else if let Some((field, groups)) = group_grant(rule, call, &scopes) {
        in_groups(app, call, &scopes, field, groups).await?;
    } else if let Some(own) = rule.own_for(call.method) {
        restrict(&mut call.params.query, own.field, json!(me));
    } else {
        return Err(forbidden(call));
    }
    if prefix == "users" {
        users(app, rule, call, &scopes, me, allowed).await?;
    }
    Ok(())
}

fn forbidden(call: &Call) -> Error {
    Error::forbidden(format!(
        "You are not allowed to {} {}",
        call.method.as_str(),
        call.path
    ))
}

/// The group field and the groups inside which the caller holds the method's scope, if
/// the service has group-scoped rows and there are such groups.
fn group_grant(rule: &ScopeRule, call: &Call, scopes: &Scopes) -> Option<(&'static str, Vec<i64>)> {
    let field = rule.group?;
    let groups = scopes.groups_with_any(&rule.required(call.method));
    (!groups.is_empty()).then_some((field, groups))
}

/// A call allowed by group roles only: restricted to rows of those groups (404 for
/// others), and data may only name one of them.
async fn in_groups(
    app: &App,
    call: &mut Call,
    scopes: &Scopes,
    field: &'static str,
    groups: Vec<i64>,
) -> Result<()> {
    let named = call.data.get(field).map(as_id);
    let mut group = None;
    if matches!(call.method, Method::Create | Method::Update | Method::Patch) {
        match named {
            Some(Some(g)) if groups.contains(&g) => group = Some(g),
            None if call.method != Method::Create => {}
            _ => return Err(forbidden(call)),
        }
    }
    if call.method != Method::Create {
        if group.is_none()
            && let Some(id) = call.id.as_ref().and_then(as_id)
        {
            group = existing(Db::Pool(&app.db), &call.path, id, field).await?;
        }
        restrict(&mut call.params.query, field, json!({ "$in": groups }));
    }
    no_escalation(app, call, scopes, group).await
}

/// ANDs `field = value` into the query.
fn restrict(query: &mut Map<String, Value>, field: &str, value: Value) {
    if let Some(previous) = query.remove(field) {
        let mut clause = Map::new();
        clause.insert(field.to_string(), previous);
        match query.get_mut("$and") {
            Some(Value::Array(all)) => all.push(Value::Object(clause)),
            Some(_) => {} // not an array: the query parser answers 400
            None => {
                query.insert("$and".into(), json!([clause]));
            }
        }
    }
    query.insert(field.to_string(), value);
}

/// An id as a number (REST sends strings).
fn as_id(id: &Value) -> Option<i64> {
    match id {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The `users` rules on top of the method scope.
async fn users(
    app: &App,
    rule: &ScopeRule,
    call: &mut Call,
    scopes: &Scopes,
    me: i64,
    allowed: bool,
) -> Result<()> {
    let own_only = !allowed && rule.own_for(call.method).is_some();
    let target_is_me = call.id.as_ref().and_then(as_id) == Some(me);
    // Filters and sorts: only on readable fields (no inference through $sort / $in).
    if !scopes.is_full() && !own_only {
        let readable = fields::readable_users_fields(scopes);
        fields::check_query(&call.params.query, &readable)?;
    }
    if !matches!(call.method, Method::Create | Method::Update | Method::Patch) {
        return Ok(());
    }
    let Value::Object(data) = &mut call.data else {
        return Ok(()); // the service answers 400
    };
    let current = data.remove(CURRENT_PASSWORD);
    let own_write = call.method != Method::Create && (target_is_me || own_only);
    if own_write {
        if data.contains_key("password") {
            let Some(Value::String(current)) = current else {
                return Err(Error::bad_request(format!(
                    "'{CURRENT_PASSWORD}' is required to change the password"
                )));
            };
            if !current_password_matches(app, me, current).await? {
                return Err(Error::bad_request(format!(
                    "'{CURRENT_PASSWORD}' is not the current password"
                )));
            }
        }
        return Ok(());
    }
    if scopes.is_full() {
        return Ok(());
    }
    // Another user's fields (or a new user's): each needs its write scope.
    if call.method != Method::Create
        && let Some(field) = data
            .keys()
            .find(|k| fields::write_scope(k).is_some_and(|s| !scopes.has(s)))
    {
        return Err(Error::forbidden(format!(
            "You are not allowed to write '{field}' of another user"
        )));
    }
    Ok(())
}

async fn current_password_matches(app: &App, user_id: i64, plain: String) -> Result<bool> {
    let db = Db::Pool(&app.db);
    let select = Query::select()
        .column(Alias::new("password"))
        .from(Alias::new("users"))
        .and_where(Expr::col(Alias::new("id")).eq(user_id))
        .to_owned();
    let row = db
        .query_one(db.build(&select))
        .await
        .map_err(Error::internal)?;
    let hash: Option<String> = match row {
        Some(row) => row.try_get("", "password").map_err(Error::internal)?,
        None => None,
    };
    match hash {
        Some(hash) => app.passwords.verify(plain, hash).await,
        None => Ok(false),
    }
}

/// Refuses to grant a role, or to add a scope to a role, carrying scopes the caller lacks
/// (globally, or inside `group` for a grant there).
async fn no_escalation(app: &App, call: &Call, scopes: &Scopes, group: Option<i64>) -> Result<()> {
    if scopes.is_full() || !matches!(call.method, Method::Create | Method::Update | Method::Patch) {
        return Ok(());
    }
    let db = Db::Pool(&app.db);
    let field = match call.path.as_str() {
        "user_roles" | "user_group_roles" | "group_group_roles" => "role_id",
        "role_access_scopes" => "access_scope_id",
        _ => return Ok(()),
    };
    let id = match call.data.get(field) {
        Some(value) => as_id(value),
        // A change that keeps the row's role / scope (e.g. moves it to another user)
        // grants what the row grants.
        None if call.method != Method::Create => match call.id.as_ref().and_then(as_id) {
            Some(row) => existing(db, &call.path, row, field).await?,
            None => return Err(forbidden(call)),
        },
        None => None,
    };
    let Some(id) = id else {
        return Ok(()); // missing, malformed or no such row: the service answers 400 / 404
    };
    let granted = if field == "role_id" {
        scopes::of_role(db, id).await?
    } else {
        match scopes::slug_of(db, id).await? {
            Some(slug) => Scopes::new([slug]),
            None => return Ok(()), // unknown scope: the service answers 400
        }
    };
    let holds = |slug: &str| match group {
        Some(g) => scopes.has_in_group(g, slug),
        None => scopes.has(slug),
    };
    if scopes.is_full() || granted.slugs().all(holds) {
        Ok(())
    } else {
        Err(Error::forbidden(
            "You cannot grant access scopes you do not hold yourself",
        ))
    }
}

/// The integer `field` of row `id` of `table`, if the row exists.
async fn existing(db: Db<'_>, table: &str, id: i64, field: &str) -> Result<Option<i64>> {
    let select = Query::select()
        .column(Alias::new(field))
        .from(Alias::new(table))
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned();
    let row = db
        .query_one(db.build(&select))
        .await
        .map_err(Error::internal)?;
    match row {
        Some(row) => row
            .try_get::<Option<i64>>("", field)
            .map_err(Error::internal),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restrict_ands_the_owner() {
        let mut q = Map::new();
        restrict(&mut q, "user_id", json!(7));
        assert_eq!(Value::Object(q.clone()), json!({"user_id": 7}));
        let mut q = json!({"user_id": {"$in": [1, 7]}, "$and": [{"a": 1}]});
        if let Value::Object(q) = &mut q {
            restrict(q, "user_id", json!(7));
        }
        assert_eq!(
            q,
            json!({"user_id": 7, "$and": [{"a": 1}, {"user_id": {"$in": [1, 7]}}]})
        );
    }
}
