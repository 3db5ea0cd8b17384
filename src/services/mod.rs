//! Services, one file per resource, and the one ordered list of them ([`register_all`]).
//!
//! Every resource here is a [`SqlService`] over its table (seed fields exactly), paginated
//! with `config.paginate`, `multi` off, behind the `POLICY` its file declares
//! (DESIGN §4), with its own `WriteRules` where it has rules. The account services
//! (`otp`, `verify`, `recover`, `v1/users`, `v1/users/invite`; their shared logic is in
//! [`crate::accounts`]) and `authentication` are custom services.

pub mod authentication;

pub mod access_group_types;
pub mod access_groups;
pub mod access_scopes;
pub mod auth_sessions;
pub mod events;
pub mod explain;
pub mod group_group_roles;
pub mod oauth_providers;
pub mod otp;
pub mod recover;
pub mod role_access_scopes;
pub mod roles;
pub mod user_group_roles;
pub mod user_oauth_providers;
pub mod user_roles;
pub mod users;
pub mod v1_invite;
pub mod v1_users;
pub mod verify;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;

use std::sync::Arc;

use crate::accounts::Accounts;
use crate::auth::Keys;
use crate::auth::password::PasswordGate;
use crate::auth::sessions::Sessions;
use crate::config::Config;
use crate::notify::Notifier;
use crate::oauth::OAuth;
use crate::service::{Database, Policy, Registry, Service};
use crate::store::{SqlService, Table};
use authentication::AuthenticationService;

/// The common shape: the resource's policy, paginated, multi off.
pub(crate) fn standard(table: Table, policy: Policy, config: &Config) -> SqlService {
    SqlService::new(table, policy).paginate(Some(config.paginate))
}

/// What the services are built from.
pub struct Deps {
    pub config: Arc<Config>,
    pub db: Database,
    pub keys: Arc<Keys>,
    pub sessions: Arc<Sessions>,
    pub notifier: Arc<Notifier>,
    pub passwords: Arc<PasswordGate>,
    pub oauth: Arc<OAuth>,
    /// Who each user is, cached (shared with the pipeline).
    pub principals: Arc<crate::auth::principal_cache::PrincipalCache>,
}

/// Registers `module::service(config)` at `module::PATH` for each module, in order.
macro_rules! register {
    ($registry:expr, $config:expr; $($module:ident),* $(,)?) => {
        $( $registry.register($module::PATH, Arc::new($module::service($config))); )*
    };
}

/// Registers every service, in this order: the one list of them. Adding a resource is its
/// file, its migration and one line here.
pub fn register_all(registry: &mut Registry, deps: &Deps) {
    let config = &deps.config;
    let users: Arc<dyn Service> = Arc::new(users::service(
        config,
        deps.passwords.clone(),
        deps.notifier.clone(),
    ));
    registry.register(users::PATH, users.clone());
    register!(registry, config;
        roles,
        access_scopes,
        role_access_scopes,
        user_roles,
        access_group_types,
        access_groups,
        user_group_roles,
        group_group_roles,
    );
    registry.register(
        oauth_providers::PATH,
        Arc::new(oauth_providers::service(config, deps.oauth.shared_cipher())),
    );
    register!(registry, config;
        user_oauth_providers,
        auth_sessions,
        events,
        explain,
    );
    let accounts = Arc::new(Accounts {
        db: deps.db.clone(),
        notifier: deps.notifier.clone(),
        sessions: deps.sessions.clone(),
        keys: deps.keys.clone(),
        users: users.clone(),
        passwords: deps.passwords.clone(),
        config: config.clone(),
        sends: crate::auth::throttle::Throttle::with_message(
            "Too many codes or links requested for this address, try again later",
        ),
    });
    let otp = Arc::new(otp::OtpService::new(accounts.clone()));
    registry.register(otp::PATH, otp.clone());
    registry.register(
        verify::PATH,
        Arc::new(verify::VerifyService::new(accounts.clone())),
    );
    registry.register(
        recover::PATH,
        Arc::new(recover::RecoverService::new(accounts.clone())),
    );
    registry.register(
        v1_users::USERS_PATH,
        Arc::new(v1_users::V1UsersService::new(accounts.clone())),
    );
    registry.register(
        v1_invite::INVITE_PATH,
        Arc::new(v1_invite::InviteService::new(accounts.clone())),
    );
    let authentication = AuthenticationService::new(
        deps.keys.clone(),
        users,
        deps.sessions.clone(),
        deps.passwords.clone(),
        deps.principals.clone(),
    )
    .with_otp(otp)
    .with_oauth(deps.oauth.clone());
    registry.register(authentication::PATH, Arc::new(authentication));
}
