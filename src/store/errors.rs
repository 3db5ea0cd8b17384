//! `DbErr` -> Feathers errors, mapped once, by constraint (never by guessing from a 500).
//!
//! - unique violation -> 409 `Conflict` naming the field(s): `errors: {slug: "already exists"}`.
//!   PostgreSQL names the index (`uq_<table>_<cols>`, see the migrations); SQLite names the
//!   columns (`UNIQUE constraint failed: roles.slug`).
//! - foreign-key violation -> 400 `BadRequest` saying which reference is invalid.
//!   PostgreSQL names the constraint (`fk_<table>_<col>`); SQLite does not, so the caller
//!   checks the written references afterwards ([`missing_references`]).
//! - NOT NULL -> 400 `{field: "is required"}`; CHECK and bad data (SQLSTATE class 22,
//!   SQLite "too big") -> 400.
//! - anything else -> 500 `GeneralError`, the detail logged once and never sent.
//!
//! Messages never include the offending value (it may be an email or worse).

use std::ops::Deref;

use sea_orm::sea_query::{Expr, ExprTrait, Query, Value as SqlValue};
use sea_orm::sqlx::error::{DatabaseError, ErrorKind as SqlxKind};
use sea_orm::{DbErr, RuntimeErr};
use serde_json::{Map, Value, json};

use super::table::Table;
use crate::error::{Error, Result};
use crate::service::Db;

/// What the failed statement was doing (a FK violation means different things).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Write,
    Delete,
}

/// A classified database failure.
#[derive(Debug)]
pub enum Failure {
    Unique(Vec<String>),
    /// The constraint (`fk_<table>_<col>`) and the referencing table, when the backend
    /// names them (PostgreSQL does, SQLite does not).
    ForeignKey {
        constraint: Option<String>,
        table: Option<String>,
    },
    NotNull(Option<String>),
    BadData,
    Other,
}

fn database_error(err: &DbErr) -> Option<&dyn DatabaseError> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match e.deref() {
                sea_orm::sqlx::Error::Database(db) => Some(db.as_ref()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Sorts a database error into a [`Failure`], reading the constraint, index or column
/// names of `table`'s unique keys and foreign keys.
pub fn classify(table: &Table, err: &DbErr) -> Failure {
    let Some(db) = database_error(err) else {
        return Failure::Other;
    };
    let message = db.message();
    let code = db.code().map(|c| c.to_string()).unwrap_or_default();
    match db.kind() {
        SqlxKind::UniqueViolation => Failure::Unique(unique_columns(table, db, message)),
        SqlxKind::ForeignKeyViolation => Failure::ForeignKey {
            constraint: db.constraint().map(str::to_string),
            table: db.table().map(str::to_string),
        },
        SqlxKind::NotNullViolation => Failure::NotNull(not_null_column(db, message)),
        SqlxKind::CheckViolation => Failure::BadData,
        // SQLite reports ON DELETE RESTRICT as SQLITE_CONSTRAINT_TRIGGER (1811).
        _ if message.starts_with("FOREIGN KEY constraint failed") => Failure::ForeignKey {
            constraint: None,
            table: None,
        },
        // PostgreSQL data exceptions (bad text representation, out of range, NUL byte...).
        _ if code.starts_with("22") => Failure::BadData,
        // SQLite: SQLITE_TOOBIG, SQLITE_MISMATCH, other constraint failures.
        _ if matches!(code.as_str(), "18" | "20" | "19" | "275") => Failure::BadData,
        _ => Failure::Other,
    }
}

fn unique_columns(table: &Table, db: &dyn DatabaseError, message: &str) -> Vec<String> {
    // PostgreSQL: the index name.
    if let Some(name) = db.constraint() {
        for key in table.unique_keys() {
            if table.unique_index_name(key) == name {
                return key.iter().map(|c| c.to_string()).collect();
            }
        }
        if let Some(cols) = name.strip_prefix(&format!("uq_{}_", table.name))
            && table.column_named(cols).is_some()
        {
            return vec![cols.to_string()];
        }
    }
    // SQLite: "UNIQUE constraint failed: roles.slug" / "t.a, t.b".
    if let Some((_, cols)) = message.split_once("constraint failed: ") {
        return cols
            .split(',')
            .map(|c| c.trim())
            .map(|c| c.rsplit('.').next().unwrap_or(c).to_string())
            .filter(|c| !c.is_empty())
            .collect();
    }
    // PostgreSQL detail as a last resort: "Key (slug)=(...) already exists."
    if let Some(pg) = db.try_downcast_ref::<sea_orm::sqlx::postgres::PgDatabaseError>()
        && let Some(detail) = pg.detail()
        && let Some(rest) = detail.strip_prefix("Key (")
        && let Some((cols, _)) = rest.split_once(")=")
    {
        return cols.split(',').map(|c| c.trim().to_string()).collect();
    }
    Vec::new()
}

fn not_null_column(db: &dyn DatabaseError, message: &str) -> Option<String> {
    if let Some(pg) = db.try_downcast_ref::<sea_orm::sqlx::postgres::PgDatabaseError>() {
        return pg.column().map(str::to_string);
    }
    // SQLite: "NOT NULL constraint failed: roles.slug".
    let (_, col) = message.split_once("constraint failed: ")?;
    Some(col.trim().rsplit('.').next().unwrap_or(col).to_string())
}

/// The Feathers error for a database failure on `table`.
pub fn to_error(table: &Table, err: DbErr, action: Action) -> Error {
    match classify(table, &err) {
        Failure::Unique(cols) => conflict(&cols),
        Failure::ForeignKey {
            constraint,
            table: child,
        } => {
            if action == Action::Delete {
                return still_referenced(table, child.as_deref());
            }
            let column = constraint.and_then(|name| {
                table
                    .columns()
                    .iter()
                    .find(|c| name == format!("fk_{}_{}", table.name, c.name))
                    .map(|c| c.name)
            });
            foreign_key(table, column)
        }
        Failure::NotNull(col) => {
            let col = col.unwrap_or_else(|| "a required field".to_string());
            Error::bad_request(format!("'{col}' is required"))
                .with_errors(json!({ col: "is required" }))
        }
        Failure::BadData => Error::bad_request("Invalid data for this resource"),
        Failure::Other => Error::internal(err),
    }
}

/// 409 naming the fields of the violated unique key.
pub fn conflict(cols: &[String]) -> Error {
    let mut errors = Map::new();
    for col in cols {
        errors.insert(col.clone(), json!("already exists"));
    }
    let message = match cols {
        [] => "A record with these values already exists".to_string(),
        [one] => format!("A record with this {one} already exists"),
        many => format!(
            "A record with this combination of {} already exists",
            many.join(", ")
        ),
    };
    Error::conflict(message).with_errors(Value::Object(errors))
}

/// 400 for a delete that other rows still reference (an ON DELETE RESTRICT key).
pub fn still_referenced(table: &Table, by: Option<&str>) -> Error {
    let by = by
        .filter(|t| *t != table.name)
        .map(|t| format!(" in {t}"))
        .unwrap_or_default();
    Error::bad_request(format!(
        "This {} record cannot be removed: it is still referenced by other records{by}",
        table.name
    ))
}

/// 400 for a written reference to a missing row; `column` names it when known.
pub fn foreign_key(table: &Table, column: Option<&str>) -> Error {
    match column.and_then(|c| table.column_named(c)) {
        Some(col) => {
            let target = col.references.unwrap_or("the referenced table");
            Error::bad_request(format!(
                "Invalid reference: '{}' does not name an existing record in {target}",
                col.name
            ))
            .with_errors(json!({ col.name: "does not exist" }))
        }
        None => Error::bad_request("Invalid reference: a referenced record does not exist"),
    }
}

/// SQLite does not say which foreign key failed: find the written references whose target
/// row is missing. Only called on SQLite (a failed statement does not abort its
/// transaction there; on PostgreSQL it would, and PostgreSQL names the constraint anyway).
pub async fn missing_references(
    db: Db<'_>,
    table: &Table,
    values: &[(&'static str, SqlValue)],
) -> Option<&'static str> {
    for (name, value) in values {
        let Some(target) = table.column_named(name).and_then(|c| c.references) else {
            continue;
        };
        let SqlValue::BigInt(Some(id)) = value else {
            continue;
        };
        let select = Query::select()
            .expr(Expr::val(1))
            .from(target)
            .and_where(Expr::col("id").eq(*id))
            .limit(1)
            .to_owned();
        if let Ok(None) = db.query_one(db.build(&select)).await {
            return Some(name);
        }
    }
    None
}

/// Maps a failed write: on SQLite an unnamed FK violation is explained by looking up the
/// written references first.
pub async fn write_error(
    db: Db<'_>,
    table: &Table,
    err: DbErr,
    values: &[(&'static str, SqlValue)],
) -> Error {
    if let Failure::ForeignKey {
        constraint: None, ..
    } = classify(table, &err)
        && let Some(column) = missing_references(db, table, values).await
    {
        return foreign_key(table, Some(column));
    }
    to_error(table, err, Action::Write)
}

/// Result helper for reads and deletes.
pub fn map<T>(table: &Table, action: Action, res: std::result::Result<T, DbErr>) -> Result<T> {
    res.map_err(|e| to_error(table, e, action))
}
