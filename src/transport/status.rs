//! The server's own routes beside the services: `GET /` (what this is and where to go),
//! `GET /health` (liveness: the process answers) and `GET /ready` (readiness: the
//! database answers, every migration is applied, and with several instances the cluster
//! bus is listening). A load balancer sends traffic only to ready instances. `GET /metrics`
//! (unless `metrics.enabled` is off): the Prometheus text of `crate::metrics`, behind
//! `metrics.token` when one is set. And `GET /.well-known/jwks.json`: the public keys that
//! verify access tokens.

use std::time::Duration;

use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::rest;
use crate::hooks::App;

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
    let database = match tokio::time::timeout(DB_CHECK, app.db.migrations_pending()).await {
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
    let bus = if !crate::realtime::bus::runs_on(&app.config) {
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

/// The metrics (`crate::metrics`), with the gauges read now. With `metrics.token` set, a
/// request without `Authorization: Bearer <token>` is 401 (compared in constant time).
pub async fn metrics(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Some(token) = app.config.metrics.token.as_deref() {
        let given = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer);
        if !given.is_some_and(|given| same_secret(given, token)) {
            let err = crate::error::Error::not_authenticated(
                "Missing or invalid metrics token (Authorization: Bearer <metrics.token>)",
            );
            let mut res = rest::error_response(&err);
            res.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return res;
        }
    }
    let (pool_connections, pool_idle) = app.db.pool_usage();
    let sample = crate::metrics::Sample {
        sockets: app.realtime.connections().count(),
        password_jobs: app.passwords.in_flight(),
        password_capacity: app.passwords.workers() + app.passwords.queue(),
        password_buffers: app.passwords.buffers(),
        pool_connections,
        pool_idle,
        bus_enabled: app.realtime.bus().is_some(),
    };
    let text = app.metrics.render(&sample);
    ([(CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response()
}

/// The token of `Bearer <token>` (scheme in any case).
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Compares SHA-256 digests byte by byte without stopping early, so the time taken
/// depends on neither the token's content nor its length.
fn same_secret(given: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_token_is_a_bearer_token() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert!(same_secret("s3cret-token", "s3cret-token"));
        assert!(!same_secret("s3cret-tokem", "s3cret-token"));
        assert!(!same_secret("s3cret", "s3cret-token"));
    }
}
