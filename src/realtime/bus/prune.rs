//! Outbox retention: rows older than `cluster.outbox_retention_secs` are deleted every
//! minute, so large messages do not accumulate in the database.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Deletes outbox rows older than the retention, every minute.
pub(super) async fn prune_loop(db: DatabaseConnection, retention_secs: u64) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let stmt = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "DELETE FROM bus_outbox WHERE created_at < now() - make_interval(secs => $1)",
            [(retention_secs as f64).into()],
        );
        if let Err(e) = db.execute_raw(stmt).await {
            tracing::warn!(error = %e, "cluster bus: cannot prune bus_outbox");
        }
    }
}
