//! The `users` rules on an outside write, after the scope rule admitted it: writing
//! another user's fields needs the matching `users_write_<field>` scope, and changing
//! one's own password, email or phone needs the current password in `current_password`
//! (checked here, removed from the data), so a stolen session alone cannot take the
//! account over.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use serde_json::{Map, Value};

use super::{SIGN_IN_FIELDS, fields, normalize_email};
use crate::auth::password::PasswordGate;
use crate::error::{Error, Result};
use crate::service::{Call, Caller, Method};

/// The field a caller sends to prove it knows its current password.
pub const CURRENT_PASSWORD: &str = "current_password";

pub async fn check(passwords: &PasswordGate, caller: &Caller<'_>, call: &mut Call) -> Result<()> {
    if !matches!(call.method, Method::Create | Method::Update | Method::Patch) {
        return Ok(());
    }
    let me = caller.principal.user_id;
    let target_is_me = call.id.as_ref().and_then(Value::as_i64) == Some(me);
    let Value::Object(data) = &mut call.data else {
        return Ok(()); // the service answers 400
    };
    let current = data.remove(CURRENT_PASSWORD);
    let own_write = call.method != Method::Create && (target_is_me || caller.own_only);
    if own_write {
        return own_sign_in_change(passwords, caller, data, current).await;
    }
    if caller.scopes.is_full() {
        return Ok(());
    }
    // Another user's fields (or a new user's): each needs its write scope.
    if call.method != Method::Create
        && let Some(field) = data
            .keys()
            .find(|k| fields::write_scope(k).is_some_and(|s| !caller.scopes.has(s)))
    {
        return Err(Error::forbidden(format!(
            "You are not allowed to write '{field}' of another user"
        )));
    }
    Ok(())
}

/// One's own password, email or phone change needs the current password (when the
/// account has one).
async fn own_sign_in_change(
    passwords: &PasswordGate,
    caller: &Caller<'_>,
    data: &Map<String, Value>,
    current: Option<Value>,
) -> Result<()> {
    if !SIGN_IN_FIELDS.iter().any(|f| data.contains_key(*f)) {
        return Ok(());
    }
    let db = caller.db;
    let select = Query::select()
        .columns(SIGN_IN_FIELDS.map(Alias::new))
        .from(Alias::new(super::PATH))
        .and_where(Expr::col(Alias::new("id")).eq(caller.principal.user_id))
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
        "email" => v.map(normalize_email),
        _ => v.map(str::to_string),
    };
    let mut changed = None;
    for field in SIGN_IN_FIELDS {
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
    if passwords.verify(current, hash).await? {
        Ok(())
    } else {
        Err(Error::bad_request(format!(
            "'{CURRENT_PASSWORD}' is not the current password"
        )))
    }
}
