//! The one pipeline around every service call, in this order (DESIGN §1):
//!
//! lookup -> authenticate -> authorize -> execute (one transaction that also writes the
//! audit rows) -> commit -> sessions (`auth::sessions::after_commit`: revocation cache;
//! realtime logs out the sockets it ended) -> protect -> publish -> connection effect.
//!
//! Both transports and in-process callers go through [`run`]; nothing else calls a
//! service method for an outside caller.

mod authenticate;
mod authorize;
mod connection;
mod execute;
mod protect;
mod publish;
mod state;

pub use state::{App, AppLink, AppState};

use std::sync::Arc;

use serde_json::json;
use tracing::Instrument;

use crate::error::{Error, Result};
use crate::service::{Binding, Call, ConnectionEffect, Method, Outcome, Pipeline, Rows, Service};

#[async_trait::async_trait]
impl Pipeline for AppState {
    async fn run(&self, call: Call) -> Result<Outcome> {
        run(self, call).await
    }

    fn log_out(&self, jtis: Vec<String>) {
        self.realtime
            .connections()
            .log_out(&jtis.into_iter().collect(), None);
    }

    fn principals_changed(&self) {
        self.principals.invalidate_all();
    }
}

/// Runs `call` through every stage and returns what the caller may see. An outside
/// call to a method that logs in (the service says so: `Binding::Login`) is counted in
/// the login metrics by its result.
pub async fn run(app: &AppState, call: Call) -> Result<Outcome> {
    let span = tracing::debug_span!(
        "call",
        path = %call.path,
        method = call.method.as_str(),
        provider = call.params.provider.as_str(),
    );
    let login = !call.params.is_internal()
        && app
            .registry
            .get(&call.path)
            .is_some_and(|s| s.binds(call.method) == Binding::Login);
    let result = run_stages(app, call).instrument(span).await;
    if login {
        let status = result.as_ref().map_or_else(|e| e.code(), |_| 200);
        app.metrics
            .login(crate::metrics::Login::from_status(status));
    }
    result
}

async fn run_stages(app: &AppState, mut call: Call) -> Result<Outcome> {
    let service = lookup(app, &call)?;
    refuse_nul(&call)?;
    let policy = service.policy();
    authenticate::run(app, service.as_ref(), &mut call).await?;
    authorize::run(app, service.as_ref(), &mut call).await?;
    let (records, changed) = execute::run(app, service.as_ref(), &call).await?;
    if changed {
        let ended =
            crate::auth::sessions::after_commit(&app.sessions, service.as_ref(), &call, &records)
                .await;
        app.realtime.connections().log_out_users(&ended.users);
        let caller = call.params.connection.socket_id.as_deref();
        app.realtime.connections().log_out(&ended.sessions, caller);
        // Committed: an account, a role or a membership may have changed. A new account
        // stales nothing (failed loads are not cached): sign-ups do not clear the cache.
        let account_changed = policy.rows == Rows::Accounts && call.method != Method::Create;
        if policy.changes_scopes_on(call.method) || account_changed {
            app.principals.invalidate_all();
        }
    }
    let records = protect::run(records);
    if policy.publish && changed {
        publish::run(app, service.as_ref(), &call, &records).await;
    }
    // Shaped last, in place: the records are not needed any more.
    let value = protect::shape_for_caller(records, policy, &call.params);
    let mut effect = connection::effect(&app.keys, service.as_ref(), &call, &value);
    if let Some(ConnectionEffect::Login(principal)) = &mut effect
        && let Some(user) = app.principals.cached_record(principal.user_id)
    {
        // A user's sockets share the one cached copy of its record.
        Arc::make_mut(principal).user = user;
    }
    Ok(Outcome { value, effect })
}

/// No text that can reach a database may hold a NUL character (PostgreSQL cannot store
/// one): refused here, once for every service, strategy, id and query value, with the
/// field named.
fn refuse_nul(call: &Call) -> Result<()> {
    use serde_json::{Map, Value};
    // The field a NUL is reported under: the nearest key that is not an operator.
    fn in_map(map: &Map<String, Value>, at: &str) -> Option<String> {
        map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                return Some(at.to_string());
            }
            let field = if k.starts_with('$') || at == "id" {
                at
            } else {
                k.as_str()
            };
            find(v, field)
        })
    }
    fn find(value: &Value, at: &str) -> Option<String> {
        match value {
            Value::String(s) => s.contains('\0').then(|| at.to_string()),
            Value::Array(items) => items.iter().find_map(|v| find(v, at)),
            Value::Object(map) => in_map(map, at),
            _ => None,
        }
    }
    let found = call
        .id
        .as_ref()
        .and_then(|id| find(id, "id"))
        .or_else(|| find(&call.data, "data"))
        .or_else(|| in_map(&call.params.query, "query"));
    match found {
        Some(field) => Err(Error::bad_request(format!(
            "Invalid value for '{field}': NUL characters are not allowed"
        ))
        .with_errors(json!({ field: "must not contain NUL characters" }))),
        None => Ok(()),
    }
}

fn lookup(app: &AppState, call: &Call) -> Result<Arc<dyn Service>> {
    let service = app
        .registry
        .get(&call.path)
        .ok_or_else(|| Error::not_found(format!("Service '{}' not found", call.path)))?;
    if !service.methods().contains(&call.method) {
        return Err(Error::method_not_allowed(format!(
            "Method `{}` is not supported by this endpoint.",
            call.method.as_str()
        ))
        .with_data(json!({ "path": call.path })));
    }
    Ok(service.clone())
}
