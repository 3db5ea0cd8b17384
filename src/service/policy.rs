//! Per-service policy: who may call each method, what is audited, what is published.
//!
//! Deny by default: a service must declare its policy, and nothing reachable from a
//! transport skips the `authorize` stage (only `Params::internal()` calls do).

use super::Method;

/// Who may call a method from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nobody from outside (internal calls only).
    Deny,
    /// Anyone, authenticated or not.
    Public,
    /// Any authenticated caller.
    Authenticated,
    /// Anonymous callers when `signup.open` is configured, else authenticated callers.
    Signup,
}

/// A service's policy. Scope names follow DESIGN §4 and are filled in per service.
#[derive(Debug, Clone)]
pub struct Policy {
    pub find: Access,
    pub get: Access,
    pub create: Access,
    pub update: Access,
    pub patch: Access,
    pub remove: Access,
    /// The scope prefix of DESIGN §4 (`users`, `roles`, ...), used by authorization.
    pub scope_prefix: Option<&'static str>,
    /// Write an `events` row for every record a mutation touches.
    pub audit: bool,
    /// Publish `<path> <event>` to connections after commit.
    pub publish: bool,
}

impl Policy {
    /// Every method needs an authenticated caller; mutations are audited and published.
    pub const fn authenticated(scope_prefix: &'static str) -> Self {
        Self {
            find: Access::Authenticated,
            get: Access::Authenticated,
            create: Access::Authenticated,
            update: Access::Authenticated,
            patch: Access::Authenticated,
            remove: Access::Authenticated,
            scope_prefix: Some(scope_prefix),
            audit: true,
            publish: true,
        }
    }

    /// Open to every caller (a library demo service); still audited and published.
    pub const fn public() -> Self {
        Self {
            find: Access::Public,
            get: Access::Public,
            create: Access::Public,
            update: Access::Public,
            patch: Access::Public,
            remove: Access::Public,
            scope_prefix: None,
            audit: true,
            publish: true,
        }
    }

    pub const fn access(&self, method: Method) -> Access {
        match method {
            Method::Find => self.find,
            Method::Get => self.get,
            Method::Create => self.create,
            Method::Update => self.update,
            Method::Patch => self.patch,
            Method::Remove => self.remove,
        }
    }
}
