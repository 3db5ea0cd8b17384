//! Decides whether the caller may run this method, from the service's policy.
//! Internal calls skip it. Denials: 401 without a valid token, 403 with one.

use crate::app::App;
use crate::error::{Error, Result};
use crate::service::{Access, Call, not_supported};

pub fn run(app: &App, policy: &crate::service::Policy, call: &Call) -> Result<()> {
    let params = &call.params;
    if params.is_internal() {
        return Ok(());
    }
    match policy.access(call.method) {
        Access::Public => Ok(()),
        Access::Deny => Err(not_supported(&call.path, call.method)),
        Access::Signup if app.config.signup.open => Ok(()),
        Access::Authenticated | Access::Signup => match params.principal {
            Some(_) => Ok(()),
            None => Err(Error::not_authenticated("Not authenticated")),
        },
    }
}
