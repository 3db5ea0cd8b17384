//! The Feathers query language as a typed AST, independent of SQL.
//!
//! `Query::parse` checks the structure (known `$` filters and operators, integer
//! `$limit`/`$skip`, `$sort` directions, nesting limits); the store then resolves field
//! names against its column allow-list and coerces values by column type.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Deepest `$or`/`$and` nesting accepted (qs caps REST at 5 anyway; sockets send JSON).
const MAX_DEPTH: usize = 8;
/// Most conditions (including `$in` members) one query may carry.
const MAX_TERMS: usize = 1000;

/// A field comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    In,
    Nin,
    Lt,
    Lte,
    Gt,
    Gte,
    Like,
    NotLike,
    ILike,
}

impl Op {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "$ne" => Op::Ne,
            "$in" => Op::In,
            "$nin" => Op::Nin,
            "$lt" => Op::Lt,
            "$lte" => Op::Lte,
            "$gt" => Op::Gt,
            "$gte" => Op::Gte,
            "$like" => Op::Like,
            "$notlike" => Op::NotLike,
            "$ilike" => Op::ILike,
            _ => return None,
        })
    }

    /// `$in` / `$nin` take a list of values.
    pub const fn takes_list(self) -> bool {
        matches!(self, Op::In | Op::Nin)
    }
}

/// A boolean filter tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    /// `field <op> value`; for `$in`/`$nin` the value is an array.
    Cmp {
        field: String,
        op: Op,
        value: Value,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

/// A parsed Feathers query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// Conditions AND-ed together.
    pub filters: Vec<Filter>,
    /// Sort keys in the order given.
    pub sort: Vec<(String, Order)>,
    /// `$select`: the fields to return (the id is always added by the store).
    pub select: Option<Vec<String>>,
    pub limit: Option<u64>,
    pub skip: Option<u64>,
}

impl Query {
    pub fn parse(raw: &Map<String, Value>) -> Result<Self> {
        let mut query = Query::default();
        let mut terms = 0usize;
        for (key, value) in raw {
            match key.as_str() {
                "$limit" => query.limit = Some(non_negative(key, value)?),
                "$skip" => query.skip = Some(non_negative(key, value)?),
                "$sort" => query.sort = parse_sort(value)?,
                "$select" => query.select = Some(parse_select(value)?),
                "$or" | "$and" => query.filters.push(parse_group(key, value, 1, &mut terms)?),
                _ if key.starts_with('$') => {
                    return Err(Error::bad_request(format!("Invalid filter value {key}"))
                        .with_data(Value::Object(raw.clone())));
                }
                _ => query.filters.extend(parse_field(key, value, &mut terms)?),
            }
        }
        Ok(query)
    }

    /// Only the conditions (what `patch`/`remove` with a query use).
    pub fn is_unfiltered(&self) -> bool {
        self.filters.is_empty()
    }
}

fn non_negative(key: &str, value: &Value) -> Result<u64> {
    let parsed = match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        Error::bad_request(format!("{key} must be a non-negative integer"))
            .with_data(serde_json::json!({ key: value }))
    })
}

fn parse_sort(value: &Value) -> Result<Vec<(String, Order)>> {
    let Value::Object(fields) = value else {
        return Err(Error::bad_request(
            "$sort must be an object of field: 1 | -1",
        ));
    };
    fields
        .iter()
        .map(|(field, dir)| {
            let order = match dir {
                Value::Number(n) if n.as_i64() == Some(1) => Order::Asc,
                Value::Number(n) if n.as_i64() == Some(-1) => Order::Desc,
                Value::String(s) if s.trim() == "1" => Order::Asc,
                Value::String(s) if s.trim() == "-1" => Order::Desc,
                _ => {
                    return Err(Error::bad_request(format!(
                        "$sort direction for '{field}' must be 1 or -1"
                    )));
                }
            };
            Ok((field.clone(), order))
        })
        .collect()
}

fn parse_select(value: &Value) -> Result<Vec<String>> {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        Value::String(_) => vec![value],
        _ => {
            return Err(Error::bad_request(
                "$select must be an array of field names",
            ));
        }
    };
    items
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(Error::bad_request(
                "$select must be an array of field names",
            )),
        })
        .collect()
}

/// `$or: [q, q, ...]` / `$and: [...]`: each element is a filter-only query.
fn parse_group(key: &str, value: &Value, depth: usize, terms: &mut usize) -> Result<Filter> {
    if depth > MAX_DEPTH {
        return Err(Error::bad_request(format!(
            "Query nests {key} deeper than {MAX_DEPTH} levels"
        )));
    }
    let Value::Array(items) = value else {
        return Err(Error::bad_request(format!(
            "{key} must be an array of queries"
        )));
    };
    let mut branches = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(fields) = item else {
            return Err(Error::bad_request(format!(
                "{key} must be an array of queries"
            )));
        };
        let mut all = Vec::new();
        for (k, v) in fields {
            match k.as_str() {
                "$or" | "$and" => all.push(parse_group(k, v, depth + 1, terms)?),
                _ if k.starts_with('$') => {
                    return Err(Error::bad_request(format!("Invalid query parameter {k}"))
                        .with_data(item.clone()));
                }
                _ => all.extend(parse_field(k, v, terms)?),
            }
        }
        branches.push(Filter::And(all));
    }
    Ok(if key == "$or" {
        Filter::Or(branches)
    } else {
        Filter::And(branches)
    })
}

/// `field: value`, `field: [a, b]` (same as `$in`), or `field: {$op: value, ...}`.
fn parse_field(field: &str, value: &Value, terms: &mut usize) -> Result<Vec<Filter>> {
    let mut out = Vec::new();
    match value {
        Value::Object(ops) => {
            for (op_name, operand) in ops {
                let op = Op::parse(op_name).ok_or_else(|| {
                    Error::bad_request(format!("Invalid query parameter {op_name}"))
                        .with_data(serde_json::json!({ field: value }))
                })?;
                let operand = if op.takes_list() {
                    Value::Array(as_list(operand))
                } else {
                    operand.clone()
                };
                out.push(cmp(field, op, operand, terms)?);
            }
        }
        Value::Array(items) => out.push(cmp(field, Op::In, Value::Array(items.clone()), terms)?),
        _ => out.push(cmp(field, Op::Eq, value.clone(), terms)?),
    }
    Ok(out)
}

fn cmp(field: &str, op: Op, value: Value, terms: &mut usize) -> Result<Filter> {
    *terms += match &value {
        Value::Array(items) => items.len().max(1),
        _ => 1,
    };
    if *terms > MAX_TERMS {
        return Err(Error::bad_request(format!(
            "Query has more than {MAX_TERMS} conditions"
        )));
    }
    Ok(Filter::Cmp {
        field: field.to_string(),
        op,
        value,
    })
}

/// REST may send a single value (or an index-keyed object) where a list is meant.
fn as_list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Object(map) => map.values().cloned().collect(),
        other => vec![other.clone()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Query> {
        match v {
            Value::Object(m) => Query::parse(&m),
            _ => unreachable!(),
        }
    }

    #[test]
    fn parses_filters_sort_and_paging() {
        let q = parse(
            json!({"name": "a", "age": {"$gt": "3"}, "$limit": "5", "$skip": 2,
            "$sort": {"age": -1, "name": "1"}, "$select": ["name"]}),
        )
        .unwrap();
        assert_eq!(q.limit, Some(5));
        assert_eq!(q.skip, Some(2));
        assert_eq!(
            q.sort,
            vec![("age".into(), Order::Desc), ("name".into(), Order::Asc)]
        );
        assert_eq!(q.select, Some(vec!["name".into()]));
        assert_eq!(q.filters.len(), 2);
    }

    #[test]
    fn rejects_unknown_operators_and_filters() {
        let e = parse(json!({"$foo": 1})).unwrap_err();
        assert_eq!(e.message, "Invalid filter value $foo");
        let e = parse(json!({"age": {"$regex": "x"}})).unwrap_err();
        assert_eq!(e.message, "Invalid query parameter $regex");
        assert!(parse(json!({"$limit": -1})).is_err());
        assert!(parse(json!({"$sort": {"a": 2}})).is_err());
    }

    #[test]
    fn limits_nesting() {
        let mut v = json!({"a": 1});
        for _ in 0..12 {
            v = json!({"$or": [v]});
        }
        assert!(parse(v).is_err());
    }
}
