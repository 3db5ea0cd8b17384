//! What a caller is, per user, kept in memory: the account's safe record and its effective
//! scopes (DESIGN §4). An authenticated call then needs no query to know its caller; the
//! database stays the truth.
//!
//! The pipeline clears the cache after a commit that may change either (services declare
//! it: `Policy::changes_scopes`, and every mutation of `Rows::Accounts` rows), and so do
//! account writes outside it (`Accounts::write`). Clearing reaches the other instances
//! over the cluster bus; while the bus is down the cache is bypassed (fail closed). A
//! generation counter keeps a load that raced with a clear from re-inserting what it read
//! before.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use dashmap::DashMap;
use serde_json::Value;

use super::scopes::{Scopes, load as load_scopes};
use crate::error::Result;
use crate::service::Db;

/// Users cached before the cache starts over (a bound on memory, not a tuning knob).
const LIMIT: usize = 100_000;

#[derive(Default)]
pub struct PrincipalCache {
    scopes: DashMap<i64, Arc<Scopes>>,
    records: DashMap<i64, Arc<Value>>,
    generation: AtomicU64,
    /// Set while the cluster bus is down ([`PrincipalCache::trust_cache`]).
    untrusted: AtomicBool,
    /// The cluster bus: clears reach the other instances' caches too.
    bus: OnceLock<Arc<dyn super::Announce>>,
}

impl PrincipalCache {
    /// The effective scopes of `user_id`, from the cache or loaded from the database.
    pub async fn scopes(&self, db: Db<'_>, user_id: i64) -> Result<Arc<Scopes>> {
        self.cached(&self.scopes, user_id, || async {
            Ok(Arc::new(load_scopes(db, user_id).await?))
        })
        .await
    }

    /// The safe record of `user_id` (as the users service's `get` answers it), from the
    /// cache or through `load`.
    pub async fn record<F, Fut>(&self, user_id: i64, load: F) -> Result<Arc<Value>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Value>>,
    {
        self.cached(&self.records, user_id, || async {
            Ok(Arc::new(load().await?))
        })
        .await
    }

    /// The cached record of `user_id`, if any (no load).
    pub fn cached_record(&self, user_id: i64) -> Option<Arc<Value>> {
        if self.untrusted.load(Ordering::Acquire) {
            return None;
        }
        self.records.get(&user_id).map(|r| r.clone())
    }

    async fn cached<T, F, Fut>(
        &self,
        map: &DashMap<i64, Arc<T>>,
        user_id: i64,
        load: F,
    ) -> Result<Arc<T>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Arc<T>>>,
    {
        let trusted = !self.untrusted.load(Ordering::Acquire);
        if trusted && let Some(found) = map.get(&user_id) {
            return Ok(found.clone());
        }
        let generation = self.generation.load(Ordering::Acquire);
        let loaded = load().await?;
        // Only cache what was read after the last clear, while the bus is up.
        if trusted && self.generation.load(Ordering::Acquire) == generation {
            if map.len() >= LIMIT {
                map.clear();
            }
            map.insert(user_id, loaded.clone());
        }
        Ok(loaded)
    }

    /// Forgets every cached user (after a committed change to accounts, roles, scopes or
    /// memberships), here and on the other instances (cluster bus).
    pub fn invalidate_all(&self) {
        self.invalidate_local();
        if let Some(bus) = self.bus.get() {
            bus.principals_changed();
        }
    }

    /// Forgets every cached user of this instance only.
    pub fn invalidate_local(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.scopes.clear();
        self.records.clear();
    }

    /// While the cluster bus is down, other instances' changes cannot reach this cache:
    /// every lookup then reads the database (fail closed) until the bus is back.
    pub fn trust_cache(&self, trusted: bool) {
        if !trusted {
            self.invalidate_local();
        }
        self.untrusted.store(!trusted, Ordering::Release);
    }

    /// Announces clears to the other instances from now on.
    pub fn attach_bus(&self, bus: Arc<dyn super::Announce>) {
        let _ = self.bus.set(bus);
    }
}
