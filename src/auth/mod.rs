//! Authentication: JWTs, password hashing, principals and login strategies.

pub mod common_passwords;
pub mod crypto;
pub mod geoip;
pub mod grants;
pub mod jwt;
pub mod password;
pub mod password_policy;
pub mod principal;
pub mod principal_cache;
pub mod scopes;
pub mod secret;
pub mod sessions;
pub mod signing;
pub mod strategy;
pub mod throttle;
pub mod useragent;

pub use jwt::{Claims, Keys};

/// Where this instance tells the other instances what changed in its caches, so they
/// change theirs: the cluster bus (`realtime::bus::Publisher`) implements it, once it
/// runs. Sending never waits.
pub trait Announce: Send + Sync {
    /// Sessions revoked or deleted: by `jti`, by row id (`ids`) for deleted rows whose
    /// `jti` is unknown here, and every session of deleted accounts (`users`).
    fn revoked(&self, jtis: Vec<String>, ids: Vec<i64>, users: Vec<i64>);

    /// Accounts or effective scopes may have changed: cached principals are stale.
    fn principals_changed(&self);
}
