//! Authentication: JWTs, password hashing, principals and login strategies.

pub mod password;

/// JWT signing and verification keys (HS256 over the configured secret).
pub struct Keys {
    pub encoding: jsonwebtoken::EncodingKey,
    pub decoding: jsonwebtoken::DecodingKey,
}
