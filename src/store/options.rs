//! Adapter options and id handling shared by the SQL service and services wrapping it.

use serde_json::Value;

use crate::service::Method;

/// Which methods may act on several records at once (Feathers' `multi` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Multi {
    Off,
    All,
    Only(&'static [Method]),
}

impl Multi {
    pub fn allows(self, method: Method) -> bool {
        match self {
            Multi::Off => false,
            Multi::All => true,
            Multi::Only(methods) => methods.contains(&method),
        }
    }
}

/// The id of a record, or `None` for ids that cannot name a row (`'abc'`, `'1.5'`, a
/// 24-hex ObjectId, out of range): callers answer those with 404, like the adapters.
pub fn parse_id(id: &Value) -> Option<i64> {
    match id {
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
        }),
        Value::String(s) => s.parse::<i64>().ok(),
        _ => None,
    }
}

/// A field that names a row, read with [`parse_id`] (a number or its text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowId(pub i64);

impl<'de> serde::Deserialize<'de> for RowId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        parse_id(&value)
            .map(RowId)
            .ok_or_else(|| serde::de::Error::custom("must be a record id"))
    }
}

/// How an id appears in "No record found for id '<id>'".
pub fn id_display(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Limits and offsets are bound as signed 64-bit integers (a larger value would make
/// the driver panic).
pub(crate) fn clamp(n: u64) -> u64 {
    n.min(i64::MAX as u64)
}
