//! Authentication sessions (DESIGN §3): every successful `local` login writes one
//! `auth_sessions` row, in one transaction with its `login` audit event. The token's `jti`
//! names the row (column `jti`, internal: never output). The token itself is kept only
//! encrypted (`encrypted_token`, AES-256-GCM, see [`crate::auth::crypto`]).
//!
//! - `jwt` re-authentication reuses the session of the token it presents: no new row, no
//!   new token. A reconnecting browser therefore never piles up sessions.
//! - A session is valid while its row exists with `revoked = false`. Checks go through an
//!   in-memory cache (`jti -> state`): one query the first time a `jti` is seen on this
//!   instance, none after. The pipeline refreshes the cache after every committed change
//!   of `auth_sessions` ([`after_commit`]), and logout / password change update it
//!   directly, so revocation bites on the next call; sockets bound with a revoked session
//!   are logged out and disconnected at once.
//! - Several instances (PostgreSQL): every revocation committed here is announced on the
//!   cluster bus ([`crate::realtime::bus`]); the other instances mark the `jti`s revoked
//!   in their caches and log out their own sockets bound to them.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use dashmap::DashMap;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use serde_json::Value;

use super::crypto::TokenCipher;
use super::geoip::GeoIp;
use super::throttle::Throttle;
use super::useragent;
use crate::app::App;
use crate::error::{Error, Result};
use crate::realtime::bus::{Message, Publisher};
use crate::service::{Binding, Call, Connection, Database, Method, Rows, Service};
use crate::store::audit::record_custom;

const TABLE: &str = "auth_sessions";
/// Cached `jti`s before the cache starts over.
const CACHE_LIMIT: usize = 100_000;

/// What the cache knows about one `jti`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    id: Option<i64>,
    revoked: bool,
}

/// A session to open at login.
pub struct NewSession<'a> {
    pub user_id: i64,
    pub strategy: &'a str,
    pub connection: &'a Connection,
    pub token: &'a str,
    pub jti: &'a str,
    /// A new password hash to store in the same transaction (bcrypt -> argon2id rehash).
    pub rehash: Option<String>,
}

pub struct Sessions {
    db: Database,
    cipher: TokenCipher,
    geo: Option<GeoIp>,
    pub throttle: Throttle,
    by_jti: DashMap<String, State>,
    by_id: DashMap<i64, String>,
    /// The cluster bus, when several instances may share the database.
    bus: OnceLock<Publisher>,
    /// Bumped by [`Sessions::forget_all`]: a load that raced with it is not cached.
    epoch: AtomicU64,
    /// Set while the cluster bus is down: checks bypass the cache ([`Sessions::trust_cache`]).
    untrusted: AtomicBool,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::new(Database::default(), TokenCipher::ephemeral(), None)
    }
}

fn col(name: &str) -> Alias {
    Alias::new(name)
}

impl Sessions {
    pub fn new(db: Database, cipher: TokenCipher, geo: Option<GeoIp>) -> Self {
        Self {
            db,
            cipher,
            geo,
            throttle: Throttle::default(),
            by_jti: DashMap::new(),
            by_id: DashMap::new(),
            bus: OnceLock::new(),
            epoch: AtomicU64::new(0),
            untrusted: AtomicBool::new(false),
        }
    }

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

    /// Announces this instance's revocations to the others from now on.
    pub fn attach_bus(&self, bus: Publisher) {
        let _ = self.bus.set(bus);
    }

    /// Tells the other instances that `jtis` were revoked (committed).
    fn announce(&self, jtis: &[String]) {
        self.announce_with_ids(jtis, Vec::new());
    }

    /// [`announce`](Self::announce), plus deleted rows (`ids`) whose `jti` is unknown here.
    fn announce_with_ids(&self, jtis: &[String], ids: Vec<i64>) {
        if let Some(bus) = self.bus.get()
            && !(jtis.is_empty() && ids.is_empty())
        {
            bus.send(Message::Revoked {
                jtis: jtis.to_vec(),
                ids,
                users: Vec::new(),
            });
        }
    }

    /// Tells the other instances that `users` were deleted (with all their sessions).
    fn announce_removed_users(&self, users: Vec<i64>) {
        if let Some(bus) = self.bus.get()
            && !users.is_empty()
        {
            bus.send(Message::Revoked {
                jtis: Vec::new(),
                ids: Vec::new(),
                users,
            });
        }
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

    fn remember(&self, jti: &str, state: State) {
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

    /// Opens a session for a successful login; returns its row id.
    pub async fn open(&self, new: NewSession<'_>) -> Result<i64> {
        let ua = new.connection.user_agent.clone();
        let info = match ua.clone() {
            Some(ua) => tokio::task::spawn_blocking(move || useragent::parse(&ua))
                .await
                .unwrap_or_default(),
            None => useragent::UaInfo::default(),
        };
        let geo = match (&self.geo, new.connection.ip.as_deref()) {
            (Some(db), Some(ip)) => db.lookup(ip),
            _ => Default::default(),
        };
        let encrypted = self.cipher.encrypt(new.token)?;
        let now = chrono::Utc::now();
        let values: Vec<(&str, sea_orm::Value)> = vec![
            ("title", info.title().into()),
            ("user_id", new.user_id.into()),
            ("auth_provider", new.strategy.into()),
            ("ip", new.connection.ip.clone().into()),
            ("city", geo.city.into()),
            ("region", geo.region.into()),
            ("country", geo.country.into()),
            ("loc", geo.loc.into()),
            ("postal", geo.postal.into()),
            ("timezone", geo.timezone.into()),
            ("useragent", ua.into()),
            ("browser_name", info.browser_name.into()),
            ("browser_version", info.browser_version.into()),
            ("engine_name", info.engine_name.into()),
            ("engine_version", info.engine_version.into()),
            ("device_vendor", info.device_vendor.into()),
            ("device_model", info.device_model.into()),
            ("device_type", info.device_type.into()),
            ("os_name", info.os_name.into()),
            ("os_version", info.os_version.into()),
            ("cpu_arch", info.cpu_arch.into()),
            ("encrypted_token", encrypted.into()),
            ("revoked", false.into()),
            ("jti", new.jti.into()),
            ("created_at", now.into()),
            ("updated_at", now.into()),
        ];
        let (names, values): (Vec<_>, Vec<_>) = values.into_iter().unzip();
        let insert = Query::insert()
            .into_table(col(TABLE))
            .columns(names.into_iter().map(col))
            .values(values.into_iter().map(Into::into))
            .map_err(Error::internal)?
            .returning_col(col("id"))
            .to_owned();

        let write = self.db.write().await?;
        let db = write.db();
        let row = db
            .query_one(db.build(&insert))
            .await
            .map_err(Error::internal)?
            .ok_or_else(|| Error::internal("session insert returned no row"))?;
        let id: i64 = row.try_get("", "id").map_err(Error::internal)?;
        if let Some(hash) = new.rehash {
            let update = Query::update()
                .table(col("users"))
                .value(col("password"), hash)
                .and_where(Expr::col(col("id")).eq(new.user_id))
                .to_owned();
            db.execute(db.build(&update))
                .await
                .map_err(Error::internal)?;
        }
        record_custom(db, "login", Some(new.user_id)).await?;
        write.commit().await?;
        self.remember(
            new.jti,
            State {
                id: Some(id),
                revoked: false,
            },
        );
        Ok(id)
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

    /// Logout: revokes the session of `jti` and records `logout`, in one transaction.
    pub async fn revoke_for_logout(&self, jti: &str, user_id: i64) -> Result<()> {
        let update = Query::update()
            .table(col(TABLE))
            .value(col("revoked"), true)
            .value(col("updated_at"), chrono::Utc::now())
            .and_where(Expr::col(col("jti")).eq(jti))
            .to_owned();
        let write = self.db.write().await?;
        let db = write.db();
        db.execute(db.build(&update))
            .await
            .map_err(Error::internal)?;
        record_custom(db, "logout", Some(user_id)).await?;
        write.commit().await?;
        let id = self.by_jti.get(jti).and_then(|s| s.id);
        self.remember(jti, State { id, revoked: true });
        self.announce(&[jti.to_string()]);
        Ok(())
    }

    /// Revokes every live session of `user_id` except `keep` (the caller's own), recording
    /// `session_revoked` for each; returns the revoked `jti`s.
    pub async fn revoke_user_sessions(
        &self,
        user_id: i64,
        keep: Option<&str>,
    ) -> Result<Vec<String>> {
        let mut select = Query::select()
            .columns([col("id"), col("jti")])
            .from(col(TABLE))
            .and_where(Expr::col(col("user_id")).eq(user_id))
            .and_where(Expr::col(col("revoked")).eq(false))
            .to_owned();
        if let Some(keep) = keep {
            select.cond_where(
                Expr::col(col("jti"))
                    .is_null()
                    .or(Expr::col(col("jti")).ne(keep)),
            );
        }
        let write = self.db.write().await?;
        let db = write.db();
        let rows = db
            .query_all(db.build(&select))
            .await
            .map_err(Error::internal)?;
        let mut revoked = Vec::new();
        for row in rows {
            let id: i64 = row.try_get("", "id").map_err(Error::internal)?;
            let jti: Option<String> = row.try_get("", "jti").map_err(Error::internal)?;
            let update = Query::update()
                .table(col(TABLE))
                .value(col("revoked"), true)
                .value(col("updated_at"), chrono::Utc::now())
                .and_where(Expr::col(col("id")).eq(id))
                .to_owned();
            db.execute(db.build(&update))
                .await
                .map_err(Error::internal)?;
            record_custom(db, "session_revoked", Some(user_id)).await?;
            if let Some(jti) = jti {
                revoked.push((id, jti));
            }
        }
        write.commit().await?;
        for (id, jti) in &revoked {
            self.remember(
                jti,
                State {
                    id: Some(*id),
                    revoked: true,
                },
            );
        }
        let jtis: Vec<String> = revoked.into_iter().map(|(_, jti)| jti).collect();
        self.announce(&jtis);
        Ok(jtis)
    }

    /// Marks sessions whose token has expired by `now` (issued more than `lifetime` ago:
    /// a session keeps the token of its login) as revoked, so they read as ended. Returns
    /// how many rows changed. Their tokens are refused anyway (`exp`); no event is written,
    /// as nobody revoked them.
    pub async fn mark_expired(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        lifetime: chrono::Duration,
    ) -> Result<u64> {
        let Some(issued_before) = now.checked_sub_signed(lifetime) else {
            return Ok(0); // a lifetime longer than history: nothing has expired
        };
        let update = Query::update()
            .table(col(TABLE))
            .value(col("revoked"), true)
            .value(col("updated_at"), now)
            .and_where(Expr::col(col("revoked")).eq(false))
            .and_where(Expr::col(col("created_at")).lte(issued_before))
            .to_owned();
        let write = self.db.write().await?;
        let done = write
            .db()
            .execute(write.db().build(&update))
            .await
            .map_err(Error::internal)?;
        write.commit().await?;
        Ok(done.rows_affected())
    }

    /// Runs [`Sessions::mark_expired`] every minute for as long as the app lives.
    pub fn sweep_expired(self: &Arc<Self>, lifetime_secs: u64) {
        let sessions = Arc::downgrade(self);
        let lifetime = i64::try_from(lifetime_secs)
            .ok()
            .and_then(chrono::Duration::try_seconds)
            .unwrap_or(chrono::Duration::MAX);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(sessions) = sessions.upgrade() else {
                    return;
                };
                if let Err(e) = sessions.mark_expired(chrono::Utc::now(), lifetime).await {
                    tracing::warn!(error = %e, "could not mark expired sessions");
                }
            }
        });
    }

    /// Records a custom audit event outside any other transaction.
    pub async fn record_event(&self, event: &str, user_id: Option<i64>) -> Result<()> {
        let write = self.db.write().await?;
        record_custom(write.db(), event, user_id).await?;
        write.commit().await
    }

    /// After a committed change of `auth_sessions` rows: refreshes their cache entries and
    /// returns `(jti, user_id)` of those now revoked or gone.
    async fn refresh(&self, records: &Value, removed: bool) -> Vec<(String, Option<i64>)> {
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

/// The pipeline's after-commit stage for sessions: keeps the cache true and logs out the
/// sockets of sessions that a committed call revoked (a revoked or deleted
/// `auth_sessions` row, a logout, a password change). Failures are logged, never
/// returned: the call itself succeeded.
pub async fn after_commit(app: &App, service: &dyn Service, call: &Call, records: &Value) {
    let mut revoked: Vec<String> = Vec::new();
    let ids = || -> Vec<i64> {
        match records {
            Value::Array(items) => items.iter().filter_map(|r| r["id"].as_i64()).collect(),
            record => record["id"].as_i64().into_iter().collect(),
        }
    };
    match (service.policy().rows, call.method) {
        (Rows::Sessions, Method::Update | Method::Patch | Method::Remove) => {
            let removed = call.method == Method::Remove;
            // `session_revoked` was recorded with the change (`services::auth_sessions`).
            for (jti, _user) in app.sessions.refresh(records, removed).await {
                revoked.push(jti);
            }
            // A deleted row's `jti` is known here only if this instance cached it.
            let ids = if removed { ids() } else { Vec::new() };
            app.sessions.announce_with_ids(&revoked, ids);
        }
        // A deleted user's sessions went with it (CASCADE): its sockets are logged out
        // here and on every other instance.
        (Rows::Accounts, Method::Remove) => {
            let users = ids();
            if let Some(io) = app.realtime.io() {
                crate::transport::socket::log_out_users(io, &users.iter().copied().collect());
            }
            app.sessions.announce_removed_users(users);
        }
        (Rows::Accounts, Method::Update | Method::Patch)
            if call.data.get("password").is_some_and(Value::is_string) =>
        {
            let Some(user_id) = records.get("id").and_then(Value::as_i64) else {
                return;
            };
            let keep = call
                .params
                .principal
                .as_ref()
                .filter(|p| p.user_id == user_id)
                .map(|p| p.session_id.as_str());
            match app.sessions.revoke_user_sessions(user_id, keep).await {
                Ok(jtis) => revoked.extend(jtis),
                Err(e) => {
                    tracing::warn!(error = %e, "could not revoke sessions after a password change")
                }
            }
        }
        _ if service.binds(call.method) == Binding::Logout => {
            if let Some(p) = &call.params.principal {
                revoked.push(p.session_id.clone());
            }
        }
        _ => {}
    }
    log_out_local_sockets(app, revoked, call.params.connection.socket_id.as_deref());
}

/// Logs out this instance's sockets bound to the revoked sessions `jtis` (other instances
/// learn of them over the cluster bus). `caller`: the revoking call's own socket, which is
/// only unbound, as it still has to receive its answer.
pub fn log_out_local_sockets(app: &App, jtis: Vec<String>, caller: Option<&str>) {
    if jtis.is_empty() {
        return;
    }
    if let Some(io) = app.realtime.io() {
        let jtis: HashSet<String> = jtis.into_iter().collect();
        crate::transport::socket::log_out_sessions(io, &jtis, caller);
    }
}
