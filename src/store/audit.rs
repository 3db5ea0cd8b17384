//! The audit log (`events`): one row per record a mutation touched, written inside the
//! mutation's transaction, with the actor and the actor of the previous event on the row.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query, SelectStatement};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::service::Db;

/// The audit log's table (read through the `events` service).
pub const TABLE: &str = "events";

/// Records `event` (created/updated/patched/removed) for every record in `value`: one
/// insert per [`ROWS_PER_INSERT`] records, each row reading its previous actor itself.
pub async fn record(
    db: Db<'_>,
    source_table: &str,
    event: &str,
    value: &Value,
    actor: Option<i64>,
) -> Result<()> {
    let records: &[Value] = match value {
        Value::Array(items) => items,
        Value::Null => &[],
        one => std::slice::from_ref(one),
    };
    for chunk in records.chunks(ROWS_PER_INSERT) {
        let rows = chunk.iter().map(|record| {
            let table_id = record.get("id").and_then(Value::as_i64);
            let previous = table_id.map(|id| previous_actor(source_table, id));
            Row {
                source_table: Some(source_table),
                event,
                custom_event: None,
                table_id,
                user_id: actor,
                previous_user_id: previous,
            }
        });
        insert(db, rows).await?;
    }
    Ok(())
}

/// Keeps a bulk change's insert well under SQLite's 32,766 bound values (9 per row).
const ROWS_PER_INSERT: usize = 500;

/// Records an authentication action (`login`, `logout`, ...) as a `custom` event.
/// Custom events carry no secrets: only the action name and the user.
pub async fn record_custom(db: Db<'_>, custom_event: &str, user_id: Option<i64>) -> Result<()> {
    let row = Row {
        source_table: None,
        event: "custom",
        custom_event: Some(custom_event),
        table_id: None,
        user_id,
        previous_user_id: None,
    };
    insert(db, [row]).await
}

/// The actor of the row's latest event, as a subquery of the insert (one statement, not a
/// read and then a write).
fn previous_actor(source_table: &str, table_id: i64) -> SelectStatement {
    Query::select()
        .column(Alias::new("user_id"))
        .from(Alias::new(TABLE))
        .and_where(Expr::col(Alias::new("source_table")).eq(source_table))
        .and_where(Expr::col(Alias::new("table_id")).eq(table_id))
        .order_by(Alias::new("id"), Order::Desc)
        .limit(1)
        .to_owned()
}

struct Row<'a> {
    source_table: Option<&'a str>,
    event: &'a str,
    custom_event: Option<&'a str>,
    table_id: Option<i64>,
    user_id: Option<i64>,
    previous_user_id: Option<SelectStatement>,
}

async fn insert<'a>(db: Db<'_>, rows: impl IntoIterator<Item = Row<'a>>) -> Result<()> {
    let now = chrono::Utc::now();
    let mut insert = Query::insert();
    insert.into_table(Alias::new(TABLE)).columns(
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
    );
    let mut any = false;
    for row in rows {
        any = true;
        insert
            .values([
                row.source_table.map(str::to_string).into(),
                row.event.into(),
                row.custom_event.map(str::to_string).into(),
                row.table_id.into(),
                row.user_id.into(),
                match row.previous_user_id {
                    Some(select) => Expr::SubQuery(None, Box::new(select.into())),
                    None => Option::<i64>::None.into(),
                },
                now.into(),
                now.into(),
            ])
            .map_err(Error::internal)?;
    }
    if !any {
        return Ok(());
    }
    db.execute(db.build(&insert))
        .await
        .map_err(Error::internal)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use sea_orm::ConnectionTrait;
    use serde_json::json;

    use super::*;

    /// `(table_id, user_id, previous_user_id)` of the audit rows of `roles`, in order.
    async fn rows(db: &sea_orm::DatabaseConnection) -> Vec<(i64, Option<i64>, Option<i64>)> {
        let sql = "SELECT table_id, user_id, previous_user_id FROM events \
                   WHERE source_table = 'roles' ORDER BY id";
        let rows = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                sql,
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| {
                (
                    r.try_get("", "table_id").unwrap(),
                    r.try_get("", "user_id").unwrap(),
                    r.try_get("", "previous_user_id").unwrap(),
                )
            })
            .collect()
    }

    /// A bulk change is one insert per chunk, and every row still names the previous actor
    /// of its own record, also across a chunk boundary.
    #[tokio::test]
    async fn each_row_of_a_bulk_change_names_its_own_previous_actor() {
        let pool = crate::store::tests::sqlite().await;
        let db = crate::service::Database::new(pool.clone());
        let one = |id: i64| json!({ "id": id });
        record(db.read(), "roles", "created", &one(1), Some(10))
            .await
            .unwrap();
        record(db.read(), "roles", "created", &one(2), Some(20))
            .await
            .unwrap();
        let many: Vec<Value> = (1..=ROWS_PER_INSERT as i64 + 2).map(one).collect();
        record(db.read(), "roles", "patched", &Value::Array(many), Some(30))
            .await
            .unwrap();
        record(db.read(), "roles", "removed", &one(2), None)
            .await
            .unwrap();
        record(db.read(), "roles", "created", &Value::Null, Some(40))
            .await
            .unwrap();

        let got = rows(&pool).await;
        assert_eq!(got.len(), 2 + ROWS_PER_INSERT + 2 + 1);
        assert_eq!(got[..2], [(1, Some(10), None), (2, Some(20), None)]);
        assert_eq!(
            got[2..5],
            [
                (1, Some(30), Some(10)),
                (2, Some(30), Some(20)),
                (3, Some(30), None)
            ]
        );
        let last_patched = ROWS_PER_INSERT as i64 + 2;
        assert_eq!(got[got.len() - 2], (last_patched, Some(30), None));
        assert_eq!(got[got.len() - 1], (2, None, Some(30)));
    }
}
