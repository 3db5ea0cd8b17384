//! After commit: one `<path> <event>` per record to the connections allowed to see it.

use serde_json::Value;

use crate::app::App;
use crate::service::Call;

pub async fn run(app: &App, call: &Call, value: &Value) {
    let Some(event) = call.method.event() else {
        return;
    };
    match value {
        Value::Array(records) => {
            for record in records {
                app.realtime.publish(&call.path, event, record).await;
            }
        }
        Value::Null => {}
        record => app.realtime.publish(&call.path, event, record).await,
    }
}
