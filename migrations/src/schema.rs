//! A small table builder over sea-query's schema statements, so every table gets the same
//! `id` / `created_at` / `updated_at` columns and predictably named indexes and keys.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// One table to create, with its indexes (created right after the table).
pub struct TableDef {
    name: &'static str,
    stmt: TableCreateStatement,
    indexes: Vec<IndexCreateStatement>,
}

impl TableDef {
    pub fn new(name: &'static str) -> Self {
        let mut stmt = Table::create();
        stmt.table(name).col(
            ColumnDef::new("id")
                .big_integer()
                .not_null()
                .auto_increment()
                .primary_key(),
        );
        Self {
            name,
            stmt,
            indexes: Vec::new(),
        }
    }

    fn col(mut self, col: &mut ColumnDef) -> Self {
        self.stmt.col(col);
        self
    }

    /// A nullable text column.
    pub fn text(self, name: &'static str) -> Self {
        self.col(ColumnDef::new(name).text().null())
    }

    pub fn text_not_null(self, name: &'static str) -> Self {
        self.col(ColumnDef::new(name).text().not_null())
    }

    /// A not-null text column with a default and a CHECK that limits it to `allowed`.
    pub fn text_enum(
        self,
        name: &'static str,
        allowed: &[&'static str],
        default: &'static str,
    ) -> Self {
        self.col(
            ColumnDef::new(name)
                .text()
                .not_null()
                .default(default)
                .check(Expr::col(name).is_in(allowed.iter().copied())),
        )
    }

    pub fn big_integer(self, name: &'static str) -> Self {
        self.col(ColumnDef::new(name).big_integer().null())
    }

    pub fn boolean(self, name: &'static str, default: bool) -> Self {
        self.col(ColumnDef::new(name).boolean().not_null().default(default))
    }

    pub fn timestamp(self, name: &'static str) -> Self {
        self.col(ColumnDef::new(name).timestamp_with_time_zone().null())
    }

    /// A big integer column referencing `target(id)`, named `fk_<table>_<col>`, with an
    /// index `ix_<table>_<col>` unless `indexed` is false (a unique index already leads
    /// with it).
    pub fn reference(
        mut self,
        name: &'static str,
        target: &'static str,
        not_null: bool,
        on_delete: ForeignKeyAction,
        indexed: bool,
    ) -> Self {
        let mut col = ColumnDef::new(name);
        col.big_integer();
        if not_null {
            col.not_null();
        } else {
            col.null();
        }
        self.stmt.col(&mut col);
        self.stmt.foreign_key(
            ForeignKey::create()
                .name(format!("fk_{}_{name}", self.name))
                .from(self.name, name)
                .to(target, "id")
                .on_delete(on_delete)
                .on_update(ForeignKeyAction::Cascade),
        );
        if indexed {
            self = self.index(&[name]);
        }
        self
    }

    /// A unique index `uq_<table>_<cols>`. NULLs never collide (both backends).
    pub fn unique(mut self, cols: &[&'static str]) -> Self {
        let mut idx = Index::create();
        idx.name(format!("uq_{}_{}", self.name, cols.join("_")))
            .table(self.name)
            .unique();
        for col in cols {
            idx.col(*col);
        }
        self.indexes.push(idx);
        self
    }

    /// A lookup index `ix_<table>_<cols>`.
    pub fn index(mut self, cols: &[&'static str]) -> Self {
        let mut idx = Index::create();
        idx.name(format!("ix_{}_{}", self.name, cols.join("_")))
            .table(self.name);
        for col in cols {
            idx.col(*col);
        }
        self.indexes.push(idx);
        self
    }

    /// Adds the timestamps and creates the table and its indexes.
    pub async fn create(mut self, manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        for name in ["created_at", "updated_at"] {
            self.stmt.col(
                ColumnDef::new(name)
                    .timestamp_with_time_zone()
                    .not_null()
                    .default(Expr::current_timestamp()),
            );
        }
        manager.create_table(self.stmt).await?;
        for idx in self.indexes {
            manager.create_index(idx).await?;
        }
        Ok(())
    }
}

pub async fn drop_table(manager: &SchemaManager<'_>, name: &'static str) -> Result<(), DbErr> {
    manager
        .drop_table(Table::drop().table(name).if_exists().to_owned())
        .await
}

/// Inserts access scopes `(id?, slug, name)` with an empty description.
pub async fn insert_scopes(
    manager: &SchemaManager<'_>,
    scopes: &[(Option<i64>, &str, &str)],
) -> Result<(), DbErr> {
    let now = chrono_now();
    for (id, slug, name) in scopes {
        let mut insert = Query::insert();
        insert.into_table("access_scopes");
        let mut columns = vec!["name", "slug", "description", "created_at", "updated_at"];
        let mut values: Vec<Expr> = vec![
            (*name).into(),
            (*slug).into(),
            "".into(),
            now.into(),
            now.into(),
        ];
        if let Some(id) = id {
            columns.insert(0, "id");
            values.insert(0, (*id).into());
        }
        insert
            .columns(columns)
            .values(values)
            .map_err(|e| DbErr::Custom(e.to_string()))?;
        manager.exec_stmt(insert).await?;
    }
    Ok(())
}

/// After rows were inserted with explicit ids, PostgreSQL's sequence must continue after
/// the largest id (SQLite's AUTOINCREMENT follows explicit ids by itself).
pub async fn resync_sequence(manager: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let sql = format!(
        "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
         GREATEST((SELECT COALESCE(MAX(id), 0) FROM \"{table}\"), 1), \
         (SELECT COUNT(*) > 0 FROM \"{table}\"))"
    );
    manager.get_connection().execute_unprepared(&sql).await?;
    Ok(())
}

fn chrono_now() -> sea_query::value::prelude::DateTime<sea_query::value::prelude::Utc> {
    sea_query::value::prelude::Utc::now()
}
