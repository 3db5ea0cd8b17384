//! The database ([`Database`]: pool + SQLite write gate) and one handle over "the pool" or
//! "this call's transaction" ([`Db`]), so service code is written once.

use std::sync::Arc;

use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, ExecResult,
    QueryResult, Statement, TransactionTrait,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::inline_reads::InlineReads;
use crate::error::Error;

/// The database handle a service method runs its statements on.
#[derive(Clone, Copy)]
pub enum Db<'a> {
    Pool(&'a Database),
    Tx(&'a DatabaseTransaction),
}

impl Db<'_> {
    pub fn backend(&self) -> DatabaseBackend {
        match self {
            Db::Pool(c) => c.get_database_backend(),
            Db::Tx(t) => t.get_database_backend(),
        }
    }

    pub async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            Db::Pool(c) => c.execute_raw(stmt).await,
            Db::Tx(t) => t.execute_raw(stmt).await,
        }
    }

    pub async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            Db::Pool(c) => c.query_one_raw(stmt).await,
            Db::Tx(t) => t.query_one_raw(stmt).await,
        }
    }

    pub async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            Db::Pool(c) => c.query_all_raw(stmt).await,
            Db::Tx(t) => t.query_all_raw(stmt).await,
        }
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
            Db::Tx(_) => None,
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
}

impl Database {
    pub fn new(pool: DatabaseConnection) -> Self {
        let sqlite = pool.get_database_backend() == DatabaseBackend::Sqlite;
        Self {
            pool,
            gate: sqlite.then(|| Arc::new(Mutex::new(()))),
            inline: None,
        }
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

    /// Begins a write transaction (after the writers before it, on SQLite). Dropped
    /// without [`Write::commit`], it rolls back.
    pub async fn write(&self) -> crate::error::Result<Write> {
        let gate = match &self.gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        };
        let tx = self.pool.begin().await.map_err(Error::internal)?;
        Ok(Write { tx, _gate: gate })
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
    tx: DatabaseTransaction,
    _gate: Option<OwnedMutexGuard<()>>,
}

impl Write {
    pub fn db(&self) -> Db<'_> {
        Db::Tx(&self.tx)
    }

    pub async fn commit(self) -> crate::error::Result<()> {
        self.tx.commit().await.map_err(Error::internal)
    }
}
