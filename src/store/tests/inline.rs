//! Reads on the calling thread (`service::inline_reads`) answer exactly what the pool answers,
//! for any stored value, including values the columns' declared types do not describe.

use proptest::prelude::*;
use rusqlite::types::Value as Stored;
use sea_orm::sea_query::{Expr, ExprTrait, Query as Sql};

use super::*;
use crate::store::rows;
use crate::store::table::Column;

/// A value as any writer may have left it: well typed, or not (SQLite does not enforce).
fn stored() -> impl Strategy<Value = Stored> {
    let timestamps = prop::sample::select(vec![
        "2026-11-23T13:41:30.123Z",
        "2026-11-23T13:41:30.123+02:00",
        "2026-11-23 13:41:30",
        "2026-11-23 13:41",
        "2026-11-23 13:41:30.5+01:00",
        "2026-11-23T13:41",
        "2026-11-23",
        "not a time",
        "",
    ]);
    prop_oneof![
        Just(Stored::Null),
        any::<i64>().prop_map(Stored::Integer),
        (-2i64..3).prop_map(Stored::Integer),
        (0i64..4_000_000_000).prop_map(Stored::Integer),
        (-1e12f64..1e12).prop_map(Stored::Real),
        (2.0e6f64..2.6e6).prop_map(Stored::Real),
        timestamps.prop_map(|t| Stored::Text(t.to_string())),
        "[a-z0-9 é'%_-]{0,12}".prop_map(Stored::Text),
        prop::collection::vec(any::<u8>(), 0..4).prop_map(Stored::Blob),
    ]
}

fn columns() -> [Column; 5] {
    [
        Column::integer("id"),
        Column::integer("n"),
        Column::text("s"),
        Column::bool("b"),
        Column::timestamp("t"),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn inline_reads_answer_what_the_pool_answers(
        rows in prop::collection::vec((stored(), stored(), stored(), stored()), 1..6)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(compare(rows));
    }
}

async fn compare(stored_rows: Vec<(Stored, Stored, Stored, Stored)>) {
    let temp = TempFile::with_things(&stored_rows);
    let file = temp.0.clone();
    let pool = temp.pool().await;
    let db = crate::service::Database::new(pool.clone()).with_inline_reads(Some(
        crate::service::inline_reads::InlineReads::open(&file, 1).unwrap(),
    ));
    let owned = columns();
    let columns: Vec<&Column> = owned.iter().collect();
    for id in 1..=stored_rows.len() as i64 {
        let select = Sql::select()
            .columns(columns.iter().map(|c| c.name))
            .from("things")
            .and_where(Expr::col("id").eq(id))
            .to_owned();
        let stmt = db.read().build(&select);
        let inline = db
            .read()
            .query_inline(&stmt, |row| rows::inline_to_json(&columns, row));
        let pool_rows = db.read().query_all(stmt).await.unwrap();
        let from_pool = rows::all_to_json(&columns, &pool_rows);
        match inline {
            Some(records) => assert_eq!(
                Some(&records),
                from_pool.as_ref().ok(),
                "row {id} {:?}",
                stored_rows[id as usize - 1]
            ),
            // Only what the pool cannot read either, or reads differently, is handed back.
            None => {
                let (n, s, b, t) = &stored_rows[id as usize - 1];
                let well_typed = matches!(n, Stored::Null | Stored::Integer(_))
                    && matches!(s, Stored::Null | Stored::Text(_))
                    && matches!(b, Stored::Null | Stored::Integer(_))
                    && matches!(t, Stored::Null | Stored::Integer(_))
                    && from_pool.is_ok();
                assert!(
                    !well_typed,
                    "row {id} went to the pool: {:?}",
                    stored_rows[id as usize - 1]
                );
            }
        }
    }
    pool.close().await.unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// A write transaction on the inline writer (`service::inline_writes`) reads back through
    /// `RETURNING` what the pool's transaction reads back, for any stored value.
    #[test]
    fn inline_writes_read_back_what_the_pool_reads(
        rows in prop::collection::vec((stored(), stored(), stored(), stored()), 1..5)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(compare_writes(rows));
    }
}

async fn compare_writes(stored_rows: Vec<(Stored, Stored, Stored, Stored)>) {
    let temp = TempFile::with_things(&stored_rows);
    let file = temp.0.clone();
    let pool = temp.pool().await;
    let plain = crate::service::Database::new(pool.clone());
    let inline = crate::service::Database::new(pool.clone()).with_inline_writer(Some(
        crate::service::inline_writes::InlineWriter::open(&file).unwrap(),
    ));
    let owned = columns();
    let columns: Vec<&Column> = owned.iter().collect();
    let read_back = async |db: &crate::service::Database, id: i64, on_writer: bool| {
        let touch = Sql::update()
            .table("things")
            .value("id", Expr::col("id"))
            .and_where(Expr::col("id").eq(id))
            .returning(Sql::returning().columns(columns.iter().map(|c| c.name)))
            .to_owned();
        let write = db.write().await.unwrap();
        assert_eq!(matches!(write.db(), Db::Inline(_)), on_writer);
        let rows = write
            .db()
            .query_all(write.db().build(&touch))
            .await
            .unwrap();
        let records = rows::all_to_json(&columns, &rows);
        write.commit().await.unwrap();
        records.map_err(|e| e.message)
    };
    for id in 1..=stored_rows.len() as i64 {
        let from_pool = read_back(&plain, id, false).await;
        let from_inline = read_back(&inline, id, true).await;
        assert_eq!(
            from_inline,
            from_pool,
            "row {id} {:?}",
            stored_rows[id as usize - 1]
        );
    }
    pool.close().await.unwrap();
}

/// An SQLite file in the temporary directory, removed with its WAL files on drop.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new() -> Self {
        let name = format!("roost-inline-{}.db", uuid::Uuid::new_v4());
        Self(std::env::temp_dir().join(name))
    }

    /// A file whose table `things` holds `rows` as stored, whatever the declared types.
    fn with_things(rows: &[(Stored, Stored, Stored, Stored)]) -> Self {
        let temp = Self::new();
        let writer = rusqlite::Connection::open(&temp.0).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode=WAL; CREATE TABLE things (id INTEGER PRIMARY KEY, \
                 n BIGINT, s TEXT, b BOOLEAN, t TIMESTAMP WITH TIME ZONE);",
            )
            .unwrap();
        for (n, s, b, t) in rows {
            writer
                .execute(
                    "INSERT INTO things (n, s, b, t) VALUES (?1, ?2, ?3, ?4)",
                    (n, s, b, t),
                )
                .unwrap();
        }
        temp
    }

    /// The pool over the file (which must exist).
    async fn pool(&self) -> sea_orm::DatabaseConnection {
        let url = format!("sqlite://{}?mode=rw", self.0.display());
        Database::connect(url.as_str()).await.unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut name = self.0.clone().into_os_string();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
    }
}

/// An SQLite file with one table, its pool, and a [`crate::service::Database`] writing
/// through the inline writer.
struct WriterFile {
    temp: TempFile,
    pool: sea_orm::DatabaseConnection,
    db: crate::service::Database,
}

impl WriterFile {
    async fn new() -> Self {
        let temp = TempFile::new();
        rusqlite::Connection::open(&temp.0)
            .unwrap()
            .execute_batch(
                "PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE);",
            )
            .unwrap();
        let pool = temp.pool().await;
        let db = crate::service::Database::new(pool.clone()).with_inline_writer(Some(
            crate::service::inline_writes::InlineWriter::open(&temp.0).unwrap(),
        ));
        Self { temp, pool, db }
    }

    async fn values(&self) -> Vec<String> {
        let rows = self
            .db
            .read()
            .query_all(sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::Sqlite,
                "SELECT v FROM t ORDER BY id",
            ))
            .await
            .unwrap();
        rows.iter().map(|r| r.try_get("", "v").unwrap()).collect()
    }

    fn insert(v: &str) -> sea_orm::Statement {
        let insert = Sql::insert()
            .into_table("t")
            .columns(["v"])
            .values_panic([v.into()])
            .to_owned();
        sea_orm::DatabaseBackend::Sqlite.build(&insert)
    }
}

/// Committed writes are seen by the pool; a write dropped uncommitted leaves nothing; a
/// constraint failure is the pool's error (the same Feathers error follows from it).
#[tokio::test]
async fn inline_writes_commit_roll_back_and_fail_as_the_pool() {
    let f = WriterFile::new().await;
    let write = f.db.write().await.unwrap();
    assert!(matches!(write.db(), Db::Inline(_)));
    write.db().execute(WriterFile::insert("a")).await.unwrap();
    // Rows a statement returns are ignored, as the pool ignores them.
    let returning = sea_orm::Statement::from_string(
        sea_orm::DatabaseBackend::Sqlite,
        "INSERT INTO t (v) VALUES ('r') RETURNING id",
    );
    assert_eq!(
        write.db().execute(returning).await.unwrap().rows_affected(),
        1
    );
    write.commit().await.unwrap();
    let write = f.db.write().await.unwrap();
    write.db().execute(WriterFile::insert("b")).await.unwrap();
    drop(write);
    assert_eq!(f.values().await, ["a", "r"]);

    let write = f.db.write().await.unwrap();
    let inline_err = write
        .db()
        .execute(WriterFile::insert("a"))
        .await
        .unwrap_err();
    drop(write);
    let tx = sea_orm::TransactionTrait::begin(&f.pool).await.unwrap();
    let pool_err = Db::Tx(&tx)
        .execute(WriterFile::insert("a"))
        .await
        .unwrap_err();
    drop(tx);
    let table = crate::store::Table::new("t").column(Column::text("v"));
    let show = |e: &sea_orm::DbErr| {
        let err =
            crate::store::errors::to_error(&table, e.clone(), crate::store::errors::Action::Write);
        (err.code(), err.message)
    };
    assert_eq!(show(&inline_err), show(&pool_err));
    assert_eq!(show(&inline_err).0, 409, "{inline_err}");
}

/// When another connection holds the write lock, a write goes to the pool (which waits
/// for the lock there) instead of waiting on the calling thread.
#[tokio::test]
async fn a_busy_file_sends_the_write_to_the_pool() {
    let f = WriterFile::new().await;
    let other = rusqlite::Connection::open(&f.temp.0).unwrap();
    other
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO t (v) VALUES ('other')")
        .unwrap();
    let write = f.db.write().await.unwrap();
    assert!(matches!(write.db(), Db::Tx(_)));
    other.execute_batch("COMMIT").unwrap();
    write
        .db()
        .execute(WriterFile::insert("mine"))
        .await
        .unwrap();
    write.commit().await.unwrap();
    assert_eq!(f.values().await, ["other", "mine"]);
    // Free again: back on the inline writer.
    let write = f.db.write().await.unwrap();
    assert!(matches!(write.db(), Db::Inline(_)));
}
