//! What each recipient of one event receives (DESIGN §5): each recipient's share of the row
//! is decided from its scopes (and remembered by them: [`Scopes::remember`], so a later
//! event asks again only after a role change), and each distinct shape is cut and
//! serialised once, however many connections and permission sets receive it. Under a group
//! rule the share also depends on the row, so recipients are grouped by (scopes, owns the
//! row) per event instead. No sockets here, so the micro-benchmark measures this very code.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::service::scopes::{RememberKey, Scopes};
use crate::service::{Method, Policy, fields};

/// Keys made here, from a server's own data: no need for SipHash's flood resistance.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// One event's payloads, by recipient kind.
pub struct Fanout<'a> {
    policy: &'a Policy,
    record: &'a Value,
    /// The user the own-record rule says the row belongs to, read once per event.
    owner: Option<i64>,
    /// Under which key recipients' scopes remember their share; `None` under a group rule.
    share_key: Option<RememberKey>,
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
            share_key: share_key(policy),
            by_recipient: FastMap::with_capacity_and_hasher(
                if share_key(policy).is_some() {
                    0
                } else {
                    recipients.min(4096)
                },
                Default::default(),
            ),
            by_shape: FastMap::default(),
            payloads: Vec::new(),
        }
    }

    /// What user `user_id` holding `scopes` receives, if anything.
    pub fn payload_for(&mut self, user_id: i64, scopes: Arc<Scopes>) -> Option<&RawValue> {
        self.slot_for(user_id, scopes).map(|i| self.payload(i))
    }

    /// Which of the distinct payloads ([`payload`](Self::payload)) user `user_id` holding
    /// `scopes` receives, if any: recipients of one slot receive the same bytes.
    pub fn slot_for(&mut self, user_id: i64, scopes: Arc<Scopes>) -> Option<usize> {
        let owns = self.owner == Some(user_id);
        match self.share_key {
            Some(key) => {
                let share = scopes.remember(key, |scopes| share(self.policy, scopes));
                shape_of_share(self.policy, share, owns).and_then(|shape| self.slot(shape))
            }
            None => {
                let group = (scopes, owns);
                match self.by_recipient.get(&group) {
                    Some(slot) => *slot,
                    None => {
                        let slot = shape(self.policy, &group.0, owns, self.record)
                            .and_then(|shape| self.slot(shape));
                        self.by_recipient.insert(group, slot);
                        slot
                    }
                }
            }
        }
    }

    /// The payload of a slot [`slot_for`](Self::slot_for) gave.
    pub fn payload(&self, slot: usize) -> &RawValue {
        &self.payloads[slot]
    }

    /// The payload of `shape`, rendered the first time it is asked for.
    fn slot(&mut self, shape: Shape) -> Option<usize> {
        match self.by_shape.entry(shape) {
            Entry::Occupied(s) => Some(*s.get()),
            Entry::Vacant(s) => render(self.policy, s.key(), self.record).map(|payload| {
                self.payloads.push(payload);
                *s.insert(self.payloads.len() - 1)
            }),
        }
    }

    /// How many distinct payloads were rendered.
    pub fn rendered(&self) -> usize {
        self.payloads.len()
    }
}

/// Whether every authenticated connection receives every record of `policy` whole: it has
/// no scope rule, or one that opens `get` to any caller and no field rules. Its events
/// need no per-recipient decision: one payload, encoded once, for every bound socket.
pub fn whole_for_everyone(policy: &Policy) -> bool {
    policy
        .scope_rule()
        .is_none_or(|rule| rule.open.contains(&Method::Get) && policy.readable_fields.is_none())
}

/// A share's bits: holds `full_access`; the scope rule lets it read others' rows; the rest
/// are the [`ReadableFields::held`](crate::service::fields::ReadableFields::held) bits.
const FULL: u64 = 1 << 63;
const ALLOWED: u64 = 1 << 62;

/// The key of `policy`'s share in a [`Scopes`]: its read slugs, open methods and field
/// table (all `'static`), when the share follows from the scopes alone.
fn share_key(policy: &Policy) -> Option<RememberKey> {
    let rule = policy.scope_rule().filter(|rule| rule.group.is_none())?;
    // No umbrella is told apart from an empty one.
    let umbrella = rule
        .umbrella
        .map_or([0, usize::MAX], |u| [u.as_ptr() as usize, u.len()]);
    let fields = policy
        .readable_fields
        .map_or([0, 0], |fields| fields.identity());
    Some([
        rule.read.as_ptr() as usize,
        rule.read.len(),
        umbrella[0],
        umbrella[1],
        rule.open.as_ptr() as usize,
        rule.open.len(),
        fields[0],
        fields[1],
    ])
}

/// What a recipient holding `scopes` may see of others' rows under `policy`, as bits.
fn share(policy: &Policy, scopes: &Scopes) -> u64 {
    let mut bits = policy
        .readable_fields
        .map_or(0, |fields| fields.held(scopes));
    if scopes.is_full() {
        bits |= FULL;
    }
    if policy
        .scope_rule()
        .is_some_and(|rule| rule.allows(scopes, Method::Get))
    {
        bits |= ALLOWED;
    }
    bits
}

/// [`shape`] from a remembered share.
fn shape_of_share(policy: &Policy, share: u64, owns: bool) -> Option<Shape> {
    let full = share & FULL != 0;
    if !(full || owns || share & ALLOWED != 0) {
        return None;
    }
    Some(match policy.readable_fields {
        Some(_) if !full && !owns => Shape::Fields(share & !(FULL | ALLOWED)),
        _ => Shape::Whole,
    })
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

    /// A remembered share gives the shape the per-event decision gives, for every set of
    /// the policy's scopes, owner or not.
    #[test]
    fn remembered_shares_decide_as_the_rule() {
        let record = json!({"id": 7, "name": "n", "email": "e"});
        let slugs = [
            "people_read",
            "people_read_email",
            "people",
            "full_access",
            "x",
        ];
        for set in 0..1u32 << slugs.len() {
            let held: Vec<&str> = (0..slugs.len())
                .filter(|i| set & (1 << i) != 0)
                .map(|i| slugs[i])
                .collect();
            let scopes = scopes(&held);
            for owns in [false, true] {
                let remembered = shape_of_share(&POLICY, share(&POLICY, &scopes), owns);
                assert_eq!(
                    remembered,
                    shape(&POLICY, &scopes, owns, &record),
                    "{held:?}"
                );
            }
            // Asked twice: the same answer, the second time remembered.
            let key = share_key(&POLICY).unwrap();
            assert_eq!(
                scopes.remember(key, |s| share(&POLICY, s)),
                scopes.remember(key, |_| unreachable!("remembered"))
            );
        }
    }

    /// A policy said to give every connection the whole record does, whatever the
    /// recipient's scopes and whether it owns the row; the others do not.
    #[test]
    fn whole_for_everyone_is_what_each_recipient_gets() {
        const OPEN: Policy = Policy::scoped(
            ScopeRule::read_write("notes", "notes_read", "notes_write")
                .open(&[Method::Find, Method::Get])
                .own("user_id", &[Method::Patch]),
        );
        const OPEN_FIND_ONLY: Policy = Policy::scoped(
            ScopeRule::read_write("notes", "notes_read", "notes_write").open(&[Method::Find]),
        );
        const OPEN_WITH_FIELDS: Policy =
            OPEN.readable_fields(ReadableFields::new(&["id"], &[("notes_read", &["text"])]));
        assert!(whole_for_everyone(&OPEN));
        assert!(!whole_for_everyone(&OPEN_FIND_ONLY));
        assert!(!whole_for_everyone(&OPEN_WITH_FIELDS));
        assert!(!whole_for_everyone(&POLICY));

        let record = json!({"id": 1, "user_id": 4, "text": "t"});
        let mut fanout = Fanout::new(&OPEN, &record, 4);
        for (user, held) in [(1, &[][..]), (4, &[]), (2, &["x"]), (3, &["full_access"])] {
            let payload = fanout.payload_for(user, scopes(held)).map(RawValue::get);
            assert_eq!(
                payload,
                Some(record.to_string().as_str()),
                "{user} {held:?}"
            );
        }
        assert_eq!(fanout.rendered(), 1);
    }

    /// Under a group rule the share depends on the row: no key, decided per event.
    #[test]
    fn group_rules_are_decided_per_event() {
        const GROUPED: Policy = Policy::scoped(
            ScopeRule::read_write("docs", "docs_read", "docs_write").group("group_id"),
        );
        assert!(share_key(&GROUPED).is_none());
        let in_group = Arc::new(Scopes::with_groups(
            ["other".to_string()].into(),
            [(3, ["docs_read".to_string()].into())].into(),
        ));
        let row = |group: i64| json!({"id": 1, "group_id": group});
        let (three, four) = (row(3), row(4));
        assert!(
            Fanout::new(&GROUPED, &three, 1)
                .payload_for(9, in_group.clone())
                .is_some()
        );
        assert!(
            Fanout::new(&GROUPED, &four, 1)
                .payload_for(9, in_group)
                .is_none()
        );
    }
}
