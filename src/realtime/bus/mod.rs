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
//!
//! Layout: `publisher` queues and sends this instance's messages; `listener` receives
//! the others' and applies them (re-synchronising after a gap); `prune` clears old
//! outbox rows.

mod listener;
mod prune;
mod publisher;

pub use listener::apply;
pub use publisher::Publisher;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use crate::auth::principal_cache::PrincipalCache;
use crate::auth::sessions::Sessions;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::service::{Database, Registry};
use listener::{listen_loop, trust_caches};
use prune::prune_loop;
use publisher::send_loop;

/// Largest message sent inline in a `NOTIFY` payload; larger ones go through the outbox.
pub const INLINE_LIMIT: usize = 7_500;
/// Reconnect delays of the listener: doubling from the first to the second.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(30));
/// How long [`start`] waits for the first `LISTEN` before going on without it.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// Accounts or effective scopes may have changed: cached principals are stale.
    Principals,
    /// The message is row `id` of `bus_outbox` (too large to notify).
    Outbox { id: i64 },
}

#[derive(Serialize)]
struct Outgoing<'a> {
    from: &'a str,
    msg: &'a Message,
    /// When it was sent (milliseconds since the epoch): the receiver's lag metric.
    at: i64,
}

#[derive(Deserialize)]
struct Incoming {
    from: String,
    msg: Message,
    /// Absent from the outbox pointers built by SQL (and from older senders).
    #[serde(default)]
    at: Option<i64>,
}

/// Milliseconds since the epoch, by this machine's clock.
fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// How long ago (by this machine's clock) a message sent at `at` was sent; `None` when
/// unknown. A sender whose clock runs ahead gives a lag of 0.
fn lag_since(at: Option<i64>) -> Option<Duration> {
    let ms = now_ms().saturating_sub(at?).max(0);
    Some(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

/// What other instances' messages are applied to on this instance: its caches, its
/// sockets, and the services' publish rules for their events.
pub struct Local {
    /// Services by path: an event is published by its service's policy.
    pub registry: Registry,
    /// Reads the outbox, the recipients' scopes and, after a gap, the sessions.
    pub db: Database,
    pub connections: super::Connections,
    pub principals: Arc<PrincipalCache>,
    pub sessions: Arc<Sessions>,
    pub metrics: Metrics,
}

/// The running bus of this instance.
pub struct Bus {
    pub instance: String,
    pub publisher: Publisher,
    tasks: Vec<AbortHandle>,
    /// Owned here, with the app: the listener holds it weakly and stops once it is gone.
    _local: Arc<Local>,
}

impl Bus {
    pub fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Whether this instance runs the bus: PostgreSQL and `cluster.enabled`.
pub fn runs_on(config: &Config) -> bool {
    let url = &config.database_url;
    let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
    postgres && config.cluster.enabled
}

/// Starts the bus when the database is PostgreSQL and `cluster.enabled`: the sender, the
/// listener (waiting up to 10 s for its first `LISTEN`) and the outbox pruner. Attaches
/// the publisher to `realtime`, the session cache and the scope cache; other instances'
/// messages are applied to `local`.
pub async fn start(config: &Config, realtime: &super::Realtime, local: Local) {
    if !runs_on(config) {
        return;
    }
    let local = Arc::new(local);
    let instance = uuid::Uuid::new_v4().simple().to_string();
    let channel = config.cluster.channel.clone();
    let (tx, rx) = mpsc::unbounded_channel();
    let publisher = Publisher { tx };
    let (ready_tx, ready_rx) = oneshot::channel();
    trust_caches(&local, false); // until the first LISTEN is up
    let sender = tokio::spawn(send_loop(
        local.db.pool().clone(),
        instance.clone(),
        channel.clone(),
        rx,
    ));
    let listener = tokio::spawn(listen_loop(
        Arc::downgrade(&local),
        config.database_url.clone(),
        instance.clone(),
        channel.clone(),
        ready_tx,
    ));
    let pruner = tokio::spawn(prune_loop(
        local.db.pool().clone(),
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
        _local: local.clone(),
    };
    if let Err(bus) = realtime.set_bus(bus) {
        bus.stop(); // started twice: keep the first
        return;
    }
    let announce: Arc<dyn crate::auth::Announce> = Arc::new(publisher);
    local.sessions.attach_bus(announce.clone());
    local.principals.attach_bus(announce);
    drop(local); // the bus owns it
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
            Message::Principals,
            Message::Outbox { id: 7 },
        ];
        for msg in msgs {
            let text = serde_json::to_string(&Outgoing {
                from: "i1",
                msg: &msg,
                at: 1_700_000_000_000,
            })
            .unwrap();
            let back: Incoming = serde_json::from_str(&text).unwrap();
            assert_eq!(back.from, "i1");
            assert_eq!(back.at, Some(1_700_000_000_000));
            assert_eq!(back.msg, msg);
        }
        // The outbox pointer built by SQL has this shape.
        let sql: Incoming =
            serde_json::from_str(r#"{"from":"i2","msg":{"kind":"outbox","id":12}}"#).unwrap();
        assert_eq!(sql.msg, Message::Outbox { id: 12 });
        assert_eq!(sql.at, None);
        assert_eq!(lag_since(None), None);
        assert_eq!(lag_since(Some(now_ms() + 60_000)), Some(Duration::ZERO));
        assert!(lag_since(Some(now_ms() - 1_500)).unwrap() >= Duration::from_millis(1_500));
    }
}
