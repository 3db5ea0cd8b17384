//! Field-level reading rules, for any service whose policy declares
//! [`Policy::readable_fields`]: a viewer without `full_access` sees, filters and sorts on
//! only those fields of rows that are not its own (the own-record rule says which are).
//! The same shaping applies to answers and to realtime events.

use serde_json::{Map, Value};

use super::Method;
use super::Policy;
use super::scopes::Scopes;
use crate::error::{Error, Result};

/// Which fields of others' rows a viewer reads: `base` when it may see the row at all,
/// and the fields of each `(scope, fields)` pair whose scope it holds. Data rather than a
/// function, so a viewer's share is a bit set ([`ReadableFields::held`]) that realtime
/// can group connections by without building the list.
#[derive(Debug, Clone, Copy)]
pub struct ReadableFields {
    base: &'static [&'static str],
    by_scope: &'static [(&'static str, &'static [&'static str])],
}

impl ReadableFields {
    /// At most 62 `(scope, fields)` pairs (checked when the policy constant is built; a
    /// viewer's share is these bits and two more, in a `u64`).
    pub const fn new(
        base: &'static [&'static str],
        by_scope: &'static [(&'static str, &'static [&'static str])],
    ) -> Self {
        assert!(by_scope.len() <= 62, "at most 62 field scopes");
        Self { base, by_scope }
    }

    /// The address and length of the pair table (`'static`: a key that cannot be reused).
    pub fn identity(&self) -> [usize; 2] {
        [self.by_scope.as_ptr() as usize, self.by_scope.len()]
    }

    /// Bit `i` set: `scopes` holds the scope of pair `i`.
    pub fn held(&self, scopes: &Scopes) -> u64 {
        self.by_scope
            .iter()
            .enumerate()
            .filter(|(_, (scope, _))| scopes.has(scope))
            .fold(0, |bits, (i, _)| bits | 1 << i)
    }

    /// The fields readable with the pairs in `held`.
    pub fn fields(&self, held: u64) -> Vec<&'static str> {
        let mut out = self.base.to_vec();
        for (i, (_, fields)) in self.by_scope.iter().enumerate() {
            if held & (1 << i) != 0 {
                out.extend_from_slice(fields);
            }
        }
        out
    }
}

/// The fields of others' rows a viewer with `scopes` may read, or `None` for every field.
pub fn readable(policy: &Policy, scopes: &Scopes) -> Option<Vec<&'static str>> {
    let rule = policy.readable_fields?;
    (!scopes.is_full()).then(|| rule.fields(rule.held(scopes)))
}

/// Whether `record` is `viewer`'s own under the policy's own-record rule.
pub fn owns(policy: &Policy, record: &Value, viewer: i64) -> bool {
    owner(policy, record) == Some(viewer)
}

/// Whose own record `record` is under the policy's own-record rule, if anyone's.
pub fn owner(policy: &Policy, record: &Value) -> Option<i64> {
    let own = policy.scope_rule()?.own_for(Method::Get)?;
    record.get(own.field)?.as_i64()
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
        .readable_fields(ReadableFields::new(
            &["id", "name"],
            &[("people_read_email", &["email"])],
        ))
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
