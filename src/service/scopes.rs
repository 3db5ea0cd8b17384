//! A caller's effective access scopes, as policies and field rules read them (DESIGN §4):
//! global slugs, `full_access` implying every scope, and scopes held inside a group only.
//! Loading them from the role tables is `auth::scopes`'s.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// The scope that implies every other.
pub const FULL_ACCESS: &str = "full_access";

/// A user's effective global scopes. Cheap to share (`Arc<Scopes>`). Hashes by a
/// fingerprint computed once; equality compares the slugs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes {
    slugs: BTreeSet<String>,
    /// Scopes held inside a group only (`user_group_roles`, and `group_group_roles`
    /// transitively), by group id.
    groups: BTreeMap<i64, BTreeSet<String>>,
    fingerprint: u64,
    /// Holds `full_access` (asked before every other check, so looked up once).
    full: bool,
    remembered: Remembered,
}

/// Answers computed from these scopes, by key ([`Scopes::remember`]): a few write-once
/// slots, so reading one takes no lock.
#[derive(Default)]
struct Remembered([OnceLock<(RememberKey, u64)>; REMEMBERED]);

/// Identifies what was asked: the addresses and lengths of `'static` data (a policy's slugs
/// and tables), which are never freed, so a key can never come to mean something else.
pub type RememberKey = [usize; 8];

/// Answers kept per scopes (one per scoped service whose events a user receives; beyond
/// these, an answer is computed each time it is asked for).
const REMEMBERED: usize = 4;

impl Clone for Remembered {
    fn clone(&self) -> Self {
        Self::default()
    }
}

/// Remembered answers follow from the slugs, which equality compares already.
impl PartialEq for Remembered {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Remembered {}

impl std::fmt::Debug for Remembered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("..")
    }
}

impl std::hash::Hash for Scopes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.fingerprint);
    }
}

impl Scopes {
    pub fn new(slugs: impl IntoIterator<Item = String>) -> Self {
        Self::from_set(slugs.into_iter().collect())
    }

    pub(crate) fn from_set(slugs: BTreeSet<String>) -> Self {
        Self::with_groups(slugs, BTreeMap::new())
    }

    pub(crate) fn with_groups(
        slugs: BTreeSet<String>,
        groups: BTreeMap<i64, BTreeSet<String>>,
    ) -> Self {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        slugs.hash(&mut hasher);
        groups.hash(&mut hasher);
        Self {
            fingerprint: hasher.finish(),
            full: slugs.contains(FULL_ACCESS),
            slugs,
            groups,
            remembered: Remembered::default(),
        }
    }

    /// Holds `slug` inside group `group` (globally, or through a group role).
    pub fn has_in_group(&self, group: i64, slug: &str) -> bool {
        self.has(slug)
            || self
                .groups
                .get(&group)
                .is_some_and(|g| g.contains(slug) || g.contains(FULL_ACCESS))
    }

    /// The groups inside which any of `slugs` is held through a group role.
    pub fn groups_with_any(&self, slugs: &[&str]) -> Vec<i64> {
        self.groups
            .iter()
            .filter(|(_, held)| {
                held.contains(FULL_ACCESS) || slugs.iter().any(|s| held.contains(*s))
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// Every group role grant, for `explain`: group id -> slugs.
    pub fn group_slugs(&self) -> &BTreeMap<i64, BTreeSet<String>> {
        &self.groups
    }

    /// A hash of the slugs: equal sets have equal fingerprints.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// `compute`'s answer about these scopes for `key`, computed once: scopes never change
    /// (a role change makes a new `Scopes`), so the answer stays true for their life.
    pub fn remember(&self, key: RememberKey, compute: impl FnOnce(&Self) -> u64) -> u64 {
        for slot in &self.remembered.0 {
            match slot.get() {
                Some((k, answer)) if *k == key => return *answer,
                Some(_) => {}
                None => {
                    let answer = compute(self);
                    // Another thread may have filled the slot meanwhile: then this answer
                    // is only not kept.
                    let _ = slot.set((key, answer));
                    return answer;
                }
            }
        }
        compute(self)
    }

    /// Holds `full_access`.
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// Holds `slug` (or `full_access`).
    pub fn has(&self, slug: &str) -> bool {
        self.is_full() || self.slugs.contains(slug)
    }

    /// Holds any of `slugs` (or `full_access`).
    pub fn has_any(&self, slugs: &[&str]) -> bool {
        self.is_full() || slugs.iter().any(|s| self.slugs.contains(*s))
    }

    /// Holds every one of `slugs` (or `full_access`).
    pub fn has_all<'a>(&self, mut slugs: impl Iterator<Item = &'a str>) -> bool {
        self.is_full() || slugs.all(|s| self.slugs.contains(s))
    }

    /// The slugs actually granted (without the `full_access` expansion).
    pub fn slugs(&self) -> impl Iterator<Item = &str> {
        self.slugs.iter().map(String::as_str)
    }

    /// [`slugs`](Self::slugs), as the set (for the loaders in `auth::scopes`).
    pub(crate) fn slug_set(&self) -> &BTreeSet<String> {
        &self.slugs
    }

    /// [`slug_set`](Self::slug_set), taken.
    pub(crate) fn into_slug_set(self) -> BTreeSet<String> {
        self.slugs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_access_implies_all() {
        let s = Scopes::new(["full_access".to_string()]);
        assert!(s.has("users_read"));
        assert!(s.has_any(&["x"]));
        let s = Scopes::new(["users_read".to_string()]);
        assert!(s.has("users_read"));
        assert!(!s.has("users_write"));
        assert!(!s.has_all(["users_read", "users_write"].into_iter()));
    }
}
