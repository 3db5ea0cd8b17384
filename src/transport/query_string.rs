//! A `qs`-compatible query-string parser: what Express' extended parser
//! (`qs.parse(str, {allowPrototypes: true, arrayLimit: 1000})`, qs 6.17) produces, so
//! the queries `@feathersjs/rest-client` builds with `qs.stringify` arrive unchanged
//! (feathers-protocol §1.3).
//!
//! - keys and values are percent-decoded, `+` is a space; a malformed escape leaves the
//!   text undecoded, as `decodeURIComponent` failing does in qs;
//! - brackets nest (`a[b][c]=1`), up to [`Limits::depth`] levels; deeper brackets stay a
//!   literal key (`a[b][c][d][e][f][g]=1` -> `…{"f":{"[g]":"1"}}`);
//! - indexed keys build arrays (`a[1]=x&a[0]=y` -> `["y","x"]`; holes are compacted,
//!   `d[1]=z` -> `["z"]`); an index at or above [`Limits::array_limit`] keeps an object;
//! - `a[]=x` pushes, and a repeated key collects its values: `a=1&a=2` -> `["1","2"]`;
//! - every value stays a string: coercion happens later, by column type.
//!
//! Differences from qs, on purpose: more than [`Limits::max_params`] parameters is a 400
//! (qs drops the extra ones silently); `__proto__` and other `Object.prototype` names are
//! ordinary keys.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

mod value;

use value::{Node, Obj, build, combine, into_value, js_key_order, merge};

/// Bounds on what one query string may ask the parser to build.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most `&`-separated parameters (qs `parameterLimit`).
    pub max_params: usize,
    /// Most bracket levels below the top-level key (qs `depth`).
    pub depth: usize,
    /// Array indices from this value on build objects (qs `arrayLimit`, as Express sets it).
    pub array_limit: usize,
    /// Largest accepted input, in bytes.
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_params: 1000,
            depth: 5,
            array_limit: 1000,
            max_bytes: 128 * 1024,
        }
    }
}

/// Parses a raw (still percent-encoded) query string with the default [`Limits`].
pub fn parse(raw: &str) -> Result<Map<String, Value>> {
    parse_with(raw, &Limits::default())
}

/// Parses a raw query string (or an `application/x-www-form-urlencoded` body).
pub fn parse_with(raw: &str, limits: &Limits) -> Result<Map<String, Value>> {
    if raw.len() > limits.max_bytes {
        return Err(Error::bad_request(format!(
            "Query string is larger than the {} byte limit",
            limits.max_bytes
        )));
    }
    if raw.is_empty() {
        return Ok(Map::new());
    }
    let clean = brackets_unescaped(raw);
    let parts: Vec<&str> = clean.split('&').filter(|p| !p.is_empty()).collect();
    if parts.len() > limits.max_params {
        return Err(Error::bad_request(format!(
            "Too many query parameters: at most {} are allowed",
            limits.max_params
        )));
    }
    let lim = limits.array_limit;

    // 1. flat `decoded key -> value(s)`, repeated keys combined (qs `parseValues`)
    let mut flat = Obj::default();
    for part in parts {
        let pos = match part.find("]=") {
            Some(p) => Some(p + 1),
            None => part.find('='),
        };
        let (key, val) = match pos {
            Some(p) => (decode(&part[..p]), decode(&part[p + 1..])),
            None => (decode(part), String::new()),
        };
        match flat.take(&key) {
            Some(existing) => flat.set(key, combine(existing, Node::Str(val), lim)),
            None => flat.set(key, Node::Str(val)),
        }
    }

    // 2. expand each key's brackets and merge the result into one object (qs `parseKeys`)
    let mut root = Node::Obj(Obj::default());
    for (key, val) in js_key_order(flat.entries) {
        if key.is_empty() {
            continue;
        }
        let chain = split_key(&key, limits.depth);
        root = merge(root, Some(build(&chain, val, lim)), lim);
    }

    // 3. compact sparse arrays and hand out JSON
    match into_value(root) {
        Value::Object(map) => Ok(map),
        _ => Ok(Map::new()), // unreachable: merging into an object keeps an object
    }
}

/// qs replaces `%5B` / `%5D` (any case) before splitting, so encoded brackets nest.
fn brackets_unescaped(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() && bytes[i + 1] == b'5' {
            match bytes[i + 2] {
                b'B' | b'b' => {
                    out.push('[');
                    i += 3;
                    continue;
                }
                b'D' | b'd' => {
                    out.push(']');
                    i += 3;
                    continue;
                }
                _ => {}
            }
        }
        // copy one whole UTF-8 character
        let ch_len = raw[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&raw[i..i + ch_len]);
        i += ch_len;
    }
    out
}

/// qs' `decode`: `+` is a space, then `decodeURIComponent`; on failure the text stays
/// as it is (with `+` already replaced).
pub fn decode(s: &str) -> String {
    let plus = s.replace('+', " ");
    if !plus.contains('%') {
        return plus;
    }
    percent_decode_strict(&plus).unwrap_or(plus)
}

/// `decodeURIComponent`: `None` for a malformed escape or bytes that are not UTF-8.
pub fn percent_decode_strict(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16))?;
            let lo = bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16))?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Splits `a[b][c]` into `["a", "[b]", "[c]"]` (qs `splitKeyIntoSegments`).
fn split_key(key: &str, depth: usize) -> Vec<String> {
    let bytes = key.as_bytes();
    let first = key.find('[');
    let parent = first.map_or(key, |f| &key[..f]);
    let mut segments = Vec::new();
    if !parent.is_empty() {
        segments.push(parent.to_string());
    }
    let mut open = first;
    let mut collected = 0;
    while let Some(o) = open {
        if collected >= depth {
            break;
        }
        let mut level = 1;
        let mut close = None;
        for (i, b) in bytes.iter().enumerate().skip(o + 1) {
            match b {
                b'[' => level += 1,
                b']' => {
                    level -= 1;
                    if level == 0 {
                        close = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(c) = close else {
            segments.push(format!("[{}]", &key[o..]));
            return segments;
        };
        segments.push(key[o..=c].to_string());
        collected += 1;
        open = key[c + 1..].find('[').map(|p| p + c + 1);
    }
    if let Some(o) = open {
        segments.push(format!("[{}]", &key[o..]));
    }
    segments
}

#[cfg(test)]
mod tests;
