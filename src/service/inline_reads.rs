//! SQLite reads on the calling thread.
//!
//! sqlx runs every SQLite statement on its connection's own worker thread: each query is a
//! channel send and a futex wake each way, which costs more than the query itself
//! (`bench/README.md`). A few read-only connections here run a pool read where it is asked
//! for, as the Node drivers do, under a time budget: a statement still running after
//! [`BUDGET`] is interrupted and answered `None`, and the caller re-runs it on the pool, so a
//! slow scan never holds a runtime thread for long. Any other failure (a busy database, a
//! value this module does not bind) is also `None`: the pool's path reports real errors.

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags, Row};
use sea_orm::Statement;
use sea_orm::sea_query::Value;

/// How long one statement may hold the calling thread before it moves to the pool.
const BUDGET: Duration = Duration::from_millis(2);

/// SQLite virtual-machine steps between two looks at the clock.
const STEPS_PER_CHECK: i32 = 2_000;

/// Prepared statements kept per connection (the generated SQL of the hot reads).
const STATEMENT_CACHE: usize = 64;

/// One reader connection and the start time of the statement it runs (nanoseconds since
/// `epoch`; 0 between statements), which its progress handler compares with the budget.
struct Reader {
    conn: Connection,
    started: Arc<AtomicU64>,
}

/// Read-only connections to one SQLite file, each used by one thread at a time.
pub struct InlineReads {
    readers: Box<[Mutex<Reader>]>,
    next: AtomicUsize,
    epoch: Instant,
}

impl InlineReads {
    /// Opens `count` read-only connections to `file` (which the pool has already created and
    /// migrated), with the pool's `case_sensitive_like`.
    pub fn open(file: &Path, count: usize) -> rusqlite::Result<Self> {
        let epoch = Instant::now();
        let readers = (0..count.max(1))
            .map(|_| Self::open_one(file, epoch).map(Mutex::new))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Self {
            readers: readers.into_boxed_slice(),
            next: AtomicUsize::new(0),
            epoch,
        })
    }

    fn open_one(file: &Path, epoch: Instant) -> rusqlite::Result<Reader> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(file, flags)?;
        // Same LIKE semantics as the pool (`store::sqlite_options`).
        conn.pragma_update(None, "case_sensitive_like", "ON")?;
        // A writer's checkpoint can make a reader wait; waiting here would hold the thread.
        conn.busy_timeout(Duration::ZERO)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let started = Arc::new(AtomicU64::new(0));
        let seen = started.clone();
        conn.progress_handler(
            STEPS_PER_CHECK,
            Some(move || {
                let since = seen.load(Ordering::Relaxed);
                since != 0 && elapsed_nanos(epoch).saturating_sub(since) > BUDGET.as_nanos() as u64
            }),
        )?;
        Ok(Reader { conn, started })
    }

    /// Runs `stmt` on a free reader, mapping each row; `None` when every reader is busy, the
    /// statement ran out of time, or anything failed (the caller then uses the pool).
    pub fn query<T>(
        &self,
        stmt: &Statement,
        mut map: impl FnMut(&Row<'_>) -> Option<T>,
    ) -> Option<Vec<T>> {
        let guard = self.free_reader()?;
        let reader = &*guard;
        let mut params = match &stmt.values {
            Some(values) => values.0.iter().map(bind).collect::<Option<Vec<_>>>()?,
            None => Vec::new(),
        };
        let sql = literal_limits(&stmt.sql, &mut params);
        reader
            .started
            .store(elapsed_nanos(self.epoch).max(1), Ordering::Relaxed);
        let result = (|| {
            let mut prepared = reader.conn.prepare_cached(&sql).ok()?;
            let mut rows = prepared
                .query(rusqlite::params_from_iter(params.iter()))
                .ok()?;
            let mut out = Vec::new();
            loop {
                match rows.next() {
                    Ok(Some(row)) => out.push(map(row)?),
                    Ok(None) => return Some(out),
                    Err(e) => {
                        tracing::debug!(error = %e, "inline read handed to the pool");
                        return None;
                    }
                }
            }
        })();
        reader.started.store(0, Ordering::Relaxed);
        result
    }

    /// The first reader not in use, starting from a different one each call.
    fn free_reader(&self) -> Option<std::sync::MutexGuard<'_, Reader>> {
        let n = self.readers.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n).find_map(|i| self.readers[(start + i) % n].try_lock().ok())
    }
}

/// The statement with a trailing `LIMIT ?` / `LIMIT ? OFFSET ?` written as numbers, those
/// parameters removed. SQLite marks a statement whose plan may depend on a bound LIMIT to be
/// compiled again after each use (its bindings are cleared when it goes back to the cache),
/// which costs more than running it; with numbers, a page size is compiled once.
fn literal_limits<'a>(sql: &'a str, params: &mut Vec<SqlValue>) -> std::borrow::Cow<'a, str> {
    let integer = |v: Option<&SqlValue>| match v {
        Some(SqlValue::Integer(n)) => Some(*n),
        _ => None,
    };
    let n = params.len();
    if let Some(head) = sql.strip_suffix(" LIMIT ? OFFSET ?")
        && n >= 2
        && let (Some(limit), Some(offset)) =
            (integer(params.get(n - 2)), integer(params.get(n - 1)))
    {
        params.truncate(n - 2);
        return format!("{head} LIMIT {limit} OFFSET {offset}").into();
    }
    if let Some(head) = sql.strip_suffix(" LIMIT ?")
        && let Some(limit) = integer(params.last())
    {
        params.pop();
        return format!("{head} LIMIT {limit}").into();
    }
    sql.into()
}

/// A timestamp as SQLite holds it (what sqlx writes: RFC 3339; what `CURRENT_TIMESTAMP`
/// writes: `2026-11-23 13:41:30`), read as sqlx's decoder reads it.
pub fn stored_timestamp(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.with_timezone(&Utc));
    }
    const FORMATS: [&str; 12] = [
        "%F %T%.f",
        "%F %R",
        "%F %RZ",
        "%F %R%:z",
        "%F %T%.fZ",
        "%F %T%.f%:z",
        "%FT%R",
        "%FT%RZ",
        "%FT%R%:z",
        "%FT%T%.f",
        "%FT%T%.fZ",
        "%FT%T%.f%:z",
    ];
    FORMATS.iter().find_map(|format| {
        DateTime::parse_from_str(text, format)
            .map(|dt| dt.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                NaiveDateTime::parse_from_str(text, format)
                    .ok()
                    .map(|naive| Utc.from_utc_datetime(&naive))
            })
    })
}

fn elapsed_nanos(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// A query parameter as sqlx's SQLite driver binds it (booleans as 0/1, timestamps as
/// RFC 3339 text); `None` for kinds the generated queries never hold.
pub(crate) fn bind(value: &Value) -> Option<SqlValue> {
    use chrono::SecondsFormat;
    fn or_null<T>(v: &Option<T>, f: impl FnOnce(&T) -> SqlValue) -> SqlValue {
        v.as_ref().map_or(SqlValue::Null, f)
    }
    Some(match value {
        Value::Bool(v) => or_null(v, |b| SqlValue::Integer(i64::from(*b))),
        Value::TinyInt(v) => or_null(v, |n| SqlValue::Integer(i64::from(*n))),
        Value::SmallInt(v) => or_null(v, |n| SqlValue::Integer(i64::from(*n))),
        Value::Int(v) => or_null(v, |n| SqlValue::Integer(i64::from(*n))),
        Value::BigInt(v) => or_null(v, |n| SqlValue::Integer(*n)),
        Value::TinyUnsigned(v) => or_null(v, |n| SqlValue::Integer(i64::from(*n))),
        Value::SmallUnsigned(v) => or_null(v, |n| SqlValue::Integer(i64::from(*n))),
        Value::Unsigned(v) => or_null(v, |n| SqlValue::Integer(i64::from(*n))),
        Value::BigUnsigned(v) => match v {
            Some(n) => SqlValue::Integer(i64::try_from(*n).ok()?),
            None => SqlValue::Null,
        },
        Value::Float(v) => or_null(v, |n| SqlValue::Real(f64::from(*n))),
        Value::Double(v) => or_null(v, |n| SqlValue::Real(*n)),
        Value::String(v) => or_null(v, |s| SqlValue::Text(s.clone())),
        Value::Char(v) => or_null(v, |c| SqlValue::Text(c.to_string())),
        Value::Bytes(v) => or_null(v, |b| SqlValue::Blob(b.clone())),
        Value::ChronoDateTimeUtc(v) => or_null(v, |dt| {
            SqlValue::Text(dt.to_rfc3339_opts(SecondsFormat::AutoSi, false))
        }),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::DatabaseBackend;

    /// An SQLite file in the temporary directory, removed (with its WAL files) on drop.
    struct TempDb(std::path::PathBuf);

    impl Drop for TempDb {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let mut name = self.0.clone().into_os_string();
                name.push(suffix);
                let _ = std::fs::remove_file(name);
            }
        }
    }

    fn file_with_rows(rows: i64) -> (TempDb, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!("roost-inline-{}.db", uuid::Uuid::new_v4()));
        let dir = TempDb(path.clone());
        let conn = Connection::open(&path).expect("create");
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);",
        )
        .expect("schema");
        let mut insert = conn
            .prepare("INSERT INTO t (name) VALUES (?1)")
            .expect("prepare");
        conn.execute_batch("BEGIN").expect("begin");
        for i in 0..rows {
            insert.execute([format!("n{i}")]).expect("insert");
        }
        conn.execute_batch("COMMIT").expect("commit");
        (dir, path)
    }

    fn statement(sql: &str, values: Vec<Value>) -> Statement {
        Statement::from_sql_and_values(DatabaseBackend::Sqlite, sql, values)
    }

    #[test]
    fn reads_rows_with_bound_values() {
        let (_dir, path) = file_with_rows(3);
        let reads = InlineReads::open(&path, 2).expect("open");
        let stmt = statement(
            "SELECT name FROM t WHERE id >= ? ORDER BY id LIMIT ?",
            vec![Value::BigInt(Some(2)), Value::BigUnsigned(Some(10))],
        );
        let names = reads.query(&stmt, |row| row.get::<_, String>(0).ok());
        assert_eq!(names, Some(vec!["n1".to_string(), "n2".to_string()]));
    }

    #[test]
    fn limits_are_compiled_in_and_statements_stay_prepared() {
        let (_dir, path) = file_with_rows(5);
        let reads = InlineReads::open(&path, 1).expect("open");
        let page = |limit: u64, offset: Option<u64>| {
            let mut sql = "SELECT id FROM t WHERE id > ? ORDER BY id LIMIT ?".to_string();
            let mut values = vec![Value::BigInt(Some(1)), Value::BigUnsigned(Some(limit))];
            if let Some(offset) = offset {
                sql.push_str(" OFFSET ?");
                values.push(Value::BigUnsigned(Some(offset)));
            }
            reads.query(&statement(&sql, values), |row| row.get::<_, i64>(0).ok())
        };
        assert_eq!(page(2, None), Some(vec![2, 3]));
        assert_eq!(page(2, Some(1)), Some(vec![3, 4]));
        assert_eq!(page(10, Some(3)), Some(vec![5]));
        for _ in 0..3 {
            assert_eq!(page(2, Some(1)), Some(vec![3, 4]));
        }
        let reader = reads.readers[0].lock().expect("reader");
        let stmt = reader
            .conn
            .prepare_cached("SELECT id FROM t WHERE id > ? ORDER BY id LIMIT 2 OFFSET 1")
            .expect("cached");
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
        // The first run and three more: the same compiled statement.
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::Run), 4);
    }

    #[test]
    fn hands_back_what_it_cannot_do() {
        let (_dir, path) = file_with_rows(1);
        let reads = InlineReads::open(&path, 1).expect("open");
        // A syntax error, a write on a read-only connection, a mapper refusing a row.
        assert!(
            reads
                .query(&statement("SELEC 1", vec![]), |_| Some(()))
                .is_none()
        );
        let write = statement("DELETE FROM t", vec![]);
        assert!(reads.query(&write, |_| Some(())).is_none());
        let all = statement("SELECT id FROM t", vec![]);
        assert!(reads.query(&all, |_| None::<()>).is_none());
        // The reader is still usable afterwards.
        assert_eq!(
            reads.query(&all, |row| row.get::<_, i64>(0).ok()),
            Some(vec![1])
        );
    }

    #[test]
    fn a_statement_over_budget_is_interrupted() {
        let (_dir, path) = file_with_rows(1);
        let reads = InlineReads::open(&path, 1).expect("open");
        // Billions of steps: far over the budget; interrupted, not finished.
        let slow = statement(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) \
             SELECT count(*) FROM c",
            vec![],
        );
        // The same statement with a small bound runs inline: only its length stops it.
        let quick = statement(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100) \
             SELECT count(*) FROM c",
            vec![],
        );
        assert_eq!(
            reads.query(&quick, |row| row.get::<_, i64>(0).ok()),
            Some(vec![100])
        );
        let started = Instant::now();
        assert!(
            reads
                .query(&slow, |row| row.get::<_, i64>(0).ok())
                .is_none()
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
}
