//! Field-level rules on `users` (DESIGN §4).
//!
//! - One's own record is fully visible; `full_access` sees every field of everyone.
//! - With `users_read` alone, another user's `id username locale created_at updated_at`
//!   are visible; `users_read_full_name` adds `first_name middle_name last_name`,
//!   `users_read_picture` adds `picture`, `users_read_email` adds `email
//!   email_verified_at`, `users_read_phone` adds `phone phone_verified_at`. Other columns
//!   (`invited_by invited_date joined_date updated_by`) are for the owner and `full_access`.
//! - Writing another user's field needs its `users_write_<field>` scope where one exists
//!   (`username full_name picture email phone password`).
//!
//! The same shaping applies to `get`, `find`, mutation results and realtime payloads.

use serde_json::{Map, Value};

use super::scopes::Scopes;
use crate::error::{Error, Result};

/// Visible to anyone allowed to see the row.
const BASE: &[&str] = &["id", "username", "locale", "created_at", "updated_at"];

/// `(read scope, fields it adds)`.
const READ_SCOPES: &[(&str, &[&str])] = &[
    (
        "users_read_full_name",
        &["first_name", "middle_name", "last_name"],
    ),
    ("users_read_picture", &["picture"]),
    ("users_read_email", &["email", "email_verified_at"]),
    ("users_read_phone", &["phone", "phone_verified_at"]),
];

/// The scope needed to write `field` of another user, if the field has one.
pub fn write_scope(field: &str) -> Option<&'static str> {
    Some(match field {
        "username" => "users_write_username",
        "first_name" | "middle_name" | "last_name" => "users_write_full_name",
        "picture" => "users_write_picture",
        "email" => "users_write_email",
        "phone" => "users_write_phone",
        "password" => "users_write_password",
        _ => return None,
    })
}

/// The fields of another user's record `scopes` may read (ignores `full_access`: callers
/// check [`Scopes::is_full`] first).
pub fn readable_users_fields(scopes: &Scopes) -> Vec<&'static str> {
    let mut out = BASE.to_vec();
    for (scope, fields) in READ_SCOPES {
        if scopes.has(scope) {
            out.extend_from_slice(fields);
        }
    }
    out
}

/// Refuses (400) a query that filters or sorts on a field outside `readable`.
pub fn check_query(query: &Map<String, Value>, readable: &[&str]) -> Result<()> {
    for (key, value) in query {
        match key.as_str() {
            "$sort" => {
                if let Value::Object(sort) = value {
                    for field in sort.keys() {
                        check_field(field, readable)?;
                    }
                }
            }
            "$or" | "$and" => {
                if let Value::Array(branches) = value {
                    for branch in branches {
                        if let Value::Object(branch) = branch {
                            check_query(branch, readable)?;
                        }
                    }
                }
            }
            // `$select` is answered by shaping; other `$` keys are the parser's business.
            k if k.starts_with('$') => {}
            field => check_field(field, readable)?,
        }
    }
    Ok(())
}

fn check_field(field: &str, readable: &[&str]) -> Result<()> {
    if readable.contains(&field) {
        Ok(())
    } else {
        Err(Error::bad_request(format!(
            "You are not allowed to query on '{field}'"
        )))
    }
}

/// Shapes one user record for a viewer (`me`, `scopes`).
pub fn shape_user(record: &mut Value, scopes: &Scopes, me: Option<i64>) {
    if scopes.is_full() {
        return;
    }
    let Value::Object(map) = record else { return };
    let id = map.get("id").and_then(Value::as_i64);
    if id.is_some() && id == me {
        return;
    }
    let readable = readable_users_fields(scopes);
    map.retain(|k, _| readable.contains(&k.as_str()));
}

/// Shapes a `users` result (a record, a list or a page) for a viewer.
pub fn shape_users_result(value: &mut Value, scopes: &Scopes, me: Option<i64>) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|r| shape_user(r, scopes, me)),
        Value::Object(map) if map.contains_key("total") && map.contains_key("data") => {
            if let Some(Value::Array(items)) = map.get_mut("data") {
                items.iter_mut().for_each(|r| shape_user(r, scopes, me));
            }
        }
        record => shape_user(record, scopes, me),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn shapes_other_users() {
        let scopes = Scopes::new(["users_read".into(), "users_read_email".into()]);
        let mut other = json!({"id": 2, "username": "u", "email": "e", "phone": "p",
            "first_name": "f", "joined_date": "d"});
        shape_user(&mut other, &scopes, Some(1));
        assert_eq!(other, json!({"id": 2, "username": "u", "email": "e"}));
        let mut own = json!({"id": 1, "phone": "p"});
        shape_user(&mut own, &scopes, Some(1));
        assert_eq!(own, json!({"id": 1, "phone": "p"}));
    }

    #[test]
    fn refuses_hidden_filters() {
        let readable = readable_users_fields(&Scopes::new(["users_read".into()]));
        let ok = json!({"username": "x", "$sort": {"id": 1}, "$select": ["email"]});
        assert!(check_query(ok.as_object().unwrap(), &readable).is_ok());
        for bad in [
            json!({"email": "x"}),
            json!({"$sort": {"email": 1}}),
            json!({"$or": [{"id": 1}, {"phone": {"$in": ["1"]}}]}),
        ] {
            assert!(check_query(bad.as_object().unwrap(), &readable).is_err());
        }
    }
}
