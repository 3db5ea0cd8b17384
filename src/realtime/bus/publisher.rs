//! The sending side: callers queue messages without waiting; one task per instance sends
//! them in queue order (so other instances apply them in the order this one did), inline
//! or through `bus_outbox` when too large for a `NOTIFY` payload.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tokio::sync::{mpsc, oneshot};

use super::{BACKOFF, INLINE_LIMIT, Message, Outgoing};

/// Attempts to send one message before it is dropped (logged).
const SEND_ATTEMPTS: u32 = 4;

/// What the sender task is given: a message, or a request to say when the messages
/// queued before it have been sent.
pub(super) enum Queued {
    /// A message and when it was queued (milliseconds since the epoch).
    Send(Message, i64),
    Flushed(oneshot::Sender<()>),
}

/// Queues messages for the sender task. Cheap to clone; sending never waits.
#[derive(Clone)]
pub struct Publisher {
    pub(super) tx: mpsc::UnboundedSender<Queued>,
}

impl Publisher {
    pub fn send(&self, msg: Message) {
        if self.tx.send(Queued::Send(msg, super::now_ms())).is_err() {
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

/// The caches' announcements (session revocations, stale principals) go out as bus
/// messages.
impl crate::auth::Announce for Publisher {
    fn revoked(&self, jtis: Vec<String>, ids: Vec<i64>, users: Vec<i64>) {
        self.send(Message::Revoked { jtis, ids, users });
    }

    fn principals_changed(&self) {
        self.send(Message::Principals);
    }
}

/// Sends queued messages one by one, in queue order.
pub(super) async fn send_loop(
    db: DatabaseConnection,
    instance: String,
    channel: String,
    mut rx: mpsc::UnboundedReceiver<Queued>,
) {
    while let Some(queued) = rx.recv().await {
        let (msg, queued_at) = match queued {
            Queued::Send(msg, at) => (msg, at),
            Queued::Flushed(done) => {
                let _ = done.send(());
                continue;
            }
        };
        let payload = match serde_json::to_string(&Outgoing {
            from: &instance,
            msg: &msg,
            at: queued_at,
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
        Message::Principals => "principals",
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
