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
//!   are logged out and disconnected at once (by realtime, which owns the sockets:
//!   [`crate::realtime::Realtime::log_out`]).
//! - Several instances (PostgreSQL): every revocation committed here is announced on the
//!   cluster bus ([`crate::realtime::bus`]); the other instances mark the `jti`s revoked
//!   in their caches and log out their own sockets bound to them.
//!
//! Layout: `store` writes the rows (open, logout, revocation, expiry) and audit events;
//! `cache` answers the per-call check from memory; `cluster` announces revocations to
//! the other instances; `after_commit` is the pipeline stage that keeps the cache true
//! and names the sessions and accounts a call ended, whose sockets the pipeline logs out.

mod after_commit;
mod cache;
mod cluster;
mod store;

pub use after_commit::{Ended, after_commit};

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, OnceLock};

use dashmap::DashMap;
use sea_orm::sea_query::Alias;

use super::crypto::TokenCipher;
use super::geoip::GeoIp;
use super::throttle::Throttle;
use crate::service::{Connection, Database};

const TABLE: &str = "auth_sessions";

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
    bus: OnceLock<Arc<dyn super::Announce>>,
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
}
