//! Application state and the one function that builds the app for `main`, tests and
//! examples.

use std::net::SocketAddr;
use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::Mutex;

use crate::auth::Keys;
use crate::config::Config;
use crate::realtime::Realtime;
use crate::service::Registry;

/// Everything a request needs. Shared as [`App`].
pub struct AppState {
    pub config: Arc<Config>,
    pub db: DatabaseConnection,
    pub registry: Registry,
    pub keys: Keys,
    pub realtime: Realtime,
    /// SQLite allows one writer: mutations take this lock so concurrent writers queue
    /// instead of failing with "database is locked". `None` on PostgreSQL.
    pub write_gate: Option<Mutex<()>>,
}

pub type App = Arc<AppState>;

/// A running server (tests and examples hold it; dropping it does not stop the server).
pub struct Server {
    pub addr: SocketAddr,
    pub app: App,
    pub handle: tokio::task::JoinHandle<()>,
}
