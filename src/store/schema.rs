//! JSON Schemas of a table, for the OpenAPI document (`crate::openapi`).

use serde_json::Value;

use super::table::{Column, ColumnType, Table};

impl Table {
    /// JSON Schemas of this table for the OpenAPI document: the record callers read and
    /// the data they may write (from outside), with the fields `create` requires.
    pub fn json_schema(&self) -> Value {
        let property = |c: &Column| {
            let (ty, format) = match c.ty {
                ColumnType::Integer => ("integer", None),
                ColumnType::Text => ("string", None),
                ColumnType::Bool => ("boolean", None),
                ColumnType::Timestamp => ("string", Some("date-time")),
            };
            let mut schema = serde_json::Map::new();
            let nullable = !(c.required || c.server_managed);
            schema.insert(
                "type".into(),
                if nullable {
                    serde_json::json!([ty, "null"])
                } else {
                    serde_json::json!(ty)
                },
            );
            if let Some(format) = format {
                schema.insert("format".into(), format.into());
            }
            if c.ty == ColumnType::Text {
                schema.insert("maxLength".into(), c.max_len.into());
                if c.non_empty {
                    // Whitespace alone is refused too; JSON Schema says what it can.
                    schema.insert("minLength".into(), 1.into());
                }
            }
            if let Some(values) = c.one_of {
                schema.insert("enum".into(), serde_json::json!(values));
            }
            Value::Object(schema)
        };
        let record: serde_json::Map<String, Value> = self
            .columns()
            .iter()
            .filter(|c| c.readable)
            .map(|c| (c.name.to_string(), property(c)))
            .collect();
        let writable: Vec<&Column> = self
            .columns()
            .iter()
            .filter(|c| c.writable_by(false))
            .collect();
        let data: serde_json::Map<String, Value> = writable
            .iter()
            .map(|c| (c.name.to_string(), property(c)))
            .collect();
        let required: Vec<&str> = writable
            .iter()
            .filter(|c| c.required)
            .map(|c| c.name)
            .collect();
        serde_json::json!({
            "record": { "type": "object", "properties": record },
            "data": { "type": "object", "properties": data, "required": required },
        })
    }
}
