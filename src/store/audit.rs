//! The audit log (`events`): one row per record a mutation touched, written inside the
//! mutation's transaction, with the actor and the actor of the previous event on the row.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::service::Db;

/// The audit log's table (read through the `events` service).
pub const TABLE: &str = "events";

/// Records `event` (created/updated/patched/removed) for every record in `value`.
pub async fn record(
    db: Db<'_>,
    source_table: &str,
    event: &str,
    value: &Value,
    actor: Option<i64>,
) -> Result<()> {
    let records: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        one => vec![one],
    };
    for record in records {
        let table_id = record.get("id").and_then(Value::as_i64);
        let previous = match table_id {
            Some(id) => previous_actor(db, source_table, id).await?,
            None => None,
        };
        insert(
            db,
            Some(source_table),
            event,
            None,
            table_id,
            actor,
            previous,
        )
        .await?;
    }
    Ok(())
}

/// Records an authentication action (`login`, `logout`, ...) as a `custom` event.
/// Custom events carry no secrets: only the action name and the user.
pub async fn record_custom(db: Db<'_>, custom_event: &str, user_id: Option<i64>) -> Result<()> {
    insert(db, None, "custom", Some(custom_event), None, user_id, None).await
}

async fn previous_actor(db: Db<'_>, source_table: &str, table_id: i64) -> Result<Option<i64>> {
    let select = Query::select()
        .column(Alias::new("user_id"))
        .from(Alias::new(TABLE))
        .and_where(Expr::col(Alias::new("source_table")).eq(source_table))
        .and_where(Expr::col(Alias::new("table_id")).eq(table_id))
        .order_by(Alias::new("id"), Order::Desc)
        .limit(1)
        .to_owned();
    let row = db
        .query_one(db.build(&select))
        .await
        .map_err(Error::internal)?;
    match row {
        Some(row) => row
            .try_get::<Option<i64>>("", "user_id")
            .map_err(Error::internal),
        None => Ok(None),
    }
}

async fn insert(
    db: Db<'_>,
    source_table: Option<&str>,
    event: &str,
    custom_event: Option<&str>,
    table_id: Option<i64>,
    user_id: Option<i64>,
    previous_user_id: Option<i64>,
) -> Result<()> {
    let now = chrono::Utc::now();
    let insert = Query::insert()
        .into_table(Alias::new(TABLE))
        .columns(
            [
                "source_table",
                "event",
                "custom_event",
                "table_id",
                "user_id",
                "previous_user_id",
                "created_at",
                "updated_at",
            ]
            .map(Alias::new),
        )
        .values([
            source_table.map(str::to_string).into(),
            event.into(),
            custom_event.map(str::to_string).into(),
            table_id.into(),
            user_id.into(),
            previous_user_id.into(),
            now.into(),
            now.into(),
        ])
        .map_err(Error::internal)?
        .to_owned();
    db.execute(db.build(&insert))
        .await
        .map_err(Error::internal)?;
    Ok(())
}
