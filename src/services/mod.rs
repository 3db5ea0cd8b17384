//! Services, one file per resource, and the one ordered list of them ([`register_all`]).
//!
//! Every resource here is a [`SqlService`] over its table (seed fields exactly), paginated
//! with `config.paginate`, `multi` off, behind the `POLICY` its file declares
//! (DESIGN §4). `users`, `events` and `group_group_roles` wrap it with their own rules.
//! The `authentication` service is registered by `app::build`.

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
pub mod v1_users;
pub mod verify;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;

use std::sync::Arc;

use crate::config::Config;
use crate::service::{Policy, Registry};
use crate::store::{SqlService, Table};

/// The common shape: the resource's policy, paginated, multi off.
pub(crate) fn standard(table: Table, policy: Policy, config: &Config) -> SqlService {
    SqlService::new(table, policy).paginate(Some(config.paginate))
}

/// Registers `module::service(config)` at `module::PATH` for each module, in order.
macro_rules! register {
    ($registry:expr, $config:expr; $($module:ident),* $(,)?) => {
        $( $registry.register($module::PATH, Arc::new($module::service($config))); )*
    };
}

/// Registers every resource service, in this order (the one list of them).
pub fn register_all(
    registry: &mut Registry,
    config: &Arc<Config>,
    passwords: &Arc<crate::auth::password::PasswordGate>,
    notifier: &Arc<crate::notify::Notifier>,
) {
    registry.register(
        users::PATH,
        Arc::new(users::service(config, passwords.clone(), notifier.clone())),
    );
    register!(registry, config;
        roles,
        access_scopes,
        role_access_scopes,
        user_roles,
        access_group_types,
        access_groups,
        user_group_roles,
        group_group_roles,
        oauth_providers,
        user_oauth_providers,
        auth_sessions,
        events,
    );
}

/// Registers the account services (`otp`, `verify`, `recover`, `v1/users`,
/// `v1/users/invite`), which need the notifier
/// and sessions; returns `otp` for the `authentication` service's `otp` strategy.
pub fn register_accounts(
    registry: &mut Registry,
    accounts: Arc<crate::notify::accounts::Accounts>,
) -> Arc<otp::OtpService> {
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
        v1_users::INVITE_PATH,
        Arc::new(v1_users::InviteService::new(accounts)),
    );
    otp
}
