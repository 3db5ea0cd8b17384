//! Per-service policy: who may call each method, what is audited, what is published.
//!
//! Deny by default: a service must declare its policy, and nothing reachable from a
//! transport skips the `authorize` stage (only `Params::internal()` calls do).
//!
//! Scopes (DESIGN §4) are declared by each service in its policy ([`Policy::scoped`]):
//! the slug each method needs, an umbrella slug, the methods any caller may call, the
//! own-record rule and the group field. A service without a scope rule lets in any caller
//! its [`Access`] admits.

use super::Method;
use super::fields::ReadableFields;
use super::scopes::Scopes;

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
    /// The scopes each method needs (DESIGN §4), checked by authorization and by realtime
    /// delivery. `None`: any caller [`Access`] admits.
    pub scope: Option<ScopeRule>,
    /// Mutations that may change someone's effective scopes once committed: the scope
    /// cache is cleared after them (on every instance).
    pub changes_scopes: &'static [Method],
    /// Ids are secrets or personal data (a token, a code, an address): request logs show
    /// `:id` instead.
    pub secret_ids: bool,
    /// What the rows are to sign-in: their changes end sessions and connections.
    pub rows: Rows,
    /// The fields of a row that is not the viewer's own which a viewer with `scopes`
    /// (without `full_access`) may read, filter and sort on; `None`: every field. Applied
    /// to answers and events alike.
    pub readable_fields: Option<ReadableFields>,
    /// Write an `events` row for every record a mutation touches.
    pub audit: bool,
    /// Publish `<path> <event>` to connections after commit.
    pub publish: bool,
}

impl Policy {
    /// Nobody from outside; nothing audited or published. A base for `..` updates.
    pub const fn deny_all() -> Self {
        Self {
            find: Access::Deny,
            get: Access::Deny,
            create: Access::Deny,
            update: Access::Deny,
            patch: Access::Deny,
            remove: Access::Deny,
            scope: None,
            changes_scopes: &[],
            secret_ids: false,
            rows: Rows::Plain,
            readable_fields: None,
            audit: false,
            publish: false,
        }
    }

    /// Every method open to any authenticated caller (no scope needed); mutations are
    /// audited and published to authenticated connections.
    pub const fn authenticated() -> Self {
        Self {
            find: Access::Authenticated,
            get: Access::Authenticated,
            create: Access::Authenticated,
            update: Access::Authenticated,
            patch: Access::Authenticated,
            remove: Access::Authenticated,
            audit: true,
            publish: true,
            ..Self::deny_all()
        }
    }

    /// Every method needs an authenticated caller holding what `scope` asks for;
    /// mutations are audited and published to the connections allowed to read the row.
    pub const fn scoped(scope: ScopeRule) -> Self {
        Self {
            scope: Some(scope),
            ..Self::authenticated()
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
            audit: true,
            publish: true,
            ..Self::deny_all()
        }
    }

    /// Clears the scope cache after committed `methods`.
    pub const fn changes_scopes(mut self, methods: &'static [Method]) -> Self {
        self.changes_scopes = methods;
        self
    }

    /// Declares what the rows are to sign-in.
    pub const fn rows(mut self, rows: Rows) -> Self {
        self.rows = rows;
        self
    }

    /// Declares the fields of others' rows a viewer may read.
    pub const fn readable_fields(mut self, fields: ReadableFields) -> Self {
        self.readable_fields = Some(fields);
        self
    }

    /// Ids are kept out of request logs.
    pub const fn secret_ids(mut self) -> Self {
        self.secret_ids = true;
        self
    }

    /// Whether committed `method` may change effective scopes.
    pub fn changes_scopes_on(&self, method: Method) -> bool {
        method.is_mutation() && self.changes_scopes.contains(&method)
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

/// What a resource's rows are to sign-in, so committed changes end what they must.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    Plain,
    /// Login sessions (revoked or removed: their tokens stop working, sockets log out).
    Sessions,
    /// Accounts (removed: their sockets log out everywhere; a new password ends their
    /// other sessions).
    Accounts,
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
    /// Methods any authenticated caller may call without a slug (e.g. reading messages).
    pub open: &'static [Method],
    pub own: Option<Own>,
    /// The field naming the access group a row belongs to: scopes held inside that group
    /// (group roles, DESIGN §4) allow the method on that row.
    pub group: Option<&'static str>,
}

impl ScopeRule {
    /// `<p>_read` for reads, `<p>_create`, `<p>_write` and `<p>_remove` for changes, and
    /// `<p>` itself allows every method.
    pub const fn crud(
        prefix: &'static str,
        read: &'static str,
        create: &'static str,
        write: &'static str,
        remove: &'static str,
    ) -> Self {
        Self {
            prefix,
            read,
            create,
            write,
            remove,
            umbrella: None,
            open: &[],
            own: None,
            group: None,
        }
    }

    /// `read` for reads, `write` for every change.
    pub const fn read_write(prefix: &'static str, read: &'static str, write: &'static str) -> Self {
        Self::crud(prefix, read, write, write, write)
    }

    /// A slug that allows every method.
    pub const fn umbrella(mut self, slug: &'static str) -> Self {
        self.umbrella = Some(slug);
        self
    }

    /// Creation needs `slug` rather than the write slug.
    pub const fn create(mut self, slug: &'static str) -> Self {
        self.create = slug;
        self
    }

    /// Rows belong to the access group named by `field`: scopes held inside that group
    /// allow the method on its rows.
    pub const fn group(mut self, field: &'static str) -> Self {
        self.group = Some(field);
        self
    }

    /// Without the slug, `methods` reach the caller's own rows (`field` = the caller).
    pub const fn own(mut self, field: &'static str, methods: &'static [Method]) -> Self {
        self.own = Some(Own { field, methods });
        self
    }

    /// `methods` need no slug: any authenticated caller may call them.
    pub const fn open(mut self, methods: &'static [Method]) -> Self {
        self.open = methods;
        self
    }

    /// Whether `scopes` allow `method` on every row (the slug, the umbrella, `full_access`
    /// or an open method).
    pub fn allows(&self, scopes: &Scopes, method: Method) -> bool {
        self.open.contains(&method) || scopes.has_any(&self.required(method))
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

impl Policy {
    /// The scope rule this policy declares, if any.
    pub const fn scope_rule(&self) -> Option<&ScopeRule> {
        self.scope.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_scopes() {
        use Method::*;
        let roles = ScopeRule::crud(
            "roles",
            "roles_read",
            "roles_create",
            "roles_write",
            "roles_remove",
        )
        .umbrella("roles");
        assert_eq!(roles.required(Remove), ["roles_remove", "roles"]);
        let groups =
            ScopeRule::read_write("access_groups", "access_groups_read", "access_groups_write")
                .create("access_groups_create");
        assert_eq!(groups.required(Create), ["access_groups_create"; 2]);
        assert_eq!(groups.required(Remove), ["access_groups_write"; 2]);
        let messages =
            ScopeRule::read_write("messages", "messages_read", "messages_write").open(&[Find, Get]);
        let nobody = Scopes::default();
        assert!(messages.allows(&nobody, Get) && !messages.allows(&nobody, Patch));
    }

    #[test]
    fn a_policy_without_a_scope_rule_lets_any_caller_in() {
        assert!(Policy::authenticated().scope_rule().is_none());
        assert_eq!(
            Policy::authenticated().access(Method::Remove),
            Access::Authenticated
        );
    }
}
