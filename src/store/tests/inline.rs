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
    let file = std::env::temp_dir().join(format!("roost-inline-{}.db", uuid::Uuid::new_v4()));
    {
        let writer = rusqlite::Connection::open(&file).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode=WAL; CREATE TABLE things (id INTEGER PRIMARY KEY, \
                 n BIGINT, s TEXT, b BOOLEAN, t TIMESTAMP WITH TIME ZONE);",
            )
            .unwrap();
        for (n, s, b, t) in &stored_rows {
            writer
                .execute(
                    "INSERT INTO things (n, s, b, t) VALUES (?1, ?2, ?3, ?4)",
                    (n, s, b, t),
                )
                .unwrap();
        }
    }
    let url = format!("sqlite://{}?mode=rw", file.display());
    let pool = Database::connect(url.as_str()).await.unwrap();
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
    for suffix in ["", "-wal", "-shm"] {
        let mut name = file.clone().into_os_string();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
}
