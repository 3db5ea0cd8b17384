//! Table definitions: which columns a [`SqlService`](super::SqlService) may read, write,
//! filter and sort on, and how their values are typed.
//!
//! Every table has an integer `id` (server-managed, always returned). By default it also
//! has server-managed `created_at` / `updated_at` timestamps ([`Table::without_timestamps`]
//! drops them for tables that lack them).

use serde_json::Value;

use crate::error::{Error, Result};

/// How a column's values are typed in SQL and in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// 64-bit integer (`BIGINT`); JSON number.
    Integer,
    /// Text; JSON string.
    Text,
    /// Boolean (SQLite stores 0/1); JSON boolean.
    Bool,
    /// Timestamp with time zone; JSON ISO string `2026-11-23T13:41:30.123Z`.
    Timestamp,
}

impl ColumnType {
    /// How the type is named in error messages.
    pub const fn expected(self) -> &'static str {
        match self {
            ColumnType::Integer => "an integer",
            ColumnType::Text => "a string",
            ColumnType::Bool => "a boolean",
            ColumnType::Timestamp => "an ISO 8601 date-time",
        }
    }
}

/// Who may set a column through `create` / `update` / `patch` data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Nobody: read-only (a value sent in data is ignored).
    Never,
    /// Server-side (`Params::internal()`) calls only; ignored from outside.
    Internal,
    /// Every caller.
    Always,
}

/// One column of a table.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    /// Returned in results, and usable in queries (`$select`, `$sort`, filters).
    /// Write-only columns (secrets) are never returned nor queryable.
    pub readable: bool,
    pub write: Write,
    /// Must be present and non-null on create and update; may not be set to null by patch.
    pub required: bool,
    /// Used by `update` when the column is omitted, and when `null` is sent for it.
    pub default: Option<Value>,
    /// The table an integer column references (for "invalid reference" messages).
    pub references: Option<&'static str>,
    /// Text values allowed (an enum), checked before the database sees them.
    pub one_of: Option<&'static [&'static str]>,
    /// `id`, `created_at`, `updated_at`: set by the store, ignored in data.
    pub server_managed: bool,
    /// Most characters a text value may have (400 naming the field beyond it).
    pub max_len: usize,
    /// A text value must hold something besides whitespace (names such as slugs).
    pub non_empty: bool,
}

/// Default bound on a text column's length, in characters.
pub const TEXT_MAX: usize = 1_024;
/// Bound on a text column in a unique key: its index entry must stay far below
/// PostgreSQL's btree row limit (2,704 bytes; 255 characters are at most 1,020 bytes).
pub const UNIQUE_TEXT_MAX: usize = 255;

impl Column {
    pub fn new(name: &'static str, ty: ColumnType) -> Self {
        Self {
            name,
            ty,
            readable: true,
            write: Write::Always,
            required: false,
            default: None,
            references: None,
            one_of: None,
            server_managed: false,
            max_len: TEXT_MAX,
            non_empty: false,
        }
    }

    pub fn integer(name: &'static str) -> Self {
        Self::new(name, ColumnType::Integer)
    }

    pub fn text(name: &'static str) -> Self {
        Self::new(name, ColumnType::Text)
    }

    pub fn bool(name: &'static str) -> Self {
        Self::new(name, ColumnType::Bool)
    }

    pub fn timestamp(name: &'static str) -> Self {
        Self::new(name, ColumnType::Timestamp)
    }

    /// Required on create and update, never null.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Accepted and stored, never returned nor queryable (secrets).
    pub fn write_only(mut self) -> Self {
        self.readable = false;
        self
    }

    /// Returned, never written through data.
    pub fn read_only(mut self) -> Self {
        self.write = Write::Never;
        self
    }

    /// Returned; written only by server-side calls.
    pub fn internal_write(mut self) -> Self {
        self.write = Write::Internal;
        self
    }

    pub fn default_value(mut self, value: Value) -> Self {
        self.default = Some(value);
        self
    }

    pub fn references(mut self, table: &'static str) -> Self {
        self.references = Some(table);
        self
    }

    /// Allows text values of up to `chars` characters (default [`TEXT_MAX`]).
    /// Text that must not be empty or only whitespace (400 naming the field).
    pub fn non_empty(mut self) -> Self {
        self.non_empty = true;
        self
    }

    pub fn max_len(mut self, chars: usize) -> Self {
        self.max_len = chars;
        self
    }

    pub fn one_of(mut self, values: &'static [&'static str]) -> Self {
        self.one_of = Some(values);
        self
    }

    fn server(mut self) -> Self {
        self.server_managed = true;
        self.write = Write::Never;
        self
    }

    /// May this caller set the column through data?
    pub fn writable_by(&self, internal: bool) -> bool {
        match self.write {
            Write::Always => true,
            Write::Internal => internal,
            Write::Never => false,
        }
    }
}

pub const ID: &str = "id";
pub const CREATED_AT: &str = "created_at";
pub const UPDATED_AT: &str = "updated_at";

/// A table as a service sees it.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: &'static str,
    columns: Vec<Column>,
    /// Unique keys, each a list of columns. The index behind each must be named
    /// `uq_<table>_<col>[_<col>...]` so violations map back to the fields.
    unique: Vec<Vec<&'static str>>,
    timestamps: bool,
}

impl Table {
    /// A table with `id`, `created_at` and `updated_at`.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            columns: vec![
                Column::integer(ID).server(),
                Column::timestamp(CREATED_AT).server(),
                Column::timestamp(UPDATED_AT).server(),
            ],
            unique: Vec::new(),
            timestamps: true,
        }
    }

    /// Drops the `created_at` / `updated_at` columns.
    pub fn without_timestamps(mut self) -> Self {
        self.columns.retain(|c| !(c.server_managed && c.name != ID));
        self.timestamps = false;
        self
    }

    /// Adds a column (kept before the timestamps, so results list them last).
    pub fn column(mut self, column: Column) -> Self {
        let at = if self.timestamps {
            self.columns.len().saturating_sub(2)
        } else {
            self.columns.len()
        };
        self.columns.insert(at, column);
        self
    }

    /// Declares a unique key over `columns` (a single column or several). Text columns in
    /// it are bounded by [`UNIQUE_TEXT_MAX`].
    pub fn unique(mut self, columns: &[&'static str]) -> Self {
        for column in self.columns.iter_mut() {
            if columns.contains(&column.name) && column.ty == ColumnType::Text {
                column.max_len = column.max_len.min(UNIQUE_TEXT_MAX);
            }
        }
        self.unique.push(columns.to_vec());
        self
    }

    pub fn has_timestamps(&self) -> bool {
        self.timestamps
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    pub fn unique_keys(&self) -> &[Vec<&'static str>] {
        &self.unique
    }

    /// The predictable name of the unique index over `columns`.
    pub fn unique_index_name(&self, columns: &[&str]) -> String {
        format!("uq_{}_{}", self.name, columns.join("_"))
    }

    pub fn column_named(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// A column a query may name (`$select`, `$sort`, filters): readable ones only.
    pub fn queryable(&self, name: &str) -> Result<&Column> {
        self.column_named(name)
            .filter(|c| c.readable)
            .ok_or_else(|| unknown_field(name))
    }

    /// The readable columns named by `select` (all readable ones without it), `id` first.
    pub fn output_columns(&self, select: Option<&[String]>) -> Result<Vec<&Column>> {
        let Some(select) = select else {
            return Ok(self.columns.iter().filter(|c| c.readable).collect());
        };
        for name in select {
            self.queryable(name)?;
        }
        Ok(self
            .columns
            .iter()
            .filter(|c| c.readable && (c.name == ID || select.iter().any(|s| s == c.name)))
            .collect())
    }
}

/// 400 for a field the table does not expose.
pub fn unknown_field(name: &str) -> Error {
    Error::bad_request(format!("Unknown field '{name}'"))
        .with_errors(serde_json::json!({ name: "is not a known field" }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn roles() -> Table {
        Table::new("roles")
            .column(Column::text("name"))
            .column(Column::text("slug").required())
            .column(Column::text("secret").write_only())
    }

    #[test]
    fn keeps_timestamps_last_and_id_first() {
        let t = roles();
        let names: Vec<_> = t.columns().iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            ["id", "name", "slug", "secret", "created_at", "updated_at"]
        );
        let t = roles().without_timestamps();
        let names: Vec<_> = t.columns().iter().map(|c| c.name).collect();
        assert_eq!(names, ["id", "name", "slug", "secret"]);
    }

    #[test]
    fn select_always_keeps_id_and_hides_secrets() {
        let t = roles();
        let cols = t.output_columns(Some(&["slug".to_string()])).unwrap();
        let names: Vec<_> = cols.iter().map(|c| c.name).collect();
        assert_eq!(names, ["id", "slug"]);
        let all: Vec<_> = t
            .output_columns(None)
            .unwrap()
            .iter()
            .map(|c| c.name)
            .collect();
        assert!(!all.contains(&"secret"));
        let e = t.output_columns(Some(&["secret".to_string()])).unwrap_err();
        assert_eq!(e.code(), 400);
        assert!(e.message.contains("secret"));
    }
}
