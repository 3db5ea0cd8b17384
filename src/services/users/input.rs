//! What a `users` write may contain: the email trimmed, lowercased and checked, the
//! password held to the policy (length, common passwords, `auth::password_policy`) and
//! hashed, and the required fields present. Also the checks `recover` and `v1/users`
//! reuse (`check_password`); what a plausible email is, is `accounts::valid_email`.

use serde_json::{Map, Value, json};

use super::{UserRules, Write};
pub use crate::accounts::valid_email;
use crate::config::PasswordConfig;
use crate::error::{Error, Result};
use crate::service::Ctx;

/// The form an email is stored in (and compared in): trimmed, lowercased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn field_error(field: &str, message: String, detail: &str) -> Error {
    Error::bad_request(message).with_errors(json!({ field: detail }))
}

/// A password policy error. The message states the rule; there is deliberately no
/// `errors.password` entry, so no error body carries a key about passwords at all.
fn password_error(rule: &str) -> Error {
    Error::bad_request(format!("Password {rule}"))
}

/// Enforces the password policy (DESIGN §3): length in characters, not one of the 3,000
/// most common passwords, then `auth::password_policy` (not repetitive or sequential, not
/// mostly the account's own words, not one of its identifiers). `data`: the account's
/// values (see `password_policy::account_context`).
pub fn check_password(
    config: &PasswordConfig,
    password: &str,
    data: &Map<String, Value>,
) -> Result<()> {
    let length = password.chars().count();
    if length < config.min_length {
        return Err(password_error(&format!(
            "must be at least {} characters long",
            config.min_length
        )));
    }
    if length > config.max_length {
        return Err(password_error(&format!(
            "must be at most {} characters long",
            config.max_length
        )));
    }
    if crate::auth::common_passwords::is_common(password) {
        return Err(password_error(
            "is too common: it is one of the most used passwords",
        ));
    }
    crate::auth::password_policy::check(password, data).map_err(|rule| password_error(&rule))
}

impl UserRules {
    /// Normalises the email, checks and hashes the password; other checks are the store's.
    pub(super) async fn prepare(
        &self,
        ctx: &Ctx<'_>,
        id: Option<&Value>,
        data: Value,
        write: Write,
        keep: &[&str],
    ) -> Result<Value> {
        let Value::Object(mut data) = data else {
            return Ok(data); // the store answers "Data must be an object"
        };
        let password_needed = match write {
            Write::Create => !ctx.params.is_internal(),
            Write::Update => !keep.contains(&"password"),
            Write::Patch => false,
        };
        let mut missing = Vec::new();
        if write != Write::Patch && data.get("email").is_none_or(Value::is_null) {
            missing.push("email");
        }
        if password_needed && data.get("password").is_none_or(Value::is_null) {
            missing.push("password");
        }
        if !missing.is_empty() {
            // `errors` names the fields, except the password (see `password_error`).
            let mut errors = Map::new();
            for field in missing.iter().filter(|f| **f != "password") {
                errors.insert((*field).to_string(), json!("is required"));
            }
            let list = missing.iter().map(|f| format!("'{f}'")).collect::<Vec<_>>();
            let verb = if missing.len() == 1 { "is" } else { "are" };
            let error = Error::bad_request(format!("{} {verb} required", list.join(" and ")));
            return Err(if errors.is_empty() {
                error
            } else {
                error.with_errors(Value::Object(errors))
            });
        }
        if let Some(email) = data.get("email").filter(|v| !v.is_null()) {
            let Value::String(email) = email else {
                return Err(field_error(
                    "email",
                    "Invalid value for 'email': expected a string".into(),
                    "must be a string",
                ));
            };
            let email = normalize_email(email);
            if !valid_email(&email) {
                return Err(field_error(
                    "email",
                    "'email' must be a valid email address".into(),
                    "must be a valid email address",
                ));
            }
            data.insert("email".into(), Value::String(email));
        }
        match data.get("password") {
            None => {}
            Some(Value::String(plain)) => {
                let own = crate::auth::password_policy::account_context(ctx.db, id, &data).await?;
                check_password(&self.password, plain, &own)?;
                let hash = self.passwords.hash(plain.clone()).await?;
                data.insert("password".into(), Value::String(hash));
            }
            Some(_) => {
                return Err(password_error("must be a string"));
            }
        }
        Ok(Value::Object(data))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in ["a@b.co", "jane.doe+x@mail.example.org", "ü@bücher.de"] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in [
            "",
            "not-an-email",
            "a@b",
            "@b.co",
            "a@.co",
            "a b@c.co",
            "a@b..co",
            "a@b.co.",
            "a@-b.co",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn password_rules_say_the_rule() {
        let config = PasswordConfig::default();
        let data = Map::new();
        let e = check_password(&config, "short", &data).unwrap_err();
        assert_eq!(e.message, "Password must be at least 12 characters long");
        let e = check_password(&config, &"x".repeat(129), &data).unwrap_err();
        assert_eq!(e.message, "Password must be at most 128 characters long");
        assert!(check_password(&config, "Quiet-Lantern-Orbit-77", &data).is_ok());
        let e = check_password(&config, "Q1W2E3R4T5Y6", &data).unwrap_err();
        assert_eq!(
            e.message,
            "Password is too common: it is one of the most used passwords"
        );
        // Characters, not bytes (12 two-byte characters).
        assert!(check_password(&config, "éèêëēėęÿûüùú", &data).is_ok());
        let mut data = Map::new();
        data.insert("email".into(), json!("Long.Enough@Example.com"));
        assert!(check_password(&config, "long.enough@example.com", &data).is_err());
    }
}
