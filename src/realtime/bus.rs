//! The cluster bus (DESIGN §2): several instances on one PostgreSQL database.
//!
//! After a commit, an instance announces what other instances must apply to their own
//! state, on one `NOTIFY` channel (`cluster.channel`, default `roost_bus`):
//!
//! - `event`: `{path, event, record}`, the record after the universal `protect` stripping
//!   (no password, secret or encrypted token) but before any per-caller shaping; every
//!   other instance runs its own permission filter and shaping for its own sockets
//!   ([`Realtime::publish_filtered`](super::Realtime::publish_filtered)).
//! - `revoked`: session `jti`s revoked (or deleted): the revocation cache learns them
//!   and the sockets bound to them are logged out.
//! - `scopes`: roles, scopes or memberships changed: the scope cache is cleared.
//!
//! Each message carries the sender's instance id (random per start); an instance skips
//! its own. Messages whose JSON exceeds [`INLINE_LIMIT`] (NOTIFY payloads stop at 8000
//! bytes) go into `bus_outbox` and the notification carries the row id; the insert and
//! the notification are one statement, so the row is visible when the id arrives. Rows
//! older than `cluster.outbox_retention_secs` are pruned every minute.
//!
//! Sent after commit, not inside the mutation's transaction: several revocations only
//! exist after it (a password change revokes sessions in a transaction of its own, a
//! patched `auth_sessions` row is re-read once committed), and the local delivery of the
//! same instance is after commit too. One sender task per instance sends the queue in
//! order, so other instances see an instance's messages in the order it applied them
//! locally (PostgreSQL delivers notifications in commit order, and the listener applies
//! them one at a time). Delivery is at most once: a notification sent while a listener
//! was disconnected is lost, so a listener that (re)connects after a gap clears both
//! caches and re-checks the session of every local socket before going on.
//!
//! On SQLite (one instance by nature), or with `cluster.enabled = false`, the bus does
//! not run and announcing is a no-op.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use crate::app::{App, AppState, redact_url};

/// Largest message sent inline in a `NOTIFY` payload; larger ones go through the outbox.
pub const INLINE_LIMIT: usize = 7_500;
/// Reconnect delays of the listener: doubling from the first to the second.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(30));
/// Attempts to send one message before it is dropped (logged).
const SEND_ATTEMPTS: u32 = 4;
/// How long [`start`] waits for the first `LISTEN` before going on without it.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// A listener connection that lasted less than this before failing counts as flapping.
const STABLE: Duration = Duration::from_secs(5);

/// What crosses the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Message {
    /// A committed mutation's realtime event (record protected, not shaped).
    Event {
        path: String,
        event: String,
        record: Value,
    },
    /// Sessions revoked or deleted: by `jti`, and by row id for deleted rows whose `jti`
    /// the sender did not know (the receivers that cached them do).
    Revoked {
        jtis: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ids: Vec<i64>,
        /// Deleted users: every session of theirs is gone (removed by the cascade).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        users: Vec<i64>,
    },
    /// Effective scopes may have changed.
    Scopes,
    /// The message is row `id` of `bus_outbox` (too large to notify).
    Outbox { id: i64 },
}

#[derive(Serialize)]
struct Outgoing<'a> {
    from: &'a str,
    msg: &'a Message,
}

#[derive(Deserialize)]
struct Incoming {
    from: String,
    msg: Message,
}

/// What the sender task is given: a message, or a request to say when the messages
/// queued before it have been sent.
enum Queued {
    Send(Message),
    Flushed(oneshot::Sender<()>),
}

/// Queues messages for the sender task. Cheap to clone; sending never waits.
#[derive(Clone)]
pub struct Publisher {
    tx: mpsc::UnboundedSender<Queued>,
}

impl Publisher {
    pub fn send(&self, msg: Message) {
        if self.tx.send(Queued::Send(msg)).is_err() {
            tracing::warn!("cluster bus: sender stopped; message dropped");
        }
    }

    /// Resolves once every message queued so far has been sent or dropped.
    pub async fn flush(&self) {
        let (done, sent) = oneshot::channel();
        if self.tx.send(Queued::Flushed(done)).is_ok() {
            let _ = sent.await;
        }
    }
}

/// The running bus of this instance.
pub struct Bus {
    pub instance: String,
    pub publisher: Publisher,
    tasks: Vec<AbortHandle>,
}

impl Bus {
    pub fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Whether this instance runs the bus: PostgreSQL and `cluster.enabled`.
pub fn runs_on(app: &AppState) -> bool {
    let url = &app.config.database_url;
    let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
    postgres && app.config.cluster.enabled
}

/// Starts the bus when the database is PostgreSQL and `cluster.enabled`: the sender, the
/// listener (waiting up to 10 s for its first `LISTEN`) and the outbox pruner. Attaches
/// the publisher to the realtime publisher, the session cache and the scope cache.
pub async fn start(app: &App) {
    if !runs_on(app) {
        return;
    }
    let config = &app.config;
    let instance = uuid::Uuid::new_v4().simple().to_string();
    let channel = config.cluster.channel.clone();
    let (tx, rx) = mpsc::unbounded_channel();
    let publisher = Publisher { tx };
    let (ready_tx, ready_rx) = oneshot::channel();
    trust_caches(app, false); // until the first LISTEN is up
    let sender = tokio::spawn(send_loop(
        app.db.pool().clone(),
        instance.clone(),
        channel.clone(),
        rx,
    ));
    let listener = tokio::spawn(listen_loop(
        Arc::downgrade(app),
        config.database_url.clone(),
        instance.clone(),
        channel.clone(),
        ready_tx,
    ));
    let pruner = tokio::spawn(prune_loop(
        app.db.pool().clone(),
        config.cluster.outbox_retention_secs,
    ));
    let bus = Bus {
        instance: instance.clone(),
        publisher: publisher.clone(),
        tasks: vec![
            sender.abort_handle(),
            listener.abort_handle(),
            pruner.abort_handle(),
        ],
    };
    if let Err(bus) = app.realtime.set_bus(bus) {
        bus.stop(); // started twice: keep the first
        return;
    }
    app.sessions.attach_bus(publisher.clone());
    app.scopes.attach_bus(publisher);
    match tokio::time::timeout(READY_TIMEOUT, ready_rx).await {
        Ok(Ok(())) => {
            tracing::info!(%instance, %channel, "cluster bus: listening");
        }
        _ => tracing::warn!(
            %instance,
            %channel,
            "cluster bus: not listening yet; retrying in the background"
        ),
    }
}

/// Sends queued messages one by one, in queue order.
async fn send_loop(
    db: DatabaseConnection,
    instance: String,
    channel: String,
    mut rx: mpsc::UnboundedReceiver<Queued>,
) {
    while let Some(queued) = rx.recv().await {
        let msg = match queued {
            Queued::Send(msg) => msg,
            Queued::Flushed(done) => {
                let _ = done.send(());
                continue;
            }
        };
        let payload = match serde_json::to_string(&Outgoing {
            from: &instance,
            msg: &msg,
        }) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::warn!(error = %e, "cluster bus: cannot encode a message");
                continue;
            }
        };
        let mut delay = BACKOFF.0;
        for attempt in 1..=SEND_ATTEMPTS {
            match send_one(&db, &channel, &instance, &payload).await {
                Ok(()) => break,
                Err(e) if attempt == SEND_ATTEMPTS => {
                    tracing::warn!(error = %e, kind = kind(&msg), "cluster bus: message dropped");
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "cluster bus: send failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
    }
}

fn kind(msg: &Message) -> &'static str {
    match msg {
        Message::Event { .. } => "event",
        Message::Revoked { .. } => "revoked",
        Message::Scopes => "scopes",
        Message::Outbox { .. } => "outbox",
    }
}

async fn send_one(
    db: &DatabaseConnection,
    channel: &str,
    instance: &str,
    payload: &str,
) -> Result<(), sea_orm::DbErr> {
    let stmt = if payload.len() <= INLINE_LIMIT {
        Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [channel.into(), payload.into()],
        )
    } else {
        // One statement: the row commits together with the notification.
        Statement::from_sql_and_values(
            DbBackend::Postgres,
            "WITH m AS (INSERT INTO bus_outbox (payload) VALUES ($1) RETURNING id) \
             SELECT pg_notify($2, json_build_object('from', $3::text, \
             'msg', json_build_object('kind', 'outbox', 'id', m.id))::text) FROM m",
            [payload.into(), channel.into(), instance.into()],
        )
    };
    db.execute_raw(stmt).await.map(|_| ())
}

/// Deletes outbox rows older than the retention, every minute.
async fn prune_loop(db: DatabaseConnection, retention_secs: u64) {
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

/// Listens for other instances' messages, reconnecting with backoff; re-synchronises
/// the caches after any gap. Stops when the app is gone.
async fn listen_loop(
    app: Weak<AppState>,
    url: String,
    instance: String,
    channel: String,
    ready: oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let mut delay = BACKOFF.0;
    let mut missed = false;
    loop {
        match listen(&url, &channel).await {
            Ok(mut listener) => {
                let Some(strong) = app.upgrade() else { return };
                if missed {
                    resync(&strong).await;
                    tracing::info!(%channel, "cluster bus: listening again");
                }
                trust_caches(&strong, true);
                drop(strong);
                if let Some(ready) = ready.take() {
                    let _ = ready.send(());
                }
                let connected = tokio::time::Instant::now();
                let reason = receive(&app, &mut listener, &instance).await;
                let Some(reason) = reason else { return };
                if let Some(strong) = app.upgrade() {
                    trust_caches(&strong, false);
                }
                tracing::warn!(
                    database = %redact_url(&url),
                    reason = %reason,
                    "cluster bus: listener lost its connection; reconnecting"
                );
                if connected.elapsed() < STABLE {
                    // Flapping: back off as for a failed connect.
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(BACKOFF.1);
                } else {
                    delay = BACKOFF.0;
                }
            }
            Err(e) => {
                tracing::warn!(
                    database = %redact_url(&url),
                    error = %e,
                    retry_in_ms = delay.as_millis() as u64,
                    "cluster bus: cannot listen"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(BACKOFF.1);
            }
        }
        missed = true;
        if app.strong_count() == 0 {
            return;
        }
    }
}

async fn listen(url: &str, channel: &str) -> Result<PgListener, sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    // A lost connection must surface here (and trigger a resync), not be papered over.
    listener.eager_reconnect(false);
    listener.listen(channel).await?;
    Ok(listener)
}

/// Applies notifications until the connection is lost (`Some(reason)`) or the app is
/// gone (`None`).
async fn receive(
    app: &Weak<AppState>,
    listener: &mut PgListener,
    instance: &str,
) -> Option<String> {
    loop {
        let notification = match listener.try_recv().await {
            Ok(Some(n)) => n,
            Ok(None) => return Some("connection closed".into()),
            Err(e) => return Some(e.to_string()),
        };
        let app = app.upgrade()?;
        let incoming = match serde_json::from_str::<Incoming>(notification.payload()) {
            Ok(incoming) => incoming,
            Err(e) => {
                tracing::warn!(error = %e, "cluster bus: unreadable message ignored");
                continue;
            }
        };
        if incoming.from == instance {
            continue;
        }
        let msg = match incoming.msg {
            Message::Outbox { id } => match read_outbox(&app, id).await {
                Some(msg) => msg,
                None => continue,
            },
            msg => msg,
        };
        apply(&app, msg).await;
    }
}

async fn read_outbox(app: &AppState, id: i64) -> Option<Message> {
    let stmt = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT payload FROM bus_outbox WHERE id = $1",
        [id.into()],
    );
    let payload: String = match app.db.query_one_raw(stmt).await {
        Ok(Some(row)) => row.try_get("", "payload").ok()?,
        Ok(None) => {
            tracing::warn!(id, "cluster bus: outbox message already pruned");
            return None;
        }
        Err(e) => {
            tracing::warn!(id, error = %e, "cluster bus: cannot read an outbox message");
            return None;
        }
    };
    match serde_json::from_str::<Incoming>(&payload) {
        Ok(Incoming {
            msg: Message::Outbox { .. },
            ..
        }) => None,
        Ok(incoming) => Some(incoming.msg),
        Err(e) => {
            tracing::warn!(id, error = %e, "cluster bus: unreadable outbox message");
            None
        }
    }
}

/// Applies another instance's message to this instance.
pub async fn apply(app: &AppState, msg: Message) {
    match msg {
        Message::Event {
            path,
            event,
            record,
        } => {
            let Some(service) = app.registry.get(&path).cloned() else {
                return;
            };
            let policy = service.policy();
            if policy.publish {
                app.realtime
                    .publish_filtered(app, policy, &path, &event, &record)
                    .await;
            }
        }
        Message::Revoked { jtis, ids, users } => {
            let jtis = app.sessions.learn_revoked(jtis, &ids);
            if let Some(io) = app.realtime.io() {
                if !jtis.is_empty() {
                    crate::transport::socket::log_out_sessions(io, &jtis, None);
                }
                if !users.is_empty() {
                    crate::transport::socket::log_out_users(io, &users.into_iter().collect());
                }
            }
        }
        Message::Scopes => app.scopes.invalidate_local(),
        Message::Outbox { .. } => {}
    }
}

/// Caches are trusted only while this instance hears the others: without the bus they
/// are bypassed (fail closed), from the moment the loss is noticed until the listener is
/// back and [`resync`] ran.
fn trust_caches(app: &AppState, trusted: bool) {
    app.sessions.trust_cache(trusted);
    app.scopes.trust_cache(trusted);
}

/// After a gap in listening: forget every cached scope and session state, and log out
/// the local sockets whose session was revoked meanwhile.
async fn resync(app: &AppState) {
    app.scopes.invalidate_local();
    app.sessions.forget_all();
    let Some(io) = app.realtime.io() else { return };
    let bound: HashSet<String> = super::sockets(io)
        .iter()
        .filter_map(|s| {
            s.extensions
                .get::<Arc<crate::service::Principal>>()
                .map(|p| p.session_id.clone())
        })
        .collect();
    let mut revoked = HashSet::new();
    for jti in bound {
        match app.sessions.check(&jti).await {
            Ok(()) => {}
            Err(e) if e.kind == crate::error::ErrorKind::NotAuthenticated => {
                revoked.insert(jti);
            }
            Err(e) => {
                tracing::warn!(error = %e.message, "cluster bus: cannot re-check a session")
            }
        }
    }
    if !revoked.is_empty() {
        crate::transport::socket::log_out_sessions(io, &revoked, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_round_trip() {
        let msgs = [
            Message::Event {
                path: "roles".into(),
                event: "created".into(),
                record: json!({"id": 1, "slug": "x"}),
            },
            Message::Revoked {
                jtis: vec!["a".into(), "b".into()],
                ids: vec![],
                users: vec![],
            },
            Message::Revoked {
                jtis: vec![],
                ids: vec![3],
                users: vec![9],
            },
            Message::Scopes,
            Message::Outbox { id: 7 },
        ];
        for msg in msgs {
            let text = serde_json::to_string(&Outgoing {
                from: "i1",
                msg: &msg,
            })
            .unwrap();
            let back: Incoming = serde_json::from_str(&text).unwrap();
            assert_eq!(back.from, "i1");
            assert_eq!(back.msg, msg);
        }
        // The outbox pointer built by SQL has this shape.
        let sql: Incoming =
            serde_json::from_str(r#"{"from":"i2","msg":{"kind":"outbox","id":12}}"#).unwrap();
        assert_eq!(sql.msg, Message::Outbox { id: 12 });
    }
}
