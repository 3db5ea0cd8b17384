//! The JS value semantics `qs` relies on while it builds a query object: sparse arrays,
//! `utils.combine`, `utils.merge` (with its overflow and conflict bookkeeping),
//! `parseObject` and `compact`, ported closely so edge cases come out as in qs.

use std::collections::BTreeMap;

use serde_json::Value;

/// A value under construction: JS arrays may be sparse until [`into_value`] compacts them
/// (held as index -> value, so `a[999]` costs one entry, not a thousand).
#[derive(Debug, Clone)]
pub(super) enum Node {
    Str(String),
    Arr(Arr),
    Obj(Obj),
}

#[derive(Debug, Clone, Default)]
pub(super) struct Arr {
    items: BTreeMap<usize, Node>,
    /// JS `length`: one past the highest index ever set.
    len: usize,
    /// qs marks the `[object, scalar]` pair built by a merge conflict.
    conflict: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Obj {
    pub(super) entries: Vec<(String, Node)>,
    /// Set on objects that replaced an array over the limit: its highest index.
    overflow: Option<u64>,
    /// Set on objects that replaced a conflict pair: its highest index.
    conflict: Option<u64>,
}

impl Obj {
    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _)| k == key)
    }

    pub(super) fn set(&mut self, key: String, value: Node) {
        match self.position(&key) {
            Some(i) => self.entries[i].1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// Removes and returns `key`'s value, keeping its slot (re-`set` it in place).
    pub(super) fn take(&mut self, key: &str) -> Option<Node> {
        let i = self.position(key)?;
        Some(std::mem::replace(
            &mut self.entries[i].1,
            Node::Str(String::new()),
        ))
    }

    fn with(key: String, value: Node) -> Self {
        Self {
            entries: vec![(key, value)],
            ..Self::default()
        }
    }
}

impl Node {
    /// JS truthiness of a parsed value: only the empty string is falsy.
    fn is_falsy(&self) -> bool {
        matches!(self, Node::Str(s) if s.is_empty())
    }

    fn is_container(&self) -> bool {
        !matches!(self, Node::Str(_))
    }
}

/// `String(parseInt(s, 10)) === s`: a canonical integer (kept to exactly representable sizes).
fn canonical_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let canonical = !digits.is_empty()
        && digits.len() <= 15
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && !(s.starts_with('-') && digits == "0");
    if canonical { s.parse().ok() } else { None }
}

/// JS `parseInt(s, 10)` as a key: leading digits, or `NaN`.
fn js_parse_int_key(s: &str, shift: i64) -> String {
    let t = s.trim_start();
    let (sign, rest) = match t.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let end = rest.bytes().take_while(u8::is_ascii_digit).count().min(15);
    match rest[..end].parse::<i64>() {
        Ok(n) => (sign * n + shift).to_string(),
        Err(_) => "NaN".to_string(),
    }
}

impl Arr {
    fn at(index: usize, value: Node) -> Self {
        Self {
            items: BTreeMap::from([(index, value)]),
            len: index + 1,
            conflict: None,
        }
    }

    fn set(&mut self, index: usize, value: Node) {
        self.items.insert(index, value);
        self.len = self.len.max(index + 1);
    }

    fn push(&mut self, value: Node) {
        self.set(self.len, value);
    }

    /// qs `arrayToObject`: present items keyed by their index.
    fn into_obj(self) -> Obj {
        let entries = self
            .items
            .into_iter()
            .map(|(i, v)| (i.to_string(), v))
            .collect();
        Obj {
            entries,
            ..Obj::default()
        }
    }

    /// Past the limit, qs turns the array into an object marked with its highest index.
    fn into_overflow(self) -> Node {
        let max = self.len.saturating_sub(1) as u64;
        let mut obj = self.into_obj();
        obj.overflow = Some(max);
        Node::Obj(obj)
    }
}

/// An array, or (longer than the limit) an overflow object.
fn limited_array(arr: Arr, lim: usize) -> Node {
    if arr.len > lim {
        arr.into_overflow()
    } else {
        Node::Arr(arr)
    }
}

/// `[].concat(a, b)`: arrays are spread (holes kept), anything else appended.
fn concat(a: Node, b: Node) -> Arr {
    let mut out = Arr::default();
    for n in [a, b] {
        match n {
            Node::Arr(arr) => {
                let base = out.len;
                out.items
                    .extend(arr.items.into_iter().map(|(i, v)| (base + i, v)));
                out.len = base + arr.len;
            }
            other => out.push(other),
        }
    }
    out
}

fn pair(a: Node, b: Node) -> Arr {
    let mut arr = Arr::at(0, a);
    arr.push(b);
    arr
}

/// qs `utils.combine`, for a repeated key or a `[]` segment.
pub(super) fn combine(a: Node, b: Node, lim: usize) -> Node {
    if let Node::Obj(mut obj) = a {
        if let Some(mut max) = obj.overflow {
            let values = match b {
                Node::Arr(arr) => arr,
                other => Arr::at(0, other),
            };
            let base = max + 1;
            max += values.len as u64;
            for (i, v) in values.items {
                obj.set((base + i as u64).to_string(), v);
            }
            obj.overflow = Some(max);
            return Node::Obj(obj);
        }
        return limited_array(concat(Node::Obj(obj), b), lim);
    }
    limited_array(concat(a, b), lim)
}

fn strip_brackets(root: &str) -> &str {
    if root.len() >= 2 && root.starts_with('[') && root.ends_with(']') {
        &root[1..root.len() - 1]
    } else {
        root
    }
}

/// Builds the nested value for one key chain (qs `parseObject`).
pub(super) fn build(chain: &[String], val: Node, lim: usize) -> Node {
    let mut leaf = val;
    for root in chain.iter().rev() {
        leaf = if root == "[]" {
            match leaf {
                Node::Obj(obj) if obj.overflow.is_some() => Node::Obj(obj),
                other => combine(Node::Arr(Arr::default()), other, lim),
            }
        } else {
            let clean = strip_brackets(root);
            let index = if clean.len() != root.len() {
                canonical_int(clean).filter(|i| *i >= 0)
            } else {
                None
            };
            match index {
                Some(i) if (i as u64) < lim as u64 => Node::Arr(Arr::at(i as usize, leaf)),
                Some(i) => {
                    let mut obj = Obj::with(i.to_string(), leaf);
                    obj.overflow = Some(i as u64);
                    Node::Obj(obj)
                }
                None => Node::Obj(Obj::with(clean.to_string(), leaf)),
            }
        };
    }
    leaf
}

/// qs `utils.merge` (with `strictMerge`, its default).
pub(super) fn merge(target: Node, source: Option<Node>, lim: usize) -> Node {
    let source = match source {
        Some(s) if !s.is_falsy() => s,
        _ => return target,
    };
    match (target, source) {
        (target, Node::Str(s)) => merge_scalar(target, s, lim),
        (Node::Str(t), source) => merge_into_scalar(t, source, lim),
        (Node::Arr(mut tarr), Node::Arr(sarr)) => {
            for (i, item) in sarr.items {
                match tarr.items.remove(&i) {
                    Some(existing) if existing.is_container() && item.is_container() => {
                        tarr.set(i, merge(existing, Some(item), lim));
                    }
                    Some(existing) => {
                        tarr.set(i, existing);
                        tarr.push(item);
                    }
                    None => tarr.set(i, item),
                }
            }
            if tarr.items.len() > lim {
                tarr.into_overflow()
            } else {
                Node::Arr(tarr)
            }
        }
        (Node::Arr(tarr), Node::Obj(sobj)) => {
            let conflict = tarr.conflict.map(|_| (tarr.len as u64).saturating_sub(1));
            let mut acc = tarr.into_obj();
            acc.conflict = conflict;
            merge_entries(acc, sobj.entries, sobj.overflow, lim)
        }
        (Node::Obj(acc), Node::Arr(sarr)) => {
            let entries = sarr.into_obj().entries;
            merge_entries(acc, entries, None, lim)
        }
        (Node::Obj(acc), Node::Obj(sobj)) => merge_entries(acc, sobj.entries, sobj.overflow, lim),
    }
}

/// Merging a non-empty string into `target`.
fn merge_scalar(target: Node, source: String, lim: usize) -> Node {
    match target {
        Node::Arr(mut arr) => {
            let next = arr.len;
            if arr.items.len() >= lim {
                let mut obj = arr.into_obj();
                obj.set(next.to_string(), Node::Str(source));
                obj.overflow = Some(next as u64);
                Node::Obj(obj)
            } else {
                arr.push(Node::Str(source));
                Node::Arr(arr)
            }
        }
        Node::Obj(mut obj) => {
            if let Some(max) = obj.overflow {
                obj.set((max + 1).to_string(), Node::Str(source));
                obj.overflow = Some(max + 1);
                Node::Obj(obj)
            } else if let Some(c) = obj.conflict {
                obj.set((c + 1).to_string(), Node::Str(source));
                obj.conflict = Some(c + 1);
                Node::Obj(obj)
            } else {
                match limited_array(pair(Node::Obj(obj), Node::Str(source)), lim) {
                    Node::Arr(mut pair) => {
                        pair.conflict = Some(1);
                        Node::Arr(pair)
                    }
                    other => other,
                }
            }
        }
        Node::Str(t) => limited_array(pair(Node::Str(t), Node::Str(source)), lim),
    }
}

/// Merging an array or object into a string (or an empty value).
fn merge_into_scalar(target: String, source: Node, lim: usize) -> Node {
    if let Node::Obj(sobj) = &source
        && let Some(max) = sobj.overflow
    {
        let mut obj = Obj::with("0".into(), Node::Str(target));
        if let Node::Obj(sobj) = source {
            for (k, v) in sobj.entries {
                obj.set(js_parse_int_key(&k, 1), v);
            }
        }
        obj.overflow = Some(max + 1);
        return Node::Obj(obj);
    }
    limited_array(concat(Node::Str(target), source), lim)
}

/// The key-by-key part of qs `merge`, with its overflow / conflict bookkeeping.
fn merge_entries(
    mut acc: Obj,
    entries: Vec<(String, Node)>,
    source_overflow: Option<u64>,
    lim: usize,
) -> Node {
    for (key, value) in entries {
        match acc.take(&key) {
            Some(existing) => acc.set(key.clone(), merge(existing, Some(value), lim)),
            None => acc.set(key.clone(), value),
        }
        if let Some(smax) = source_overflow
            && acc.overflow.is_none()
        {
            let max = acc
                .entries
                .iter()
                .filter_map(|(k, _)| canonical_int(k))
                .fold(smax as i64, i64::max);
            acc.overflow = Some(max.max(0) as u64);
        }
        let num = canonical_int(&key).filter(|n| *n >= 0).map(|n| n as u64);
        if let (Some(max), Some(n)) = (acc.overflow, num)
            && n > max
        {
            acc.overflow = Some(n);
        }
        if let (Some(c), Some(n)) = (acc.conflict, num)
            && n > c
        {
            acc.conflict = Some(n);
        }
    }
    Node::Obj(acc)
}

/// JS objects list integer-like keys first, ascending, then the others in insertion
/// order; qs walks (and JSON prints) keys in that order.
pub(super) fn js_key_order(mut entries: Vec<(String, Node)>) -> Vec<(String, Node)> {
    fn array_index(k: &str) -> Option<u32> {
        let canonical = !k.is_empty()
            && k.bytes().all(|b| b.is_ascii_digit())
            && (k == "0" || !k.starts_with('0'));
        if canonical {
            k.parse::<u32>().ok().filter(|n| *n < u32::MAX)
        } else {
            None
        }
    }
    if entries.iter().any(|(k, _)| array_index(k).is_some()) {
        entries.sort_by_key(|(k, _)| array_index(k).map_or((1, 0), |n| (0, n)));
    }
    entries
}

/// qs `compact` plus the conversion to JSON: holes in arrays disappear.
pub(super) fn into_value(node: Node) -> Value {
    match node {
        Node::Str(s) => Value::String(s),
        Node::Arr(arr) => Value::Array(arr.items.into_values().map(into_value).collect()),
        Node::Obj(obj) => Value::Object(
            js_key_order(obj.entries)
                .into_iter()
                .map(|(k, v)| (k, into_value(v)))
                .collect(),
        ),
    }
}
