//! Decoding a socket event: the call its arguments stand for by Feathers' argument
//! positions ([`plan`]), refusing an unknown path
//! (`NotFound`), a method the service lacks (`MethodNotAllowed`) or extra arguments.

use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::service::Method;
use crate::service::registry::normalize_path;

/// A socket event decoded into call arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub path: String,
    pub method: Method,
    pub id: Option<Value>,
    pub data: Value,
    pub query: Map<String, Value>,
}

/// Reads `event` + `[path, ...args]` by Feathers' argument positions: `find(query)`,
/// `get|remove(id, query)`, `create(data, query)`, `update|patch(id, data, query)`.
/// `methods_of` gives the methods of the service at a path, if there is one.
pub fn plan<'a>(
    event: &str,
    args: Vec<Value>,
    methods_of: impl Fn(&str) -> Option<&'a [Method]>,
) -> Result<Planned> {
    let mut args = args.into_iter();
    let Some(Value::String(path)) = args.next() else {
        return Err(Error::not_found("Invalid service path"));
    };
    let methods = methods_of(normalize_path(&path))
        .ok_or_else(|| Error::not_found(format!("Service '{path}' not found")))?;
    let method = Method::parse(event)
        .filter(|m| methods.contains(m))
        .ok_or_else(|| {
            Error::method_not_allowed(format!("Method '{event}' not allowed on service '{path}'"))
        })?;
    let rest: Vec<Value> = args.collect();
    let position = match method {
        Method::Find => 0,
        Method::Get | Method::Remove | Method::Create => 1,
        Method::Update | Method::Patch => 2,
    };
    if rest.len() > position + 1 {
        return Err(Error::bad_request(format!(
            "Too many arguments for '{event}' method"
        )));
    }
    let mut rest = rest.into_iter();
    let id_of = |v: Option<Value>| v.filter(|v| !v.is_null());
    let (id, data) = match method {
        Method::Find => (None, Value::Null),
        Method::Get | Method::Remove => (id_of(rest.next()), Value::Null),
        Method::Create => (None, rest.next().unwrap_or_else(|| json!({}))),
        Method::Update | Method::Patch => {
            (id_of(rest.next()), rest.next().unwrap_or_else(|| json!({})))
        }
    };
    let query = match rest.next() {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(query)) => query,
        Some(_) => return Err(Error::bad_request("Invalid query: expected an object")),
    };
    Ok(Planned {
        path: normalize_path(&path).to_string(),
        method,
        id,
        data,
        query,
    })
}
