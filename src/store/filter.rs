//! The query AST ([`crate::service::query`]) -> a sea-query `Condition`.
//!
//! Field names are resolved through the table's allow-list (readable columns only: a
//! secret can neither be selected nor used as a filter oracle); values are coerced by
//! column type. Semantics follow `@feathersjs/knex`:
//! - `field: null` -> `IS NULL`, `$ne: null` -> `IS NOT NULL`; `$in`/`$nin` handle a
//!   `null` member the same way;
//! - `$like` / `$notlike` are **case-sensitive on both backends** (PostgreSQL's LIKE is;
//!   SQLite's is made so by `PRAGMA case_sensitive_like = ON` on every connection, see
//!   [`super::sqlite_options`]); `$ilike` is the portable `LOWER(col) LIKE LOWER(pattern)`.
//!   Patterns use `\` as the escape character on both backends (`\%`, `\_`, `\\`).
//!   `LOWER` folds ASCII only on SQLite (all of Unicode on PostgreSQL).
//! - `$sort` follows the key order of the query and ends with `id` so pages are stable;
//!   text sorts by the database collation (binary on SQLite).

use sea_orm::sea_query::{
    BinOper, Condition, Expr, ExprTrait, Func, LikeExpr, Order as SqlOrder, SelectStatement,
};
use serde_json::{Value, json};

use super::coerce::{coerce, is_null, text};
use super::table::{Column, ColumnType, Table};
use crate::error::{Error, Result};
use crate::service::query::{Filter, Op, Order};

/// A condition, or a constant (an empty `$in` is false, an empty `$or` branch is true).
#[derive(Debug, Clone)]
enum Cond {
    True,
    False,
    Sql(Condition),
}

/// All `filters` AND-ed, as a condition for `cond_where`.
pub fn condition(table: &Table, filters: &[Filter]) -> Result<Condition> {
    Ok(into_condition(all(table, filters)?))
}

/// `id = <id>` AND the filters.
pub fn condition_with_id(table: &Table, id: i64, filters: &[Filter]) -> Result<Condition> {
    let mut cond = Condition::all().add(Expr::col(super::table::ID).eq(id));
    match all(table, filters)? {
        Cond::True => {}
        Cond::False => cond = cond.add(never()),
        Cond::Sql(c) => cond = cond.add(c),
    }
    Ok(cond)
}

fn into_condition(cond: Cond) -> Condition {
    match cond {
        Cond::True => Condition::all(),
        Cond::False => Condition::all().add(never()),
        Cond::Sql(c) => c,
    }
}

fn never() -> Expr {
    Expr::val(1).eq(0)
}

fn all(table: &Table, filters: &[Filter]) -> Result<Cond> {
    let mut out = Condition::all();
    let mut any = false;
    for f in filters {
        match one(table, f)? {
            Cond::True => {}
            Cond::False => return Ok(Cond::False),
            Cond::Sql(c) => {
                out = out.add(c);
                any = true;
            }
        }
    }
    Ok(if any { Cond::Sql(out) } else { Cond::True })
}

fn one(table: &Table, filter: &Filter) -> Result<Cond> {
    match filter {
        Filter::And(items) => all(table, items),
        Filter::Or(items) => {
            let mut out = Condition::any();
            let mut any = false;
            let mut always = false;
            for f in items {
                match one(table, f)? {
                    // Keep validating the other branches: a bad field is a 400 anyway.
                    Cond::True => always = true,
                    Cond::False => {}
                    Cond::Sql(c) => {
                        out = out.add(c);
                        any = true;
                    }
                }
            }
            Ok(match (always, any) {
                (true, _) => Cond::True,
                (false, true) => Cond::Sql(out),
                (false, false) => Cond::False,
            })
        }
        Filter::Cmp { field, op, value } => {
            let column = table.queryable(field)?;
            compare(column, *op, value)
        }
    }
}

fn sql(expr: Expr) -> Cond {
    Cond::Sql(Condition::all().add(expr))
}

fn compare(column: &Column, op: Op, value: &Value) -> Result<Cond> {
    let col = || Expr::col(column.name);
    if matches!(op, Op::Like | Op::NotLike | Op::ILike) {
        return like(column, op, value);
    }
    if op.takes_list() {
        return list(column, op == Op::In, value);
    }
    let v = coerce(column, value)?;
    let is_null = is_null(&v);
    Ok(sql(match op {
        Op::Eq if is_null => col().is_null(),
        Op::Eq => col().eq(v),
        Op::Ne if is_null => col().is_not_null(),
        Op::Ne => col().ne(v),
        _ if is_null => {
            return Err(Error::bad_request(format!(
                "Invalid value for '{}': {} needs a value, not null",
                column.name,
                op_name(op)
            ))
            .with_errors(json!({ column.name: "must not be null" })));
        }
        Op::Lt => col().lt(v),
        Op::Lte => col().lte(v),
        Op::Gt => col().gt(v),
        Op::Gte => col().gte(v),
        // Handled above.
        Op::In | Op::Nin | Op::Like | Op::NotLike | Op::ILike => return Ok(Cond::False),
    }))
}

/// `$in` / `$nin`; a `null` member means `IS NULL`.
fn list(column: &Column, is_in: bool, value: &Value) -> Result<Cond> {
    let items = match value {
        Value::Array(items) => items.as_slice(),
        other => std::slice::from_ref(other),
    };
    let mut values = Vec::with_capacity(items.len());
    let mut has_null = false;
    for item in items {
        let v = coerce(column, item)?;
        if is_null(&v) {
            has_null = true;
        } else {
            values.push(v);
        }
    }
    let col = || Expr::col(column.name);
    Ok(match (is_in, values.is_empty(), has_null) {
        (true, true, false) => Cond::False,
        (true, true, true) => sql(col().is_null()),
        (true, false, false) => sql(col().is_in(values)),
        (true, false, true) => Cond::Sql(
            Condition::any()
                .add(col().is_in(values))
                .add(col().is_null()),
        ),
        (false, true, false) => Cond::True,
        (false, true, true) => sql(col().is_not_null()),
        (false, false, false) => sql(col().is_not_in(values)),
        (false, false, true) => Cond::Sql(
            Condition::all()
                .add(col().is_not_in(values))
                .add(col().is_not_null()),
        ),
    })
}

fn like(column: &Column, op: Op, value: &Value) -> Result<Cond> {
    if column.ty != ColumnType::Text {
        return Err(Error::bad_request(format!(
            "{} can only be used on text fields, not '{}'",
            op_name(op),
            column.name
        )));
    }
    if value.is_null() {
        return Err(Error::bad_request(format!(
            "Invalid value for '{}': {} needs a pattern",
            column.name,
            op_name(op)
        )));
    }
    // `one_of` does not apply to patterns.
    let plain = Column {
        one_of: None,
        ..column.clone()
    };
    let pattern = text(&plain, value)?;
    let trailing = pattern.chars().rev().take_while(|c| *c == '\\').count();
    if trailing % 2 == 1 {
        return Err(Error::bad_request(format!(
            "Invalid value for '{}': a pattern must not end with the escape character '\\'",
            column.name
        )));
    }
    let col = Expr::col(column.name);
    Ok(sql(match op {
        Op::Like => col.like(LikeExpr::new(pattern).escape('\\')),
        Op::NotLike => col.not_like(LikeExpr::new(pattern).escape('\\')),
        _ => {
            let lowered = Expr::Binary(
                Box::new(Func::lower(Expr::val(pattern)).into()),
                BinOper::Escape,
                Box::new(Expr::Constant('\\'.into())),
            );
            Expr::from(Func::lower(col)).binary(BinOper::Like, lowered)
        }
    }))
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Eq => "equality",
        Op::Ne => "$ne",
        Op::In => "$in",
        Op::Nin => "$nin",
        Op::Lt => "$lt",
        Op::Lte => "$lte",
        Op::Gt => "$gt",
        Op::Gte => "$gte",
        Op::Like => "$like",
        Op::NotLike => "$notlike",
        Op::ILike => "$ilike",
    }
}

/// Applies `$sort` in key order, then `id` as the tie-breaker so pages are stable.
pub fn apply_sort(
    table: &Table,
    sort: &[(String, Order)],
    select: &mut SelectStatement,
) -> Result<()> {
    let mut by_id = false;
    for (field, order) in sort {
        let column = table.queryable(field)?;
        by_id |= column.name == super::table::ID;
        let order = match order {
            Order::Asc => SqlOrder::Asc,
            Order::Desc => SqlOrder::Desc,
        };
        select.order_by(column.name, order);
    }
    if !by_id {
        select.order_by(super::table::ID, SqlOrder::Asc);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::service::Query as FeathersQuery;
    use sea_orm::sea_query::{PostgresQueryBuilder, Query, SqliteQueryBuilder};

    fn table() -> Table {
        Table::new("people")
            .column(Column::text("name").required())
            .column(Column::integer("age"))
            .column(Column::bool("created"))
            .column(Column::text("secret").write_only())
    }

    fn where_sql(query: Value) -> Result<(String, String)> {
        let Value::Object(map) = query else {
            panic!("object")
        };
        let q = FeathersQuery::parse(&map)?;
        let cond = condition(&table(), &q.filters)?;
        let stmt = Query::select()
            .column("id")
            .from("people")
            .cond_where(cond)
            .to_owned();
        Ok((
            stmt.to_string(SqliteQueryBuilder),
            stmt.to_string(PostgresQueryBuilder),
        ))
    }

    fn sqlite(query: Value) -> String {
        where_sql(query).unwrap().0
    }

    #[test]
    fn coerces_rest_strings_by_column_type() {
        assert_eq!(
            sqlite(json!({"age": {"$gt": "25"}, "created": "true"})),
            r#"SELECT "id" FROM "people" WHERE "age" > 25 AND "created" = TRUE"#
        );
        assert_eq!(
            sqlite(json!({"age": ""})),
            r#"SELECT "id" FROM "people" WHERE "age" IS NULL"#
        );
        assert_eq!(
            sqlite(json!({"name": {"$ne": null}})),
            r#"SELECT "id" FROM "people" WHERE "name" IS NOT NULL"#
        );
    }

    #[test]
    fn or_and_in_nin() {
        assert_eq!(
            sqlite(json!({"$or": [{"name": "a"}, {"age": {"$lt": 3}}], "age": {"$nin": ["1", 2]}})),
            r#"SELECT "id" FROM "people" WHERE ("name" = 'a' OR "age" < 3) AND "age" NOT IN (1, 2)"#
        );
        assert_eq!(
            sqlite(json!({"age": {"$in": []}})),
            r#"SELECT "id" FROM "people" WHERE 1 = 0"#
        );
        assert_eq!(
            sqlite(json!({"age": {"$nin": []}})),
            r#"SELECT "id" FROM "people" WHERE TRUE"#
        );
        assert_eq!(
            sqlite(json!({"age": {"$in": [1, null]}})),
            r#"SELECT "id" FROM "people" WHERE "age" IN (1) OR "age" IS NULL"#
        );
        assert_eq!(
            sqlite(json!({"$or": [{}, {"age": 1}]})),
            r#"SELECT "id" FROM "people" WHERE TRUE"#
        );
    }

    #[test]
    fn like_operators() {
        let (lite, pg) = where_sql(json!({"name": {"$like": "A%", "$notlike": "%z"}})).unwrap();
        assert_eq!(
            lite,
            r#"SELECT "id" FROM "people" WHERE "name" LIKE 'A%' ESCAPE '\' AND "name" NOT LIKE '%z' ESCAPE '\'"#
        );
        assert!(pg.contains(r#""name" LIKE 'A%' ESCAPE"#), "{pg}");
        assert_eq!(
            sqlite(json!({"name": {"$ilike": "ab%"}})),
            r#"SELECT "id" FROM "people" WHERE LOWER("name") LIKE LOWER('ab%') ESCAPE '\'"#
        );
        assert_eq!(
            where_sql(json!({"age": {"$like": "1%"}}))
                .unwrap_err()
                .code(),
            400
        );
        assert_eq!(
            where_sql(json!({"name": {"$like": "a\\"}}))
                .unwrap_err()
                .code(),
            400
        );
        assert!(where_sql(json!({"name": {"$like": "100\\%"}})).is_ok());
    }

    #[test]
    fn unknown_and_secret_fields_are_bad_requests() {
        for q in [
            json!({"nope": 1}),
            json!({"secret": "x"}),
            json!({"$or": [{"nope": 1}]}),
            json!({"": 1}),
        ] {
            let e = where_sql(q.clone()).unwrap_err();
            assert_eq!(e.code(), 400, "{q}");
        }
        let e = where_sql(json!({"nope": 1})).unwrap_err();
        assert!(e.message.contains("nope"), "{}", e.message);
    }

    #[test]
    fn bad_values_are_bad_requests() {
        for q in [
            json!({"age": "abc"}),
            json!({"age": {"$gt": null}}),
            json!({"age": {"$in": [[1], {"a": 1}]}}),
            json!({"created": "maybe"}),
            json!({"name": "nul\u{0}"}),
        ] {
            assert_eq!(where_sql(q.clone()).unwrap_err().code(), 400, "{q}");
        }
    }

    #[test]
    fn sort_follows_key_order_then_id() {
        let mut stmt = Query::select().column("id").from("people").to_owned();
        let sort = vec![
            ("age".to_string(), Order::Desc),
            ("name".to_string(), Order::Asc),
        ];
        apply_sort(&table(), &sort, &mut stmt).unwrap();
        assert_eq!(
            stmt.to_string(SqliteQueryBuilder),
            r#"SELECT "id" FROM "people" ORDER BY "age" DESC, "name" ASC, "id" ASC"#
        );
        let bad = vec![("nope".to_string(), Order::Asc)];
        assert_eq!(
            apply_sort(&table(), &bad, &mut stmt).unwrap_err().code(),
            400
        );
    }
}
