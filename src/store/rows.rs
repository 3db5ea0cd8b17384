//! Result rows -> JSON records, typed by column on both backends: integers as numbers,
//! booleans as booleans (SQLite stores 0/1), timestamps as `2026-11-23T13:41:30.123Z`.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use super::coerce::format_timestamp;
use super::table::{Column, ColumnType};
use crate::error::{Error, Result};
use crate::service::Row;
use crate::service::inline_reads::stored_timestamp;

/// One row as a JSON object with `columns` in order.
pub fn to_json(columns: &[&Column], row: &Row) -> Result<Value> {
    let mut out = Map::with_capacity(columns.len());
    for column in columns {
        out.insert(column.name.to_string(), cell(column, row)?);
    }
    Ok(Value::Object(out))
}

pub fn all_to_json(columns: &[&Column], rows: &[Row]) -> Result<Vec<Value>> {
    rows.iter().map(|row| to_json(columns, row)).collect()
}

fn cell(column: &Column, row: &Row) -> Result<Value> {
    let name = column.name;
    let value = match column.ty {
        ColumnType::Integer => row
            .try_get::<Option<i64>>("", name)
            .map(|v| v.map(Value::from)),
        ColumnType::Text => row
            .try_get::<Option<String>>("", name)
            .map(|v| v.map(Value::String)),
        ColumnType::Bool => row
            .try_get::<Option<bool>>("", name)
            .map(|v| v.map(Value::Bool)),
        ColumnType::Timestamp => row
            .try_get::<Option<DateTime<Utc>>>("", name)
            .map(|v| v.map(|dt| Value::String(format_timestamp(&dt)))),
    };
    value
        .map(|v| v.unwrap_or(Value::Null))
        .map_err(|e| Error::internal(format!("reading column {name}: {e}")))
}

/// One row of an inline SQLite read (`Db::query_inline`), `columns` selected in order, read
/// as [`to_json`] reads the pool's rows. `None` for a stored value the pool's decoder
/// would treat differently or refuse (the read is then re-run on the pool).
pub fn inline_to_json(columns: &[&Column], row: &rusqlite::Row<'_>) -> Option<Value> {
    use rusqlite::types::ValueRef;
    let mut out = Map::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        let value = match (column.ty, row.get_ref(i).ok()?) {
            (_, ValueRef::Null) => Value::Null,
            (ColumnType::Integer, ValueRef::Integer(n)) => Value::from(n),
            (ColumnType::Bool, ValueRef::Integer(n)) => Value::Bool(n != 0),
            (ColumnType::Text, ValueRef::Text(text)) => {
                Value::String(std::str::from_utf8(text).ok()?.to_owned())
            }
            (ColumnType::Timestamp, ValueRef::Text(text)) => Value::String(format_timestamp(
                &stored_timestamp(std::str::from_utf8(text).ok()?)?,
            )),
            (ColumnType::Timestamp, ValueRef::Integer(secs)) => {
                Value::String(format_timestamp(&Utc.timestamp_opt(secs, 0).single()?))
            }
            _ => return None,
        };
        out.insert(column.name.to_string(), value);
    }
    Some(Value::Object(out))
}

/// The first column of the first row as an integer (`COUNT(*)`).
pub fn count(row: Option<Row>) -> Result<u64> {
    let Some(row) = row else { return Ok(0) };
    let n: i64 = row.try_get_by_index(0).map_err(Error::internal)?;
    Ok(u64::try_from(n).unwrap_or(0))
}
