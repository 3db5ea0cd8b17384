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
//! - Field rules (a policy's `readable_fields`, see [`crate::service::fields`]): filters
//!   and sorts on fields the caller may not read are refused with 400.
//! - Then the service's own rules ([`Service::authorize`]), e.g. which fields of another
//!   user a caller may write.
//! - Group roles: on services with group-scoped rows (`access_groups` by `id`,
//!   `user_group_roles` by `group_id`, `group_group_roles` by `parent_group_id`) a scope
//!   held only inside some groups allows the method on those groups' rows: the query is
//!   restricted to them (404 for others) and written data may only name them (403).
//! - Parse once: the service turns the call's id and data into typed values
//!   ([`Service::parse`]) right after the caller is known, so every rule here and the
//!   store read the same values; a rule reads ids as JSON integers only.
//! - No escalation is judged by effect, on the rows as stored, inside the write's
//!   transaction: see [`crate::auth::grants`].

use std::sync::Arc;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use serde_json::{Map, Value, json};

use super::AppState;
use crate::auth::scopes::Scopes;
use crate::error::{Error, Result};
use crate::service::{
    Access, Call, Caller, Db, Method, Principal, ScopeRule, Service, fields, not_supported,
};

pub async fn run(app: &AppState, service: &dyn Service, call: &mut Call) -> Result<()> {
    let policy = service.policy();
    if call.params.is_internal() {
        return service.parse(call);
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
    let needs_scopes = !open || policy.scope_rule().is_some();
    let current = match call.params.principal.clone().filter(|_| needs_scopes) {
        Some(principal) => {
            let scopes = match app
                .principals
                .scopes(Db::Pool(&app.db), principal.user_id)
                .await
            {
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
    if !open && current.is_none() {
        return Err(Error::not_authenticated("Not authenticated"));
    }
    service.parse(call)?;
    let Some((principal, scopes)) = current.filter(|_| !open) else {
        return Ok(());
    };
    let me = principal.user_id;
    // How the caller is admitted: by the scope, by group roles, or to its own rows only.
    let (by_scope, own_only) = match policy.scope_rule() {
        None => (true, false), // any authenticated caller
        Some(rule) if rule.allows(&scopes, call.method) => (true, false),
        Some(rule) => {
            if let Some((field, groups)) = group_grant(rule, call, &scopes) {
                in_groups(call, field, groups)?;
                (false, false)
            } else if let Some(own) = rule.own_for(call.method) {
                not_own_but_readable(app, rule, own.field, call, &scopes, me).await?;
                restrict(&mut call.params.query, own.field, json!(me));
                (false, true)
            } else {
                return Err(forbidden(call));
            }
        }
    };
    // Filters and sorts only on fields the caller may read (no inference through them).
    if !own_only && let Some(readable) = fields::readable(policy, &scopes) {
        fields::check_query(&call.params.query, &readable)?;
    }
    let caller = Caller {
        principal: &principal,
        scopes: &scopes,
        by_scope,
        own_only,
        db: Db::Pool(&app.db),
    };
    service.authorize(&caller, call).await
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
fn in_groups(call: &mut Call, field: &'static str, groups: Vec<i64>) -> Result<()> {
    if matches!(call.method, Method::Create | Method::Update | Method::Patch) {
        match call.data.get(field).map(as_id) {
            Some(Some(g)) if groups.contains(&g) => {}
            None if call.method != Method::Create => {}
            _ => return Err(forbidden(call)),
        }
    }
    if call.method != Method::Create {
        restrict(&mut call.params.query, field, json!({ "$in": groups }));
    }
    Ok(())
}

/// A call on a row that is not the caller's own, on a service with an own-record rule:
/// 403 when the caller may read that row (it knows the row exists), else the restriction
/// to its own rows answers 404 (existence not revealed).
async fn not_own_but_readable(
    app: &AppState,
    rule: &ScopeRule,
    owner_field: &str,
    call: &Call,
    scopes: &Scopes,
    me: i64,
) -> Result<()> {
    let Some(id) = call.id.as_ref().and_then(as_id) else {
        return Ok(());
    };
    if !scopes.has_any(&rule.required(Method::Get)) {
        return Ok(());
    }
    let db = Db::Pool(&app.db);
    let select = Query::select()
        .column(Alias::new(owner_field))
        .from(Alias::new(call.path.as_str()))
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned();
    let row = db
        .query_one(db.build(&select))
        .await
        .map_err(Error::internal)?;
    let Some(row) = row else {
        return Ok(()); // no such row: 404
    };
    let owner: Option<i64> = row.try_get("", owner_field).map_err(Error::internal)?;
    if owner != Some(me) {
        return Err(forbidden(call));
    }
    Ok(())
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

/// An id as parsed by the service ([`Service::parse`]): a JSON integer, nothing else.
fn as_id(id: &Value) -> Option<i64> {
    id.as_i64()
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
