//! What a call does to its connection: a successful login binds it to the user, a logout
//! unbinds it (the socket transport applies this; REST is stateless).

use std::sync::Arc;

use serde_json::Value;

use crate::auth::principal;
use crate::service::{Call, ConnectionEffect, Method};
use crate::services::{authentication, otp};

pub fn effect(call: &Call, value: &Value) -> Option<ConnectionEffect> {
    let login = || principal::from_auth_result(value).map(|p| ConnectionEffect::Login(Arc::new(p)));
    match (call.path.as_str(), call.method) {
        (authentication::PATH, Method::Create) => login(),
        (authentication::PATH, Method::Remove) => Some(ConnectionEffect::Logout),
        // Exchanging a one-time password answers like a login, and binds like one.
        (otp::PATH, Method::Patch) => login(),
        _ => None,
    }
}
