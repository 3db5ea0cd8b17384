//! The database ([`Database`]: pool + SQLite write gate) and one handle over "the pool" or
//! "this call's transaction" ([`Db`]), so service code is written once.

use std::sync::Arc;

use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, Statement,
    TransactionTrait,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::inline_reads::InlineReads;
use super::inline_writes::InlineWriter;
pub use super::inline_writes::{Get, Row};
use crate::error::Error;

/// The database handle a service method runs its statements on.
#[derive(Clone, Copy)]
pub enum Db<'a> {
    Pool(&'a Database),
    Tx(&'a DatabaseTransaction),
    /// A write transaction on the SQLite file's inline writer (`service::inline_writes`).
    Inline(&'a InlineWriter),
}

/// What a statement changed.
#[derive(Debug, Clone, Copy)]
pub struct Executed {
    rows_affected: u64,
}

impl Executed {
    pub fn rows_affected(&self) -> u64 {
        self.rows_affected
    }
}

impl Db<'_> {
    pub fn backend(&self) -> DatabaseBackend {
        match self {
            Db::Pool(c) => c.get_database_backend(),
            Db::Tx(t) => t.get_database_backend(),
            Db::Inline(_) => DatabaseBackend::Sqlite,
        }
    }

    pub async fn execute(&self, stmt: Statement) -> Result<Executed, DbErr> {
        let rows_affected = match self {
            Db::Pool(c) => c.execute_raw(stmt).await?.rows_affected(),
            Db::Tx(t) => t.execute_raw(stmt).await?.rows_affected(),
            Db::Inline(w) => w.execute(&stmt)?,
        };
        Ok(Executed { rows_affected })
    }

    pub async fn query_one(&self, stmt: Statement) -> Result<Option<Row>, DbErr> {
        Ok(match self {
            Db::Pool(c) => c.query_one_raw(stmt).await?.map(Row::Pool),
            Db::Tx(t) => t.query_one_raw(stmt).await?.map(Row::Pool),
            Db::Inline(w) => w.query(&stmt)?.into_iter().next(),
        })
    }

    pub async fn query_all(&self, stmt: Statement) -> Result<Vec<Row>, DbErr> {
        Ok(match self {
            Db::Pool(c) => c
                .query_all_raw(stmt)
                .await?
                .into_iter()
                .map(Row::Pool)
                .collect(),
            Db::Tx(t) => t
                .query_all_raw(stmt)
                .await?
                .into_iter()
                .map(Row::Pool)
                .collect(),
            Db::Inline(w) => w.query(&stmt)?,
        })
    }

    /// Runs a read on the calling thread when it can ([`InlineReads`]: SQLite, outside a
    /// transaction, a reader free, within its time budget), mapping each row; `None` means
    /// "run it with [`Db::query_all`]", which gives the same rows.
    pub fn query_inline<T>(
        &self,
        stmt: &Statement,
        map: impl FnMut(&rusqlite::Row<'_>) -> Option<T>,
    ) -> Option<Vec<T>> {
        match self {
            Db::Pool(db) => db.inline.as_ref()?.query(stmt, map),
            Db::Tx(_) | Db::Inline(_) => None,
        }
    }

    /// Builds a statement from a sea-query builder for this backend.
    pub fn build<S: sea_orm::StatementBuilder>(&self, stmt: &S) -> Statement {
        self.backend().build(stmt)
    }
}

/// The database: the pool, and on SQLite the one-writer gate, so writers queue instead of
/// failing with "database is locked". Reads go to the pool (it derefs to it); every write
/// transaction starts with [`Database::write`]. Cheap to clone.
#[derive(Clone, Default)]
pub struct Database {
    pool: DatabaseConnection,
    gate: Option<Arc<Mutex<()>>>,
    inline: Option<Arc<InlineReads>>,
    writer: Option<Arc<InlineWriter>>,
}

impl Database {
    pub fn new(pool: DatabaseConnection) -> Self {
        let sqlite = pool.get_database_backend() == DatabaseBackend::Sqlite;
        Self {
            pool,
            gate: sqlite.then(|| Arc::new(Mutex::new(()))),
            inline: None,
            writer: None,
        }
    }

    /// Lets write transactions run on the calling thread (SQLite files only).
    pub fn with_inline_writer(mut self, writer: Option<InlineWriter>) -> Self {
        self.writer = writer.map(Arc::new);
        self
    }

    /// Lets pool reads run on the calling thread (SQLite files only).
    pub fn with_inline_reads(mut self, inline: Option<InlineReads>) -> Self {
        self.inline = inline.map(Arc::new);
        self
    }

    /// The pool itself.
    pub fn pool(&self) -> &DatabaseConnection {
        &self.pool
    }

    /// `(open, idle)` connections of the pool, for the metrics; `(0, 0)` without one.
    /// Each getter panics on another kind of connection (as `get_database_backend` does
    /// on none): the kind is matched first.
    pub fn pool_usage(&self) -> (u32, usize) {
        use sea_orm::DatabaseConnectionType as Kind;
        match &self.pool.inner {
            Kind::SqlxSqlitePoolConnection(_) => {
                let pool = self.pool.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
            Kind::SqlxPostgresPoolConnection(_) => {
                let pool = self.pool.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            _ => (0, 0),
        }
    }

    /// How many of the binary's migrations the database has not applied (the readiness
    /// check).
    pub async fn migrations_pending(&self) -> Result<usize, DbErr> {
        use migration::MigratorTrait;
        let row = self
            .pool
            .query_one_raw(Statement::from_string(
                self.pool.get_database_backend(),
                "SELECT COUNT(*) AS n FROM seaql_migrations",
            ))
            .await?;
        let applied: i64 = match row {
            Some(row) => row.try_get("", "n")?,
            None => 0,
        };
        let known = migration::Migrator::migrations().len();
        Ok(known.saturating_sub(usize::try_from(applied).unwrap_or(0)))
    }

    /// The pool, for reads and single statements that need no queue.
    pub fn read(&self) -> Db<'_> {
        Db::Pool(self)
    }

    /// Begins a write transaction (after the writers before it, on SQLite: on the inline
    /// writer when there is one and the file is not busy). Dropped without
    /// [`Write::commit`], it rolls back.
    pub async fn write(&self) -> crate::error::Result<Write> {
        let gate = match &self.gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        };
        if let Some(writer) = &self.writer
            && writer.begin().map_err(Error::internal)?
        {
            return Ok(Write {
                on: On::Inline {
                    writer: writer.clone(),
                    pool: self.pool.clone(),
                    open: true,
                },
                _gate: gate,
            });
        }
        let tx = self.pool.begin().await.map_err(Error::internal)?;
        Ok(Write {
            on: On::Pool(Some(tx)),
            _gate: gate,
        })
    }
}

impl std::ops::Deref for Database {
    type Target = DatabaseConnection;

    fn deref(&self) -> &DatabaseConnection {
        &self.pool
    }
}

/// A write transaction holding its place in the writers' queue until it ends.
pub struct Write {
    on: On,
    _gate: Option<OwnedMutexGuard<()>>,
}

/// Where a write transaction runs.
enum On {
    Pool(Option<DatabaseTransaction>),
    /// `open` until committed; the pool runs the checkpoints the writer asks for.
    Inline {
        writer: Arc<InlineWriter>,
        pool: DatabaseConnection,
        open: bool,
    },
}

impl Write {
    pub fn db(&self) -> Db<'_> {
        match &self.on {
            On::Pool(Some(tx)) => Db::Tx(tx),
            On::Inline { writer, .. } => Db::Inline(writer),
            On::Pool(None) => unreachable!("a committed transaction is not used again"),
        }
    }

    pub async fn commit(mut self) -> crate::error::Result<()> {
        match &mut self.on {
            On::Pool(tx) => match tx.take() {
                Some(tx) => tx.commit().await.map_err(Error::internal),
                None => Ok(()),
            },
            On::Inline { writer, pool, open } => {
                // Still open on an error: dropping `self` rolls it back.
                let checkpoint_due = writer.commit().map_err(Error::internal)?;
                *open = false;
                if checkpoint_due {
                    let pool = pool.clone();
                    tokio::spawn(async move {
                        let checkpoint = "PRAGMA wal_checkpoint(PASSIVE)";
                        if let Err(e) = pool.execute_unprepared(checkpoint).await {
                            tracing::warn!(error = %e, "WAL checkpoint failed");
                        }
                    });
                }
                Ok(())
            }
        }
    }
}

impl Drop for Write {
    /// An inline transaction not committed is rolled back here, before the gate opens (a
    /// pool transaction rolls itself back when dropped).
    fn drop(&mut self) {
        if let On::Inline {
            writer, open: true, ..
        } = &self.on
        {
            writer.rollback();
        }
    }
}
