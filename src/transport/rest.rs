//! REST: HTTP verbs to service methods, as `@feathersjs/koa` / `express` map them
//! (feathers-protocol §1.1).
//!
//! | request | call | success |
//! |---|---|---|
//! | `GET /P` / `GET /P/:id` (also `HEAD`) | `find` / `get(id)` | 200 |
//! | `POST /P` (an id segment is ignored) | `create(body)` | 201 |
//! | `PUT /P[/:id]` | `update(id or null, body)` | 200 |
//! | `PATCH /P[/:id]` | `patch(id or null, body)` | 200 |
//! | `DELETE /P[/:id]` | `remove(id or null)` | 200 |
//!
//! A `null` result is 204 with no body. Errors answer with status `code` and the Feathers
//! error JSON, plus `Retry-After` when the error carries one.

use axum::body::Body;
use axum::extract::{Request, State};
use std::time::Duration;

use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, EXPECT, RETRY_AFTER};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method as Verb, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};

use super::query_string::{self, Limits};
use super::{access_token, connection_info};
use crate::error::Error;
use crate::hooks;
use crate::hooks::App;
use crate::metrics::{self, Transport};
use crate::service::{Call, Method, Params, Provider, Registry, not_supported};

/// Names a custom service method on `POST` (Feathers' `X-Service-Method`).
pub const SERVICE_METHOD_HEADER: &str = "x-service-method";

const JSON_UTF8: &str = "application/json; charset=utf-8";

/// The axum fallback: every path that is not `/health` or `/socket.io/`. Each request is
/// counted once in the metrics, under its registered service path (`unknown` for any
/// other path) and method.
pub async fn handle(State(app): State<App>, req: Request) -> Response {
    let started = std::time::Instant::now();
    let mut seen = Seen::default();
    let res = match serve(&app, req, &mut seen).await {
        Ok(res) | Err(res) => res,
    };
    app.metrics.call(
        Transport::Rest,
        seen.service.unwrap_or(metrics::UNKNOWN),
        seen.method.map_or(metrics::UNKNOWN, Method::as_str),
        res.status().as_u16(),
        started.elapsed(),
    );
    res
}

/// What a request turned out to call, as far as it got: the metrics' labels.
#[derive(Default)]
pub struct Seen<'a> {
    /// The registered path (borrowed from the registry, never the raw URL).
    pub service: Option<&'a str>,
    pub method: Option<Method>,
}

async fn serve<'a>(app: &'a App, req: Request, seen: &mut Seen<'a>) -> Result<Response, Response> {
    let (parts, body) = req.into_parts();
    let Some((path, id)) = resolve(parts.uri.path(), |p| app.registry.get(p).is_some()) else {
        let message = format!("Path {} not found", parts.uri.path());
        return Err(error_response(&Error::not_found(message)));
    };
    seen.service = app.registry.key(&path);
    let method = select_method(&parts, id.is_some(), &app.registry, &path)
        .map_err(|e| error_response(&e))?;
    seen.method = Some(method);
    let query =
        query_string::parse(parts.uri.query().unwrap_or("")).map_err(|e| error_response(&e))?;
    let data = match method {
        Method::Create | Method::Update | Method::Patch => {
            read_data(&parts, body, app.config.http.body_limit).await?
        }
        Method::Find | Method::Get | Method::Remove => Value::Null,
    };
    let params = Params {
        provider: Provider::Rest,
        query,
        principal: None,
        access_token: parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(access_token),
        connection: connection_info(
            &parts.headers,
            super::peer_ip(&parts.extensions),
            app.config.http.proxies(),
            None,
        ),
    };
    let call = Call {
        path,
        method,
        // `POST /P/123` creates and ignores the id, as Feathers does.
        id: id.filter(|_| method != Method::Create).map(Value::String),
        data,
        params,
    };
    // REST is stateless: a login's connection effect only matters to sockets.
    let outcome = hooks::run(app, call)
        .await
        .map_err(|e| error_response(&e))?;
    Ok(if outcome.value.is_null() {
        StatusCode::NO_CONTENT.into_response()
    } else if method == Method::Create {
        json_response(StatusCode::CREATED, &outcome.value)
    } else {
        json_response(StatusCode::OK, &outcome.value)
    })
}

/// Splits a URL path into a registered service path and an optional id segment.
///
/// Empty segments are ignored (`/P/` and `//P` are `P`); lookups are case-sensitive. A
/// registered path may contain slashes (`v1/users`): the whole path is tried first, then
/// all but its last segment, which becomes the (percent-decoded) id. Anything longer is
/// not found.
pub fn resolve(path: &str, exists: impl Fn(&str) -> bool) -> Option<(String, Option<String>)> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (last, prefix) = segments.split_last()?;
    let full = segments.join("/");
    if exists(&full) {
        return Some((full, None));
    }
    if prefix.is_empty() {
        return None;
    }
    let service = prefix.join("/");
    exists(&service).then(|| {
        // Decoded, unlike Feathers (which hands `a%40b.c` to the service): ids like emails
        // in `PATCH /verify/<email>` must arrive as sent by `encodeURIComponent`.
        let id = query_string::percent_decode_strict(last).unwrap_or_else(|| (*last).to_string());
        (service, Some(id))
    })
}

/// The service method a request calls, or Feathers' 405.
fn select_method(
    parts: &Parts,
    has_id: bool,
    registry: &Registry,
    path: &str,
) -> Result<Method, Error> {
    let override_name = parts
        .headers
        .get(SERVICE_METHOD_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .filter(|name| !name.is_empty());
    let method = method_for(&parts.method, has_id, override_name.as_deref())?;
    let offered = registry
        .get(path)
        .is_some_and(|s| s.methods().contains(&method));
    if offered {
        Ok(method)
    } else {
        Err(not_supported(path, method))
    }
}

/// Verb (and `X-Service-Method` on POST) to method. Roost services have no custom
/// methods, so any `X-Service-Method` is refused the way Feathers refuses an unknown one.
pub fn method_for(verb: &Verb, has_id: bool, override_name: Option<&str>) -> Result<Method, Error> {
    match *verb {
        Verb::GET | Verb::HEAD if has_id => Ok(Method::Get),
        Verb::GET | Verb::HEAD => Ok(Method::Find),
        Verb::POST => match override_name {
            Some(name) => Err(Error::method_not_allowed(format!(
                "Method `{name}` is not supported by this endpoint."
            ))),
            None => Ok(Method::Create),
        },
        Verb::PUT => Ok(Method::Update),
        Verb::PATCH => Ok(Method::Patch),
        Verb::DELETE => Ok(Method::Remove),
        ref other => Err(Error::method_not_allowed(format!(
            "Method {other} not allowed"
        ))),
    }
}

/// Reads and decodes a request body: JSON (also without a `Content-Type`, for curl
/// users) or a form (`application/x-www-form-urlencoded`, parsed like a query string, as
/// generated Feathers apps accept). An empty body is `{}`. Over `limit`: 413, after
/// [`drain`]ing the rest.
async fn read_data(parts: &Parts, body: Body, limit: usize) -> Result<Value, Response> {
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut stream = body.into_data_stream();
    if let Some(len) = declared.filter(|len| *len > limit as u64) {
        if !expects_continue(parts) && len <= DRAIN_MAX_BYTES {
            drain(&mut stream).await;
        }
        return Err(too_large(limit));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|_| error_response(&Error::bad_request("Could not read the request body")))?;
        if bytes.len() + chunk.len() > limit {
            drop(bytes);
            drain(&mut stream).await;
            return Err(too_large(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    decode_body(parts.headers.get(CONTENT_TYPE), &bytes, limit).map_err(|e| error_response(&e))
}

/// Most bytes of a refused body read and thrown away, and how long that may take.
const DRAIN_MAX_BYTES: u64 = 64 * 1024 * 1024;
const DRAIN_MAX_TIME: Duration = Duration::from_secs(30);

/// Reads the rest of a refused body and throws it away, chunk by chunk (nothing is kept),
/// up to [`DRAIN_MAX_BYTES`] / [`DRAIN_MAX_TIME`]. Browsers and Node's `fetch` write the
/// whole body before they read the answer: a server that answers and closes with the body
/// unread gives them a reset connection (EPIPE) instead of the 413. Past the bounds the
/// connection is closed unread, as before.
async fn drain(stream: &mut axum::body::BodyDataStream) {
    let read = async {
        let mut seen = 0u64;
        while let Some(Ok(chunk)) = stream.next().await {
            seen = seen.saturating_add(chunk.len() as u64);
            if seen > DRAIN_MAX_BYTES {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_MAX_TIME, read).await;
}

/// `Expect: 100-continue`: the client (curl) sends the body only after a `100 Continue`,
/// which hyper sends when the body is first read; refused unread, it gets the 413 instead
/// and uploads nothing.
fn expects_continue(parts: &Parts) -> bool {
    parts
        .headers
        .get(EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Decodes a body by its `Content-Type`.
pub fn decode_body(
    content_type: Option<&HeaderValue>,
    bytes: &[u8],
    limit: usize,
) -> Result<Value, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let media = content_type
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    match media.as_deref() {
        None | Some("application/json") => parse_json(bytes),
        Some(m) if m.ends_with("+json") => parse_json(bytes),
        Some("application/x-www-form-urlencoded") => {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| Error::bad_request("Invalid form body: not UTF-8"))?;
            let limits = Limits {
                max_bytes: limit,
                ..Limits::default()
            };
            query_string::parse_with(text, &limits).map(Value::Object)
        }
        Some(other) => Err(Error::bad_request(format!(
            "Unsupported Content-Type '{other}': send application/json"
        ))),
    }
}

fn parse_json(bytes: &[u8]) -> Result<Value, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::bad_request(format!("Invalid JSON body: {e}")))
}

/// A JSON response in Feathers' content type.
pub fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(CONTENT_TYPE, JSON_UTF8)], body).into_response(),
        Err(e) => {
            let err = Error::internal(format!("response serialisation failed: {e}"));
            let body = serde_json::to_vec(&err).unwrap_or_default();
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(CONTENT_TYPE, JSON_UTF8)],
                body,
            )
                .into_response()
        }
    }
}

/// A Feathers error: status = its code, body = its JSON, `Retry-After` when set.
pub fn error_response(err: &Error) -> Response {
    let status = StatusCode::from_u16(err.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = json_response(status, err);
    if let Some(secs) = err.retry_after {
        res.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}

/// 413 for a body over `http.body_limit`.
///
/// Feathers has no 413 class (Express' body parser error becomes a 500 GeneralError
/// there). We answer 413 so proxies and clients see the real cause, with a body in the
/// Feathers shape whose `name` and `className` match that status: `PayloadTooLarge`.
/// The Feathers client's `convert()` does not know the name, so it builds a plain
/// `Error` and copies `name`, `message`, `code` (413) onto it; 413 is outside 401-407, so
/// the authentication client keeps its token. Naming it `BadRequest` would have made
/// the client build a BadRequest whose class code (400) contradicts the status.
pub fn too_large(limit: usize) -> Response {
    let body = json!({
        "name": "PayloadTooLarge",
        "message": format!("Request body is larger than the {limit} byte limit"),
        "code": 413,
        "className": "payload-too-large",
        "data": { "limit": limit },
    });
    json_response(StatusCode::PAYLOAD_TOO_LARGE, &body)
}

#[cfg(test)]
mod tests;
