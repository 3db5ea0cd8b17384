//! The Feathers chat reference API (`../shared/peers/feathers-ref`) written with Roost as a
//! library: users sign up (`POST /users`), log in (`POST /authentication`, local or JWT),
//! and post `messages` (`{id, text, user_id, created_at}`). Any authenticated user reads
//! and creates messages; only the author patches or removes one (another user's message
//! answers 404, as in the reference); `messages created|patched|removed` events go to every
//! authenticated socket and to no anonymous one.
//!
//! ```sh
//! cargo run --release --example chat                                   # serve
//! cargo run --release --example chat -- seed --users 1000 --messages 1000
//! ```
//!
//! Serving honours `ROOST_HOST`, `ROOST_PORT` and every other `ROOST_*` setting (Roost's
//! `Config::load`); sign-up is always open. Both commands use `ROOST_DATABASE_URL`, or this
//! example's own SQLite file `data/chat.db` when it is unset.
//!
//! `seed` empties `users` and `messages` (their ids start again at 1) and fills them the
//! way the reference's `src/seed.js` does: users `user<i>@example.com` / `bench-password`
//! (hashed once, the hash shared), message `i` by user `((i * 7919) % users) + 1`. The
//! harness in `../shared/bench` runs against it unchanged; see `bench/README.md`.
//!
//! Everything Roost does not already provide is the `messages` section below: a complete
//! messages service in one file. The `web` section serves a small browser app at `/chat/`
//! (`web/`: sign up, log in, read and send messages, see others' arrive live) with the
//! official Feathers and Socket.IO browser builds from `client-js/node_modules` (`npm ci`
//! there first; `CHAT_NODE_MODULES` names another `node_modules`).

use std::sync::Arc;

use roost::config::Config;
use roost::store::Table;

// ================================================================================
// The messages service: table, validation, server-set fields, authorization.
// ================================================================================
mod messages {
    use async_trait::async_trait;
    use roost::error::{Error, Result};
    use roost::service::{Access, Ctx, Method, Policy, ScopeRule};
    use roost::store::{Change, Column, Prepared, SqlService, Table, WriteRules};
    use serde_json::{Value, json};

    pub const PATH: &str = "messages";

    /// The reference's bound on `text` (TypeBox `maxLength: 10000`).
    pub const TEXT_MAX: usize = 10_000;

    /// `id`, `text`, `user_id` (the author, set by the server), `created_at` (epoch
    /// milliseconds, set by the server), in this order.
    pub fn table() -> Table {
        Table::new(PATH)
            .without_timestamps() // `created_at` is epoch ms here, as in the reference
            .column(
                Column::text("text")
                    .required()
                    .non_empty()
                    .max_len(TEXT_MAX),
            )
            .column(
                Column::integer("user_id")
                    .required()
                    .internal_write()
                    .references("users"), // a user's messages go with the user
            )
            .column(Column::integer("created_at").required().internal_write())
    }

    /// The methods the reference offers (`update` answers 405).
    pub const METHODS: &[Method] = &[
        Method::Find,
        Method::Get,
        Method::Create,
        Method::Patch,
        Method::Remove,
    ];

    /// Who may do what: any authenticated user finds, gets and creates; patching and
    /// removing need `messages_write`, and without it reach the caller's own messages only
    /// (another user's message answers 404, like the reference's `restrictToAuthor`).
    /// Events go to every connection allowed to read the row: every authenticated one.
    pub const POLICY: Policy = Policy {
        update: Access::Deny,
        ..Policy::scoped(
            ScopeRule::read_write("messages", "messages_read", "messages_write")
                .open(&[Method::Find, Method::Get, Method::Create])
                .own("user_id", &[Method::Patch, Method::Remove]),
        )
    };

    pub fn service(paginate: roost::config::PaginateConfig) -> SqlService {
        SqlService::new(table(), POLICY)
            .with_methods(METHODS)
            .paginate(Some(paginate))
            .with_rules(Rules)
    }

    /// What `messages` adds to the generic SQL service.
    struct Rules;

    #[async_trait]
    impl WriteRules for Rules {
        async fn before_write(
            &self,
            ctx: &Ctx<'_>,
            _store: &SqlService,
            change: Change<'_>,
            data: Value,
        ) -> Result<Prepared> {
            let internal = ctx.params.is_internal();
            if !internal {
                only_text(&data)?;
            }
            let mut prepared = Prepared::new(data);
            if change == Change::Create {
                // The author is the caller (server-side calls name one in `user_id`).
                if let Some(me) = ctx.params.user_id() {
                    prepared.server.insert("user_id".into(), json!(me));
                }
                let has_time = prepared
                    .data
                    .get("created_at")
                    .is_some_and(|t| !t.is_null());
                if !(internal && has_time) {
                    let now = chrono::Utc::now().timestamp_millis();
                    prepared.server.insert("created_at".into(), json!(now));
                }
            }
            Ok(prepared)
        }
    }

    /// Callers send `{"text": ...}` and nothing else (the reference answers 400 to any
    /// other field, `user_id` and `created_at` included). Empty, blank and too long texts
    /// are refused by the column (`non_empty`, `max_len`). Unlike the reference, a number
    /// sent as `text` is stored as its string (Roost's store coerces scalars to the
    /// column's type before any rule runs).
    fn only_text(data: &Value) -> Result<()> {
        let Value::Object(map) = data else {
            return Err(Error::bad_request("Data must be an object"));
        };
        match map.keys().find(|k| k.as_str() != "text") {
            Some(field) => Err(Error::bad_request(format!(
                "Invalid data: '{field}' may not be sent; only 'text' is accepted"
            ))
            .with_errors(json!({ field: "is not accepted" }))),
            None => Ok(()),
        }
    }
}
// ================================================================================

/// Where the example keeps its data unless `ROOST_DATABASE_URL` says otherwise.
const DEFAULT_DATABASE: &str = "sqlite://data/chat.db?mode=rwc";

#[derive(clap::Parser)]
#[command(about = "The Feathers chat reference API served by Roost")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Empties `users` and `messages` and fills them like the reference's seed.
    Seed {
        #[arg(long, default_value_t = 1000)]
        users: u64,
        #[arg(long, default_value_t = 1000)]
        messages: u64,
        #[arg(long, default_value = "bench-password")]
        password: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    use clap::Parser;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let cli = Cli::parse();
    let mut config = Config::load()?;
    if std::env::var_os("ROOST_DATABASE_URL").is_none() {
        config.database_url = DEFAULT_DATABASE.into();
    }
    config.signup.open = true; // users sign up as in the reference

    // `messages` is not one of Roost's tables: create it (and its index) if missing.
    let table = messages::table();
    let db = roost::app::connect(&config).await?;
    prepare_table(&db, &table).await?;

    if let Some(Command::Seed {
        users,
        messages,
        password,
    }) = cli.command
    {
        return seed::run(&db, users, messages, &password).await;
    }
    drop(db);

    let paginate = config.paginate;
    let page = web::routes(&web::node_modules());
    let server = roost::app::start_with_routes(
        config,
        move |registry, _config| {
            registry.register(messages::PATH, Arc::new(messages::service(paginate)));
        },
        page,
    )
    .await?;
    tracing::info!(
        "chat example serving on http://{0} (the page: http://{0}/chat/)",
        server.addr
    );
    let grace = std::time::Duration::from_secs(server.app.config.http.shutdown_grace_secs);
    stopped().await?;
    server.shutdown(grace).await;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn stopped() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

async fn prepare_table(db: &sea_orm::DatabaseConnection, table: &Table) -> anyhow::Result<()> {
    use sea_orm::ConnectionTrait;
    roost::store::ensure_table(db, table).await?;
    db.execute_unprepared("CREATE INDEX IF NOT EXISTS ix_messages_user_id ON messages (user_id)")
        .await?;
    Ok(())
}

/// `chat seed`: the reference's data set, inserted in batches in one transaction.
mod seed {
    use sea_orm::sea_query::{Expr, Query};
    use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, TransactionTrait};

    const BATCH: u64 = 200;

    pub async fn run(
        db: &DatabaseConnection,
        users: u64,
        messages: u64,
        password: &str,
    ) -> anyhow::Result<()> {
        anyhow::ensure!(
            users > 0 || messages == 0,
            "messages need at least one user"
        );
        let started = std::time::Instant::now();
        // One hash for everyone (Roost's own: argon2id), as the reference hashes once.
        let hash = roost::auth::password::PasswordGate::new(1, 1)
            .hash(password.to_string())
            .await?;
        // The reference's clock: one second per row, ending now.
        let start = chrono::Utc::now().timestamp_millis() - ((users + messages) * 1000) as i64;
        let at = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();

        let tx = db.begin().await?;
        // Empty both tables (sessions, roles and the like of the users go with them) and
        // restart their ids at 1.
        match tx.get_database_backend() {
            DatabaseBackend::Postgres => {
                tx.execute_unprepared("TRUNCATE messages, users, events RESTART IDENTITY CASCADE")
                    .await?;
            }
            _ => {
                for stmt in [
                    "DELETE FROM messages",
                    "DELETE FROM users",
                    "DELETE FROM events",
                    "DELETE FROM sqlite_sequence WHERE name IN ('messages', 'users', 'events')",
                ] {
                    tx.execute_unprepared(stmt).await?;
                }
            }
        }
        let mut first = 1;
        while first <= users {
            let last = (first + BATCH - 1).min(users);
            let mut insert = Query::insert();
            insert.into_table("users").columns([
                "email",
                "username",
                "password",
                "first_name",
                "last_name",
                "phone",
                "joined_date",
                "created_at",
                "updated_at",
            ]);
            for i in first..=last {
                let ts = at(start + (i * 1000) as i64);
                insert.values([
                    Expr::val(format!("user{i}@example.com")),
                    Expr::val(format!("user{i}")),
                    Expr::val(hash.clone()),
                    Expr::val(format!("First{i}")),
                    Expr::val(format!("Last{i}")),
                    Expr::val(format!("+1-555-{i:07}")),
                    Expr::val(ts),
                    Expr::val(ts),
                    Expr::val(ts),
                ])?;
            }
            tx.execute(&insert).await?;
            first = last + 1;
        }
        let mut first = 1;
        while first <= messages {
            let last = (first + BATCH - 1).min(messages);
            let mut insert = Query::insert();
            insert
                .into_table("messages")
                .columns(["text", "user_id", "created_at"]);
            for i in first..=last {
                insert.values([
                    Expr::val(format!(
                        "Seed message {i}: the quick brown fox jumps over the lazy dog."
                    )),
                    Expr::val(((i * 7919) % users + 1) as i64),
                    Expr::val(start + ((users + i) * 1000) as i64),
                ])?;
            }
            tx.execute(&insert).await?;
            first = last + 1;
        }
        tx.commit().await?;
        println!(
            "seeded {users} users, {messages} messages in {:.1?}; login user1@example.com / {password}",
            started.elapsed()
        );
        Ok(())
    }
}

// ================================================================================
// The browser app: three files of its own and the two official browser builds.
// ================================================================================

mod web {
    use std::path::{Path, PathBuf};

    use axum::Router;
    use axum::body::Bytes;
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::{IntoResponse, Redirect, Response};
    use axum::routing::get;

    const INDEX: &str = include_str!("web/index.html");
    const APP: &str = include_str!("web/app.js");
    const STYLE: &str = include_str!("web/style.css");
    const ICON: &str = include_str!("web/icon.svg");

    /// The browser builds the page loads, from their npm packages.
    const VENDOR: &[(&str, &str)] = &[
        ("feathers.js", "@feathersjs/client/dist/feathers.min.js"),
        ("socket.io.js", "socket.io-client/dist/socket.io.min.js"),
    ];

    /// `CHAT_NODE_MODULES`, else this repository's `client-js/node_modules`.
    pub fn node_modules() -> PathBuf {
        std::env::var_os("CHAT_NODE_MODULES").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("client-js/node_modules"),
            PathBuf::from,
        )
    }

    /// `/chat/` and its files. The browser builds are read once, here; a missing one is
    /// a warning at start and a 503 saying what to install when asked for.
    pub fn routes(node_modules: &Path) -> Router {
        let mut router = Router::new()
            .route("/chat", get(|| async { Redirect::permanent("/chat/") }))
            .route(
                "/chat/",
                get(|| async { asset("text/html; charset=utf-8", INDEX) }),
            )
            .route(
                "/chat/app.js",
                get(|| async { asset("text/javascript; charset=utf-8", APP) }),
            )
            .route(
                "/chat/style.css",
                get(|| async { asset("text/css; charset=utf-8", STYLE) }),
            )
            .route(
                "/chat/icon.svg",
                get(|| async { asset("image/svg+xml", ICON) }),
            );
        for (name, package_path) in VENDOR {
            let file = node_modules.join(package_path);
            let body = match std::fs::read(&file) {
                Ok(bytes) => Ok(Bytes::from(bytes)),
                Err(e) => {
                    tracing::warn!(
                        "the chat page needs {} ({e}): run `npm ci` in client-js",
                        file.display()
                    );
                    Err(format!(
                        "{} is missing on the server: run `npm ci` in client-js, or set \
                         CHAT_NODE_MODULES to a node_modules holding @feathersjs/client and \
                         socket.io-client\n",
                        file.display()
                    ))
                }
            };
            router = router.route(
                &format!("/chat/vendor/{name}"),
                get(move || {
                    let body = body.clone();
                    async move {
                        match body {
                            Ok(bytes) => asset("text/javascript; charset=utf-8", bytes),
                            Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why).into_response(),
                        }
                    }
                }),
            );
        }
        router
    }

    /// A file of the page, with a policy that lets it load only its own origin's files
    /// (and connect back to it), so a message can never run as script.
    fn asset(content_type: &'static str, body: impl IntoResponse) -> Response {
        let mut response = body.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'; object-src 'none'; base-uri 'none'"),
        );
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }
}
