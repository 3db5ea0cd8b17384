//! Linking a provider identity to an existing account (account-takeover review: forced
//! linking through `feathers_token`). Only the account holder links, by
//! `POST /oauth/:slug/link` with the session in the `Authorization` header, and the
//! callback must come back to the same browser; `GET /oauth/:slug?feathers_token=` is
//! refused; the linked account is mailed a notice. Uses the fake plain-OAuth2 provider of
//! tests/cases/oauth.rs (its one user: subject 777).

use serde_json::{Value, json};

use crate::oauth::{APP, location, no_redirects, plain_setup, start_flow, state_rows, walk};
use crate::single_transport;
use crate::support::smtp::SmtpServer;
use crate::support::*;

single_transport!(
    Rest: oauth_get_refuses_feathers_token,
    oauth_link_needs_the_authorization_header,
    oauth_link_flow_links_the_caller_and_tells_them,
    oauth_link_callback_needs_the_same_browser
);

const LINKER: &str = "linker@roost.test";

/// A user with the test password, logged in: `(id, access token, connection)`.
async fn linker(srv: &TestServer) -> (i64, String, Conn) {
    let admin = srv.admin().await;
    let user = srv.create_user(&admin, LINKER).await;
    let c = srv.login(LINKER, PASSWORD).await;
    let token = c.token().unwrap();
    (user["id"].as_i64().unwrap(), token, c)
}

async fn links_of(srv: &TestServer, token: &str) -> Value {
    let me = srv.rest();
    me.set_token(Some(token.to_string()));
    ok(me.find("user_oauth_providers", q()).await)
}

/// `POST /oauth/plain/link<query>` with `headers` and an optional JSON body.
async fn post_link(
    srv: &TestServer,
    query: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = no_redirects().post(format!("{}/oauth/plain/link{query}", srv.url()));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

async fn assert_not_authenticated(res: reqwest::Response) {
    assert_eq!(res.status(), 401);
    assert!(res.headers().get("set-cookie").is_none());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["name"], "NotAuthenticated", "{body}");
}

fn subject_of(jwt: &str) -> i64 {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims["sub"].as_str().unwrap().parse().unwrap()
}

/// POSTs the link start as the holder of `token`; follows the provider's authorize
/// redirect. Returns the callback URL and the flow cookie (`name=value`).
async fn start_link(srv: &TestServer, token: &str, query: &str) -> (String, String) {
    let bearer = format!("Bearer {token}");
    let res = post_link(srv, query, &[("authorization", &bearer)], None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("Path=/oauth/plain/callback"));
    let cookie = cookie.split(';').next().unwrap().to_string();
    let body: Value = res.json().await.unwrap();
    let authorize = body["location"].as_str().unwrap();
    assert!(authorize.contains("state=") && authorize.contains("code_challenge="));
    let at_provider = no_redirects().get(authorize).send().await.unwrap();
    assert_eq!(at_provider.status(), 302);
    (location(&at_provider), cookie)
}

async fn oauth_get_refuses_feathers_token(s: Setup) {
    let srv = plain_setup(s, |_| {}).await;
    let (_, token, _c) = linker(&srv).await;
    let http = no_redirects();
    let res = start_flow(&http, &srv, &format!("?feathers_token={token}")).await;
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("set-cookie").is_none());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["name"], "BadRequest");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("POST /oauth/<slug>/link"), "{message}");
    assert!(!message.contains(&token));
    // Refused before anything is stored; an empty value is refused too.
    assert_eq!(state_rows(&srv).await, 0);
    let empty = start_flow(&http, &srv, "?feathers_token=").await;
    assert_eq!(empty.status(), 400);
    assert_eq!(state_rows(&srv).await, 0);
    assert_eq!(links_of(&srv, &token).await["total"], 0);
}

async fn oauth_link_needs_the_authorization_header(s: Setup) {
    let srv = plain_setup(s, |_| {}).await;
    let (_, token, c) = linker(&srv).await;
    assert_not_authenticated(post_link(&srv, "", &[], None).await).await;
    // A token anywhere but the header is not read.
    let query = format!("?feathers_token={token}&access_token={token}&accessToken={token}");
    assert_not_authenticated(post_link(&srv, &query, &[], None).await).await;
    let body = json!({"accessToken": token, "access_token": token, "feathers_token": token});
    assert_not_authenticated(post_link(&srv, "", &[], Some(body)).await).await;
    assert_not_authenticated(
        post_link(&srv, "", &[("authorization", "Bearer not.a.jwt")], None).await,
    )
    .await;
    assert_not_authenticated(
        post_link(&srv, "", &[("authorization", "Basic dXNlcjpwYXNz")], None).await,
    )
    .await;
    // A revoked session cannot link.
    ok(c.logout().await);
    let bearer = format!("Bearer {token}");
    assert_not_authenticated(post_link(&srv, "", &[("authorization", &bearer)], None).await).await;
    assert_eq!(state_rows(&srv).await, 0, "a refused start stores nothing");
    // A GET on the link path is not a way around it.
    let get = no_redirects()
        .get(format!("{}/oauth/plain/link", srv.url()))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);

    // The OpenAPI document describes the contract.
    let doc: Value = no_redirects()
        .get(format!("{}/openapi.json", srv.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = &doc["paths"]["/oauth/{slug}/link"]["post"];
    assert!(
        link.get("security").is_none(),
        "bearer, as the document's default"
    );
    let answer = &link["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(answer["required"], json!(["location"]));
    assert!(link["responses"].get("401").is_some());
    let start = doc["paths"]["/oauth/{slug}"]["get"]["parameters"].to_string();
    assert!(!start.contains("\"feathers_token\""), "{start}");
}

async fn oauth_link_flow_links_the_caller_and_tells_them(s: Setup) {
    let smtp = SmtpServer::start().await;
    let port = smtp.port;
    let srv = plain_setup(s, |c| {
        c.notify.transport = Some("smtp".into());
        c.notify.smtp.host = "127.0.0.1".into();
        c.notify.smtp.port = port;
        c.notify.smtp.tls = "none".into();
        c.notify.smtp.from = "Roost <roost@roost.test>".into();
        c.notify.backoff_ms = 50;
    })
    .await;
    let (uid, token, _c) = linker(&srv).await;
    let (callback, cookie) = start_link(&srv, &token, "?redirect=/settings").await;
    let done = no_redirects()
        .get(&callback)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    let to = location(&done);
    let issued = to
        .strip_prefix(&format!("{APP}/settings#access_token="))
        .unwrap_or_else(|| panic!("unexpected redirect {to}"));
    assert_eq!(subject_of(issued), uid, "signed in to the linking account");

    let links = links_of(&srv, &token).await;
    assert_eq!(links["total"], 1, "{links}");
    assert_eq!(links["data"][0]["slug"], "plain");
    assert_eq!(links["data"][0]["sub"], "777");
    let admin = srv.admin().await;
    let events = ok(admin
        .find(
            "events",
            json!({"event": "custom", "custom_event": "oauth_linked", "user_id": uid}),
        )
        .await);
    assert_eq!(events["total"], 1, "{events}");

    // The account is told, without any token.
    let mail = smtp.next_to(LINKER).await;
    assert_eq!(
        mail.subject(),
        Some("A sign-in method was linked to your account")
    );
    let body = mail.body();
    assert!(body.contains("(Plain)") && body.contains(LINKER), "{body}");
    for secret in [token.as_str(), issued] {
        assert!(!mail.data.contains(secret), "a token in the notice");
    }

    // The provider's later sign-ins land on the linking account, and tell nobody again.
    let (_, _, again) = walk(&srv, "").await;
    let to = location(&again);
    let issued = to.strip_prefix(&format!("{APP}#access_token=")).unwrap();
    assert_eq!(subject_of(issued), uid);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(smtp.count_to(LINKER), 0);
    assert_eq!(smtp.count_to("plain.user@provider.test"), 0);
}

async fn oauth_link_callback_needs_the_same_browser(s: Setup) {
    let srv = plain_setup(s, |_| {}).await;
    let (_, token, _c) = linker(&srv).await;
    let (callback, _cookie) = start_link(&srv, &token, "").await;
    // The provider sends another browser (no flow cookie) to the callback.
    let done = no_redirects().get(&callback).send().await.unwrap();
    assert_eq!(done.status(), 303);
    let to = location(&done);
    assert!(
        to.starts_with(&format!("{APP}#error=")) && to.contains("another%20browser"),
        "{to}"
    );
    assert_eq!(links_of(&srv, &token).await["total"], 0);
    // The state is used up: the right browser cannot finish it afterwards either.
    assert_eq!(state_rows(&srv).await, 0);
}
