//! A REST client that sends exactly what `@feathersjs/rest-client` (fetch) sends:
//! `qs.stringify(query)` with qs defaults, `encodeURIComponent(id)` in the path,
//! `Accept: application/json`, JSON bodies, `Authorization: Bearer <token>`.

use std::sync::Mutex;

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::client::{Client, FeathersError, Res};

pub struct RestClient {
    base: String,
    http: reqwest::Client,
    token: Mutex<Option<String>>,
}

/// A raw HTTP answer, for tests about status codes, headers and bodies.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl RawResponse {
    /// The body as JSON (panics with the text when it is not JSON).
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as a Feathers error (with the HTTP status).
    #[track_caller]
    pub fn error(&self) -> FeathersError {
        FeathersError {
            status: Some(self.status),
            body: self.json(),
        }
    }
}

impl RestClient {
    pub fn new(base: &str) -> Self {
        // reqwest is built without a rustls provider of its own (see Cargo.toml).
        roost::oauth::http::install_crypto();
        let http = reqwest::Client::builder()
            .no_proxy()
            // A hung server fails the test instead of hanging the run.
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("reqwest client");
        Self {
            base: base.trim_end_matches('/').to_string(),
            http,
            token: Mutex::new(None),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn token(&self) -> Option<String> {
        self.token.lock().unwrap().clone()
    }

    pub fn set_token(&self, token: Option<String>) {
        *self.token.lock().unwrap() = token;
    }

    /// Sends one request. `path_and_query` starts with `/`. `body` is sent as is with
    /// `Content-Type: application/json` when given. The held token is sent unless
    /// `headers` already carries `Authorization`.
    pub async fn raw(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> RawResponse {
        self.send(method, path_and_query, body, headers, true).await
    }

    /// Like [`raw`](Self::raw), never sending the held token.
    pub async fn raw_anonymous(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> RawResponse {
        self.send(method, path_and_query, body, headers, false)
            .await
    }

    async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
        with_token: bool,
    ) -> RawResponse {
        let method = Method::from_bytes(method.as_bytes()).expect("HTTP method");
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path_and_query))
            .header("Accept", "application/json");
        let has_auth = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        if with_token
            && !has_auth
            && let Some(token) = self.token()
        {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.header("Content-Type", "application/json").body(body);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("HTTP request failed: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        RawResponse {
            status,
            headers,
            text,
        }
    }

    /// A service call the way the Feathers rest-client makes it.
    async fn call(
        &self,
        method: &str,
        path: &str,
        id: Option<&Value>,
        data: Option<&Value>,
        query: &Value,
    ) -> Res {
        let mut url = format!("/{}", path.trim_matches('/'));
        if let Some(id) = id {
            url.push('/');
            url.push_str(&encode_uri_component(&id_string(id)));
        }
        let qs = qs_stringify(query);
        if !qs.is_empty() {
            url.push('?');
            url.push_str(&qs);
        }
        let body = data.map(|d| serde_json::to_string(d).expect("JSON body"));
        let resp = self.raw(method, &url, body, &[]).await;
        response_to_result(resp)
    }
}

/// 2xx -> body (204 -> null); anything else -> the Feathers error with its status.
pub fn response_to_result(resp: RawResponse) -> Res {
    if (200..300).contains(&resp.status) {
        if resp.status == 204 || resp.text.is_empty() {
            return Ok(Value::Null);
        }
        return Ok(resp.json());
    }
    let body = serde_json::from_str(&resp.text).unwrap_or_else(
        |_| json!({ "name": "<not JSON>", "message": resp.text, "code": resp.status }),
    );
    Err(FeathersError {
        status: Some(resp.status),
        body,
    })
}

impl Client for RestClient {
    async fn find(&self, path: &str, query: Value) -> Res {
        self.call("GET", path, None, None, &query).await
    }
    async fn get(&self, path: &str, id: Value, query: Value) -> Res {
        self.call("GET", path, Some(&id), None, &query).await
    }
    async fn create(&self, path: &str, data: Value, query: Value) -> Res {
        self.call("POST", path, None, Some(&data), &query).await
    }
    async fn update(&self, path: &str, id: Value, data: Value, query: Value) -> Res {
        let id = (!id.is_null()).then_some(&id);
        self.call("PUT", path, id, Some(&data), &query).await
    }
    async fn patch(&self, path: &str, id: Value, data: Value, query: Value) -> Res {
        let id = (!id.is_null()).then_some(&id);
        self.call("PATCH", path, id, Some(&data), &query).await
    }
    async fn remove(&self, path: &str, id: Value, query: Value) -> Res {
        let id = (!id.is_null()).then_some(&id);
        self.call("DELETE", path, id, None, &query).await
    }
    async fn authenticate(&self, data: Value) -> Res {
        // The authentication-client never sends a stale token with a login.
        let body = serde_json::to_string(&data).expect("JSON body");
        let resp = self
            .raw_anonymous("POST", "/authentication", Some(body), &[])
            .await;
        let status = resp.status;
        let result = response_to_result(resp)?;
        assert_eq!(
            status, 201,
            "POST /authentication must answer 201: {result}"
        );
        self.set_token(result["accessToken"].as_str().map(str::to_string));
        Ok(result)
    }
    async fn logout(&self) -> Res {
        let result = self
            .call("DELETE", "authentication", None, None, &json!({}))
            .await;
        self.set_token(None);
        result
    }
}

/// How Feathers' rest-client puts an id in the path: `String(id)`.
pub fn id_string(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// JavaScript's `encodeURIComponent`.
pub fn encode_uri_component(s: &str) -> String {
    percent_encode(s, |c| {
        c.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&c)
    })
}

/// qs's default (RFC 3986) value/key encoder: only unreserved characters stay.
fn qs_encode(s: &str) -> String {
    percent_encode(s, |c| c.is_ascii_alphanumeric() || b"-_.~".contains(&c))
}

fn percent_encode(s: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `qs.stringify(query)` with qs defaults, as `@feathersjs/rest-client` calls it:
/// brackets for nesting, indices for arrays, everything percent-encoded, `null` as an
/// empty value, empty arrays and objects dropped, no leading `?`.
pub fn qs_stringify(query: &Value) -> String {
    let mut parts = Vec::new();
    if let Value::Object(map) = query {
        for (k, v) in map {
            qs_push(&mut parts, k.clone(), v);
        }
    }
    parts.join("&")
}

fn qs_push(parts: &mut Vec<String>, key: String, value: &Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                qs_push(parts, format!("{key}[{k}]"), v);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                qs_push(parts, format!("{key}[{i}]"), v);
            }
        }
        Value::Null => parts.push(format!("{}=", qs_encode(&key))),
        Value::String(s) => parts.push(format!("{}={}", qs_encode(&key), qs_encode(s))),
        other => parts.push(format!(
            "{}={}",
            qs_encode(&key),
            qs_encode(&other.to_string())
        )),
    }
}

#[test]
fn qs_matches_the_official_client() {
    // feathers-protocol §1.3, observed on the wire from @feathersjs/rest-client.
    let query = json!({
        "$sort": {"name": 1, "n": -1}, "$limit": 5, "$skip": 0,
        "$select": ["text", "n"], "n": {"$in": [1, 5], "$gt": 0},
        "$or": [{"text": "x"}, {"n": {"$lt": 3}}], "flag": true, "nothing": null,
        "empty": [], "obj": {}
    });
    assert_eq!(
        qs_stringify(&query),
        "%24sort%5Bname%5D=1&%24sort%5Bn%5D=-1&%24limit=5&%24skip=0&%24select%5B0%5D=text\
         &%24select%5B1%5D=n&n%5B%24in%5D%5B0%5D=1&n%5B%24in%5D%5B1%5D=5&n%5B%24gt%5D=0\
         &%24or%5B0%5D%5Btext%5D=x&%24or%5B1%5D%5Bn%5D%5B%24lt%5D=3&flag=true&nothing="
    );
    assert_eq!(qs_stringify(&json!({"a": "b c/é"})), "a=b%20c%2F%C3%A9");
    assert_eq!(encode_uri_component("a b/c"), "a%20b%2Fc");
}
