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
