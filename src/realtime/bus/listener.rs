//! The receiving side: one `LISTEN` connection per instance, reconnecting with backoff;
//! messages from other instances are applied one at a time, and after any gap the caches
//! are reset and the local sockets' sessions re-checked (delivery is at most once).

use std::collections::HashSet;
use std::sync::Weak;
use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tokio::sync::oneshot;

use super::{BACKOFF, Incoming, Local, Message, lag_since};
use crate::config::redact_url;
use crate::service::Db;

/// A listener connection that lasted less than this before failing counts as flapping.
const STABLE: Duration = Duration::from_secs(5);

/// Listens for other instances' messages, reconnecting with backoff; re-synchronises
/// the caches after any gap. Stops when `local` is gone (with the app's bus).
pub(super) async fn listen_loop(
    local: Weak<Local>,
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
                let Some(strong) = local.upgrade() else {
                    return;
                };
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
                let reason = receive(&local, &mut listener, &instance).await;
                let Some(reason) = reason else { return };
                if let Some(strong) = local.upgrade() {
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
        if local.strong_count() == 0 {
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

/// Applies notifications until the connection is lost (`Some(reason)`) or `local` is
/// gone (`None`).
async fn receive(local: &Weak<Local>, listener: &mut PgListener, instance: &str) -> Option<String> {
    loop {
        let notification = match listener.try_recv().await {
            Ok(Some(n)) => n,
            Ok(None) => return Some("connection closed".into()),
            Err(e) => return Some(e.to_string()),
        };
        let local = local.upgrade()?;
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
        let (msg, at) = match incoming.msg {
            Message::Outbox { id } => match read_outbox(&local, id).await {
                Some(inner) => (inner.msg, inner.at),
                None => continue,
            },
            msg => (msg, incoming.at),
        };
        local.metrics.bus_received(lag_since(at));
        apply(&local, msg).await;
    }
}

async fn read_outbox(local: &Local, id: i64) -> Option<Incoming> {
    let stmt = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT payload FROM bus_outbox WHERE id = $1",
        [id.into()],
    );
    let payload: String = match local.db.query_one_raw(stmt).await {
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
        Ok(incoming) => Some(incoming),
        Err(e) => {
            tracing::warn!(id, error = %e, "cluster bus: unreadable outbox message");
            None
        }
    }
}

/// Applies another instance's message to this instance.
pub async fn apply(local: &Local, msg: Message) {
    match msg {
        Message::Event {
            path,
            event,
            record,
        } => {
            let Some(service) = local.registry.get(&path).cloned() else {
                return;
            };
            let policy = service.policy();
            if policy.publish {
                let db = Db::Pool(&local.db);
                let sent = local
                    .connections
                    .publish_filtered(&local.principals, db, policy, &path, &event, &record)
                    .await;
                local.metrics.events_delivered(&path, sent);
            }
        }
        Message::Revoked { jtis, ids, users } => {
            let jtis = local.sessions.learn_revoked(jtis, &ids);
            local.connections.log_out(&jtis, None);
            local
                .connections
                .log_out_users(&users.into_iter().collect());
        }
        Message::Principals => local.principals.invalidate_local(),
        Message::Outbox { .. } => {}
    }
}

/// Caches are trusted only while this instance hears the others: without the bus they
/// are bypassed (fail closed), from the moment the loss is noticed until the listener is
/// back and [`resync`] ran.
pub(super) fn trust_caches(local: &Local, trusted: bool) {
    local.sessions.trust_cache(trusted);
    local.principals.trust_cache(trusted);
}

/// After a gap in listening: forget every cached principal and session state, and log out
/// the local sockets whose session was revoked meanwhile.
async fn resync(local: &Local) {
    local.principals.invalidate_local();
    local.sessions.forget_all();
    let Some(io) = local.connections.io() else {
        return;
    };
    let bound: HashSet<String> = io
        .sockets()
        .iter()
        .filter_map(|s| s.state.principal().map(|p| p.session_id().to_string()))
        .collect();
    let mut revoked = HashSet::new();
    for jti in bound {
        match local.sessions.check(&jti).await {
            Ok(()) => {}
            Err(e) if e.kind == crate::error::ErrorKind::NotAuthenticated => {
                revoked.insert(jti);
            }
            Err(e) => {
                tracing::warn!(error = %e.message, "cluster bus: cannot re-check a session")
            }
        }
    }
    local.connections.log_out(&revoked, None);
}
