//! The one function that builds and starts the app for `main`, the tests and the
//! examples; the state it builds is `hooks::AppState` (re-exported here).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::Keys;
use crate::config::Config;
use crate::realtime::Realtime;
use crate::service::{Database, Registry};
use crate::services;

mod database;
pub mod serve;

pub use crate::config::redact_url;
pub use crate::hooks::{App, AppLink, AppState};
pub use database::{connect, inline_reads, inline_writer};

/// A running server. Dropping it does not stop the server; [`Server::stop`] (at once) or
/// [`Server::shutdown`] (gracefully) does.
pub struct Server {
    pub addr: SocketAddr,
    pub app: App,
    /// The accept loop.
    pub handle: tokio::task::JoinHandle<()>,
    stopping: serve::Stopping,
}

impl Server {
    /// Stops accepting connections and the cluster bus at once; connections already open
    /// are left to end on their own.
    pub fn stop(&self) {
        self.handle.abort();
        self.app.realtime.stop(); // the cluster bus tasks
    }

    /// Stops gracefully, within `grace`: refuses new connections, closes idle ones and
    /// the Socket.IO connections, lets requests in flight be answered, sends what the
    /// notifier and the cluster bus have queued and closes the database pool. Returns
    /// false when `grace` ran out first (what was left is dropped with the runtime).
    pub async fn shutdown(mut self, grace: Duration) -> bool {
        let started = tokio::time::Instant::now();
        self.stopping.stop();
        // The accept loop returns once it has dropped the listener: connecting is refused
        // from here on.
        let _ = (&mut self.handle).await;
        tracing::info!(
            connections = self.stopping.open(),
            "shutting down: no longer accepting connections; finishing requests in flight \
             (at most {} s)",
            grace.as_secs()
        );
        let app = &self.app;
        let stopping = &self.stopping;
        let finished = tokio::time::timeout(grace, async {
            let sockets = async {
                // Closes the transports, not a Socket.IO disconnect: clients see a lost
                // connection and reconnect (to another instance), as after a crash.
                if let Some(io) = app.realtime.connections().io() {
                    io.close();
                }
            };
            tokio::join!(sockets, stopping.ended());
            // Requests are done: nothing more gets queued.
            app.notifier.flush().await;
            if let Some(bus) = app.realtime.bus() {
                bus.publisher.flush().await;
            }
            // Returns once every connection is back in the pool (SQLite checkpoints its WAL).
            app.db.close_by_ref().await
        })
        .await;
        self.app.realtime.stop();
        match finished {
            Ok(closed) => {
                if let Err(e) = closed {
                    tracing::warn!(error = %e, "could not close the database pool");
                }
                tracing::info!("shut down in {:.1?}", started.elapsed());
                true
            }
            Err(_) => {
                tracing::warn!(
                    connections = self.stopping.open(),
                    "shut down after the {} s grace period; dropping what was left",
                    grace.as_secs()
                );
                false
            }
        }
    }
}

/// Builds the application state: database, keys and every service, plus `extend`'s own
/// services (examples register theirs this way).
pub async fn build(
    config: Config,
    extend: impl FnOnce(&mut Registry, &Arc<Config>),
) -> anyhow::Result<App> {
    Ok(assemble(config, extend).await?.0)
}

/// [`build`], and the OAuth runtime whose routes the server mounts.
async fn assemble(
    config: Config,
    extend: impl FnOnce(&mut Registry, &Arc<Config>),
) -> anyhow::Result<(App, Arc<crate::oauth::OAuth>)> {
    let config = Arc::new(config);
    let db = Database::new(connect(&config).await?)
        .with_inline_reads(inline_reads(&config))
        .with_inline_writer(inline_writer(&config));
    let keys = Arc::new(Keys::from_config(&config)?);
    let sessions = Arc::new(crate::auth::sessions::Sessions::new(
        db.clone(),
        crate::auth::crypto::load_or_generate(&config)?,
        crate::auth::geoip::load(config.geoip.database.as_deref())?,
    ));
    sessions.sweep_expired(config.authentication.expires_in);
    crate::auth::useragent::warm_up();
    let notifier = Arc::new(crate::notify::Notifier::start(&config)?);
    let passwords = Arc::new(crate::auth::password::PasswordGate::per_core(
        config.password.hash_queue,
    ));
    let oauth = Arc::new(crate::oauth::OAuth::new(
        &config,
        Arc::new(crate::auth::crypto::load_or_generate(&config)?),
    )?);
    let principals: Arc<crate::auth::principal_cache::PrincipalCache> = Arc::default();
    let mut registry = Registry::new();
    services::register_all(
        &mut registry,
        &services::Deps {
            config: config.clone(),
            db: db.clone(),
            keys: keys.clone(),
            sessions: sessions.clone(),
            notifier: notifier.clone(),
            passwords: passwords.clone(),
            oauth: oauth.clone(),
            principals: principals.clone(),
        },
    );
    extend(&mut registry, &config);
    let app = Arc::new(AppState {
        config,
        db,
        registry,
        keys,
        realtime: Realtime::default(),
        principals,
        sessions,
        notifier,
        passwords,
        metrics: crate::metrics::Metrics::new()?,
    });
    oauth.attach(&app);
    Ok((app, oauth))
}

/// What the cluster bus applies other instances' messages to: this app's caches and
/// sockets.
fn bus_local(app: &AppState) -> crate::realtime::bus::Local {
    crate::realtime::bus::Local {
        registry: app.registry.clone(),
        db: app.db.clone(),
        connections: app.realtime.connections().clone(),
        principals: app.principals.clone(),
        sessions: app.sessions.clone(),
        metrics: app.metrics.clone(),
    }
}

/// Builds the app, bootstraps the admin from config, binds `host:port` (0 picks a free
/// port) and serves REST and Socket.IO on it in a spawned task.
pub async fn start(config: Config) -> anyhow::Result<Server> {
    start_with(config, |_, _| {}).await
}

/// [`start`] with extra services.
pub async fn start_with(
    config: Config,
    extend: impl FnOnce(&mut Registry, &Arc<Config>),
) -> anyhow::Result<Server> {
    start_with_routes(config, extend, axum::Router::new()).await
}

/// [`start_with`] plus HTTP routes of the caller's own (a page, its scripts), served
/// beside Roost's before the REST fallback. They must not overlap Roost's routes or
/// service paths.
pub async fn start_with_routes(
    config: Config,
    extend: impl FnOnce(&mut Registry, &Arc<Config>),
    routes: axum::Router,
) -> anyhow::Result<Server> {
    let (app, oauth) = assemble(config, extend).await?;
    let (host, port) = (app.config.host.as_str(), app.config.port);
    let listener = tokio::net::TcpListener::bind((host, port))
        .await
        .map_err(|e| listen_error(host, port, &e))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        "listening on http://{addr} (database: {})",
        redact_url(&app.config.database_url)
    );
    crate::bootstrap::admin_from_config(&app.config, app.as_ref()).await?;
    crate::bootstrap::warn_if_no_admin(&app.db).await?;
    crate::realtime::bus::start(&app.config, &app.realtime, bus_local(&app)).await;
    let router = crate::transport::router(app.clone(), crate::oauth::routes::mount(oauth), routes);
    let timeouts = serve::Timeouts::from_config(&app.config.http);
    let (stopping, stop) = serve::Stopping::new();
    let handle = tokio::spawn(serve::serve(listener, router, timeouts, stop));
    Ok(Server {
        addr,
        app,
        handle,
        stopping,
    })
}

/// Why `host:port` cannot be listened on, and which settings choose another.
fn listen_error(host: &str, port: u16, e: &std::io::Error) -> anyhow::Error {
    use std::io::ErrorKind;
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let why = match e.kind() {
        ErrorKind::AddrInUse => {
            "the address is already in use (by another process, perhaps another roost)".into()
        }
        ErrorKind::AddrNotAvailable => format!("{host} is not an address of this machine"),
        ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need privileges)".into()
        }
        _ => e.to_string(),
    };
    anyhow::anyhow!(
        "cannot listen on {addr}: {why}; choose another address with ROOST_PORT (port) or \
         ROOST_HOST (host)"
    )
}
