//! Shapes results for the caller. Services never select secret columns; this is the
//! second line of defence: no field that can hold a secret ever leaves the server, in a
//! response or an event, whatever a service returned.

use serde_json::Value;

/// Field names that are never sent, at any depth (except the `accessToken` a login
/// answers with, which is the point of logging in).
const NEVER_SENT: &[&str] = &["password", "secret", "encrypted_token", "password_hash"];

pub fn run(mut value: Value) -> Value {
    strip(&mut value);
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
