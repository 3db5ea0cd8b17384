//! After commit: one `<path> <event>` per record to the connections allowed to see it,
//! shaped per recipient (see [`crate::realtime`]), and the same record (protected, not
//! shaped) to the other instances over the cluster bus, which filter and shape it for
//! their own connections (see [`crate::realtime::bus`]).

use serde_json::Value;

use super::AppState;
use crate::service::{Call, Db, Service};

pub async fn run(app: &AppState, service: &dyn Service, call: &Call, value: &Value) {
    let policy = service.policy();
    let Some(event) = call.method.event() else {
        return;
    };
    let records: Vec<&Value> = match value {
        Value::Array(records) => records.iter().collect(),
        Value::Null => Vec::new(),
        record => vec![record],
    };
    for record in records {
        app.metrics.event_published(&call.path, event);
        let db = Db::Pool(&app.db);
        let sent = app
            .realtime
            .connections()
            .publish_filtered(&app.principals, db, policy, &call.path, event, record)
            .await;
        app.metrics.events_delivered(&call.path, sent);
        app.realtime.announce(&call.path, event, record);
    }
}
