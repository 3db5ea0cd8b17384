//! The server under test: `roost::app::start` in-process on 127.0.0.1:0, over a fresh
//! SQLite file in a fresh temporary directory or a freshly created PostgreSQL database.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde_json::{Value, json};

use roost::config::Config;

use super::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Client, Conn, PASSWORD, RestClient, SECRET, Setup,
    SocketClient, Transport, ok, q,
};

/// A freshly created PostgreSQL database, dropped (with its connections) on drop.
pub struct PgDatabase {
    admin_url: String,
    name: String,
}

impl PgDatabase {
    /// The database and its URL.
    pub async fn create(admin_url: &str) -> (Self, String) {
        use sea_orm::ConnectionTrait;
        let name = format!("roost_t_{}", uuid::Uuid::new_v4().simple());
        let db = sea_orm::Database::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to TEST_DATABASE_URL: {e}"));
        db.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let _ = db.close().await;
        let url = database_url_with_name(admin_url, &name);
        (
            Self {
                admin_url: admin_url.to_string(),
                name,
            },
            url,
        )
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime: do the async work on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                use sea_orm::ConnectionTrait;
                if let Ok(db) = sea_orm::Database::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    if let Err(e) = db.execute_unprepared(&sql).await {
                        eprintln!("warning: {sql}: {e}");
                    }
                    let _ = db.close().await;
                }
            });
        })
        .join();
    }
}

/// `postgres://u@h:5432/test?x=y` + `roost_t_1` -> `postgres://u@h:5432/roost_t_1?x=y`.
fn database_url_with_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    pub fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("roost-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running Roost server owned by one test.
pub struct TestServer {
    pub setup: Setup,
    pub addr: SocketAddr,
    pub config: Config,
    server: roost::app::Server,
    dir: TempDir,
    pg: Option<PgDatabase>,
}

impl TestServer {
    pub(super) async fn start(setup: Setup, edit: impl FnOnce(&mut Config)) -> Self {
        // Removed on drop, also when start-up panics below.
        let dir = TempDir::new();
        let (pg, database_url) = match setup.backend {
            Backend::Sqlite => (
                None,
                format!("sqlite://{}?mode=rwc", dir.0.join("roost.db").display()),
            ),
            Backend::Postgres => {
                let admin = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL");
                let (pg, url) = PgDatabase::create(&admin).await;
                (Some(pg), url)
            }
        };
        let mut config = Config {
            database_url,
            host: "127.0.0.1".into(),
            port: 0,
            data_dir: dir.0.clone(),
            admin_email: Some(ADMIN_EMAIL.into()),
            admin_password: Some(ADMIN_PASSWORD.into()),
            ..Config::default()
        };
        config.authentication.secret = Some(SECRET.into());
        edit(&mut config);
        let server = roost::app::start(config.clone())
            .await
            .unwrap_or_else(|e| panic!("roost::app::start failed: {e:#}"));
        let addr = server.addr;
        Self {
            setup,
            addr,
            config,
            server,
            dir,
            pg,
        }
    }

    /// A second instance on the same database and data directory (same JWT secret and
    /// token key), as several instances behind one load balancer would run. The database
    /// stays owned by `self`: drop the peer first (declare it after `self`).
    pub async fn peer(&self) -> TestServer {
        let server = roost::app::start(self.config.clone())
            .await
            .unwrap_or_else(|e| panic!("roost::app::start (peer) failed: {e:#}"));
        Self {
            setup: self.setup,
            addr: server.addr,
            config: self.config.clone(),
            server,
            dir: TempDir::new(),
            pg: None,
        }
    }

    /// The running application (its state: database, sessions, throttle clock).
    pub fn app(&self) -> &roost::app::App {
        &self.server.app
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A REST client without credentials.
    pub fn rest(&self) -> RestClient {
        RestClient::new(&self.url())
    }

    /// A REST client logged in as the bootstrap admin.
    pub async fn rest_admin(&self) -> RestClient {
        let c = self.rest();
        ok(c.authenticate(
            json!({"strategy": "local", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await);
        c
    }

    /// A connected, anonymous socket.
    pub async fn socket(&self) -> SocketClient {
        SocketClient::connect(&self.addr.to_string()).await
    }

    /// An anonymous client of the scenario's transport.
    pub async fn client(&self) -> Conn {
        self.client_of(self.setup.transport).await
    }

    pub async fn client_of(&self, transport: Transport) -> Conn {
        match transport {
            Transport::Rest => Conn::Rest(self.rest()),
            Transport::Socket => Conn::Socket(self.socket().await),
        }
    }

    /// A client of the scenario's transport logged in as the bootstrap admin.
    pub async fn admin(&self) -> Conn {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// A client of the scenario's transport logged in with `email` / `password`.
    pub async fn login(&self, email: &str, password: &str) -> Conn {
        self.login_over(self.setup.transport, email, password).await
    }

    pub async fn login_over(&self, transport: Transport, email: &str, password: &str) -> Conn {
        let c = self.client_of(transport).await;
        let res = c
            .authenticate(json!({"strategy": "local", "email": email, "password": password}))
            .await;
        if let Err(e) = res {
            panic!("login as {email} failed: {:?} {}", e.status, e.body);
        }
        c
    }

    /// A socket logged in as the admin (a realtime listener).
    pub async fn admin_socket(&self) -> SocketClient {
        let s = self.socket().await;
        let res = s
            .authenticate(
                json!({"strategy": "local", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
            )
            .await;
        if let Err(e) = res {
            panic!("socket login as admin failed: {}", e.body);
        }
        s
    }

    /// Creates a user through `admin` and returns the created record.
    pub async fn create_user(&self, admin: &impl Client, email: &str) -> Value {
        ok(admin
            .create("users", json!({"email": email, "password": PASSWORD}), q())
            .await)
    }

    /// Creates a user holding a fresh role with the `full_access` scope (id 1), through
    /// the roles / role_access_scopes / user_roles services, and returns the user record.
    pub async fn create_full_access_user(&self, admin: &impl Client, email: &str) -> Value {
        let user = self.create_user(admin, email).await;
        let slug = format!("full-{}", uuid::Uuid::new_v4().simple());
        let role = ok(admin
            .create(
                "roles",
                json!({"name": "Full", "slug": slug, "description": "all"}),
                q(),
            )
            .await);
        ok(admin
            .create(
                "role_access_scopes",
                json!({"role_id": role["id"], "access_scope_id": 1}),
                q(),
            )
            .await);
        ok(admin
            .create(
                "user_roles",
                json!({"user_id": user["id"], "role_id": role["id"]}),
                q(),
            )
            .await);
        user
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.stop();
        // The PostgreSQL database is dropped by `self.pg`'s own Drop (WITH (FORCE)).
        let _ = self.pg.take();
    }
}

#[test]
fn database_urls() {
    assert_eq!(
        database_url_with_name("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        database_url_with_name("postgres://h/test?sslmode=disable", "x"),
        "postgres://h/x?sslmode=disable"
    );
}
