//! JSON values -> typed SQL values, by column type.
//!
//! REST sends every query value as a string (`"25"`, `"true"`, `""` for null), sockets keep
//! JSON types; both end up as the same typed value here, so both transports select the same
//! rows. A NULL is typed by its column too (PostgreSQL refuses a text NULL for a bigint).

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use sea_orm::sea_query::Value as SqlValue;
use serde_json::{Value, json};

use super::table::{Column, ColumnType};
use crate::error::{Error, Result};

/// The typed NULL of a column type.
pub fn null_of(ty: ColumnType) -> SqlValue {
    match ty {
        ColumnType::Integer => SqlValue::BigInt(None),
        ColumnType::Text => SqlValue::String(None),
        ColumnType::Bool => SqlValue::Bool(None),
        ColumnType::Timestamp => SqlValue::ChronoDateTimeUtc(None),
    }
}

/// Is this a (typed) NULL?
pub fn is_null(v: &SqlValue) -> bool {
    matches!(
        v,
        SqlValue::BigInt(None)
            | SqlValue::String(None)
            | SqlValue::Bool(None)
            | SqlValue::ChronoDateTimeUtc(None)
    )
}

/// Converts `value` for `column`. `null` (and `""` for non-text columns) is a typed NULL.
pub fn coerce(column: &Column, value: &Value) -> Result<SqlValue> {
    let ty = column.ty;
    let bad = || invalid(column.name, ty.expected());
    let coerced = match (ty, value) {
        (_, Value::Null) => null_of(ty),
        (ColumnType::Text, _) => SqlValue::String(Some(text(column, value)?)),
        (_, Value::String(s)) if s.is_empty() => null_of(ty),
        (ColumnType::Integer, _) => SqlValue::BigInt(Some(integer(value).ok_or_else(bad)?)),
        (ColumnType::Bool, _) => SqlValue::Bool(Some(boolean(value).ok_or_else(bad)?)),
        (ColumnType::Timestamp, _) => {
            SqlValue::ChronoDateTimeUtc(Some(timestamp(value).ok_or_else(bad)?))
        }
    };
    Ok(coerced)
}

/// A text value: strings as they are; numbers and booleans as their decimal / literal form
/// (as Ajv's `coerceTypes` does). NUL characters are refused (PostgreSQL cannot store them).
pub fn text(column: &Column, value: &Value) -> Result<String> {
    let s = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return Err(invalid(column.name, "a string")),
    };
    if s.len() > column.max_len && s.chars().count() > column.max_len {
        return Err(Error::bad_request(format!(
            "Invalid value for '{}': at most {} characters are allowed",
            column.name, column.max_len
        ))
        .with_errors(
            json!({ column.name: format!("must be at most {} characters", column.max_len) }),
        ));
    }
    if column.non_empty && s.trim().is_empty() {
        return Err(Error::bad_request(format!(
            "Invalid value for '{}': it must not be empty",
            column.name
        ))
        .with_errors(json!({ column.name: "must not be empty" })));
    }
    if s.contains('\0') {
        return Err(Error::bad_request(format!(
            "Invalid value for '{}': NUL characters are not allowed",
            column.name
        ))
        .with_errors(json!({ column.name: "must not contain NUL characters" })));
    }
    if let Some(allowed) = column.one_of
        && !allowed.contains(&s.as_str())
    {
        let list = allowed.join(", ");
        return Err(Error::bad_request(format!(
            "Invalid value for '{}': expected one of {list}",
            column.name
        ))
        .with_errors(json!({ column.name: format!("must be one of {list}") })));
    }
    Ok(s)
}

pub fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            // Integral floats (`25.0`) within range only.
            (f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64).then_some(f as i64)
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

pub fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// RFC 3339 / ISO 8601 (`2026-11-23T13:41:30.123Z`, with any offset), a naive date-time
/// taken as UTC, a plain date (midnight UTC), or epoch milliseconds (JavaScript's
/// `Date.getTime()`).
pub fn timestamp(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(s) => parse_timestamp(s.trim()),
        Value::Number(n) => Utc.timestamp_millis_opt(n.as_i64()?).single(),
        _ => None,
    }
}

fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, format) {
            return Some(Utc.from_utc_datetime(&naive));
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|naive| Utc.from_utc_datetime(&naive))
}

/// How timestamps leave the server: `2026-11-23T13:41:30.123Z`.
pub fn format_timestamp(dt: &DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// 400 naming the field and the expected type.
pub fn invalid(field: &str, expected: &str) -> Error {
    Error::bad_request(format!("Invalid value for '{field}': expected {expected}"))
        .with_errors(json!({ field: format!("must be {expected}") }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn col(ty: ColumnType) -> Column {
        Column::new("f", ty)
    }

    #[test]
    fn integers_from_strings_and_numbers() {
        let c = col(ColumnType::Integer);
        assert_eq!(
            coerce(&c, &json!("25")).unwrap(),
            SqlValue::BigInt(Some(25))
        );
        assert_eq!(
            coerce(&c, &json!(" -3 ")).unwrap(),
            SqlValue::BigInt(Some(-3))
        );
        assert_eq!(coerce(&c, &json!(7)).unwrap(), SqlValue::BigInt(Some(7)));
        assert_eq!(coerce(&c, &json!(7.0)).unwrap(), SqlValue::BigInt(Some(7)));
        assert_eq!(coerce(&c, &json!("")).unwrap(), SqlValue::BigInt(None));
        assert_eq!(coerce(&c, &Value::Null).unwrap(), SqlValue::BigInt(None));
        for bad in [
            json!("abc"),
            json!("1.5"),
            json!(1.5),
            json!(1e300),
            json!(true),
            json!([1]),
            json!({"a": 1}),
            json!("99999999999999999999999"),
            json!(u64::MAX),
        ] {
            let e = coerce(&c, &bad).unwrap_err();
            assert_eq!(e.code(), 400, "{bad}");
            assert!(
                e.message.contains("'f'") && e.message.contains("integer"),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn booleans_from_strings_and_numbers() {
        let c = col(ColumnType::Bool);
        assert_eq!(
            coerce(&c, &json!("true")).unwrap(),
            SqlValue::Bool(Some(true))
        );
        assert_eq!(
            coerce(&c, &json!("false")).unwrap(),
            SqlValue::Bool(Some(false))
        );
        assert_eq!(
            coerce(&c, &json!(true)).unwrap(),
            SqlValue::Bool(Some(true))
        );
        assert_eq!(coerce(&c, &json!(0)).unwrap(), SqlValue::Bool(Some(false)));
        assert_eq!(coerce(&c, &json!("")).unwrap(), SqlValue::Bool(None));
        assert!(coerce(&c, &json!("yes")).is_err());
        assert!(coerce(&c, &json!(2)).is_err());
    }

    #[test]
    fn text_keeps_empty_strings_and_stringifies_scalars() {
        let c = col(ColumnType::Text);
        assert_eq!(
            coerce(&c, &json!("")).unwrap(),
            SqlValue::String(Some(String::new()))
        );
        assert_eq!(
            coerce(&c, &json!(5)).unwrap(),
            SqlValue::String(Some("5".into()))
        );
        assert_eq!(coerce(&c, &Value::Null).unwrap(), SqlValue::String(None));
        assert!(coerce(&c, &json!({"a": 1})).is_err());
        assert!(coerce(&c, &json!([1])).is_err());
        assert!(coerce(&c, &json!("nul\u{0}byte")).is_err());
        let e = Column::text("event").one_of(&["created", "custom"]);
        assert!(coerce(&e, &json!("custom")).is_ok());
        assert_eq!(coerce(&e, &json!("other")).unwrap_err().code(), 400);
    }

    #[test]
    fn timestamps_parse_and_format() {
        let c = col(ColumnType::Timestamp);
        let SqlValue::ChronoDateTimeUtc(Some(dt)) =
            coerce(&c, &json!("2026-11-23T13:41:30.123Z")).unwrap()
        else {
            panic!("not a timestamp")
        };
        assert_eq!(format_timestamp(&dt), "2026-11-23T13:41:30.123Z");
        let SqlValue::ChronoDateTimeUtc(Some(dt)) =
            coerce(&c, &json!("2026-11-23T15:41:30+02:00")).unwrap()
        else {
            panic!("not a timestamp")
        };
        assert_eq!(format_timestamp(&dt), "2026-11-23T13:41:30.000Z");
        assert!(coerce(&c, &json!("2026-11-23")).is_ok());
        assert!(coerce(&c, &json!("2026-11-23 10:00:00")).is_ok());
        assert!(coerce(&c, &json!(1_795_435_879_000_i64)).is_ok());
        assert_eq!(
            coerce(&c, &json!("")).unwrap(),
            SqlValue::ChronoDateTimeUtc(None)
        );
        assert_eq!(coerce(&c, &json!("not a date")).unwrap_err().code(), 400);
    }
}
