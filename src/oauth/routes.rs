//! The two HTTP routes of the flow, mounted by `transport::router` before the REST
//! fallback: `GET /oauth/{slug}` and `GET /oauth/{slug}/callback`. Errors before a flow is
//! known are Feathers JSON errors; the query string (state, code, tokens) is never logged.

use axum::extract::{Path, Request, State};
use axum::http::header::{CACHE_CONTROL, COOKIE, HOST, LOCATION, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::Finished;
use crate::app::App;
use crate::transport::rest::{error_response, json_response};

/// The query as string values (repeated keys: the first wins).
fn query_map(req: &Request) -> Map<String, Value> {
    let mut map = Map::new();
    if let Some(query) = req.uri().query() {
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            map.entry(k.into_owned())
                .or_insert_with(|| Value::String(v.into_owned()));
        }
    }
    map
}

fn see_other(location: &str, cookie: &str) -> Response {
    let (Ok(location), Ok(cookie)) = (
        HeaderValue::from_str(location),
        HeaderValue::from_str(cookie),
    ) else {
        return error_response(&crate::error::Error::internal("unencodable redirect"));
    };
    let mut res = StatusCode::SEE_OTHER.into_response();
    let headers = res.headers_mut();
    headers.insert(LOCATION, location);
    headers.insert(SET_COOKIE, cookie);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `GET /oauth/{slug}`: 303 to the provider.
pub async fn start(State(app): State<App>, Path(slug): Path<String>, req: Request) -> Response {
    let query = query_map(&req);
    let text = |name: &str| query.get(name).and_then(Value::as_str);
    let host = req.headers().get(HOST).and_then(|h| h.to_str().ok());
    let connection = crate::transport::connection_info(
        req.headers(),
        req.extensions(),
        app.config.http.proxies(),
        None,
    );
    match app
        .oauth
        .start(
            &slug,
            text("redirect"),
            text("feathers_token"),
            host,
            connection.ip.as_deref(),
        )
        .await
    {
        Ok(started) => see_other(&started.location, &started.cookie),
        Err(e) => error_response(&e),
    }
}

/// `GET /oauth/{slug}/callback`: 303 to the app with `#access_token=` or `#error=`.
pub async fn callback(State(app): State<App>, Path(slug): Path<String>, req: Request) -> Response {
    let query = query_map(&req);
    let cookies = req
        .headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join("; ");
    let connection = crate::transport::connection_info(
        req.headers(),
        req.extensions(),
        app.config.http.proxies(),
        None,
    );
    match app
        .oauth
        .callback(&slug, &query, &cookies, &connection)
        .await
    {
        Ok(Finished::Redirect {
            location,
            clear_cookie,
        }) => see_other(&location, &clear_cookie),
        Ok(Finished::Json(value)) => json_response(StatusCode::CREATED, &value),
        Err(e) => error_response(&e),
    }
}

/// The two routes in the OpenAPI document (they are not services).
pub fn openapi_paths() -> Map<String, Value> {
    let slug = serde_json::json!({
        "name": "slug", "in": "path", "required": true,
        "description": "The `slug` of an `oauth_providers` row",
        "schema": { "type": "string" },
    });
    let query = |name: &str, description: &str| {
        serde_json::json!({
            "name": name, "in": "query", "required": false,
            "description": description, "schema": { "type": "string" },
        })
    };
    let error = serde_json::json!({
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    });
    let mut paths = Map::new();
    paths.insert(
        "/oauth/{slug}".into(),
        serde_json::json!({ "get": {
            "tags": ["oauth"],
            "summary": "Start an OAuth / OpenID Connect login",
            "description": "Answers 303 to the provider's authorization endpoint with state, PKCE (S256) and, when the provider's `nonce` is on, a nonce. Sets an HttpOnly cookie binding the flow to this browser.",
            "security": [],
            "parameters": [
                slug,
                query("redirect", "A path on the default app origin, or a URL on one of `oauth.origins`"),
                query("feathers_token", "A Roost access token: link the provider identity to this user"),
            ],
            "responses": {
                "303": { "description": "Redirect to the provider" },
                "400": { "description": "Invalid redirect path, or the provider is not fully configured", "content": error["content"] },
                "401": { "description": "Invalid feathers_token", "content": error["content"] },
                "404": { "description": "No such provider", "content": error["content"] },
            },
        }}),
    );
    paths.insert(
        "/oauth/{slug}/callback".into(),
        serde_json::json!({ "get": {
            "tags": ["oauth"],
            "summary": "Finish an OAuth / OpenID Connect login (the provider's redirect_uri)",
            "description": "Takes the flow's state (single use), exchanges the code, validates the ID token or reads userinfo, then answers 303 to `<app origin><redirect>#access_token=<jwt>` or `#error=<message>`, as Feathers does. Without a configured app origin the authentication result is answered as JSON.",
            "security": [],
            "parameters": [slug, query("code", "Authorization code"), query("state", "The flow's state"), query("error", "An OAuth error from the provider")],
            "responses": {
                "303": { "description": "Redirect to the app with #access_token= or #error=" },
                "201": { "description": "The authentication result, when no app origin is configured" },
                "401": { "description": "No flow of this server matches the state", "content": error["content"] },
            },
        }}),
    );
    paths
}
