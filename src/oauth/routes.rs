//! The HTTP routes of the flow ([`mount`], served by `transport::router` before the REST
//! fallback):
//! `GET /oauth/{slug}` (sign in), `POST /oauth/{slug}/link` (link to the caller) and
//! `GET /oauth/{slug}/callback`. Errors before a flow is known are Feathers JSON errors;
//! the query string (state, code, tokens) is never logged.

use std::sync::Arc;

use axum::extract::{Extension, Path, Request, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, COOKIE, HOST, LOCATION, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value};

use super::{Finished, OAuth, Started};
use crate::error::Error;
use crate::hooks::App;
use crate::transport::rest::{error_response, json_response};

/// The flow's three routes and their OpenAPI paths, run by `oauth`.
pub fn mount(oauth: Arc<OAuth>) -> crate::transport::Mount {
    crate::transport::Mount {
        routes: axum::Router::new()
            .route("/oauth/{slug}", get(start))
            .route("/oauth/{slug}/link", post(link))
            .route("/oauth/{slug}/callback", get(callback))
            .layer(Extension(oauth)),
        openapi: openapi_paths(),
    }
}

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
        return error_response(&Error::internal("unencodable redirect"));
    };
    let mut res = StatusCode::SEE_OTHER.into_response();
    let headers = res.headers_mut();
    headers.insert(LOCATION, location);
    headers.insert(SET_COOKIE, cookie);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// What a `GET` start with the old `feathers_token` parameter is told.
pub const NO_TOKEN_IN_URL: &str = "feathers_token is not accepted: to link a provider to your account, POST /oauth/<slug>/link with your access token in the Authorization header, then navigate to the returned location";

/// What a flow start reads from its request (owned: the body is not `Sync`, so the
/// request cannot be held across an await).
struct StartRequest {
    redirect: Option<String>,
    host: Option<String>,
    client_ip: Option<String>,
}

impl StartRequest {
    fn read(app: &App, req: &Request) -> Self {
        let query = query_map(req);
        let connection = crate::transport::connection_info(
            req.headers(),
            crate::transport::peer_ip(req.extensions()),
            app.config.http.proxies(),
            None,
        );
        Self {
            redirect: query
                .get("redirect")
                .and_then(Value::as_str)
                .map(str::to_string),
            host: req
                .headers()
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string),
            client_ip: connection.ip,
        }
    }

    async fn begin(
        self,
        oauth: &OAuth,
        slug: &str,
        link_user_id: Option<i64>,
    ) -> Result<Started, Error> {
        oauth
            .start(
                slug,
                self.redirect.as_deref(),
                link_user_id,
                self.host.as_deref(),
                self.client_ip.as_deref(),
            )
            .await
    }
}

/// `GET /oauth/{slug}`: 303 to the provider (a sign-in; never a link).
async fn start(
    State(app): State<App>,
    Extension(oauth): Extension<Arc<OAuth>>,
    Path(slug): Path<String>,
    req: Request,
) -> Response {
    if query_map(&req).contains_key("feathers_token") {
        return error_response(&Error::bad_request(NO_TOKEN_IN_URL));
    }
    match StartRequest::read(&app, &req)
        .begin(&oauth, &slug, None)
        .await
    {
        Ok(started) => see_other(&started.location, &started.cookie),
        Err(e) => error_response(&e),
    }
}

/// `POST /oauth/{slug}/link`: the caller (`Authorization` header only, checked as on any
/// REST call, revoked sessions refused) starts a flow that links the provider identity
/// to them. Answers 200 `{"location"}` with the browser-binding cookie; the page then
/// navigates to `location`. A token in the query or body is ignored (401 without the
/// header): only a header proves that the account holder's own page made the request.
async fn link(
    State(app): State<App>,
    Extension(oauth): Extension<Arc<OAuth>>,
    Path(slug): Path<String>,
    req: Request,
) -> Response {
    let start = StartRequest::read(&app, &req);
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::transport::access_token);
    let Some(token) = token else {
        return error_response(&Error::not_authenticated(
            "Linking needs your access token in the Authorization header",
        ));
    };
    let user_id = match crate::auth::principal::from_token(app.token_check(), &token).await {
        Ok(principal) => principal.user_id,
        Err(e) => return error_response(&e),
    };
    match start.begin(&oauth, &slug, Some(user_id)).await {
        Ok(started) => {
            let mut res = json_response(
                StatusCode::OK,
                &serde_json::json!({ "location": started.location }),
            );
            let Ok(cookie) = HeaderValue::from_str(&started.cookie) else {
                return error_response(&Error::internal("unencodable cookie"));
            };
            let headers = res.headers_mut();
            headers.insert(SET_COOKIE, cookie);
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => error_response(&e),
    }
}

/// `GET /oauth/{slug}/callback`: 303 to the app with `#access_token=` or `#error=`.
async fn callback(
    State(app): State<App>,
    Extension(oauth): Extension<Arc<OAuth>>,
    Path(slug): Path<String>,
    req: Request,
) -> Response {
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
        crate::transport::peer_ip(req.extensions()),
        app.config.http.proxies(),
        None,
    );
    match oauth.callback(&slug, &query, &cookies, &connection).await {
        Ok(Finished::Redirect {
            location,
            clear_cookie,
        }) => see_other(&location, &clear_cookie),
        Ok(Finished::Json(value)) => json_response(StatusCode::CREATED, &value),
        Err(e) => error_response(&e),
    }
}

/// The three routes in the OpenAPI document (they are not services).
fn openapi_paths() -> Map<String, Value> {
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
            "operationId": "oauth_start",
            "tags": ["oauth"],
            "summary": "Start an OAuth / OpenID Connect login",
            "description": "Answers 303 to the provider's authorization endpoint with state, PKCE (S256) and, when the provider's `nonce` is on, a nonce. Sets an HttpOnly cookie binding the flow to this browser. Signs in only: to link a provider to an existing account use `POST /oauth/{slug}/link`; a `feathers_token` query parameter is refused with 400.",
            "security": [],
            "parameters": [
                slug.clone(),
                query("redirect", "A path on the default app origin, or a URL on one of `oauth.origins`"),
            ],
            "responses": {
                "303": { "description": "Redirect to the provider" },
                "400": { "description": "Invalid redirect path, a `feathers_token` parameter (use the POST link flow), or the provider is not fully configured", "content": error["content"] },
                "404": { "description": "No such provider", "content": error["content"] },
                "429": { "description": "Too many flows started from this address", "content": error["content"] },
            },
        }}),
    );
    paths.insert(
        "/oauth/{slug}/link".into(),
        serde_json::json!({ "post": {
            "operationId": "oauth_link",
            "tags": ["oauth"],
            "summary": "Start linking an OAuth / OpenID Connect identity to the caller's account",
            "description": "The caller is the `Authorization: Bearer <access token>` header only (checked as on any REST call; revoked sessions are refused); a token in the query or body is not read. Starts the same flow as `GET /oauth/{slug}`, bound to the caller and, by the same HttpOnly cookie, to this browser, then answers 200 `{\"location\"}`: the page navigates the window there. The callback (in the same browser) links the provider identity to the caller (`oauth_linked`; 409 in `#error=` if it is linked to someone else), mails the account a notice and signs in. The response must be one whose cookies the browser keeps (a same-origin request).",
            "parameters": [
                slug.clone(),
                query("redirect", "A path on the default app origin, or a URL on one of `oauth.origins`"),
            ],
            "responses": {
                "200": {
                    "description": "The provider's authorization URL; the flow cookie is set",
                    "content": { "application/json": { "schema": {
                        "type": "object", "required": ["location"],
                        "properties": { "location": { "type": "string", "format": "uri" } },
                    } } },
                },
                "400": { "description": "Invalid redirect path, or the provider is not fully configured", "content": error["content"] },
                "401": { "description": "No access token in the Authorization header, or an invalid, expired or revoked one", "content": error["content"] },
                "404": { "description": "No such provider", "content": error["content"] },
                "429": { "description": "Too many flows started from this address", "content": error["content"] },
            },
        }}),
    );
    paths.insert(
        "/oauth/{slug}/callback".into(),
        serde_json::json!({ "get": {
            "operationId": "oauth_callback",
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
