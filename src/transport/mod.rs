//! REST and Socket.IO adapters over the pipeline (DESIGN §1). Each turns a request into a
//! [`Call`](crate::service::Call), runs [`hooks::run`](crate::hooks::run) and writes the
//! result back in the Feathers wire format; neither knows anything about storage.
//!
//! Serve [`router`] with connect info so calls see the peer address: `app::serve` does
//! (or `axum::serve(listener, router(app).into_make_service_with_connect_info::<SocketAddr>())`).

mod docs;
pub mod query_string;
pub mod rest;
pub mod socket;
mod status;

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use axum::http::{Extensions, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::hooks::App;
use crate::service::Connection;

pub use socket::socket_server;

/// The whole HTTP surface: `GET /`, `/health`, `/ready`, `/.well-known/jwks.json`
/// (`status`), `GET /openapi.json` and its reference at `/docs/`, every registered service
/// over REST (a fallback that resolves the path itself), Socket.IO at `/socket.io/`, CORS
/// and request tracing.
///
/// `mount`'s routes (a subsystem's own HTTP endpoints: the OAuth flow) are served and
/// counted like these, and listed in the OpenAPI document. `extra` routes (an embedding
/// app's own pages) are served beside these, under the same layers. Builds the Socket.IO
/// server and attaches it to `app.realtime`: call it once per app.
pub fn router(app: App, mount: Mount, extra: Router) -> Router {
    let io = socket::socket_server(app.clone());
    let cors = cors_layer(&app.config.http.cors_origins);
    let openapi = crate::openapi::document(&app.registry, mount.openapi, &app.config.metrics);
    let secret = secret_id_paths(&app.registry);
    let mut router = Router::new();
    if app.config.metrics.enabled {
        router = router.route("/metrics", get(status::metrics));
    }
    router
        .route("/", get(status::root))
        .route("/health", get(status::health))
        .route("/ready", get(status::ready))
        .merge(mount.routes)
        .route("/docs", get(docs::redirect))
        .route("/docs/", get(docs::index))
        .route("/docs/{*path}", get(docs::asset))
        .route(
            "/openapi.json",
            get(move || std::future::ready(rest::json_response(StatusCode::OK, &openapi))),
        )
        .route("/.well-known/jwks.json", get(status::jwks))
        // The routes above only: services count themselves (`rest::handle`).
        .route_layer(middleware::from_fn_with_state(app.clone(), count_route))
        .fallback(rest::handle)
        .with_state(app)
        .merge(extra)
        .layer(middleware::from_fn_with_state(io, socket::serve))
        .layer(cors)
        .layer(middleware::from_fn(preflight_no_content))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(move |req: &Request| request_span(&secret, req)),
        )
        .layer(middleware::from_fn(with_request_id))
}

/// HTTP routes a subsystem serves beside the services, with their OpenAPI paths.
#[derive(Default)]
pub struct Mount {
    pub routes: Router<App>,
    pub openapi: serde_json::Map<String, serde_json::Value>,
}

/// Counts a request to one of the server's own routes by its template (`/oauth/{slug}`),
/// so the label set stays bounded.
async fn count_route(State(app): State<App>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let res = next.run(req).await;
    if let Some(route) = route {
        app.metrics.http(route.as_str(), res.status().as_u16());
    }
    res
}

/// The TCP peer of a request (set by the accept loop).
pub fn peer_ip(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// The header carrying a request's id, in both directions.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest request id taken from a client.
const REQUEST_ID_MAX: usize = 128;

/// Gives every request an id: the client's `x-request-id` when it is one (1-128 visible
/// ASCII characters), else a new UUID. The request span carries it (so every log line of
/// the request does) and the response echoes it.
async fn with_request_id(mut req: Request, next: Next) -> Response {
    let id = request_id(req.headers());
    req.headers_mut().insert(REQUEST_ID, id.clone());
    let mut res = next.run(req).await;
    res.headers_mut().insert(REQUEST_ID, id);
    res
}

/// The id of a request with `headers`: see [`with_request_id`].
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(REQUEST_ID)
        .filter(|v| valid_request_id(v.as_bytes()))
        .cloned()
        .unwrap_or_else(new_request_id)
}

/// 1-128 visible ASCII characters: nothing that could break a log line or a header.
pub fn valid_request_id(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= REQUEST_ID_MAX && id.iter().all(u8::is_ascii_graphic)
}

/// A fresh request id (a UUID v4), also for Socket.IO calls.
pub fn new_request_id() -> HeaderValue {
    let mut buf = uuid::Uuid::encode_buffer();
    let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("-"))
}

/// What Express' `cors()` answers (feathers-protocol §1.4), limited to the configured
/// origins; `["*"]` allows any. Tokens travel in headers, so no credentials are allowed.
fn cors_layer(origins: &[String]) -> CorsLayer {
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let list: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| match HeaderValue::from_str(o.trim_end_matches('/')) {
                Ok(v) => Some(v),
                Err(_) => {
                    tracing::warn!(origin = %o, "ignoring invalid CORS origin");
                    None
                }
            })
            .collect();
        AllowOrigin::list(list)
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::PATCH,
            Method::POST,
            Method::DELETE,
        ])
        .allow_headers([
            AUTHORIZATION,
            CONTENT_TYPE,
            ACCEPT,
            HeaderName::from_static(rest::SERVICE_METHOD_HEADER),
        ])
}

/// tower-http answers preflights with 200; Express' `cors()` (and browsers' habits) use 204.
async fn preflight_no_content(req: Request, next: Next) -> Response {
    let preflight = req.method() == Method::OPTIONS;
    let mut res = next.run(req).await;
    if preflight && res.status() == StatusCode::OK {
        *res.status_mut() = StatusCode::NO_CONTENT;
    }
    res
}

/// Request spans carry the method, a redacted path and the request id
/// ([`with_request_id`]): never the query string (it can hold OAuth codes or tokens),
/// other headers or bodies.
fn request_span(secret: &[String], req: &Request) -> tracing::Span {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %log_path(secret, req.uri().path()),
        request_id = %id,
    )
}

/// The paths of services whose ids are secrets or personal data (their policy says
/// `secret_ids`: a token, a code, an address).
pub fn secret_id_paths(registry: &crate::service::Registry) -> Vec<String> {
    registry
        .paths()
        .filter(|p| registry.get(p).is_some_and(|s| s.policy().secret_ids))
        .map(str::to_string)
        .collect()
}

/// The path as it may appear in logs: ids of `secret` services become `:id`.
pub fn log_path(secret: &[String], path: &str) -> String {
    let trimmed = path.trim_matches('/');
    // Longest first, so a nested service's ids are not taken for its parent's.
    for service in secret {
        if let Some(rest) = trimmed.strip_prefix(service.as_str())
            && rest.starts_with('/')
            && rest.len() > 1
            && !secret
                .iter()
                .any(|other| other.len() > service.len() && trimmed.starts_with(other.as_str()))
        {
            return format!("/{service}/:id");
        }
    }
    let mut end = path.len().min(256);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    path[..end].to_string()
}

/// The access token of an `Authorization` header, read as Feathers' JWT strategy does
/// (feathers-protocol §3.3): `Bearer <t>` and `JWT <t>` (any case) or a bare `<t>`;
/// other schemes (`Basic ...`) are not ours and count as no token.
pub fn access_token(header: &str) -> Option<String> {
    let mut words = header.split_whitespace();
    let first = words.next()?;
    match words.next() {
        None => Some(first.to_string()),
        Some(token) => (first.eq_ignore_ascii_case("bearer") || first.eq_ignore_ascii_case("jwt"))
            .then(|| token.to_string()),
    }
}

/// Connection facts for `params.connection`: the client IP (the peer address, or read
/// from the right of `X-Forwarded-For` past the trusted proxies: `crate::proxies`) and the
/// User-Agent.
pub fn connection_info(
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    proxies: &crate::proxies::TrustedProxies,
    socket_id: Option<String>,
) -> Connection {
    let forwarded: Vec<&str> = if proxies.is_none() {
        Vec::new()
    } else {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    };
    let user_agent = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| truncate(ua, 512));
    Connection {
        ip: proxies
            .client_ip(peer, &forwarded)
            .map(|ip| ip.to_canonical().to_string()),
        user_agent,
        socket_id,
    }
}

fn truncate(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests;
