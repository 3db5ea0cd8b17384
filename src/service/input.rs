//! Typed input for the custom services: each method declares a `#[derive(Deserialize)]`
//! struct of what it reads and parses the call's data (or query) with [`parse`], so no
//! service walks JSON by hand and a bad value is refused naming its field.
//!
//! Unknown fields are ignored (Feathers clients send extra ones). Most account inputs are
//! read leniently through [`Field`]: their answers predate typed input (a wrong type reads
//! like a missing field, a bad token like a wrong one, and the service, not the parser,
//! decides which error wins), so a field that is not what the method wants must not fail
//! the whole parse.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::error::{Error, Result};

/// The answer to a body that is not a JSON object.
pub const NOT_AN_OBJECT: &str = "Data must be an object";

/// The data of a call as `T`, or 400: [`NOT_AN_OBJECT`] for a body that is not an
/// object, else a message naming the field that could not be read (`'password' must be a
/// string`, `'token' is required`).
pub fn parse<T: DeserializeOwned>(data: &Value) -> Result<T> {
    if !data.is_object() {
        return Err(Error::bad_request(NOT_AN_OBJECT));
    }
    serde_path_to_error::deserialize(data).map_err(|e| {
        let path = e.path().to_string();
        Error::bad_request(message(&path, &e.into_inner().to_string()))
    })
}

/// [`parse`] for rules that run before the store checks the data itself: a body that is
/// not an object reads as one without fields, and the store gives its own answer.
pub fn peek<T: DeserializeOwned + Default>(data: &Value) -> Result<T> {
    if data.is_object() {
        parse(data)
    } else {
        Ok(T::default())
    }
}

/// A short message naming the field at `path` from serde's `error` about it. Serde says
/// `missing field `x``, `invalid type: integer `5`, expected a string`, or what a field
/// type of ours said: a predicate to follow the field's name (`is required`).
fn message(path: &str, error: &str) -> String {
    let within = |name: &str| match path {
        "" | "." => name.to_string(),
        parent => format!("{parent}.{name}"),
    };
    if let Some(name) = error
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        return format!("'{}' is required", within(name));
    }
    match error.split_once(", expected ") {
        Some((_, expected)) => format!("'{path}' must be {expected}"),
        None => format!("'{path}' {error}"),
    }
}

/// A field read without failing the parse: absent, present but not a `T` (null
/// included), or a `T`. The method decides what each case answers. Declare the struct
/// `#[serde(default)]` so that a missing field is [`Field::Absent`].
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Field<T> {
    #[default]
    Absent,
    Invalid,
    Valid(T),
}

impl<T> Field<T> {
    /// The value, when it was present and a `T`.
    pub fn get(&self) -> Option<&T> {
        match self {
            Field::Valid(value) => Some(value),
            Field::Absent | Field::Invalid => None,
        }
    }

    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }
}

impl Field<String> {
    /// The text, when it is a non-empty string (as sent: not trimmed).
    pub fn non_empty(&self) -> Option<&str> {
        self.get().map(String::as_str).filter(|s| !s.is_empty())
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Ok(T::deserialize(value).map_or(Field::Invalid, Field::Valid))
    }
}

/// The longest [`Text`], in bytes.
pub const TEXT_MAX: usize = 256;

/// A short text sent by a client (a token, a code): trimmed, non-empty and at most
/// [`TEXT_MAX`] bytes. Anything else, another type included, is "'<field>' is required".
#[derive(Debug, Clone, PartialEq)]
pub struct Text(String);

impl Text {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(s) if !s.trim().is_empty() && s.trim().len() <= TEXT_MAX => {
                Ok(Text(s.trim().to_string()))
            }
            _ => Err(D::Error::custom("is required")),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::ErrorKind;

    #[derive(Debug, Deserialize)]
    struct Login {
        password: String,
        #[serde(default)]
        remember: bool,
    }

    #[derive(Debug, Deserialize)]
    struct Nested {
        inner: Login,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Lenient {
        token: Field<Text>,
        name: Field<String>,
    }

    fn refused<T: DeserializeOwned + std::fmt::Debug>(data: Value) -> String {
        let e = parse::<T>(&data).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadRequest);
        e.message
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        for data in [json!([]), json!("x"), json!(1), Value::Null] {
            assert_eq!(refused::<Login>(data), NOT_AN_OBJECT);
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(refused::<Login>(json!({})), "'password' is required");
        assert_eq!(
            refused::<Login>(json!({"password": 5})),
            "'password' must be a string"
        );
        assert_eq!(
            refused::<Login>(json!({"password": "p", "remember": "yes"})),
            "'remember' must be a boolean"
        );
        let nested: Nested = parse(&json!({"inner": {"password": "p"}})).unwrap();
        assert_eq!(nested.inner.password, "p");
        assert_eq!(
            refused::<Nested>(json!({"inner": {}})),
            "'inner.password' is required"
        );
        assert_eq!(
            refused::<Nested>(json!({"inner": {"password": []}})),
            "'inner.password' must be a string"
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let login: Login = parse(&json!({"password": "p", "extra": {"any": 1}})).unwrap();
        assert_eq!(login.password, "p");
        assert!(!login.remember);
    }

    #[test]
    fn a_field_tells_absent_from_invalid() {
        let input: Lenient = parse(&json!({"name": 5})).unwrap();
        assert!(input.token.is_absent());
        assert_eq!(input.name, Field::Invalid);
        let input: Lenient = parse(&json!({"token": null, "name": ""})).unwrap();
        assert_eq!(input.token, Field::Invalid);
        assert_eq!(input.name.get().map(String::as_str), Some(""));
        assert_eq!(input.name.non_empty(), None);
    }

    #[test]
    fn peek_reads_a_body_that_is_not_an_object_as_empty() {
        let input: Lenient = peek(&json!([1])).unwrap();
        assert!(input.token.is_absent() && input.name.is_absent());
    }

    #[test]
    fn text_is_trimmed_non_empty_and_bounded() {
        #[derive(Debug, Deserialize)]
        struct Token {
            token: Text,
        }
        let token: Token = parse(&json!({"token": "  abc \n"})).unwrap();
        assert_eq!(token.token.as_str(), "abc");
        let longest = "x".repeat(TEXT_MAX);
        let token: Token = parse(&json!({"token": format!(" {longest} ")})).unwrap();
        assert_eq!(token.token.as_str(), longest);
        for bad in [
            json!(""),
            json!("   "),
            json!("x".repeat(TEXT_MAX + 1)),
            json!(5),
            Value::Null,
        ] {
            assert_eq!(
                refused::<Token>(json!({ "token": bad })),
                "'token' is required"
            );
        }
        assert_eq!(refused::<Token>(json!({})), "'token' is required");
    }
}
