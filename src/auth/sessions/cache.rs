//! The revocation cache (`jti -> state`): one query the first time a `jti` is seen on
//! this instance, none after. The database stays the truth; the cache is reset when it
//! may have missed a revocation (cluster bus gap) and bypassed while the bus is down.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use serde_json::Value;

use super::{Sessions, State, TABLE, col};
use crate::error::{Error, Result};

/// Cached `jti`s before the cache starts over.
const CACHE_LIMIT: usize = 100_000;

impl Sessions {
    /// While the cluster bus is down, other instances' revocations cannot reach this
    /// cache: every check then reads the database (fail closed) until the bus is back and
    /// the cache was reset.
    pub fn trust_cache(&self, trusted: bool) {
        if !trusted {
            self.epoch.fetch_add(1, Ordering::AcqRel); // loads in flight must not cache
        }
        self.untrusted.store(!trusted, Ordering::Release);
    }

    /// Whether the cache is trusted: false while the cluster bus is down.
    pub fn cache_trusted(&self) -> bool {
        !self.untrusted.load(Ordering::Acquire)
    }

    /// Another instance revoked `jtis` and deleted rows `ids`: refuse them here from now
    /// on. Returns every `jti` concerned (those of `ids` that this instance knows too).
    pub fn learn_revoked(&self, jtis: Vec<String>, ids: &[i64]) -> HashSet<String> {
        let mut all: HashSet<String> = jtis.into_iter().collect();
        for id in ids {
            if let Some((_, jti)) = self.by_id.remove(id) {
                all.insert(jti);
            }
        }
        for jti in &all {
            let id = self.by_jti.get(jti).and_then(|s| s.id);
            self.remember(jti, State { id, revoked: true });
        }
        all
    }

    /// Forgets every cached state (the database is asked again): after the cluster bus
    /// may have missed revocations.
    pub fn forget_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.by_jti.clear();
        self.by_id.clear();
    }

    pub(super) fn remember(&self, jti: &str, state: State) {
        // A cache only: the database stays the truth, so dropping everything is safe.
        if self.by_jti.len() >= CACHE_LIMIT {
            self.by_jti.clear();
            self.by_id.clear();
        }
        if let Some(id) = state.id {
            self.by_id.insert(id, jti.to_string());
        }
        self.by_jti.insert(jti.to_string(), state);
    }

    /// Caches a state read from the database unless a revocation was learnt meanwhile
    /// (which wins); returns the cached state.
    fn remember_loaded(&self, jti: &str, state: State) -> State {
        if self.by_jti.len() >= CACHE_LIMIT {
            self.by_jti.clear();
            self.by_id.clear();
        }
        let stored = *self.by_jti.entry(jti.to_string()).or_insert(state);
        if stored == state
            && let Some(id) = state.id
        {
            self.by_id.insert(id, jti.to_string());
        }
        stored
    }

    /// True when the cache already knows `jti` is revoked (no database access).
    pub fn is_revoked_cached(&self, jti: &str) -> bool {
        self.by_jti.get(jti).is_some_and(|s| s.revoked)
    }

    /// Refuses a token whose session was revoked or deleted (401). Looks the `jti` up once
    /// per instance; the cache answers after that.
    pub async fn check(&self, jti: &str) -> Result<()> {
        if self.untrusted.load(Ordering::Acquire) {
            // Fail closed: the bus that keeps the cache true is down; the database answers.
            let loaded = self.load(jti).await?;
            return if loaded.revoked {
                Err(Error::not_authenticated("Session revoked"))
            } else {
                Ok(())
            };
        }
        let revoked = match self.by_jti.get(jti).map(|s| *s) {
            Some(state) => state.revoked,
            None => {
                let epoch = self.epoch.load(Ordering::Acquire);
                let loaded = self.load(jti).await?;
                if self.epoch.load(Ordering::Acquire) == epoch {
                    self.remember_loaded(jti, loaded).revoked
                } else {
                    // The cache was reset while loading (cluster bus gap): do not cache
                    // what may have been read before it.
                    loaded.revoked
                }
            }
        };
        if revoked {
            Err(Error::not_authenticated("Session revoked"))
        } else {
            Ok(())
        }
    }

    async fn load(&self, jti: &str) -> Result<State> {
        let select = Query::select()
            .columns([col("id"), col("revoked")])
            .from(col(TABLE))
            .and_where(Expr::col(col("jti")).eq(jti))
            .limit(1)
            .to_owned();
        let row = self
            .db
            .query_one_raw(self.db.get_database_backend().build(&select))
            .await
            .map_err(Error::internal)?;
        Ok(match row {
            Some(row) => State {
                id: Some(row.try_get("", "id").map_err(Error::internal)?),
                revoked: row.try_get("", "revoked").map_err(Error::internal)?,
            },
            // Deleted (or never written): refused.
            None => State {
                id: None,
                revoked: true,
            },
        })
    }

    /// After a committed change of `auth_sessions` rows: refreshes their cache entries and
    /// returns `(jti, user_id)` of those now revoked or gone.
    pub(super) async fn refresh(
        &self,
        records: &Value,
        removed: bool,
    ) -> Vec<(String, Option<i64>)> {
        let items: Vec<&Value> = match records {
            Value::Array(items) => items.iter().collect(),
            Value::Object(_) => vec![records],
            _ => Vec::new(),
        };
        let mut out = Vec::new();
        for record in items {
            let Some(id) = record.get("id").and_then(Value::as_i64) else {
                continue;
            };
            let user_id = record.get("user_id").and_then(Value::as_i64);
            // The row as committed (the caller's `$select` may hide `revoked`).
            let (jti, revoked) = if removed {
                (self.by_id.get(&id).map(|j| j.clone()), true)
            } else {
                match self.row_state(id).await {
                    Some((jti, revoked)) => (jti, revoked),
                    None => (self.by_id.get(&id).map(|j| j.clone()), true),
                }
            };
            let Some(jti) = jti else { continue };
            self.remember(
                &jti,
                State {
                    id: (!removed).then_some(id),
                    revoked,
                },
            );
            if removed {
                self.by_id.remove(&id);
            }
            if revoked {
                out.push((jti, user_id));
            }
        }
        out
    }

    /// `(jti, revoked)` of row `id`; `None` when it is gone (or cannot be read).
    async fn row_state(&self, id: i64) -> Option<(Option<String>, bool)> {
        let select = Query::select()
            .columns([col("jti"), col("revoked")])
            .from(col(TABLE))
            .and_where(Expr::col(col("id")).eq(id))
            .to_owned();
        let row = self
            .db
            .query_one_raw(self.db.get_database_backend().build(&select))
            .await
            .ok()??;
        let jti = row.try_get::<Option<String>>("", "jti").ok()?;
        let revoked = row.try_get::<bool>("", "revoked").ok()?;
        Some((jti, revoked))
    }
}
