//! Per-service policy: who may call each method, what is audited, what is published.
//!
//! Deny by default: a service must declare its policy, and nothing reachable from a
//! transport skips the `authorize` stage (only `Params::internal()` calls do).
//!
//! Scopes (DESIGN §4) are declared once per scope prefix in [`SCOPE_RULES`]: the slug
//! each method needs, an umbrella slug, the own-record rule and the group field. A
//! service with `Access::Authenticated` and a `scope_prefix` needs its rule's slug (or
//! `full_access`); a prefix without a rule allows `full_access` only.

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

/// The rows a caller may always reach without the read/write scope: those whose `field`
/// equals the caller's user id, for these `methods` (DESIGN §4 "own records").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Own {
    pub field: &'static str,
    pub methods: &'static [Method],
}

/// The scopes of one scope prefix (DESIGN §4): which slug each method needs, an optional
/// umbrella slug that allows every method, and the own-record rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopeRule {
    pub prefix: &'static str,
    pub read: &'static str,
    pub create: &'static str,
    pub write: &'static str,
    pub remove: &'static str,
    pub umbrella: Option<&'static str>,
    pub own: Option<Own>,
    /// The field naming the access group a row belongs to: scopes held inside that group
    /// (group roles, DESIGN §4) allow the method on that row.
    pub group: Option<&'static str>,
}

impl ScopeRule {
    /// `<p>_read` for reads, `<p>_write` for every change.
    const fn read_write(prefix: &'static str, read: &'static str, write: &'static str) -> Self {
        Self {
            prefix,
            read,
            create: write,
            write,
            remove: write,
            umbrella: None,
            own: None,
            group: None,
        }
    }

    const fn group(mut self, field: &'static str) -> Self {
        self.group = Some(field);
        self
    }

    const fn own(mut self, field: &'static str, methods: &'static [Method]) -> Self {
        self.own = Some(Own { field, methods });
        self
    }

    /// The slugs any one of which allows `method` (besides `full_access`).
    pub fn required(&self, method: Method) -> [&'static str; 2] {
        let slug = match method {
            Method::Find | Method::Get => self.read,
            Method::Create => self.create,
            Method::Update | Method::Patch => self.write,
            Method::Remove => self.remove,
        };
        [slug, self.umbrella.unwrap_or(slug)]
    }

    /// The own-record rule, if it covers `method`.
    pub fn own_for(&self, method: Method) -> Option<Own> {
        self.own.filter(|o| o.methods.contains(&method))
    }
}

use Method::{Find, Get, Patch, Remove};

/// Every scope prefix of DESIGN §4. A prefix missing here allows nobody (deny by default).
/// `events` changes need `full_access` (the audit log is append-only, DESIGN §5).
pub const SCOPE_RULES: &[ScopeRule] = &[
    ScopeRule {
        prefix: "users",
        read: "users_read",
        create: "users_create",
        write: "users_write",
        remove: "users_remove",
        umbrella: None,
        own: Some(Own {
            field: "id",
            methods: &[Find, Get, Patch],
        }),
        group: None,
    },
    ScopeRule {
        prefix: "roles",
        read: "roles_read",
        create: "roles_create",
        write: "roles_write",
        remove: "roles_remove",
        umbrella: Some("roles"),
        own: None,
        group: None,
    },
    ScopeRule::read_write("scopes", "scopes_read", "scopes_write"),
    ScopeRule::read_write(
        "user_oauth_providers",
        "user_oauth_providers_read",
        "user_oauth_providers_write",
    )
    .own("user_id", &[Find, Get, Remove]),
    ScopeRule::read_write("auth_sessions", "auth_sessions_read", "auth_sessions_write")
        .own("user_id", &[Find, Get, Patch, Remove]),
    ScopeRule::read_write(
        "auth_providers",
        "auth_providers_read",
        "auth_providers_write",
    ),
    ScopeRule::read_write("user_roles", "user_roles_read", "user_roles_write"),
    ScopeRule::read_write("role_scopes", "role_scopes_read", "role_scopes_write"),
    ScopeRule::read_write(
        "access_group_types",
        "access_group_types_read",
        "access_group_types_write",
    ),
    ScopeRule {
        create: "access_groups_create",
        ..ScopeRule::read_write("access_groups", "access_groups_read", "access_groups_write")
            .group("id")
    },
    ScopeRule::read_write(
        "user_group_roles",
        "user_group_roles_read",
        "user_group_roles_write",
    )
    .group("group_id"),
    ScopeRule::read_write(
        "group_group_roles",
        "group_group_roles_read",
        "group_group_roles_write",
    )
    .group("parent_group_id"),
    ScopeRule {
        prefix: "events",
        read: "events_read",
        create: "events_write",
        write: "full_access",
        remove: "full_access",
        umbrella: None,
        own: None,
        group: None,
    },
];

/// The rule of a scope prefix.
pub fn scope_rule(prefix: &str) -> Option<&'static ScopeRule> {
    SCOPE_RULES.iter().find(|r| r.prefix == prefix)
}

impl Policy {
    /// The scope rule this policy's prefix names. `None` with a prefix means the prefix is
    /// unknown: only `full_access` is allowed then.
    pub fn scope_rule(&self) -> Option<&'static ScopeRule> {
        self.scope_prefix.and_then(scope_rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_scopes() {
        let roles = scope_rule("roles").map(|r| r.required(Method::Remove));
        assert_eq!(roles, Some(["roles_remove", "roles"]));
        let users = scope_rule("users").map(|r| r.required(Method::Create));
        assert_eq!(users, Some(["users_create", "users_create"]));
        let groups = scope_rule("access_groups").map(|r| r.required(Method::Remove));
        assert_eq!(groups, Some(["access_groups_write", "access_groups_write"]));
        assert!(scope_rule("nope").is_none());
    }
}
