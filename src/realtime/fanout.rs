//! What each recipient of one event receives (DESIGN §5): recipients are grouped by (scopes,
//! owns the row), each group's shape is decided once, and each distinct shape is cut and
//! serialised once, however many connections and permission sets receive it. No sockets
//! here, so the micro-benchmark measures this very code.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::service::scopes::Scopes;
use crate::service::{Method, Policy, fields};

/// Keys made here, from a server's own data: no need for SipHash's flood resistance.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// One event's payloads, by recipient kind.
pub struct Fanout<'a> {
    policy: &'a Policy,
    record: &'a Value,
    /// The user the own-record rule says the row belongs to, read once per event.
    owner: Option<i64>,
    by_recipient: FastMap<(Arc<Scopes>, bool), Option<usize>>,
    by_shape: FastMap<Shape, usize>,
    payloads: Vec<Box<RawValue>>,
}

impl<'a> Fanout<'a> {
    /// For about `recipients` connections (sizes the maps once).
    pub fn new(policy: &'a Policy, record: &'a Value, recipients: usize) -> Self {
        Self {
            policy,
            record,
            owner: fields::owner(policy, record),
            by_recipient: FastMap::with_capacity_and_hasher(
                recipients.min(4096),
                Default::default(),
            ),
            by_shape: FastMap::default(),
            payloads: Vec::new(),
        }
    }

    /// What user `user_id` holding `scopes` receives, if anything.
    pub fn payload_for(&mut self, user_id: i64, scopes: Arc<Scopes>) -> Option<&RawValue> {
        let owns = self.owner == Some(user_id);
        let slot = match self.by_recipient.entry((scopes, owns)) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                let slot = match shape(self.policy, &e.key().0, owns, self.record) {
                    None => None,
                    Some(shape) => match self.by_shape.entry(shape) {
                        Entry::Occupied(s) => Some(*s.get()),
                        Entry::Vacant(s) => {
                            render(self.policy, s.key(), self.record).map(|payload| {
                                self.payloads.push(payload);
                                *s.insert(self.payloads.len() - 1)
                            })
                        }
                    },
                };
                *e.insert(slot)
            }
        };
        slot.map(|i| self.payloads[i].as_ref())
    }

    /// How many distinct payloads were rendered.
    pub fn rendered(&self) -> usize {
        self.payloads.len()
    }
}

/// What one recipient receives of a record: all of it, or only some fields (a policy's
/// `readable_fields`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Shape {
    Whole,
    /// The fields of [`ReadableFields::held`] bits.
    Fields(u64),
}

/// What a recipient with `scopes` (owning the row or not) receives, if anything.
fn shape(policy: &Policy, scopes: &Scopes, owns: bool, record: &Value) -> Option<Shape> {
    let readable = scopes.is_full()
        || owns
        || policy.scope_rule().is_some_and(|r| {
            r.allows(scopes, Method::Get)
                || r.group.is_some_and(|field| {
                    let needed = r.required(Method::Get);
                    record
                        .get(field)
                        .and_then(Value::as_i64)
                        .is_some_and(|g| needed.iter().any(|slug| scopes.has_in_group(g, slug)))
                })
        });
    if !readable {
        return None;
    }
    match policy.readable_fields {
        Some(rule) if !owns && !scopes.is_full() => Some(Shape::Fields(rule.held(scopes))),
        _ => Some(Shape::Whole),
    }
}

/// `record` in `shape` (for a recipient holding `scopes`), serialised once.
fn render(policy: &Policy, shape: &Shape, record: &Value) -> Option<Box<RawValue>> {
    let fields = match shape {
        Shape::Fields(held) => policy.readable_fields.map(|rule| rule.fields(*held)),
        Shape::Whole => None,
    };
    let result = match fields {
        None => serde_json::value::to_raw_value(record),
        Some(readable) => {
            let mut record = record.clone();
            fields::keep(&mut record, &readable);
            serde_json::value::to_raw_value(&record)
        }
    };
    match result {
        Ok(payload) => Some(payload),
        Err(e) => {
            tracing::warn!(error = %e, "realtime: cannot serialise an event");
            None
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::service::ScopeRule;
    use crate::service::fields::ReadableFields;

    const POLICY: Policy = Policy::scoped(
        ScopeRule::read_write("people", "people_read", "people_write").own("id", &[Method::Get]),
    )
    .readable_fields(ReadableFields::new(
        &["id", "name"],
        &[("people_read_email", &["email"])],
    ));

    fn scopes(slugs: &[&str]) -> Arc<Scopes> {
        Arc::new(Scopes::new(slugs.iter().map(|s| s.to_string())))
    }

    /// Each recipient gets what it may read; recipients whose scopes differ only in
    /// scopes the policy does not read share one rendered payload.
    #[test]
    fn one_payload_per_distinct_shape() {
        let record = json!({"id": 7, "name": "n", "email": "e", "phone": "p"});
        let mut fanout = Fanout::new(&POLICY, &record, 8);
        let text = |p: Option<&RawValue>| p.map(|p| p.get().to_string());
        let short = r#"{"id":7,"name":"n"}"#.to_string();
        let with_email = r#"{"id":7,"name":"n","email":"e"}"#.to_string();
        let whole = record.to_string();
        assert_eq!(
            text(fanout.payload_for(1, scopes(&["people_read"]))),
            Some(short.clone())
        );
        assert_eq!(
            text(fanout.payload_for(2, scopes(&["people_read", "team_2"]))),
            Some(short)
        );
        assert_eq!(
            text(fanout.payload_for(3, scopes(&["people_read", "people_read_email"]))),
            Some(with_email)
        );
        assert_eq!(text(fanout.payload_for(4, scopes(&["other_read"]))), None);
        assert_eq!(
            text(fanout.payload_for(7, scopes(&[]))),
            Some(whole.clone())
        );
        assert_eq!(
            text(fanout.payload_for(5, scopes(&["full_access"]))),
            Some(whole)
        );
        assert_eq!(fanout.rendered(), 3);
    }
}
