//! Run with: `ROOST_PORT=3031 cargo run --release --example people`
//!
//! Roost as a library: the full server plus one extra generic SQL service, `people`
//! (`id` integer, `name` text not null, `age` integer, `created` boolean), defined in a few
//! lines. It is a demo, so `people` is open to unauthenticated callers, unpaginated, has
//! `multi` off and starts empty — the shape `@feathersjs/adapter-tests` expects, which
//! `client-js/` runs against it over REST and Socket.IO.
//!
//! It uses its own database (`sqlite://data/people.db?mode=rwc`) unless
//! `ROOST_DATABASE_URL` is set.

use std::sync::Arc;

use roost::config::Config;
use roost::service::Policy;
use roost::store::{Column, SqlService, Table};
use sea_orm::ConnectionTrait;

fn people() -> Table {
    Table::new("people")
        .without_timestamps()
        .column(Column::text("name").required())
        .column(Column::integer("age"))
        .column(Column::bool("created"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let mut config = Config::load()?;
    if std::env::var_os("ROOST_DATABASE_URL").is_none() {
        config.database_url = "sqlite://data/people.db?mode=rwc".into();
    }

    // `people` is not a seed table: create it, and start empty as the demo promises.
    let table = people();
    let db = roost::app::connect(&config).await?;
    roost::store::ensure_table(&db, &table).await?;
    db.execute_unprepared("DELETE FROM people").await?;
    drop(db);

    let server = roost::app::start_with(config, move |registry, _config| {
        registry.register("people", Arc::new(SqlService::new(table, Policy::public())));
    })
    .await?;
    tracing::info!("people example serving on http://{}/people", server.addr);
    tokio::signal::ctrl_c().await?;
    server.stop();
    Ok(())
}
