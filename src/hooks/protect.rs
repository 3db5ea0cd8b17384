//! Shapes results for the caller. Services never select secret columns; this is the
//! second line of defence: no field that can hold a secret ever leaves the server, in a
//! response or an event, whatever a service returned.

use serde_json::Value;

use crate::service::{Params, Policy, fields};

/// Field names that are never sent, at any depth (except the `accessToken` a login
/// answers with, which is the point of logging in).
const NEVER_SENT: &[&str] = &["password", "secret", "encrypted_token", "password_hash"];

pub fn run(mut value: Value) -> Value {
    strip(&mut value);
    value
}

/// Records already through [`run`], shaped by the policy's field rules to what the
/// caller may read (see [`fields`]). Internal calls see everything.
pub fn shape_for_caller(mut value: Value, policy: &Policy, params: &Params) -> Value {
    if let Some(principal) = params.principal.as_ref().filter(|_| !params.is_internal()) {
        fields::shape_result(&mut value, policy, &principal.scopes, principal.user_id);
    }
    value
}

fn strip(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !NEVER_SENT.contains(&k.as_str()));
            map.values_mut().for_each(strip);
        }
        Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn strips_secrets_at_any_depth() {
        let out = super::run(
            json!({"accessToken": "t", "user": {"id": 1, "password": "h"},
            "data": [{"secret": "s", "slug": "x"}]}),
        );
        assert_eq!(
            out,
            json!({"accessToken": "t", "user": {"id": 1}, "data": [{"slug": "x"}]})
        );
    }
}
