//! `authorization/explain` — why a user holds an access scope (DESIGN §4).
//!
//! - Path `authorization/explain`; method `find` only; not audited, not published.
//! - Query: `scope` (required, a slug), `user_id` (default: the caller).
//! - Answer: `{user_id, scope, granted, via: [..]}`; each `via` entry is a role grant
//!   carrying the scope (or `full_access`): `{"via": "role", role_id, scope}` for a global
//!   role, `{"via": "group", role_id, scope, group_id, chain}` for a role held inside
//!   `group_id`, `chain` being the groups from the user's own group up through
//!   `group_group_roles` links. `granted` is whether the scope is held globally.
//! - Access: any authenticated caller about themselves; about another user needs
//!   `user_roles_read` (or `full_access`): 403 otherwise.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::scopes;
use crate::error::{Error, Result};
use crate::service::{Access, Ctx, Field, Method, Policy, Service, parse};

pub const PATH: &str = "authorization/explain";

pub struct ExplainService {
    policy: Policy,
}

pub fn service(_config: &crate::config::Config) -> ExplainService {
    ExplainService {
        policy: Policy {
            find: Access::Authenticated,
            ..Policy::deny_all()
        },
    }
}

/// The query of `find`. Both fields are read leniently so that `scope` is checked first,
/// whatever the order they came in.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ExplainQuery {
    scope: Field<String>,
    user_id: Field<UserId>,
}

/// A user id as a number or, from a query string, as text.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum UserId {
    Number(i64),
    Text(String),
}

impl UserId {
    fn value(&self) -> Option<i64> {
        match self {
            UserId::Number(n) => Some(*n),
            UserId::Text(s) => s.parse().ok(),
        }
    }
}

#[async_trait]
impl Service for ExplainService {
    fn methods(&self) -> &'static [Method] {
        &[Method::Find]
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn schema(&self) -> Option<Value> {
        let int = json!({ "type": "integer" });
        Some(json!({
            "record": { "type": "object", "properties": {
                "user_id": int, "scope": { "type": "string" }, "granted": { "type": "boolean" },
                "via": { "type": "array", "items": { "type": "object", "properties": {
                    "via": { "type": "string", "enum": ["role", "group"] },
                    "role_id": int, "scope": { "type": "string" }, "group_id": int,
                    "chain": { "type": "array", "items": int } } } } } },
            "data": { "type": "object" },
            "find": "record",
            "query": { "type": "object", "properties": {
                "scope": { "type": "string" }, "user_id": int }, "required": ["scope"] },
        }))
    }

    async fn find(&self, ctx: &Ctx<'_>) -> Result<Value> {
        let query: ExplainQuery = parse(&Value::Object(ctx.params.query.clone()))?;
        let Some(scope) = query.scope.get() else {
            return Err(Error::bad_request("'scope' is required")
                .with_errors(json!({"scope": "is required"})));
        };
        let caller = ctx.params.principal.as_ref();
        let user_id = match &query.user_id {
            Field::Absent => caller
                .map(|p| p.user_id)
                .ok_or_else(|| Error::bad_request("'user_id' is required"))?,
            id => id
                .get()
                .and_then(UserId::value)
                .ok_or_else(|| Error::bad_request("'user_id' must be an integer"))?,
        };
        if let Some(p) = caller.filter(|_| !ctx.params.is_internal())
            && p.user_id != user_id
            && !p.scopes.has("user_roles_read")
        {
            return Err(Error::forbidden(
                "You are not allowed to explain another user's access",
            ));
        }
        let via = scopes::explain(ctx.db, user_id, scope).await?;
        let granted = scopes::load(ctx.db, user_id).await?.has(scope);
        Ok(json!({"user_id": user_id, "scope": scope, "granted": granted, "via": via}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_id(query: Value) -> Field<Option<i64>> {
        match parse::<ExplainQuery>(&query).unwrap().user_id {
            Field::Absent => Field::Absent,
            Field::Invalid => Field::Invalid,
            Field::Valid(id) => Field::Valid(id.value()),
        }
    }

    #[test]
    fn user_id_is_a_number_or_its_text() {
        assert_eq!(user_id(json!({})), Field::Absent);
        assert_eq!(user_id(json!({"user_id": 7})), Field::Valid(Some(7)));
        assert_eq!(user_id(json!({"user_id": "7"})), Field::Valid(Some(7)));
        assert_eq!(user_id(json!({"user_id": "x"})), Field::Valid(None));
        for bad in [json!(1.5), Value::Null, json!([7])] {
            assert_eq!(user_id(json!({ "user_id": bad })), Field::Invalid);
        }
    }
}
