//! The server's own routes beside the services: `GET /` (what this is and where to go),
//! `GET /health` (liveness: the process answers) and `GET /ready` (readiness: the
//! database answers, every migration is applied, and with several instances the cluster
//! bus is listening). A load balancer sends traffic only to ready instances. And
//! `GET /.well-known/jwks.json`: the public keys that verify access tokens.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::rest;
use crate::app::App;

/// How long `/ready` waits for the database before calling it down.
const DB_CHECK: Duration = Duration::from_secs(2);

pub async fn root() -> Response {
    rest::json_response(
        StatusCode::OK,
        &json!({
            "name": "roost",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Identity and access server speaking the FeathersJS v5 protocol (REST and Socket.IO)",
            "links": {
                "docs": "/docs/",
                "openapi": "/openapi.json",
                "jwks": "/.well-known/jwks.json",
                "health": "/health",
                "ready": "/ready",
                "socketio": "/socket.io/",
            },
        }),
    )
}

/// The public keys that verify access tokens (`{"keys": []}` with HS256: the shared
/// secret is never published). Cacheable for five minutes; verifiers such as `jose`'s
/// `createRemoteJWKSet` fetch again when a token names a `kid` they have not seen.
pub async fn jwks(State(app): State<App>) -> Response {
    let mut res = rest::json_response(StatusCode::OK, app.keys.jwks());
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("public, max-age=300"),
    );
    res
}

pub async fn health() -> Response {
    rest::json_response(StatusCode::OK, &json!({ "status": "ok" }))
}

/// 200 `{status: "ready", checks}` or 503 `{status: "unavailable", checks}`, each check
/// `"ok"`, `"off"` (not used by this instance) or what is wrong.
pub async fn ready(State(app): State<App>) -> Response {
    let mut checks = Map::new();
    let database =
        match tokio::time::timeout(DB_CHECK, crate::app::migrations_pending(&app.db)).await {
            Err(_) => Err(format!("no answer within {DB_CHECK:?}")),
            Ok(Err(e)) => Err(format!("unreachable: {e}")),
            Ok(Ok(pending)) => Ok(pending),
        };
    match &database {
        Ok(0) => {
            checks.insert("database".into(), json!("ok"));
            checks.insert("migrations".into(), json!("ok"));
        }
        Ok(pending) => {
            checks.insert("database".into(), json!("ok"));
            checks.insert("migrations".into(), json!(format!("{pending} not applied")));
        }
        Err(e) => {
            checks.insert("database".into(), json!(e));
            checks.insert("migrations".into(), json!("unknown"));
        }
    }
    let bus = if !crate::realtime::bus::runs_on(&app) {
        "off"
    } else if app.sessions.cache_trusted() {
        "ok"
    } else {
        "not listening (reconnecting)"
    };
    checks.insert("bus".into(), json!(bus));
    let ready = checks.values().all(|v| v == "ok" || v == "off");
    let (status, word) = if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    rest::json_response(
        status,
        &json!({ "status": word, "checks": Value::Object(checks) }),
    )
}
