//! One handle over "the pool" or "this call's transaction", so service code is written once.

use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, ExecResult,
    QueryResult, Statement,
};

/// The database handle a service method runs its statements on.
#[derive(Clone, Copy)]
pub enum Db<'a> {
    Pool(&'a DatabaseConnection),
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

    /// Builds a statement from a sea-query builder for this backend.
    pub fn build<S: sea_orm::StatementBuilder>(&self, stmt: &S) -> Statement {
        self.backend().build(stmt)
    }
}
