//! What a call does to its connection, as its service declares ([`Service::binds`]): a
//! login binds it to the user, a logout unbinds it (the socket transport applies this;
//! REST is stateless).

use std::sync::Arc;

use serde_json::Value;

use crate::auth::{Keys, principal};
use crate::service::{Binding, Call, ConnectionEffect, Service};

pub fn effect(
    keys: &Keys,
    service: &dyn Service,
    call: &Call,
    value: &Value,
) -> Option<ConnectionEffect> {
    match service.binds(call.method) {
        Binding::Login => {
            principal::from_auth_result(keys, value).map(|p| ConnectionEffect::Login(Arc::new(p)))
        }
        Binding::Logout => Some(ConnectionEffect::Logout),
        Binding::None => None,
    }
}
