//! The "bare limit" for `bench/`: plain axum on the same runtime (tokio, two workers on
//! this machine) answering the chat API's REST routes with fixed bytes. No token check, no
//! database, no pipeline: what serving these responses costs when nothing is computed, so
//! the chat example's figures can be read against the floor of the HTTP stack itself.
//!
//! ```sh
//! ROOST_PORT=3030 cargo run --release --example bare
//! ../shared/bench/run.sh http://127.0.0.1:3030 --label bare --only rest
//! ```
//!
//! `GET /messages/:id` answers the bytes `examples/chat` answers for a seeded message
//! (the same length and shape; any id gets message 1). Requests without an
//! `Authorization` header get the chat example's 401 body, so the harness's 401 test
//! measures the same thing. It has no Socket.IO: the harness's socket checks fail (as
//! warnings) and only its REST suite applies (`--only rest`).

use axum::Router;
use axum::body::Body;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::get;

/// Message 1 as `examples/chat` returns it after `chat seed` (1000 users, 1000 messages).
const MESSAGE: &str = r#"{"id":1,"text":"Seed message 1: the quick brown fox jumps over the lazy dog.","user_id":920,"created_at":1764990000000}"#;
const CREATED: &str = r#"{"id":1001,"text":"wrk load test message: the quick brown fox jumps over the lazy dog","user_id":1,"created_at":1764992000000}"#;
const NOT_AUTHENTICATED: &str = r#"{"name":"NotAuthenticated","message":"Not authenticated","code":401,"className":"not-authenticated"}"#;
const USER: &str = r#"{"id":1,"username":"user1","email":"user1@example.com","first_name":"First1","last_name":"Last1","phone":"+1-555-0000001","created_at":"2025-12-06T00:00:01.000Z","updated_at":"2025-12-06T00:00:01.000Z"}"#;

fn json(status: StatusCode, body: &'static [u8]) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::from(body))
        .unwrap_or_default()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION)
}

/// A page of `limit` messages with ids 1.., built once at start.
fn page(limit: usize) -> &'static [u8] {
    let data: Vec<String> = (1..=limit)
        .map(|i| MESSAGE.replacen(r#""id":1,"#, &format!(r#""id":{i},"#), 1))
        .collect();
    let page = format!(
        r#"{{"total":1000,"limit":{limit},"skip":0,"data":[{}]}}"#,
        data.join(",")
    );
    page.into_bytes().leak()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let host = std::env::var("ROOST_HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port: u16 = std::env::var("ROOST_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3030);
    let page10 = page(10);
    let page50 = page(50);
    let login: &'static [u8] = format!(
        r#"{{"accessToken":"bare","authentication":{{"strategy":"local","payload":{{"sub":"1"}}}},"user":{USER}}}"#
    )
    .into_bytes()
    .leak();

    let app = Router::new()
        .route(
            "/messages",
            get(
                move |headers: HeaderMap, RawQuery(q): RawQuery| async move {
                    if !authorized(&headers) {
                        return json(StatusCode::UNAUTHORIZED, NOT_AUTHENTICATED.as_bytes());
                    }
                    let fifty =
                        q.is_some_and(|q| q.contains("%24limit=50") || q.contains("$limit=50"));
                    json(StatusCode::OK, if fifty { page50 } else { page10 })
                },
            )
            .post(|headers: HeaderMap| async move {
                if !authorized(&headers) {
                    return json(StatusCode::UNAUTHORIZED, NOT_AUTHENTICATED.as_bytes());
                }
                json(StatusCode::CREATED, CREATED.as_bytes())
            }),
        )
        .route(
            "/messages/{id}",
            get(|headers: HeaderMap| async move {
                if !authorized(&headers) {
                    return json(StatusCode::UNAUTHORIZED, NOT_AUTHENTICATED.as_bytes());
                }
                json(StatusCode::OK, MESSAGE.as_bytes())
            }),
        )
        .route(
            "/users/{id}",
            get(|headers: HeaderMap| async move {
                if !authorized(&headers) {
                    return json(StatusCode::UNAUTHORIZED, NOT_AUTHENTICATED.as_bytes());
                }
                json(StatusCode::OK, USER.as_bytes())
            }),
        )
        .route(
            "/authentication",
            axum::routing::post(move || async move { json(StatusCode::CREATED, login) }),
        );

    let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
    eprintln!("bare limit serving on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
