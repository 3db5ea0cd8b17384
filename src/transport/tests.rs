//! Transport tests against the real pipeline with fake services (no database: the fake
//! policies neither audit nor publish, so nothing touches `app.db`).

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;
use crate::auth::Keys;
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::hooks::AppState;
use crate::realtime::Realtime;
use crate::service::{Binding, Ctx, Method, Policy, Registry, Service};

/// Answers every call with what it received, so tests can see the `Call` a transport built.
pub(crate) struct Echo {
    pub methods: &'static [Method],
    pub policy: Policy,
}

fn seen(ctx: &Ctx<'_>, method: &str) -> Value {
    let p = ctx.params;
    json!({
        "method": method,
        "path": ctx.path,
        "query": p.query,
        "provider": p.provider.as_str(),
        "token": p.access_token,
        "user": p.principal.as_ref().map(|pr| pr.user_id),
        "ip": p.connection.ip,
        "ua": p.connection.user_agent,
        "socket": p.connection.socket_id.is_some(),
    })
}

#[async_trait]
impl Service for Echo {
    fn methods(&self) -> &'static [Method] {
        self.methods
    }
    fn policy(&self) -> &Policy {
        &self.policy
    }
    async fn find(&self, ctx: &Ctx<'_>) -> Result<Value> {
        Ok(seen(ctx, "find"))
    }
    async fn get(&self, ctx: &Ctx<'_>, id: &Value) -> Result<Value> {
        match id.as_str() {
            Some("null") => Ok(Value::Null),
            Some("busy") => {
                let mut e = Error::new(ErrorKind::TooManyRequests, "Slow down");
                e.retry_after = Some(7);
                Err(e)
            }
            _ => {
                let mut v = seen(ctx, "get");
                v["id"] = id.clone();
                Ok(v)
            }
        }
    }
    async fn create(&self, ctx: &Ctx<'_>, data: Value) -> Result<Value> {
        let mut v = seen(ctx, "create");
        v["data"] = data;
        Ok(v)
    }
    async fn update(&self, ctx: &Ctx<'_>, id: Option<&Value>, data: Value) -> Result<Value> {
        let mut v = seen(ctx, "update");
        v["id"] = id.cloned().unwrap_or(Value::Null);
        v["data"] = data;
        Ok(v)
    }
    async fn patch(&self, ctx: &Ctx<'_>, id: Option<&Value>, data: Value) -> Result<Value> {
        let mut v = seen(ctx, "patch");
        v["id"] = id.cloned().unwrap_or(Value::Null);
        v["data"] = data;
        Ok(v)
    }
    async fn remove(&self, ctx: &Ctx<'_>, id: Option<&Value>) -> Result<Value> {
        let mut v = seen(ctx, "remove");
        v["id"] = id.cloned().unwrap_or(Value::Null);
        Ok(v)
    }
}

/// Stands in for `authentication`: token `good-<secs>` logs in as user 7 with a fresh
/// token (a new session) that expires in `<secs>` seconds; `remove` logs out.
struct FakeAuth {
    policy: Policy,
    keys: Arc<Keys>,
    expires_in: i64,
}

#[async_trait]
impl Service for FakeAuth {
    fn methods(&self) -> &'static [Method] {
        &[Method::Create, Method::Remove]
    }
    fn policy(&self) -> &Policy {
        &self.policy
    }
    fn binds(&self, method: Method) -> Binding {
        match method {
            Method::Create => Binding::Login,
            Method::Remove => Binding::Logout,
            _ => Binding::None,
        }
    }
    async fn create(&self, _ctx: &Ctx<'_>, data: Value) -> Result<Value> {
        let token = data["accessToken"].as_str().unwrap_or_default();
        let Some(secs) = token
            .strip_prefix("good-")
            .and_then(|s| s.parse::<i64>().ok())
        else {
            return Err(Error::not_authenticated("jwt malformed"));
        };
        // Issued as if earlier, so that it expires `secs` from now.
        let issued_at = chrono::Utc::now().timestamp() + secs - self.expires_in;
        let (token, claims) = self.keys.issue(7, issued_at)?;
        Ok(json!({
            "accessToken": token,
            "authentication": {"strategy": "jwt", "payload": claims},
            "user": {"id": 7},
        }))
    }
    async fn remove(&self, _ctx: &Ctx<'_>, _id: Option<&Value>) -> Result<Value> {
        Ok(json!({"bye": true}))
    }
}

fn open_policy() -> Policy {
    Policy {
        audit: false,
        publish: false,
        ..Policy::public()
    }
}

pub(crate) fn fake_app(configure: impl FnOnce(&mut Config)) -> App {
    let mut config = Config::default();
    configure(&mut config);
    let mut registry = Registry::new();
    registry.register(
        "echo",
        Arc::new(Echo {
            methods: &Method::ALL,
            policy: open_policy(),
        }),
    );
    registry.register(
        "v1/users",
        Arc::new(Echo {
            methods: &Method::ALL,
            policy: open_policy(),
        }),
    );
    registry.register(
        "readonly",
        Arc::new(Echo {
            methods: &[Method::Find, Method::Get],
            policy: open_policy(),
        }),
    );
    let keys = Arc::new(Keys::new(&"k".repeat(32), &config.authentication));
    registry.register(
        "authentication",
        Arc::new(FakeAuth {
            policy: open_policy(),
            keys: keys.clone(),
            expires_in: i64::try_from(config.authentication.expires_in).unwrap(),
        }),
    );
    Arc::new(AppState {
        config: Arc::new(config),
        db: Default::default(),
        registry,
        keys,
        realtime: Realtime::default(),
        principals: Default::default(),
        sessions: Default::default(),
        notifier: Default::default(),
        passwords: Arc::new(crate::auth::password::PasswordGate::new(1, 4)),
        metrics: crate::metrics::Metrics::new().unwrap(),
    })
}

pub(crate) async fn send(app: &App, req: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let mut req = req;
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 1], 4000))));
    let res = match router(app.clone(), Default::default(), Router::new())
        .oneshot(req)
        .await
    {
        Ok(res) => res,
        Err(never) => match never {},
    };
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (parts.status, parts.headers, value)
}

pub(crate) fn req(method: &str, uri: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(uri)
}

#[test]
fn authorization_header_schemes() {
    assert_eq!(access_token("Bearer abc").as_deref(), Some("abc"));
    assert_eq!(access_token("bearer  abc").as_deref(), Some("abc"));
    assert_eq!(access_token("JWT abc").as_deref(), Some("abc"));
    assert_eq!(access_token("abc").as_deref(), Some("abc"));
    assert_eq!(access_token("Bearer").as_deref(), Some("Bearer"));
    assert_eq!(access_token("Basic dXNlcjpwYXNz"), None);
    assert_eq!(access_token("   "), None);
}

#[test]
fn connection_facts() {
    use crate::proxies::TrustedProxies;
    let (none, one, two) = (
        TrustedProxies::Hops(0),
        TrustedProxies::Hops(1),
        TrustedProxies::Hops(2),
    );
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", "203.0.113.9, 10.0.0.2".parse().unwrap());
    headers.insert("user-agent", "Mozilla/5.0".parse().unwrap());
    let mut extensions = axum::http::Extensions::new();
    extensions.insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 1234))));
    let ext = peer_ip(&extensions);
    let direct = connection_info(&headers, ext, &none, None);
    assert_eq!(direct.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(direct.user_agent.as_deref(), Some("Mozilla/5.0"));
    // One trusted hop: the entry our proxy appended (the right-most), not the client's.
    let proxied = connection_info(&headers, ext, &one, Some("sid".into()));
    assert_eq!(proxied.ip.as_deref(), Some("10.0.0.2"));
    assert_eq!(proxied.socket_id.as_deref(), Some("sid"));
    let proxied = connection_info(&headers, ext, &two, None);
    assert_eq!(proxied.ip.as_deref(), Some("203.0.113.9"));
    // Several header lines are one list, in order.
    headers.append("x-forwarded-for", "198.51.100.7".parse().unwrap());
    let proxied = connection_info(&headers, ext, &one, None);
    assert_eq!(proxied.ip.as_deref(), Some("198.51.100.7"));
    headers.insert("x-forwarded-for", "garbage".parse().unwrap());
    assert_eq!(
        connection_info(&headers, ext, &one, None).ip.as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        connection_info(
            &HeaderMap::new(),
            peer_ip(&axum::http::Extensions::new()),
            &one,
            None
        )
        .ip,
        None
    );
}

#[test]
fn logged_paths_hide_secret_ids() {
    let secret = ["otp", "verify", "v1/users/invite", "v1/users"].map(String::from);
    let log_path = |path| log_path(&secret, path);
    assert_eq!(log_path("/otp/123456"), "/otp/:id");
    assert_eq!(log_path("//verify/a%40b.c"), "/verify/:id");
    assert_eq!(log_path("/v1/users/invite/a%40b.c"), "/v1/users/invite/:id");
    assert_eq!(log_path("/v1/users/invite"), "/v1/users/invite");
    assert_eq!(log_path("/v1/users/7"), "/v1/users/:id");
    assert_eq!(log_path("/otp"), "/otp");
    assert_eq!(log_path("/users/5"), "/users/5");
}

#[tokio::test]
async fn health() {
    let app = fake_app(|_| {});
    let (status, headers, body) =
        send(&app, req("GET", "/health").body(Body::empty()).unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"status": "ok"}));
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
}

#[tokio::test]
async fn cors_preflight_is_204() {
    let app = fake_app(|_| {});
    let request = req("OPTIONS", "/echo")
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "PATCH")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = send(&app, request).await;
    assert_eq!(status, 204);
    assert_eq!(headers["access-control-allow-origin"], "*");
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    assert!(
        methods.contains("PATCH") && methods.contains("DELETE"),
        "{methods}"
    );
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("x-service-method"),
        "{allowed}"
    );
}

#[tokio::test]
async fn cors_origin_list() {
    let app = fake_app(|c| c.http.cors_origins = vec!["https://app.example".into()]);
    let allowed = req("GET", "/health")
        .header("origin", "https://app.example")
        .body(Body::empty())
        .unwrap();
    let (_, headers, _) = send(&app, allowed).await;
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example"
    );
    let other = req("GET", "/health")
        .header("origin", "https://evil.example")
        .body(Body::empty())
        .unwrap();
    let (_, headers, _) = send(&app, other).await;
    assert!(headers.get("access-control-allow-origin").is_none());
}

#[test]
fn request_ids_are_taken_when_valid_else_generated() {
    let with = |value: &[u8]| {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID, HeaderValue::from_bytes(value).unwrap());
        request_id(&headers)
    };
    assert_eq!(with(b"abc-123"), "abc-123");
    assert_eq!(with("x".repeat(128).as_bytes()), "x".repeat(128).as_str());
    for bad in [
        "x".repeat(129).into_bytes(),
        b"a b".to_vec(),
        b"tab\there".to_vec(),
        b"caf\xc3\xa9".to_vec(),
        Vec::new(),
    ] {
        let id = with(&bad);
        assert_ne!(id.as_bytes(), bad.as_slice());
        assert_eq!(id.len(), 36, "{id:?}");
        assert!(uuid::Uuid::parse_str(id.to_str().unwrap()).is_ok());
    }
    assert_ne!(request_id(&HeaderMap::new()), request_id(&HeaderMap::new()));
}

#[tokio::test]
async fn every_response_carries_the_request_id() {
    let app = fake_app(|_| {});
    let request = req("GET", "/health").header("x-request-id", "abc-123");
    let (status, headers, _) = send(&app, request.body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-request-id"], "abc-123");
    // Service calls too, errors included.
    let (status, headers, _) = send(&app, req("GET", "/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["x-request-id"].len(), 36);
}

#[tokio::test]
async fn metrics_scrape_without_a_database() {
    let app = fake_app(|_| {});
    send(&app, req("GET", "/echo").body(Body::empty()).unwrap()).await;
    let res = router(app.clone(), Default::default(), Router::new())
        .oneshot(req("GET", "/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(
        text.contains(
            r#"roost_requests_total{method="find",service="echo",status="200",transport="rest"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("roost_db_pool_connections 0"), "{text}");
}
