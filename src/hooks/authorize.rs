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
//! - Parse once: the service turns the call's id and data into typed values
//!   ([`Service::parse`]) right after the caller is known, so every rule here and the
//!   store read the same values; a rule reads ids as JSON integers only.
//! - No escalation is judged by effect, on the rows as stored, inside the write's
//!   transaction: see [`crate::auth::grants`].

use std::sync::Arc;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use serde_json::{Map, Value, json};

use crate::app::App;
use crate::auth::fields;
use crate::auth::scopes::Scopes;
use crate::error::{Error, Result};
use crate::service::policy::ScopeRule;
use crate::service::{Access, Call, Db, Method, Principal, Service, not_supported};

/// The field a caller sends to prove it knows its current password.
pub const CURRENT_PASSWORD: &str = "current_password";

pub async fn run(app: &App, service: &dyn Service, call: &mut Call) -> Result<()> {
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
    if !open && current.is_none() {
        return Err(Error::not_authenticated("Not authenticated"));
    }
    service.parse(call)?;
    let Some((principal, scopes)) = current.filter(|_| !open) else {
        return Ok(());
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
    } else if let Some((field, groups)) = group_grant(rule, call, &scopes) {
        in_groups(call, field, groups)?;
    } else if let Some(own) = rule.own_for(call.method) {
        not_own_but_readable(app, rule, own.field, call, &scopes, me).await?;
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
    app: &App,
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
        return own_sign_in_change(app, me, data, current).await;
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

/// One's own password, email or phone change needs the current password (when the
/// account has one): a stolen session alone cannot take the account over.
async fn own_sign_in_change(
    app: &App,
    me: i64,
    data: &Map<String, Value>,
    current: Option<Value>,
) -> Result<()> {
    if !["password", "email", "phone"]
        .iter()
        .any(|f| data.contains_key(*f))
    {
        return Ok(());
    }
    let db = Db::Pool(&app.db);
    let select = Query::select()
        .columns(["password", "email", "phone"].map(Alias::new))
        .from(Alias::new("users"))
        .and_where(Expr::col(Alias::new("id")).eq(me))
        .to_owned();
    let Some(row) = db
        .query_one(db.build(&select))
        .await
        .map_err(Error::internal)?
    else {
        return Ok(()); // the write answers 404
    };
    let stored = |c: &str| {
        row.try_get::<Option<String>>("", c)
            .map_err(Error::internal)
    };
    let Some(hash) = stored("password")?.filter(|h| !h.is_empty()) else {
        return Ok(()); // no password yet: the session is the proof
    };
    // Compared in the form the users service stores: emails normalised, phones as sent.
    let stored_form = |field: &str, v: Option<&str>| match field {
        "email" => v.map(crate::services::users::normalize_email),
        _ => v.map(str::to_string),
    };
    let mut changed = None;
    for field in ["password", "email", "phone"] {
        let Some(new) = data.get(field) else { continue };
        if field == "password"
            || stored_form(field, new.as_str()) != stored_form(field, stored(field)?.as_deref())
        {
            changed = Some(field);
            break;
        }
    }
    let Some(field) = changed else {
        return Ok(());
    };
    let Some(Value::String(current)) = current else {
        return Err(Error::bad_request(format!(
            "'{CURRENT_PASSWORD}' is required to change the {field}"
        )));
    };
    if app.passwords.verify(current, hash).await? {
        Ok(())
    } else {
        Err(Error::bad_request(format!(
            "'{CURRENT_PASSWORD}' is not the current password"
        )))
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
