//! OAuth login (issue 5) over both database backends, against a small plain-OAuth2
//! provider served in-process on 127.0.0.1 (the OpenID Connect cases, with the certified
//! `oidc-provider`, are in client-js/test/oauth.test.js): the whole browser flow with
//! PKCE, single-use state, the browser-binding cookie, sign-up, a returning user, the
//! unlink rule and write-only secrets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query as Sql};
use serde_json::{Value, json};

use crate::single_transport;
use crate::support::*;

// Linking an identity to an existing account: tests/cases/oauth_link.rs.
single_transport!(
    Rest: oauth_plain_provider_flow,
    oauth_state_expires,
    oauth_secrets_are_write_only,
    oauth_starts_are_rate_limited
);

pub(crate) const APP: &str = "http://app.roost.test:5173";
const CLIENT_SECRET: &str = "plain-secret-for-rust-tests";

#[derive(Default)]
struct Fake {
    /// code -> (code_challenge, redirect_uri)
    codes: Mutex<HashMap<String, (String, String)>>,
    tokens: Mutex<HashMap<String, ()>>,
}

async fn authorize(
    Query(q): Query<HashMap<String, String>>,
    State(fake): State<Arc<Fake>>,
) -> Response {
    if q.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return (StatusCode::BAD_REQUEST, "pkce required").into_response();
    }
    let code = uuid::Uuid::new_v4().simple().to_string();
    let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
    fake.codes.lock().unwrap().insert(
        code.clone(),
        (
            q.get("code_challenge").cloned().unwrap_or_default(),
            redirect.clone(),
        ),
    );
    let state = q.get("state").cloned().unwrap_or_default();
    let location = format!("{redirect}?code={code}&state={state}");
    (StatusCode::FOUND, [("location", location)]).into_response()
}

async fn token(State(fake): State<Arc<Fake>>, body: String) -> Response {
    let f: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    use sha2::{Digest, Sha256};
    let grant = fake
        .codes
        .lock()
        .unwrap()
        .remove(f.get("code").map_or("", String::as_str));
    let Some((challenge, redirect)) = grant else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    };
    let verifier = f.get("code_verifier").cloned().unwrap_or_default();
    let digest = Sha256::digest(verifier.as_bytes());
    let computed = base64_url(&digest);
    if computed != challenge
        || f.get("redirect_uri") != Some(&redirect)
        || f.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    }
    let access = uuid::Uuid::new_v4().to_string();
    fake.tokens.lock().unwrap().insert(access.clone(), ());
    axum::Json(json!({"access_token": access, "token_type": "bearer"})).into_response()
}

async fn user(headers: HeaderMap, State(fake): State<Arc<Fake>>) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !fake.tokens.lock().unwrap().contains_key(token) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    axum::Json(json!({"id": 777, "login": "plain-user", "email": "plain.user@provider.test"}))
        .into_response()
}

fn base64_url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Serves the fake provider on 127.0.0.1; returns its base URL.
async fn start_provider() -> String {
    let fake = Arc::new(Fake::default());
    let router = axum::Router::new()
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/user", get(user))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

pub(crate) fn no_redirects() -> reqwest::Client {
    roost::oauth::http::install_crypto();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

/// A server allowing `APP` (plus `edit`), with the fake provider registered as `plain`.
pub(crate) async fn plain_setup(
    s: Setup,
    edit: impl FnOnce(&mut roost::config::Config),
) -> TestServer {
    let provider = start_provider().await;
    let srv = s
        .server_with(|c| {
            c.oauth.origins = vec![APP.to_string()];
            edit(c);
        })
        .await;
    add_provider(&srv.admin().await, &provider).await;
    srv
}

/// `GET /oauth/plain<query>` without following the redirect.
pub(crate) async fn start_flow(
    http: &reqwest::Client,
    srv: &TestServer,
    query: &str,
) -> reqwest::Response {
    http.get(format!("{}/oauth/plain{query}", srv.url()))
        .send()
        .await
        .unwrap()
}

/// Walks the flow as a browser: start, the provider's authorize redirect, the callback
/// with the cookie set at start. Returns the callback URL, the cookie and the final answer.
pub(crate) async fn walk(srv: &TestServer, query: &str) -> (String, String, reqwest::Response) {
    let http = no_redirects();
    let start = start_flow(&http, srv, query).await;
    assert_eq!(start.status(), 303);
    let cookie = start.headers().get("set-cookie").unwrap().to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let at_provider = http.get(location(&start)).send().await.unwrap();
    assert_eq!(at_provider.status(), 302);
    let callback = location(&at_provider);
    assert!(callback.starts_with(&format!("{}/oauth/plain/callback?", srv.url())));
    let done = http
        .get(&callback)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    (callback, cookie, done)
}

async fn add_provider(admin: &impl Client, provider: &str) {
    ok(admin
        .create(
            "oauth_providers",
            json!({
                "name": "Plain", "slug": "plain", "key": "roost-test", "secret": CLIENT_SECRET,
                "authorize_url": format!("{provider}/authorize"),
                "token_url": format!("{provider}/token"),
                "userinfo_url": format!("{provider}/user"),
                "allow_signup": true,
            }),
            q(),
        )
        .await);
}

async fn oauth_plain_provider_flow(s: Setup) {
    let srv = plain_setup(s, |_| {}).await;

    // A new user signs up; the fragment is exactly Feathers'.
    let (callback, cookie, done) = walk(&srv, "?redirect=/dashboard").await;
    assert_eq!(done.status(), 303);
    let to = location(&done);
    let token = to
        .strip_prefix(&format!("{APP}/dashboard#access_token="))
        .unwrap_or_else(|| panic!("unexpected redirect {to}"))
        .to_string();
    let me = srv.rest();
    me.set_token(Some(token.clone()));
    let links = ok(me.find("user_oauth_providers", q()).await);
    assert_eq!(links["total"], 1);
    assert_eq!(links["data"][0]["slug"], "plain");
    assert_eq!(links["data"][0]["sub"], "777");
    let sessions = ok(me.find("auth_sessions", q()).await);
    assert_eq!(sessions["data"][0]["auth_provider"], "plain");

    // The state is single use.
    let http = no_redirects();
    let replay = http
        .get(&callback)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
    let body: Value = replay.json().await.unwrap();
    assert_eq!(body["name"], "NotAuthenticated");
    assert_eq!(body["message"], roost::oauth::NO_FLOW);

    // Taken flows are gone.
    assert_eq!(state_rows(&srv).await, 0);
    // Only a hash of the state is stored: not the state, nor anything containing it.
    let http = no_redirects();
    let start = start_flow(&http, &srv, "").await;
    let at = location(&start);
    let state = at
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("state="))
        .unwrap_or_else(|| panic!("no state in {at}"))
        .to_string();
    assert!(state.len() >= 32, "{state}");
    let stored = stored_states(&srv).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    for value in &stored[0] {
        assert!(
            value != &state && !value.contains(&state),
            "the raw state is stored: {value}"
        );
    }
    assert_eq!(stored[0][0], roost::oauth::state::sha256_hex(&state));
    // The pending flow is not taken by the check above; finish it to leave none behind.
    let cookie = start.headers().get("set-cookie").unwrap().to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let at_provider = http.get(&at).send().await.unwrap();
    let finished = http
        .get(location(&at_provider))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(finished.status(), 303);
    assert_eq!(state_rows(&srv).await, 0);

    // A returning user reaches the same account.
    let (_, _, again) = walk(&srv, "").await;
    let to = location(&again);
    let token2 = to.strip_prefix(&format!("{APP}#access_token=")).unwrap();
    let sub = |t: &str| {
        let payload = t.split('.').nth(1).unwrap();
        let bytes = base64_decode(payload);
        serde_json::from_slice::<Value>(&bytes).unwrap()["sub"].clone()
    };
    assert_eq!(sub(&token), sub(token2));

    // The only way in of a password-less account cannot be unlinked.
    let link_id = links["data"][0]["id"].clone();
    let err = expect_err(
        me.remove("user_oauth_providers", link_id, q()).await,
        "BadRequest",
        400,
    );
    assert!(err.message().contains("last way to sign in"));

    // Open redirects are refused before anything is stored.
    let evil = http
        .get(format!(
            "{}/oauth/plain?redirect=https://evil.example/",
            srv.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), 400);
}

pub(crate) async fn state_rows(srv: &TestServer) -> i64 {
    let db = &srv.app().db;
    let select = Sql::select()
        .expr_as(Expr::col(Alias::new("id")).count(), Alias::new("n"))
        .from(Alias::new("oauth_states"))
        .and_where(Expr::col(Alias::new("expires_at")).gt(0))
        .to_owned();
    let row = db
        .query_one_raw(db.get_database_backend().build(&select))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// Every text column of every stored OAuth flow, `state_hash` first.
async fn stored_states(srv: &TestServer) -> Vec<Vec<String>> {
    let db = &srv.app().db;
    let cols = [
        "state_hash",
        "browser_hash",
        "slug",
        "code_verifier",
        "redirect_uri",
    ];
    let select = Sql::select()
        .columns(cols.map(Alias::new))
        .from(Alias::new("oauth_states"))
        .to_owned();
    let rows = db
        .query_all_raw(db.get_database_backend().build(&select))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            cols.iter()
                .map(|c| r.try_get::<String>("", c).unwrap())
                .collect()
        })
        .collect()
}

fn base64_decode(text: &str) -> Vec<u8> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let vals: Vec<u32> = text
        .bytes()
        .filter_map(|c| A.iter().position(|a| *a == c).map(|p| p as u32))
        .collect();
    let mut out = Vec::new();
    for chunk in vals.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, v)| n | (v << (18 - 6 * i)));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

async fn oauth_secrets_are_write_only(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let created = ok(admin
        .create(
            "oauth_providers",
            json!({"slug": "vault", "key": "k", "secret": "Top-Secret-Value-1", "issuer": "https://idp.example.com"}),
            q(),
        )
        .await);
    let id = created["id"].clone();
    let got = ok(admin.get("oauth_providers", id.clone(), q()).await);
    let patched = ok(admin
        .patch(
            "oauth_providers",
            id.clone(),
            json!({"secret": "Top-Secret-Value-2"}),
            q(),
        )
        .await);
    let found = ok(admin.find("oauth_providers", q()).await);
    for value in [&created, &got, &patched, &found] {
        let text = value.to_string();
        assert!(
            !text.contains("secret") && !text.contains("Top-Secret"),
            "{text}"
        );
    }
    let e = expect_err(
        admin
            .find("oauth_providers", json!({"$select": ["secret"]}))
            .await,
        "BadRequest",
        400,
    );
    assert_eq!(e.message(), "Unknown field 'secret'", "{}", e.body);
    // Stored sealed, never in clear.
    let db = &srv.app().db;
    let select = Sql::select()
        .column(Alias::new("secret"))
        .from(Alias::new("oauth_providers"))
        .and_where(Expr::col(Alias::new("slug")).eq("vault"))
        .to_owned();
    let row = db
        .query_one_raw(db.get_database_backend().build(&select))
        .await
        .unwrap()
        .unwrap();
    let stored: String = row.try_get("", "secret").unwrap();
    assert!(stored.starts_with("enc:") && !stored.contains("Top-Secret"));
    // The server's token key (kept in its data directory), as an operator holds it.
    let cipher = roost::auth::crypto::load_or_generate(&srv.app().config).unwrap();
    assert_eq!(
        roost::oauth::provider::open_secret(&cipher, &stored).unwrap(),
        "Top-Secret-Value-2"
    );
    // Plain http to a non-loopback host is refused.
    expect_err(
        admin
            .create(
                "oauth_providers",
                json!({"slug": "http", "key": "k", "token_url": "http://idp.example.com/token"}),
                q(),
            )
            .await,
        "BadRequest",
        400,
    );
}

async fn oauth_state_expires(s: Setup) {
    let srv = plain_setup(s, |c| c.oauth.state_ttl = 1).await;
    let admin = srv.admin().await;
    let http = no_redirects();
    let start = start_flow(&http, &srv, "").await;
    let cookie = start.headers().get("set-cookie").unwrap().to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let at_provider = http.get(location(&start)).send().await.unwrap();
    // Time passes without sleeping: the stored flow's expiry is moved into the past (the
    // OAuth flow reads the system clock; it has no injectable clock yet).
    let past = chrono::Utc::now().timestamp() - 5;
    let db = &srv.app().db;
    let backdate = Sql::update()
        .table(Alias::new("oauth_states"))
        .value(Alias::new("expires_at"), past)
        .to_owned();
    let done = db
        .execute_raw(db.get_database_backend().build(&backdate))
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1, "one pending flow");
    let done = http
        .get(location(&at_provider))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    let to = location(&done);
    assert!(
        to.starts_with(&format!("{APP}#error=")) && to.contains("took%20too%20long"),
        "{to}"
    );
    let users = ok(admin
        .find("users", json!({"email": "plain.user@provider.test"}))
        .await);
    assert_eq!(users["total"], 0);
}

async fn oauth_starts_are_rate_limited(s: Setup) {
    let srv = plain_setup(s, |c| c.oauth.starts_per_ip = 3).await;
    let http = no_redirects();
    for _ in 0..3 {
        assert_eq!(start_flow(&http, &srv, "").await.status(), 303);
    }
    let refused = start_flow(&http, &srv, "").await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().get("retry-after").is_some());
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["name"], "TooManyRequests");
    assert_eq!(state_rows(&srv).await, 3, "a refused start stores nothing");
}
