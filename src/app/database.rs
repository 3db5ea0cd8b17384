//! Connecting to the configured database, and saying what failed when that fails: the URL
//! (password removed), host, port and database, why, and which setting to change.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, RuntimeErr};

use crate::config::{Config, Scheme, database_scheme, redact_url};
use crate::service::inline_reads::InlineReads;
use crate::service::inline_writes::InlineWriter;

/// How long the first PostgreSQL connection may take. The pool retries a refused
/// connection until its acquire timeout and then reports only "timed out", so one plain
/// connection is tried first: it fails at once with the real reason.
const FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A pooled PostgreSQL connection idle this long is pinged before use.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(30);

/// Connects to the configured database (creating the SQLite file and its directory) and
/// applies every pending migration.
pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let url = config.database_url.as_str();
    let mut options = ConnectOptions::new(url);
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10));
    let target = match database_scheme(url)? {
        Scheme::Sqlite => sqlite(&mut options, url)?,
        Scheme::Postgres => {
            // sqlx pings a pooled connection on every acquire by default: one more round
            // trip per query. Only a connection idle long enough to have been dropped (a
            // server restart, a proxy, a firewall) is checked.
            options.test_before_acquire_if_idle_for(IDLE_BEFORE_PING);
            first_postgres_connection(url).await?
        }
    };
    let db = Database::connect(options)
        .await
        .map_err(|e| failed(url, &target, &reason(&e, &target)))?;
    Migrator::up(&db, None).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot apply the database migrations on {}: {}",
            redact_url(url),
            reason(&e, &target)
        )
    })?;
    Ok(db)
}

/// What a URL points at, for messages.
enum Target {
    Sqlite {
        file: String,
    },
    Postgres {
        host: String,
        port: u16,
        database: String,
        user: String,
    },
}

impl Target {
    fn postgres(options: &PgConnectOptions) -> Self {
        Target::Postgres {
            host: options.get_host().to_string(),
            port: options.get_port(),
            // PostgreSQL's own default: the user's name.
            database: options
                .get_database()
                .unwrap_or(options.get_username())
                .to_string(),
            user: options.get_username().to_string(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Target::Sqlite { file } => format!("file {file}"),
            Target::Postgres {
                host,
                port,
                database,
                user,
            } => format!("host {host}, port {port}, database {database}, user {user}"),
        }
    }

    fn setting(&self) -> &'static str {
        match self {
            Target::Sqlite { .. } => "ROOST_DATABASE_URL (database_url), or ROOST_DATA_DIR",
            Target::Postgres { .. } => "ROOST_DATABASE_URL (database_url)",
        }
    }
}

fn failed(url: &str, target: &Target, why: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot connect to the database {} ({}): {why}; change {}",
        redact_url(url),
        target.describe(),
        target.setting()
    )
}

/// Creates the directory of an SQLite file and sets the connection options: the file is
/// created when missing unless the URL gives a `mode`.
fn sqlite(options: &mut ConnectOptions, url: &str) -> anyhow::Result<Target> {
    let parsed: SqliteConnectOptions = url.parse().map_err(|e| {
        anyhow::anyhow!(
            "database_url (ROOST_DATABASE_URL) is not a valid SQLite URL ({}): {e}",
            redact_url(url)
        )
    })?;
    let file = parsed.get_filename();
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if !in_memory && let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create {}, the directory of the SQLite database: {e}; change \
                 ROOST_DATABASE_URL (database_url), or ROOST_DATA_DIR",
                dir.display()
            )
        })?;
    }
    // A `mode` in the URL is kept (`rwc` creates, `rw` and `ro` do not).
    let create = !has_mode(url);
    // A local file cannot drop a connection: no ping before a query (sqlx's default
    // costs one more round trip to the connection's thread per query).
    options.test_before_acquire(false);
    options.map_sqlx_sqlite_opts(move |o| {
        let o = crate::store::sqlite_options(o)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        if create { o.create_if_missing(true) } else { o }
    });
    if in_memory {
        // Every pooled connection would open its own empty in-memory database.
        options.max_connections(1).min_connections(1);
    }
    Ok(Target::Sqlite {
        file: file.display().to_string(),
    })
}

/// Read-only connections that let pool reads run on the calling thread
/// (`service::inline_reads`), one per core (the runtime's worker threads); none for
/// PostgreSQL or an in-memory SQLite database. Call after [`connect`] (the file exists and
/// is migrated). Without them every read goes through the pool, so a failure is a warning.
pub fn inline_reads(config: &Config) -> Option<InlineReads> {
    let file = sqlite_file(config)?;
    let readers = std::thread::available_parallelism().map_or(2, |n| n.get());
    match InlineReads::open(&file, readers) {
        Ok(reads) => Some(reads),
        Err(e) => {
            tracing::warn!(error = %e, "SQLite reads will all go through the pool");
            None
        }
    }
}

/// The connection that lets write transactions run on the calling thread
/// (`service::inline_writes`), as [`inline_reads`]: SQLite files only, after [`connect`],
/// and a failure only a warning (every write then goes through the pool).
pub fn inline_writer(config: &Config) -> Option<InlineWriter> {
    let file = sqlite_file(config)?;
    match InlineWriter::open(&file) {
        Ok(writer) => Some(writer),
        Err(e) => {
            tracing::warn!(error = %e, "SQLite writes will all go through the pool");
            None
        }
    }
}

/// The SQLite file `database_url` names; `None` for PostgreSQL or an in-memory database.
fn sqlite_file(config: &Config) -> Option<std::path::PathBuf> {
    let url = config.database_url.as_str();
    if !matches!(database_scheme(url), Ok(Scheme::Sqlite))
        || url.contains(":memory:")
        || url.contains("mode=memory")
    {
        return None;
    }
    let options: SqliteConnectOptions = url.parse().ok()?;
    Some(options.get_filename().to_path_buf())
}

/// Whether an SQLite URL says how to open the file (`mode=ro`, `rw`, `rwc`, `memory`).
fn has_mode(url: &str) -> bool {
    url.split_once('?')
        .is_some_and(|(_, query)| query.split('&').any(|p| p.starts_with("mode=")))
}

/// Opens and closes one PostgreSQL connection, so a wrong host, port, database or password
/// is reported at once and by name.
async fn first_postgres_connection(url: &str) -> anyhow::Result<Target> {
    use sea_orm::sqlx::{ConnectOptions as _, Connection as _};
    let options: PgConnectOptions = url.parse().map_err(|e| {
        anyhow::anyhow!(
            "database_url (ROOST_DATABASE_URL) is not a valid PostgreSQL URL ({}): {e}",
            redact_url(url)
        )
    })?;
    let target = Target::postgres(&options);
    match tokio::time::timeout(FIRST_CONNECT_TIMEOUT, options.connect()).await {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            Ok(target)
        }
        Ok(Err(e)) => Err(failed(url, &target, &sqlx_reason(&e, &target))),
        Err(_) => Err(failed(
            url,
            &target,
            &format!(
                "timed out after {} s (wrong host, or a firewall dropping the packets?)",
                FIRST_CONNECT_TIMEOUT.as_secs()
            ),
        )),
    }
}

/// Why a database operation failed, without the driver's internals (PostgreSQL's server
/// source line, the same text twice).
fn reason(e: &DbErr, target: &Target) -> String {
    match e {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => sqlx_reason(e, target),
        DbErr::Conn(RuntimeErr::Internal(text))
        | DbErr::Exec(RuntimeErr::Internal(text))
        | DbErr::Query(RuntimeErr::Internal(text)) => text.clone(),
        other => other.to_string(),
    }
}

fn sqlx_reason(e: &sea_orm::sqlx::Error, target: &Target) -> String {
    use sea_orm::sqlx::Error;
    use std::io::ErrorKind;
    let (host, port, database, user) = match target {
        Target::Postgres {
            host,
            port,
            database,
            user,
        } => (host.as_str(), *port, database.as_str(), user.as_str()),
        Target::Sqlite { file } => ("", 0, file.as_str(), ""),
    };
    match e {
        Error::Io(io) if io.kind() == ErrorKind::ConnectionRefused => format!(
            "connection refused: nothing accepts connections at {host}:{port} (is PostgreSQL \
             running, and on this port?)"
        ),
        Error::Io(io) if io.kind() == ErrorKind::TimedOut => "timed out".into(),
        Error::Io(io) => format!("cannot reach {host}:{port}: {io}"),
        Error::PoolTimedOut => "timed out waiting for a connection".into(),
        Error::Tls(tls) => format!("TLS failed: {tls}"),
        Error::Configuration(bad) => format!("the URL is not valid: {bad}"),
        Error::Protocol(text) => format!(
            "{host}:{port} does not answer like PostgreSQL (is this its port?): {}",
            without_location(text)
        ),
        Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            match (target, code.as_ref()) {
                (Target::Postgres { .. }, "3D000") => format!(
                    "database '{database}' does not exist (create it, e.g. createdb \
                     {database}, or name another)"
                ),
                (Target::Postgres { .. }, "28P01") => {
                    format!("authentication failed for user '{user}' (wrong password)")
                }
                (Target::Postgres { .. }, "28000") => {
                    format!("authentication refused for user '{user}': {}", db.message())
                }
                // SQLITE_CANTOPEN
                (Target::Sqlite { .. }, "14") => format!(
                    "cannot open {database}: {} (is its directory writable? a URL with \
                     mode=rw or mode=ro needs the file to exist)",
                    db.message()
                ),
                (_, "") => db.message().to_string(),
                (_, code) => format!("{} (code {code})", db.message()),
            }
        }
        other => other.to_string(),
    }
}

/// A driver message without the driver's source location (`... (sqlx_postgres::x:95)`).
fn without_location(text: &str) -> &str {
    match text.rsplit_once(" (") {
        Some((message, location)) if location.ends_with(')') && location.contains("::") => message,
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            super::redact_url("sqlite://data/roost.db?mode=rwc"),
            "sqlite://data/roost.db?mode=rwc"
        );
    }

    #[test]
    fn the_default_url_survives_odd_directories() {
        use sea_orm::sqlx::sqlite::SqliteConnectOptions;
        let dir = Path::new("/tmp/a?b#c%20d e");
        let url = crate::config::sqlite_url_in(dir);
        let parsed: SqliteConnectOptions = url.parse().unwrap();
        assert_eq!(parsed.get_filename(), dir.join("roost.db"));
    }

    #[test]
    fn drops_driver_locations() {
        assert_eq!(
            super::without_location("unexpected response: 0x48 (sqlx_postgres::tls:95)"),
            "unexpected response: 0x48"
        );
        assert_eq!(super::without_location("plain (text)"), "plain (text)");
    }

    #[test]
    fn sees_a_mode() {
        assert!(super::has_mode("sqlite://x.db?mode=rwc"));
        assert!(super::has_mode("sqlite://x.db?cache=shared&mode=ro"));
        assert!(!super::has_mode("sqlite://x.db"));
        assert!(!super::has_mode("sqlite://x.db?cache=shared"));
    }
}
