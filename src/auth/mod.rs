//! Authentication: JWTs, password hashing, principals and login strategies.

pub mod jwt;
pub mod password;
pub mod principal;
pub mod secret;

pub use jwt::{Claims, Keys};
