//! Micro-benchmarks of the per-request hot paths (performance issue 11), on inputs shaped
//! like the Feathers chat reference API: `messages` records `{id, text, user_id,
//! created_at}`, `users` records as Roost returns them, access tokens as Roost issues them.
//!
//! Run with: `cargo bench --bench hot_paths -- --warm-up-time 1 --measurement-time 3`
//! (figures and what each bench models: `bench/README.md`, "Micro-benchmarks").

#![allow(clippy::unwrap_used, clippy::expect_used)] // Set-up failing is a failed bench.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use roost::auth::Keys;
use roost::auth::scopes::Scopes;
use roost::config::{AuthConfig, Config};
use roost::realtime::Fanout;
use roost::service::{Method, Policy, Query, ScopeRule, fields};
use roost::services::users;
use roost::store::{Column, Table, filter};
use roost::transport::query_string;
use sea_orm::sea_query::Query as Sql;
use sea_orm::{DatabaseBackend, Statement};
use serde_json::{Map, Value, json};

/// What `@feathersjs/rest-client` sends for "the second page of 10 of users 1 and 2's
/// messages containing `hi`, newest first" (`qs.stringify` output).
const REST_QUERY: &str = "%24limit=10&%24skip=20&%24sort%5Bcreated_at%5D=-1\
    &user_id%5B%24in%5D%5B%5D=1&user_id%5B%24in%5D%5B%5D=2&text%5B%24like%5D=%25hi%25";

/// The same query as a Socket.IO client sends it (a JSON object).
fn json_query() -> Map<String, Value> {
    let query = json!({
        "$limit": 10, "$skip": 20, "$sort": {"created_at": -1},
        "user_id": {"$in": [1, 2]}, "text": {"$like": "%hi%"}
    });
    query.as_object().cloned().unwrap()
}

/// The chat example's `messages` table (`examples/chat/main.rs`).
fn messages_table() -> Table {
    Table::new("messages")
        .without_timestamps()
        .column(Column::text("text").required().non_empty().max_len(10_000))
        .column(
            Column::integer("user_id")
                .required()
                .internal_write()
                .references("users"),
        )
        .column(Column::integer("created_at").required().internal_write())
}

/// The chat example's `messages` policy: no field rules, the author owns the row.
fn messages_policy() -> Policy {
    Policy::scoped(
        ScopeRule::read_write("messages", "messages_read", "messages_write")
            .open(&[Method::Find, Method::Get, Method::Create])
            .own("user_id", &[Method::Patch, Method::Remove]),
    )
}

fn message(id: i64) -> Value {
    json!({
        "id": id,
        "text": format!("Message number {id}: hi there, see you at the meetup tonight?"),
        "user_id": (id * 7919) % 1000 + 1,
        "created_at": 1_796_000_000_000_i64 + id * 1_000,
    })
}

/// A `users` record with every output column, as `get` returns it to its owner.
fn user(id: i64) -> Value {
    json!({
        "id": id, "username": format!("user{id}"), "email": format!("user{id}@example.com"),
        "first_name": "Ada", "middle_name": null, "last_name": "Lovelace",
        "picture": format!("https://cdn.example.com/avatars/{id}.png"), "locale": "en",
        "phone": "+441234567890", "email_verified_at": "2026-11-23T13:41:30.123Z",
        "phone_verified_at": null, "invited_by": null, "invited_date": null,
        "joined_date": "2026-11-23T13:41:30.123Z", "updated_by": id,
        "created_at": "2026-11-23T13:41:30.123Z", "updated_at": "2026-12-01T08:00:00.000Z"
    })
}

/// A paginated `find` answer, as `SqlService::find` builds it.
fn page(data: Vec<Value>) -> Value {
    json!({"total": 1000, "limit": 10, "skip": 20, "data": data})
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwks")
        .join(name)
}

/// `Keys::verify` on a fresh access token: what the authenticate stage does for every REST
/// call with `Authorization` and every socket `authenticate` (the session lookup by `jti`
/// is not included).
fn token_check(c: &mut Criterion) {
    let now = chrono::Utc::now().timestamp();
    let hs256 = Keys::new(
        "0123456789abcdef0123456789abcdef0123456789abcdef",
        &AuthConfig::default(),
    );
    let signed = |alg: &str, key: &str| {
        let mut config = Config::default();
        config.authentication.algorithm = alg.into();
        config.authentication.signing_key_file = Some(fixture(key));
        Keys::from_config(&config).unwrap()
    };
    let mut group = c.benchmark_group("token_check");
    for (name, keys) in [
        ("hs256", hs256),
        ("eddsa", signed("EdDSA", "ed25519-a.pem")),
        ("rs256", signed("RS256", "rsa-2048.pem")),
    ] {
        let (token, _) = keys.issue(42, now).unwrap();
        group.bench_function(name, |b| b.iter(|| keys.verify(black_box(&token)).unwrap()));
    }
    group.finish();
}

/// The query of a `find`: REST's query string through the `qs`-compatible parser and then
/// the Feathers query AST (`Query::parse`); a socket's JSON object through the AST only.
fn query_parsing(c: &mut Criterion) {
    let object = json_query();
    let mut group = c.benchmark_group("query_parse");
    group.bench_function("rest_query_string", |b| {
        b.iter(|| {
            let raw = query_string::parse(black_box(REST_QUERY)).unwrap();
            Query::parse(&raw).unwrap()
        })
    });
    group.bench_function("json_object", |b| {
        b.iter(|| Query::parse(black_box(&object)).unwrap())
    });
    group.finish();
}

/// The SELECT of that `find` on `messages`, as `SqlService::find` builds it: column
/// allow-list, filters coerced by column type (REST strings), `$sort` then `id`,
/// `LIMIT`/`OFFSET`, and sea-orm's `build` into SQL text plus bound values.
fn find_select(table: &Table, query: &Query, backend: DatabaseBackend) -> Statement {
    let columns = table.output_columns(query.select.as_deref()).unwrap();
    let cond = filter::condition(table, &query.filters).unwrap();
    let mut stmt = Sql::select()
        .columns(columns.iter().map(|c| c.name))
        .from(table.name)
        .cond_where(cond)
        .to_owned();
    filter::apply_sort(table, &query.sort, &mut stmt).unwrap();
    stmt.limit(query.limit.unwrap_or(10))
        .offset(query.skip.unwrap_or(0));
    backend.build(&stmt)
}

fn sql_building(c: &mut Criterion) {
    let table = messages_table();
    let query = Query::parse(&query_string::parse(REST_QUERY).unwrap()).unwrap();
    assert_eq!(
        find_select(&table, &query, DatabaseBackend::Sqlite).sql,
        r#"SELECT "id", "text", "user_id", "created_at" FROM "messages" WHERE "user_id" IN (?, ?) AND "text" LIKE ? ESCAPE '\' ORDER BY "created_at" DESC, "id" ASC LIMIT ? OFFSET ?"#
    );
    let mut group = c.benchmark_group("sql_build");
    for (name, backend) in [
        ("sqlite", DatabaseBackend::Sqlite),
        ("postgres", DatabaseBackend::Postgres),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| find_select(&table, black_box(&query), backend))
        });
    }
    group.finish();
}

/// A page of 10 records shaped for the caller and serialised as the REST body: the
/// pipeline's copy of the records (`records.clone()` before `protect::for_caller`), the
/// policy's field rules (`fields::shape_result`) and `serde_json::to_vec`. The secret
/// strip of `hooks::protect` (a private module) is not included.
/// - `messages_page`: no field rules (the chat reference), so shaping is a no-op;
/// - `users_page`: another user's records for a viewer with `users_read` and
///   `users_read_email`, cut from 17 fields to 7.
fn shaping_and_serialisation(c: &mut Criterion) {
    let messages = page((21..=30).map(message).collect());
    let users = page((21..=30).map(user).collect());
    let messages_policy = messages_policy();
    let viewer = Scopes::new(["users_read".into(), "users_read_email".into()]);
    let mut group = c.benchmark_group("shape_serialise");
    for (name, records, policy) in [
        ("messages_page", &messages, &messages_policy),
        ("users_page", &users, &users::POLICY),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut value = black_box(records).clone();
                fields::shape_result(&mut value, policy, &viewer, 1);
                serde_json::to_vec(&value).unwrap()
            })
        });
    }
    group.finish();
}

/// `realtime::Fanout` for one `users patched` event: per recipient, does it own the row,
/// the group (scopes, owns) decided once, each distinct shape cut and serialised once. The
/// scopes are already resolved (scope-cache hits) and the socket emits are not included:
/// this is the CPU cost of deciding and rendering what 1000 connections receive. Returns
/// how many recipients get a payload, and how many distinct payloads were rendered.
fn fan_out(policy: &Policy, record: &Value, recipients: &[(i64, Arc<Scopes>)]) -> (usize, usize) {
    let mut fanout = Fanout::new(policy, record, recipients.len());
    let sent = recipients
        .iter()
        .filter(|(user_id, scopes)| fanout.payload_for(*user_id, scopes.clone()).is_some())
        .count();
    (sent, fanout.rendered())
}

/// 1000 authenticated recipients of a `users` event (recipient 500 owns the row), each with
/// its own `Arc<Scopes>` as the scope cache hands them out: all holding the same scopes, or
/// 1000 distinct sets (a unique role scope each, and one of the 16 combinations of the
/// four `users_read_*` field scopes, so 16 distinct payloads plus the owner's).
fn fan_out_grouping(c: &mut Criterion) {
    let record = user(500);
    let same: Vec<(i64, Arc<Scopes>)> = (1..=1000)
        .map(|id| {
            let slugs = ["users_read".to_string(), "users_read_email".to_string()];
            (id, Arc::new(Scopes::new(slugs)))
        })
        .collect();
    let field_scopes = [
        "users_read_full_name",
        "users_read_picture",
        "users_read_email",
        "users_read_phone",
    ];
    let distinct: Vec<(i64, Arc<Scopes>)> = (1..=1000)
        .map(|id: i64| {
            let mut slugs = vec!["users_read".to_string(), format!("team_{id}_read")];
            for (bit, scope) in field_scopes.iter().enumerate() {
                if id & (1 << bit) != 0 {
                    slugs.push((*scope).to_string());
                }
            }
            (id, Arc::new(Scopes::new(slugs)))
        })
        .collect();
    // The owner gets the whole record; the others one payload per field-scope combination.
    for (recipients, payloads) in [(&same, 2), (&distinct, 17)] {
        let (sent, rendered) = fan_out(&users::POLICY, &record, recipients);
        assert_eq!((sent, rendered), (1000, payloads));
    }
    let mut group = c.benchmark_group("fan_out");
    for (name, recipients) in [
        ("1000_recipients_1_scope_set", &same),
        ("1000_recipients_1000_scope_sets", &distinct),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| fan_out(&users::POLICY, black_box(&record), recipients))
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    token_check,
    query_parsing,
    sql_building,
    shaping_and_serialisation,
    fan_out_grouping
);
criterion_main!(benches);
