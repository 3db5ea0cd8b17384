//! Field-level reading rules, for any service whose policy declares
//! [`Policy::readable_fields`]: a viewer without `full_access` sees, filters and sorts on
//! only those fields of rows that are not its own (the own-record rule says which are).
//! The same shaping applies to answers and to realtime events.

use serde_json::{Map, Value};

use super::Method;
use super::Policy;
use super::scopes::Scopes;
use crate::error::{Error, Result};

/// The fields of others' rows a viewer with `scopes` may read, or `None` for every field.
pub fn readable(policy: &Policy, scopes: &Scopes) -> Option<Vec<&'static str>> {
    let fields = policy.readable_fields?;
    (!scopes.is_full()).then(|| fields(scopes))
}

/// Whether `record` is `viewer`'s own under the policy's own-record rule.
pub fn owns(policy: &Policy, record: &Value, viewer: i64) -> bool {
    policy
        .scope_rule()
        .and_then(|r| r.own_for(Method::Get))
        .is_some_and(|own| record.get(own.field).and_then(Value::as_i64) == Some(viewer))
}

/// Keeps the `readable` fields of `record`.
pub fn keep(record: &mut Value, readable: &[&str]) {
    if let Value::Object(map) = record {
        map.retain(|k, _| readable.contains(&k.as_str()));
    }
}

/// Shapes a result (a record, a list or a page) for `viewer` holding `scopes`.
pub fn shape_result(value: &mut Value, policy: &Policy, scopes: &Scopes, viewer: i64) {
    let Some(readable) = readable(policy, scopes) else {
        return;
    };
    let shape = |record: &mut Value| {
        if !owns(policy, record, viewer) {
            keep(record, &readable);
        }
    };
    match value {
        Value::Array(items) => items.iter_mut().for_each(shape),
        Value::Object(map) if map.contains_key("total") && map.contains_key("data") => {
            if let Some(Value::Array(items)) = map.get_mut("data") {
                items.iter_mut().for_each(shape);
            }
        }
        record => shape(record),
    }
}

/// Refuses (400) a query that filters or sorts on a field outside `readable` (no
/// inference through `$sort`, `$in` or `$or`).
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::service::ScopeRule;

    fn policy() -> Policy {
        Policy::scoped(
            ScopeRule::read_write("people", "people_read", "people_write")
                .own("id", &[Method::Get]),
        )
        .readable_fields(|scopes| {
            let mut out = vec!["id", "name"];
            if scopes.has("people_read_email") {
                out.push("email");
            }
            out
        })
    }

    #[test]
    fn shapes_others_rows_not_ones_own() {
        let scopes = Scopes::new(["people_read".into(), "people_read_email".into()]);
        let mut page = json!({"total": 2, "data": [
            {"id": 1, "name": "me", "phone": "p"},
            {"id": 2, "name": "n", "email": "e", "phone": "p"}]});
        shape_result(&mut page, &policy(), &scopes, 1);
        assert_eq!(
            page["data"],
            json!([{"id": 1, "name": "me", "phone": "p"}, {"id": 2, "name": "n", "email": "e"}])
        );
        let mut other = json!({"id": 2, "phone": "p"});
        shape_result(
            &mut other,
            &policy(),
            &Scopes::new(["full_access".into()]),
            1,
        );
        assert_eq!(other, json!({"id": 2, "phone": "p"}));
    }

    #[test]
    fn refuses_hidden_filters() {
        let readable = ["id", "username"];
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
