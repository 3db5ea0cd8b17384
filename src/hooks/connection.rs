//! What a call does to its connection: a successful login binds it to the user, a logout
//! unbinds it (the socket transport applies this; REST is stateless).

use std::sync::Arc;

use serde_json::Value;

use crate::auth::principal;
use crate::service::{Call, ConnectionEffect, Method};
use crate::services::authentication;

pub fn effect(call: &Call, value: &Value) -> Option<ConnectionEffect> {
    if call.path != authentication::PATH {
        return None;
    }
    match call.method {
        Method::Create => {
            principal::from_auth_result(value).map(|p| ConnectionEffect::Login(Arc::new(p)))
        }
        Method::Remove => Some(ConnectionEffect::Logout),
        _ => None,
    }
}
