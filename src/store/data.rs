//! Request data -> the column values a write sets, with Feathers' rules:
//!
//! - `id`, `created_at`, `updated_at` in data are ignored (server-managed), and so are
//!   other read-only columns (and internal-only columns from outside callers);
//! - a field the table does not have (or a write-only column of another table) -> 400
//!   naming it;
//! - `create` / `update` need every required column, non-null -> 400 `{field: "is required"}`;
//!   `patch` may not null a required column;
//! - `update` replaces: writable columns missing from data become their default or NULL.

use chrono::{SubsecRound, Utc};
use sea_orm::sea_query::Value as SqlValue;
use serde_json::{Map, Value, json};

use super::coerce::{coerce, is_null, null_of};
use super::table::{CREATED_AT, Column, Table, UPDATED_AT, Write, unknown_field};
use crate::error::{Error, Result};

/// Which write the values are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Create,
    Update,
    Patch,
}

/// Column values to write, in table order.
pub type Values = Vec<(&'static str, SqlValue)>;

/// The current time as stored: millisecond precision, so what a write returns equals what
/// a later read returns on both backends.
pub fn now() -> chrono::DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// Builds the values of one write. `server` holds values a service sets itself (e.g. the
/// actor in `updated_by`); they bypass the writability check but are still coerced.
pub fn prepare(
    table: &Table,
    data: &Value,
    mode: Mode,
    internal: bool,
    server: &Map<String, Value>,
    keep: &[&str],
) -> Result<Values> {
    let Value::Object(data) = data else {
        return Err(Error::bad_request("Data must be an object"));
    };
    let mut unknown = Vec::new();
    for key in data.keys() {
        match table.column_named(key) {
            Some(c) if c.server_managed || c.writable_by(internal) => {}
            // Read-only (or internal-only from outside): ignored, as Feathers resolvers do.
            Some(c) if c.readable => {}
            _ => unknown.push(key.as_str()),
        }
    }
    if !unknown.is_empty() {
        return Err(unknown_fields(&unknown));
    }

    let mut values: Values = Vec::new();
    let mut missing = Vec::new();
    for column in table.columns() {
        if column.server_managed {
            continue;
        }
        if let Some(v) = server.get(column.name) {
            values.push((column.name, coerce(column, v)?));
            continue;
        }
        let given = data
            .get(column.name)
            .filter(|_| column.writable_by(internal));
        match (given, mode) {
            (Some(v), _) => match value_for(column, v)? {
                Some(value) => values.push((column.name, value)),
                None => missing.push(column.name),
            },
            (None, Mode::Create | Mode::Patch) => {
                if mode == Mode::Create && column.required {
                    missing.push(column.name);
                }
            }
            (None, Mode::Update) => {
                // Replace: only the publicly writable columns are reset, and not those
                // the caller may not write.
                if column.write != Write::Always || keep.contains(&column.name) {
                    continue;
                }
                if column.required && column.default.is_none() {
                    missing.push(column.name);
                    continue;
                }
                let value = match &column.default {
                    Some(d) => coerce(column, d)?,
                    None => null_of(column.ty),
                };
                values.push((column.name, value));
            }
        }
    }
    if !missing.is_empty() {
        return Err(required(&missing));
    }
    for key in server.keys() {
        if table.column_named(key).is_none() {
            return Err(Error::internal(format!(
                "server value for unknown column {}.{key}",
                table.name
            )));
        }
    }
    if table.has_timestamps() {
        let now = now();
        if mode == Mode::Create {
            values.push((CREATED_AT, now.into()));
        }
        values.push((UPDATED_AT, now.into()));
    }
    Ok(values)
}

/// The value to store for `v`; `None` when a required column would become NULL. A NULL for
/// a column with a default stores the default.
fn value_for(column: &Column, v: &Value) -> Result<Option<SqlValue>> {
    let coerced = coerce(column, v)?;
    if !is_null(&coerced) {
        return Ok(Some(coerced));
    }
    match &column.default {
        Some(d) => Ok(Some(coerce(column, d)?)),
        None if column.required => Ok(None),
        None => Ok(Some(coerced)),
    }
}

/// Rewrites every field of `data` that this caller may write to the JSON form of the value
/// a write would store (the coercion [`prepare`] applies), so rules that run before the
/// write read exactly what will be written. Other keys are left for [`prepare`] to judge.
pub fn canonicalize(table: &Table, data: &mut Map<String, Value>, internal: bool) -> Result<()> {
    for (key, value) in data.iter_mut() {
        let Some(column) = table.column_named(key) else {
            continue;
        };
        if column.server_managed || !column.writable_by(internal) {
            continue;
        }
        *value = to_json(coerce(column, value)?);
    }
    Ok(())
}

/// The JSON form of a stored value (timestamps as the server outputs them).
fn to_json(value: SqlValue) -> Value {
    match value {
        SqlValue::BigInt(Some(n)) => json!(n),
        SqlValue::String(Some(s)) => Value::String(s),
        SqlValue::Bool(Some(b)) => Value::Bool(b),
        SqlValue::ChronoDateTimeUtc(Some(dt)) => {
            Value::String(super::coerce::format_timestamp(&dt))
        }
        _ => Value::Null,
    }
}

/// 400 `{field: "is required"}` for each missing field.
pub fn required(fields: &[&str]) -> Error {
    let mut errors = Map::new();
    for f in fields {
        errors.insert((*f).to_string(), json!("is required"));
    }
    let list = fields
        .iter()
        .map(|f| format!("'{f}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let message = if fields.len() == 1 {
        format!("{list} is required")
    } else {
        format!("{list} are required")
    };
    Error::bad_request(message).with_errors(Value::Object(errors))
}

fn unknown_fields(fields: &[&str]) -> Error {
    if let [one] = fields {
        return unknown_field(one);
    }
    let mut errors = Map::new();
    for f in fields {
        errors.insert((*f).to_string(), json!("is not a known field"));
    }
    let list = fields
        .iter()
        .map(|f| format!("'{f}'"))
        .collect::<Vec<_>>()
        .join(", ");
    Error::bad_request(format!("Unknown fields {list}")).with_errors(Value::Object(errors))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table::new("roles")
            .column(Column::text("name"))
            .column(Column::text("slug").required())
            .column(Column::bool("nonce").default_value(json!(false)))
            .column(Column::text("secret").write_only())
            .column(Column::timestamp("verified_at").internal_write())
            .column(Column::integer("score").read_only())
    }

    fn names(v: &Values) -> Vec<&str> {
        v.iter().map(|(n, _)| *n).collect()
    }

    fn none() -> Map<String, Value> {
        Map::new()
    }

    #[test]
    fn create_requires_and_ignores_server_fields() {
        let v = prepare(
            &table(),
            &json!({"slug": "a", "id": 9, "created_at": "x"}),
            Mode::Create,
            false,
            &none(),
            &[],
        )
        .unwrap();
        assert_eq!(names(&v), ["slug", "created_at", "updated_at"]);
        let e = prepare(
            &table(),
            &json!({"name": "x"}),
            Mode::Create,
            false,
            &none(),
            &[],
        )
        .unwrap_err();
        assert_eq!(e.code(), 400);
        assert_eq!(e.errors, Some(json!({"slug": "is required"})));
        let e = prepare(
            &table(),
            &json!({"slug": null}),
            Mode::Create,
            false,
            &none(),
            &[],
        )
        .unwrap_err();
        assert_eq!(e.errors, Some(json!({"slug": "is required"})));
    }

    #[test]
    fn unknown_fields_are_named_and_read_only_ones_ignored() {
        let e = prepare(
            &table(),
            &json!({"slug": "a", "nope": 1}),
            Mode::Create,
            false,
            &none(),
            &[],
        )
        .unwrap_err();
        assert!(e.message.contains("nope"));
        let v = prepare(
            &table(),
            &json!({"slug": "a", "score": 3, "verified_at": "2026-01-01"}),
            Mode::Create,
            false,
            &none(),
            &[],
        )
        .unwrap();
        assert_eq!(names(&v), ["slug", "created_at", "updated_at"]);
        let v = prepare(
            &table(),
            &json!({"slug": "a", "verified_at": "2026-01-01"}),
            Mode::Create,
            true,
            &none(),
            &[],
        )
        .unwrap();
        assert_eq!(
            names(&v),
            ["slug", "verified_at", "created_at", "updated_at"]
        );
        assert!(
            prepare(
                &table(),
                &json!({"slug": "a", "secret": "s"}),
                Mode::Create,
                false,
                &none(),
                &[]
            )
            .is_ok()
        );
        for bad in [json!("string"), json!(42), Value::Null, json!([1])] {
            assert_eq!(
                prepare(&table(), &bad, Mode::Patch, false, &none(), &[])
                    .unwrap_err()
                    .code(),
                400
            );
        }
    }

    #[test]
    fn update_replaces_and_patch_merges() {
        let v = prepare(
            &table(),
            &json!({"slug": "a"}),
            Mode::Update,
            false,
            &none(),
            &[],
        )
        .unwrap();
        assert_eq!(names(&v), ["name", "slug", "nonce", "secret", "updated_at"]);
        assert_eq!(v[0].1, SqlValue::String(None));
        assert_eq!(v[2].1, SqlValue::Bool(Some(false)));
        assert!(
            prepare(
                &table(),
                &json!({"name": "x"}),
                Mode::Update,
                false,
                &none(),
                &[]
            )
            .is_err()
        );
        let v = prepare(
            &table(),
            &json!({"name": "b"}),
            Mode::Patch,
            false,
            &none(),
            &[],
        )
        .unwrap();
        assert_eq!(names(&v), ["name", "updated_at"]);
        let e = prepare(
            &table(),
            &json!({"slug": null}),
            Mode::Patch,
            false,
            &none(),
            &[],
        )
        .unwrap_err();
        assert_eq!(e.errors, Some(json!({"slug": "is required"})));
        let v = prepare(
            &table(),
            &json!({"nonce": null}),
            Mode::Patch,
            false,
            &none(),
            &[],
        )
        .unwrap();
        assert_eq!(v[0].1, SqlValue::Bool(Some(false)));
    }

    #[test]
    fn server_values_bypass_writability() {
        let mut server = Map::new();
        server.insert("score".into(), json!(5));
        let v = prepare(&table(), &json!({}), Mode::Patch, false, &server, &[]).unwrap();
        assert_eq!(v[0], ("score", SqlValue::BigInt(Some(5))));
    }
}
