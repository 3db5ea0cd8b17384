//! The application state the pipeline runs on, shared as [`App`]: what every stage,
//! transport and subsystem reads (config, database, services, keys, caches, realtime).
//! Built by `app::build`.

use std::sync::Arc;

use crate::auth::Keys;
use crate::config::Config;
use crate::realtime::Realtime;
use crate::service::{Database, Registry};

/// Everything a request needs. Shared as [`App`].
pub struct AppState {
    pub config: Arc<Config>,
    /// The pool, and on SQLite the one-writer gate (`Database::write`).
    pub db: Database,
    pub registry: Registry,
    pub keys: Arc<Keys>,
    pub realtime: Realtime,
    /// Each user's safe record and effective scopes (DESIGN §4), cleared by the pipeline
    /// after commits that may change them.
    pub principals: Arc<crate::auth::principal_cache::PrincipalCache>,
    /// Authentication sessions: the revocation cache and login throttling.
    pub sessions: Arc<crate::auth::sessions::Sessions>,
    /// Outgoing emails and text messages (codes, tokens), sent in the background.
    pub notifier: Arc<crate::notify::Notifier>,
    /// The one gate every password hash and check passes (`auth::password`).
    pub passwords: Arc<crate::auth::password::PasswordGate>,
    /// What `GET /metrics` exports (`crate::metrics`).
    pub metrics: crate::metrics::Metrics,
}

pub type App = Arc<AppState>;

impl AppState {
    /// What [`crate::auth::principal::from_token`] reads, from this app.
    pub fn token_check(&self) -> crate::auth::principal::TokenCheck<'_> {
        crate::auth::principal::TokenCheck {
            keys: &self.keys,
            sessions: &self.sessions,
            principals: &self.principals,
            users: self.registry.get(crate::auth::principal::USERS_PATH),
            db: crate::service::Db::Pool(&self.db),
        }
    }
}

/// A late-bound, non-owning handle to the app. Only the OAuth runtime holds one (its HTTP
/// flow and token logins sign users in through the pipeline and the session store);
/// services reach the pipeline through their call's `Ctx::pipeline` instead.
#[derive(Default)]
pub struct AppLink(std::sync::OnceLock<std::sync::Weak<AppState>>);

impl AppLink {
    pub fn set(&self, app: &App) {
        let _ = self.0.set(Arc::downgrade(app));
    }

    /// The app, while it exists.
    pub fn get(&self) -> crate::error::Result<App> {
        self.0
            .get()
            .and_then(std::sync::Weak::upgrade)
            .ok_or_else(|| crate::error::Error::internal("the application is not running"))
    }
}
