//! SQLite write transactions on the calling thread.
//!
//! A write through sqlx is a round trip to the connection's worker thread per statement
//! (BEGIN, each statement, COMMIT): channel sends and futex wakes that cost more than the
//! writes themselves (`bench/README.md`). On an SQLite file, [`Database::write`] runs the
//! transaction here instead, on one read-write connection used only behind the writers'
//! gate, so it never waits on a lock another Roost writer holds. It starts with
//! `BEGIN IMMEDIATE` and does not wait either: if another connection (a single statement
//! outside the gate, another process) holds the write lock, the transaction goes to the
//! pool as before, which waits for it there.
//!
//! Rows come back as [`Row`]s and errors as the `DbErr` the pool would give (the same
//! SQLite codes and messages), so the code above cannot tell the two paths apart. The WAL
//! is checkpointed by the pool, off this thread ([`InlineWriter::commit`]).
//!
//! [`Database::write`]: super::Database::write

use std::borrow::Cow;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags};
use sea_orm::sqlx::error::{DatabaseError, ErrorKind};
use sea_orm::{DbErr, QueryResult, RuntimeErr, Statement};

use super::inline_reads::bind;

/// Prepared statements kept (the generated SQL of the hot writes).
const STATEMENT_CACHE: usize = 64;

/// Commits after which one asks the pool for a checkpoint: a few WAL pages each, so about
/// SQLite's own 1000-page default for the automatic one, which this connection does not
/// run (it would fsync on the calling thread).
const COMMITS_PER_CHECKPOINT: u32 = 256;

/// The one read-write connection of the inline path.
pub struct InlineWriter {
    conn: Mutex<Connection>,
    /// Commits since the last checkpoint request.
    commits: AtomicU32,
}

impl InlineWriter {
    /// Opens `file` (created and migrated by the pool) with the pool's settings:
    /// foreign keys on, `synchronous = NORMAL` in WAL mode, case-sensitive LIKE.
    pub fn open(file: &Path) -> rusqlite::Result<Self> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(file, flags)?;
        conn.execute_batch(
            "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
             PRAGMA case_sensitive_like = ON; PRAGMA wal_autocheckpoint = 0;",
        )?;
        // Never wait on the thread: a busy file sends the transaction to the pool.
        conn.busy_timeout(std::time::Duration::ZERO)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(Self {
            conn: Mutex::new(conn),
            commits: AtomicU32::new(0),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding it leaves nothing half-done that the next BEGIN does not
        // reset (the transaction is rolled back below or by SQLite).
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `BEGIN IMMEDIATE`; `false` when the file is busy (the caller uses the pool).
    pub fn begin(&self) -> Result<bool, DbErr> {
        let conn = self.conn();
        // Never the case unless an end was missed; start clean rather than fail.
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        match conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => Ok(true),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(db_err(e)),
        }
    }

    /// `COMMIT`; true when a checkpoint is due (the caller has the pool run it). On an
    /// error the transaction is still open: the caller rolls it back.
    pub fn commit(&self) -> Result<bool, DbErr> {
        self.conn().execute_batch("COMMIT").map_err(db_err)?;
        let commits = self.commits.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(commits.is_multiple_of(COMMITS_PER_CHECKPOINT))
    }

    /// Ends an unfinished transaction (a dropped [`super::Write`]).
    pub fn rollback(&self) {
        let conn = self.conn();
        if !conn.is_autocommit()
            && let Err(e) = conn.execute_batch("ROLLBACK")
        {
            tracing::warn!(error = %e, "inline write: rollback failed");
        }
    }

    /// A savepoint inside the transaction: `SAVEPOINT`, then `ROLLBACK TO` + `RELEASE`.
    pub fn savepoint(&self, name: &str, action: Savepoint) -> Result<(), DbErr> {
        let sql = match action {
            Savepoint::Open => format!("SAVEPOINT {name}"),
            Savepoint::RollBack => format!("ROLLBACK TO {name}; RELEASE {name}"),
        };
        self.conn().execute_batch(&sql).map_err(db_err)
    }

    /// Runs `stmt`, ignoring any rows it returns (as sqlx does), and counts the rows it
    /// changed.
    pub fn execute(&self, stmt: &Statement) -> Result<u64, DbErr> {
        let conn = self.conn();
        let mut prepared = conn.prepare_cached(&stmt.sql).map_err(db_err)?;
        let readonly = prepared.readonly();
        let mut rows = prepared
            .query(rusqlite::params_from_iter(params(stmt)?))
            .map_err(db_err)?;
        while rows.next().map_err(db_err)?.is_some() {}
        Ok(if readonly { 0 } else { conn.changes() })
    }

    pub fn query(&self, stmt: &Statement) -> Result<Vec<Row>, DbErr> {
        let conn = self.conn();
        let mut prepared = conn.prepare_cached(&stmt.sql).map_err(db_err)?;
        let columns: Arc<[String]> = prepared
            .column_names()
            .into_iter()
            .map(str::to_string)
            .collect();
        let mut rows = prepared
            .query(rusqlite::params_from_iter(params(stmt)?))
            .map_err(db_err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db_err)? {
            let values = (0..columns.len())
                .map(|i| row.get::<_, SqlValue>(i))
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(db_err)?;
            out.push(Row::Inline(InlineRow {
                columns: columns.clone(),
                values,
            }));
        }
        Ok(out)
    }
}

pub enum Savepoint {
    Open,
    RollBack,
}

/// The statement's values bound as sqlx binds them.
fn params(stmt: &Statement) -> Result<Vec<SqlValue>, DbErr> {
    let Some(values) = &stmt.values else {
        return Ok(Vec::new());
    };
    values
        .0
        .iter()
        .enumerate()
        // The value itself stays out of the message: it may be a secret on its way in.
        .map(|(i, v)| {
            bind(v).ok_or_else(|| DbErr::Custom(format!("parameter {i}: a kind not bound inline")))
        })
        .collect()
}

/// A result row from either path.
#[derive(Debug)]
pub enum Row {
    Pool(QueryResult),
    Inline(InlineRow),
}

/// A row of an inline statement: its columns and values.
#[derive(Debug)]
pub struct InlineRow {
    columns: Arc<[String]>,
    values: Vec<SqlValue>,
}

impl Row {
    /// The value of column `column` (`prefix` as sea-orm's: `""` for plain names).
    pub fn try_get<T: Get>(&self, prefix: &str, column: &str) -> Result<T, DbErr> {
        match self {
            Row::Pool(row) => T::from_pool(row, prefix, column),
            Row::Inline(row) => {
                let name = format!("{prefix}{column}");
                let i = row
                    .columns
                    .iter()
                    .position(|c| *c == name)
                    .ok_or_else(|| DbErr::Type(format!("no column {name}")))?;
                T::from_inline(&row.values[i]).map_err(|e| DbErr::Type(format!("{name}: {e}")))
            }
        }
    }

    /// The value of the `i`-th column.
    pub fn try_get_by_index<T: Get>(&self, i: usize) -> Result<T, DbErr> {
        match self {
            Row::Pool(row) => T::from_pool_index(row, i),
            Row::Inline(row) => {
                let value = row
                    .values
                    .get(i)
                    .ok_or_else(|| DbErr::Type(format!("no column {i}")))?;
                T::from_inline(value).map_err(|e| DbErr::Type(format!("column {i}: {e}")))
            }
        }
    }
}

/// A Rust value read from a [`Row`]: through sea-orm from the pool's rows, and from an
/// inline row as sqlx's SQLite decoder reads the same stored value.
pub trait Get: Sized {
    fn from_pool(row: &QueryResult, prefix: &str, column: &str) -> Result<Self, DbErr>;
    fn from_pool_index(row: &QueryResult, i: usize) -> Result<Self, DbErr>;
    fn from_inline(value: &SqlValue) -> Result<Self, String>;
}

macro_rules! get_via_sea_orm {
    ($t:ty, |$v:ident| $inline:expr) => {
        impl Get for $t {
            fn from_pool(row: &QueryResult, prefix: &str, column: &str) -> Result<Self, DbErr> {
                row.try_get(prefix, column)
            }
            fn from_pool_index(row: &QueryResult, i: usize) -> Result<Self, DbErr> {
                row.try_get_by_index(i)
            }
            fn from_inline($v: &SqlValue) -> Result<Self, String> {
                $inline
            }
        }

        impl Get for Option<$t> {
            fn from_pool(row: &QueryResult, prefix: &str, column: &str) -> Result<Self, DbErr> {
                row.try_get(prefix, column)
            }
            fn from_pool_index(row: &QueryResult, i: usize) -> Result<Self, DbErr> {
                row.try_get_by_index(i)
            }
            fn from_inline(value: &SqlValue) -> Result<Self, String> {
                match value {
                    SqlValue::Null => Ok(None),
                    value => <$t>::from_inline(value).map(Some),
                }
            }
        }
    };
}

get_via_sea_orm!(i64, |value| match value {
    SqlValue::Integer(n) => Ok(*n),
    other => Err(format!("{other:?} is not an integer")),
});

get_via_sea_orm!(bool, |value| match value {
    SqlValue::Integer(n) => Ok(*n != 0),
    other => Err(format!("{other:?} is not a boolean")),
});

get_via_sea_orm!(String, |value| match value {
    SqlValue::Text(text) => Ok(text.clone()),
    other => Err(format!("{other:?} is not text")),
});

get_via_sea_orm!(DateTime<Utc>, |value| match value {
    SqlValue::Text(text) => {
        super::inline_reads::stored_timestamp(text)
            .ok_or_else(|| format!("{text:?} is not a timestamp"))
    }
    SqlValue::Integer(secs) => Utc
        .timestamp_opt(*secs, 0)
        .single()
        .ok_or_else(|| format!("{secs} is not a timestamp")),
    SqlValue::Real(days) => julian_day(*days).ok_or_else(|| format!("{days} is not a timestamp")),
    other => Err(format!("{other:?} is not a timestamp")),
});

/// A REAL timestamp is a Julian day number (SQLite's `julianday()`), read as sqlx does:
/// whole seconds truncated toward zero, the fraction as nanoseconds.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn julian_day(days: f64) -> Option<DateTime<Utc>> {
    const UNIX_EPOCH: f64 = 2_440_587.5;
    let seconds = (days - UNIX_EPOCH) * 86_400.0;
    if !seconds.is_finite() {
        return None;
    }
    let nanos = (seconds.fract() * 1e9).abs() as u32;
    Utc.timestamp_opt(seconds.trunc() as i64, nanos).single()
}

/// An SQLite error as the pool reports it: a `DbErr` around an sqlx database error with
/// the same extended result code and message, so `store::errors` sorts it the same way.
pub fn db_err(e: rusqlite::Error) -> DbErr {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            let message = message.unwrap_or_else(|| code.to_string());
            let error = SqliteFailure {
                code: code.extended_code,
                message,
            };
            DbErr::Exec(RuntimeErr::SqlxError(Arc::new(
                sea_orm::sqlx::Error::Database(Box::new(error)),
            )))
        }
        other => DbErr::Custom(format!("inline write: {other}")),
    }
}

#[derive(Debug)]
struct SqliteFailure {
    code: i32,
    message: String,
}

impl std::fmt::Display for SqliteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "(code: {}) {}", self.code, self.message)
    }
}

impl std::error::Error for SqliteFailure {}

impl DatabaseError for SqliteFailure {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.code.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    /// As sqlx's SQLite driver sorts the extended codes.
    fn kind(&self) -> ErrorKind {
        use rusqlite::ffi;
        match self.code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}
