#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::HeaderValue;
use serde_json::{Value, json};

use super::*;
use crate::transport::tests::{fake_app, req, send};

fn registered(p: &str) -> bool {
    ["users", "v1/users", "v1", "a/b/c"].contains(&p)
}

#[test]
fn resolves_paths() {
    let r = |p: &str| resolve(p, registered);
    assert_eq!(r("/users"), Some(("users".into(), None)));
    assert_eq!(r("/users/"), Some(("users".into(), None)));
    assert_eq!(r("//users"), Some(("users".into(), None)));
    assert_eq!(r("/users/5"), Some(("users".into(), Some("5".into()))));
    assert_eq!(r("/users//5/"), Some(("users".into(), Some("5".into()))));
    assert_eq!(r("/users/5/6"), None);
    assert_eq!(r("/Users"), None);
    assert_eq!(r("/"), None);
    assert_eq!(r(""), None);
    assert_eq!(r("/nothing/5"), None);
    // the longest registered prefix wins
    assert_eq!(r("/v1/users"), Some(("v1/users".into(), None)));
    assert_eq!(
        r("/v1/users/5"),
        Some(("v1/users".into(), Some("5".into())))
    );
    assert_eq!(r("/v1/7"), Some(("v1".into(), Some("7".into()))));
    assert_eq!(r("/a/b/c/d"), Some(("a/b/c".into(), Some("d".into()))));
    assert_eq!(r("/a/b"), None);
    // ids are percent-decoded; malformed escapes are kept as sent
    assert_eq!(
        r("/users/a%40b.c"),
        Some(("users".into(), Some("a@b.c".into())))
    );
    assert_eq!(
        r("/users/a%20b%2Fc"),
        Some(("users".into(), Some("a b/c".into())))
    );
    assert_eq!(
        r("/users/100%"),
        Some(("users".into(), Some("100%".into())))
    );
    assert_eq!(r("/users/a+b"), Some(("users".into(), Some("a+b".into()))));
}

#[test]
fn verbs_to_methods() {
    use axum::http::Method as V;
    assert_eq!(method_for(&V::GET, false, None), Ok(Method::Find));
    assert_eq!(method_for(&V::GET, true, None), Ok(Method::Get));
    assert_eq!(method_for(&V::HEAD, true, None), Ok(Method::Get));
    assert_eq!(method_for(&V::POST, true, None), Ok(Method::Create));
    assert_eq!(method_for(&V::PUT, false, None), Ok(Method::Update));
    assert_eq!(method_for(&V::PATCH, false, None), Ok(Method::Patch));
    assert_eq!(method_for(&V::DELETE, true, None), Ok(Method::Remove));
    // X-Service-Method only matters on POST
    assert_eq!(method_for(&V::GET, false, Some("find")), Ok(Method::Find));
    let err = method_for(&V::POST, false, Some("find")).err();
    assert_eq!(
        err.map(|e| (e.code(), e.message)),
        Some((
            405,
            "Method `find` is not supported by this endpoint.".to_string()
        ))
    );
    let err = method_for(&V::TRACE, false, None).err();
    assert_eq!(
        err.map(|e| (e.code(), e.message)),
        Some((405, "Method TRACE not allowed".to_string()))
    );
}

#[test]
fn bodies_by_content_type() {
    let json_ct = HeaderValue::from_static("application/json; charset=utf-8");
    assert_eq!(
        decode_body(Some(&json_ct), br#"{"a":1}"#, 100),
        Ok(json!({"a": 1}))
    );
    assert_eq!(decode_body(None, br#"[1]"#, 100), Ok(json!([1])));
    assert_eq!(decode_body(Some(&json_ct), b"", 100), Ok(json!({})));
    let bad = decode_body(Some(&json_ct), b"{nope", 100).err();
    assert!(bad.is_some_and(|e| e.code() == 400 && e.message.starts_with("Invalid JSON body: ")));
    let form = HeaderValue::from_static("application/x-www-form-urlencoded");
    assert_eq!(
        decode_body(Some(&form), b"a[b]=1&c=x+y", 100),
        Ok(json!({"a": {"b": "1"}, "c": "x y"}))
    );
    let merge = HeaderValue::from_static("application/merge-patch+json");
    assert_eq!(decode_body(Some(&merge), b"{}", 100), Ok(json!({})));
    let text = HeaderValue::from_static("text/plain");
    let err = decode_body(Some(&text), b"hi", 100).err();
    assert!(err.is_some_and(|e| e.code() == 400 && e.message.contains("text/plain")));
}

fn json_req(method: &str, uri: &str, body: &str) -> axum::http::Request<Body> {
    req(method, uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn find_with_qs_query_and_connection() {
    let app = fake_app(|_| {});
    let uri =
        "/echo?%24sort%5Bname%5D=1&%24sort%5Bn%5D=-1&n%5B%24in%5D%5B0%5D=1&n%5B%24in%5D%5B1%5D=5";
    let request = req("GET", uri)
        .header("authorization", "Bearer tok")
        .header("user-agent", "test-agent")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = send(&app, request).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    assert_eq!(body["method"], "find");
    assert_eq!(body["provider"], "rest");
    assert_eq!(body["token"], "tok");
    assert_eq!(body["ip"], "10.0.0.1");
    assert_eq!(body["ua"], "test-agent");
    assert_eq!(
        body["query"].to_string(),
        json!({"$sort": {"name": "1", "n": "-1"}, "n": {"$in": ["1", "5"]}}).to_string()
    );
}

#[tokio::test]
async fn status_codes_and_ids() {
    let app = fake_app(|_| {});
    let (s, _, b) = send(
        &app,
        req("GET", "/v1/users/a%40b.c").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        (s.as_u16(), &b["id"], &b["path"]),
        (200, &json!("a@b.c"), &json!("v1/users"))
    );

    let (s, _, b) = send(&app, json_req("POST", "/echo/123", r#"{"x":1}"#)).await;
    assert_eq!(
        (s.as_u16(), &b["method"], &b["data"]),
        (201, &json!("create"), &json!({"x": 1}))
    );

    let (s, _, b) = send(&app, req("POST", "/echo").body(Body::empty()).unwrap()).await;
    assert_eq!((s.as_u16(), &b["data"]), (201, &json!({})));

    let (s, _, b) = send(&app, json_req("PUT", "/echo/1", r#"{"x":2}"#)).await;
    assert_eq!(
        (s.as_u16(), &b["method"], &b["id"]),
        (200, &json!("update"), &json!("1"))
    );

    let (s, _, b) = send(&app, json_req("PUT", "/echo", r#"{"x":2}"#)).await;
    assert_eq!((s.as_u16(), &b["id"]), (200, &Value::Null));

    let (s, _, b) = send(&app, json_req("PATCH", "/echo?a=1", r#"{"x":3}"#)).await;
    assert_eq!(
        (s.as_u16(), &b["method"], &b["id"], &b["query"]),
        (200, &json!("patch"), &Value::Null, &json!({"a": "1"}))
    );

    let (s, _, b) = send(&app, req("DELETE", "/echo/9").body(Body::empty()).unwrap()).await;
    assert_eq!(
        (s.as_u16(), &b["method"], &b["id"]),
        (200, &json!("remove"), &json!("9"))
    );

    let (s, h, b) = send(&app, req("GET", "/echo/null").body(Body::empty()).unwrap()).await;
    assert_eq!((s.as_u16(), b), (204, Value::Null));
    assert!(h.get("content-type").is_none());

    let (s, h, b) = send(&app, req("HEAD", "/echo/1").body(Body::empty()).unwrap()).await;
    assert_eq!((s.as_u16(), b), (200, Value::Null));
    assert!(
        h["content-length"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
}

#[tokio::test]
async fn errors_in_feathers_shape() {
    let app = fake_app(|_| {});
    let (s, _, b) = send(&app, req("GET", "/nothing").body(Body::empty()).unwrap()).await;
    assert_eq!(s, 404);
    assert_eq!(
        b,
        json!({"name": "NotFound", "message": "Path /nothing not found", "code": 404, "className": "not-found"})
    );
    let (s, _, _) = send(&app, req("GET", "/echo/1/2").body(Body::empty()).unwrap()).await;
    assert_eq!(s, 404);
    let (s, _, _) = send(&app, req("GET", "/ECHO").body(Body::empty()).unwrap()).await;
    assert_eq!(s, 404);

    let (s, _, b) = send(
        &app,
        req("DELETE", "/readonly/1").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        (s.as_u16(), &b["name"], &b["message"]),
        (
            405,
            &json!("MethodNotAllowed"),
            &json!("Method `remove` is not supported by this endpoint.")
        )
    );

    let custom = req("POST", "/echo")
        .header("x-service-method", "find")
        .body(Body::empty())
        .unwrap();
    let (s, _, b) = send(&app, custom).await;
    assert_eq!(
        (s.as_u16(), &b["message"]),
        (
            405,
            &json!("Method `find` is not supported by this endpoint.")
        )
    );

    let (s, _, b) = send(&app, req("TRACE", "/echo").body(Body::empty()).unwrap()).await;
    assert_eq!(
        (s.as_u16(), &b["className"]),
        (405, &json!("method-not-allowed"))
    );

    let (s, _, b) = send(&app, json_req("POST", "/echo", "{oops")).await;
    assert_eq!((s.as_u16(), &b["name"]), (400, &json!("BadRequest")));

    let (s, h, b) = send(&app, req("GET", "/echo/busy").body(Body::empty()).unwrap()).await;
    assert_eq!((s.as_u16(), &b["name"]), (429, &json!("TooManyRequests")));
    assert_eq!(h["retry-after"], "7");

    let many: Vec<String> = (0..1001).map(|i| format!("a{i}=1")).collect();
    let (s, _, b) = send(
        &app,
        req("GET", &format!("/echo?{}", many.join("&")))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!((s.as_u16(), &b["name"]), (400, &json!("BadRequest")));
}

#[tokio::test]
async fn body_limit_is_413() {
    let app = fake_app(|c| c.http.body_limit = 1024);
    let big = format!(r#"{{"x":"{}"}}"#, "a".repeat(2000));
    let (s, _, b) = send(&app, json_req("POST", "/echo", &big)).await;
    assert_eq!(s, 413);
    assert_eq!(b["name"], "PayloadTooLarge");
    assert_eq!(b["code"], 413);
    assert_eq!(
        b["message"],
        "Request body is larger than the 1024 byte limit"
    );

    // without a Content-Length (a streamed body) the limit still holds
    let chunks: Vec<Result<String, std::io::Error>> = vec![
        Ok("{\"x\":\"".into()),
        Ok("b".repeat(2000)),
        Ok("\"}".into()),
    ];
    let streamed = req("POST", "/echo")
        .header("content-type", "application/json")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let (s, _, _) = send(&app, streamed).await;
    assert_eq!(s, 413);

    let (s, _, _) = send(&app, json_req("POST", "/echo", r#"{"x":"small"}"#)).await;
    assert_eq!(s, 201);
}
