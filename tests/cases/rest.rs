//! REST specifics: status codes, routes, headers, and query strings exactly as the
//! official rest-client encodes them (feathers-protocol §1).

use serde_json::{Value, json};

use crate::single_transport;
use crate::support::*;

single_transport!(Rest:
    status_codes_and_content_type,
    health_answers_200,
    unknown_paths_are_404,
    multi_operations_are_refused,
    missing_methods_are_405,
    x_service_method,
    malformed_bodies_are_bad_requests,
    cors_preflight,
    openapi_describes_every_service,
);

#[track_caller]
fn assert_json_type(r: &rest::RawResponse) {
    let ct = r.header("content-type").unwrap_or("");
    assert!(
        ct.starts_with("application/json"),
        "content-type {ct:?} for {}",
        r.text
    );
}

async fn status_codes_and_content_type(s: Setup) {
    let srv = s.server().await;
    let c = srv.rest_admin().await;
    let body = |v: Value| Some(v.to_string());
    let r = c
        .raw(
            "POST",
            "/roles",
            body(json!({"name": "R", "slug": "r"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_json_type(&r);
    let id = r.json()["id"].as_i64().expect("id");
    let r = c.raw("GET", &format!("/roles/{id}"), None, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_json_type(&r);
    let r = c.raw("GET", "/roles", None, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = c
        .raw(
            "PATCH",
            &format!("/roles/{id}"),
            body(json!({"name": "R2"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = c
        .raw(
            "PUT",
            &format!("/roles/{id}"),
            body(json!({"name": "R3", "slug": "r"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = c.raw("DELETE", &format!("/roles/{id}"), None, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["name"], "R3");
    let r = c.raw("GET", &format!("/roles/{id}"), None, &[]).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_json_type(&r);
    let e = r.error();
    e.assert_kind("NotFound", 404);
    assert_eq!(e.message(), format!("No record found for id '{id}'"));
    // Errors are JSON too.
    let r = c.raw_anonymous("GET", "/roles", None, &[]).await;
    assert_eq!(r.status, 401);
    assert_json_type(&r);
    r.error().assert_kind("NotAuthenticated", 401);
    // Login answers 201, logout 200.
    let r = c
        .raw_anonymous(
            "POST",
            "/authentication",
            body(json!({"strategy": "local", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.json()["accessToken"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {token}");
    let r = c
        .raw(
            "DELETE",
            "/authentication",
            None,
            &[("Authorization", &bearer)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn health_answers_200(s: Setup) {
    let srv = s.server().await;
    let r = srv.rest().raw("GET", "/health", None, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn unknown_paths_are_404(s: Setup) {
    let srv = s.server().await;
    let c = srv.rest_admin().await;
    for (method, path) in [
        ("GET", "/nothing"),
        ("GET", "/nothing/1"),
        ("POST", "/nothing"),
        ("GET", "/roles/1/2"),
        ("GET", "/ROLES"),
        ("DELETE", "/nothing/1"),
    ] {
        let body = (method == "POST").then(|| "{}".to_string());
        let r = c.raw(method, path, body, &[]).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
        r.error().assert_kind("NotFound", 404);
    }
    // Slashes are trimmed, as Feathers does.
    let r = c.raw("GET", "/roles/", None, &[]).await;
    assert_eq!(r.status, 200, "/roles/: {}", r.text);
}

async fn multi_operations_are_refused(s: Setup) {
    let srv = s.server().await;
    let c = srv.rest_admin().await;
    ok(
        c.create("roles", json!({"name": "Keep", "slug": "keep"}), q())
            .await,
    );
    let before = ok(c.find("roles", json!({"$limit": 0})).await)["total"].clone();

    let r = c
        .raw(
            "PATCH",
            "/roles",
            Some(json!({"name": "all"}).to_string()),
            &[],
        )
        .await;
    let e = r.error();
    e.assert_kind("MethodNotAllowed", 405);
    assert_eq!(e.message(), "Can not patch multiple entries");

    let r = c.raw("DELETE", "/roles?slug=keep", None, &[]).await;
    let e = r.error();
    e.assert_kind("MethodNotAllowed", 405);
    assert_eq!(e.message(), "Can not remove multiple entries");

    for data in [
        json!([{"name": "A", "slug": "a"}, {"name": "B", "slug": "b"}]),
        json!([]),
    ] {
        let r = c.raw("POST", "/roles", Some(data.to_string()), &[]).await;
        let e = r.error();
        e.assert_kind("MethodNotAllowed", 405);
        assert_eq!(e.message(), "Can not create multiple entries");
    }

    let r = c
        .raw(
            "PUT",
            "/roles",
            Some(json!({"name": "all", "slug": "all"}).to_string()),
            &[],
        )
        .await;
    let e = r.error();
    e.assert_kind("BadRequest", 400);
    assert_eq!(
        e.message(),
        "You can not replace multiple instances. Did you mean 'patch'?"
    );

    let after = ok(c.find("roles", json!({"$limit": 0})).await)["total"].clone();
    assert_eq!(before, after, "nothing changed");
    let keep = ok(c.find("roles", json!({"slug": "keep"})).await);
    assert_eq!(page_field(&keep, "name"), ["Keep"]);
}

async fn missing_methods_are_405(s: Setup) {
    let srv = s.server().await;
    let c = srv.rest_admin().await;
    // The authentication service has create and remove only.
    for (method, path) in [
        ("GET", "/authentication"),
        ("GET", "/authentication/1"),
        ("PATCH", "/authentication/1"),
        ("PUT", "/authentication/1"),
    ] {
        let body = matches!(method, "PATCH" | "PUT").then(|| "{}".to_string());
        let r = c.raw(method, path, body, &[]).await;
        let e = r.error();
        e.assert_kind("MethodNotAllowed", 405);
        assert!(
            e.message().contains("is not supported by this endpoint"),
            "{method} {path}: {}",
            e.body
        );
    }
    // The audit log is append-only.
    let ev = page_data(&ok(c.find("events", json!({"$limit": 1})).await));
    let id = ev.first().map_or(json!(1), |e| e["id"].clone());
    for (method, body) in [("PATCH", Some("{}")), ("PUT", Some("{}")), ("DELETE", None)] {
        let r = c
            .raw(
                method,
                &format!("/events/{id}"),
                body.map(str::to_string),
                &[],
            )
            .await;
        r.error().assert_kind("MethodNotAllowed", 405);
    }
    // An unsupported verb.
    // feathers-protocol §1.1: "Any other verb -> 405 'Method X not allowed'".
    let r = c.raw("TRACE", "/roles", None, &[]).await;
    let e = r.error();
    e.assert_kind("MethodNotAllowed", 405);
    assert_eq!(e.message(), "Method TRACE not allowed", "{}", e.body);
}

async fn x_service_method(s: Setup) {
    let srv = s.server().await;
    let c = srv.rest_admin().await;
    for m in ["find", "get", "remove", "doThing"] {
        let r = c
            .raw(
                "POST",
                "/roles",
                Some(json!({"name": "X", "slug": "x"}).to_string()),
                &[("X-Service-Method", m)],
            )
            .await;
        let e = r.error();
        e.assert_kind("MethodNotAllowed", 405);
        assert_eq!(
            e.message(),
            format!("Method `{m}` is not supported by this endpoint."),
            "{}",
            e.body
        );
    }
    assert_eq!(
        ok(c.find("roles", json!({"slug": "x"})).await)["total"],
        0,
        "nothing created"
    );
}

async fn malformed_bodies_are_bad_requests(s: Setup) {
    let srv = s.server().await;
    let c = srv.rest_admin().await;
    let role = ok(c.create("roles", json!({"slug": "target"}), q()).await);
    let path = format!("/roles/{}", role["id"]);
    // An empty body is an empty patch (Express parses it as `{}`): 200, the record with
    // no field changed (the write itself stamps `updated_at`).
    let r = c.raw("PATCH", &path, Some(String::new()), &[]).await;
    assert_eq!(r.status, 200, "PATCH empty body: {}", r.text);
    let mut got: serde_json::Value = serde_json::from_str(&r.text).unwrap();
    got["updated_at"] = role["updated_at"].clone();
    assert_eq!(got, role, "an empty patch changes no field");
    let before = ok(c.find("roles", json!({"$limit": 50})).await);
    for body in ["{not json", "\"a string\"", "42", "null", "true", ""] {
        let r = c.raw("POST", "/roles", Some(body.to_string()), &[]).await;
        assert_eq!(r.status, 400, "POST body {body:?}: {}", r.text);
        r.error().assert_kind("BadRequest", 400);
        if body.is_empty() {
            continue; // an empty patch, above
        }
        let r = c.raw("PATCH", &path, Some(body.to_string()), &[]).await;
        assert_eq!(r.status, 400, "PATCH body {body:?}: {}", r.text);
        r.error().assert_kind("BadRequest", 400);
    }
    assert_eq!(
        ok(c.find("roles", json!({"$limit": 50})).await),
        before,
        "no bad body wrote anything"
    );
    // Wrong content type.
    let r = c
        .raw(
            "POST",
            "/roles",
            Some("name=x&slug=y".into()),
            &[("Content-Type", "text/plain")],
        )
        .await;
    let e = r.error();
    e.assert_kind("BadRequest", 400);
    assert_eq!(
        e.message(),
        "Unsupported Content-Type 'text/plain': send application/json",
        "{}",
        e.body
    );
    assert_eq!(ok(c.find("roles", json!({"slug": "y"})).await)["total"], 0);
    // Too large a body.
    let big =
        json!({"name": "x".repeat(srv.config.http.body_limit + 10), "slug": "big"}).to_string();
    let r = c.raw("POST", "/roles", Some(big), &[]).await;
    // 413 with a Feathers-shaped `PayloadTooLarge` body (see transport::rest::too_large).
    assert_eq!(
        r.status,
        413,
        "oversized body: {}",
        &r.text[..r.text.len().min(200)]
    );
    let body: serde_json::Value = serde_json::from_str(&r.text).unwrap();
    assert_eq!(body["name"], "PayloadTooLarge", "{body}");
    assert_eq!(body["code"], 413, "{body}");
    assert_eq!(
        ok(c.find("roles", json!({"slug": "big"})).await)["total"],
        0
    );
}

async fn cors_preflight(s: Setup) {
    let srv = s.server().await;
    let c = srv.rest();
    let r = c
        .raw_anonymous(
            "OPTIONS",
            "/roles",
            None,
            &[
                ("Origin", "http://localhost:5173"),
                ("Access-Control-Request-Method", "PATCH"),
                (
                    "Access-Control-Request-Headers",
                    "authorization,content-type,x-service-method",
                ),
            ],
        )
        .await;
    // Feathers' generated apps (cors()) answer a preflight with 204 No Content.
    assert_eq!(r.status, 204, "preflight: {:?} {}", r.headers, r.text);
    assert!(
        r.header("access-control-allow-origin").is_some(),
        "{:?}",
        r.headers
    );
    let methods = r
        .header("access-control-allow-methods")
        .unwrap_or("")
        .to_ascii_uppercase();
    assert!(
        methods.contains("PATCH") || methods == "*",
        "allow-methods {methods:?}"
    );
    let headers = r
        .header("access-control-allow-headers")
        .unwrap_or("")
        .to_ascii_lowercase();
    for h in ["authorization", "content-type", "x-service-method"] {
        assert!(
            headers.contains(h) || headers == "*",
            "allow-headers {headers:?} lacks {h}"
        );
    }
    // Simple requests carry the header too.
    let r = c
        .raw_anonymous(
            "GET",
            "/health",
            None,
            &[("Origin", "http://localhost:5173")],
        )
        .await;
    assert!(
        r.header("access-control-allow-origin").is_some(),
        "{:?}",
        r.headers
    );
}

async fn openapi_describes_every_service(s: Setup) {
    let srv = s.server().await;
    let r = srv.rest().raw("GET", "/openapi.json", None, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = &doc["paths"];
    for path in [
        "/users",
        "/users/{id}",
        "/roles",
        "/auth_sessions",
        "/v1/users/invite",
    ] {
        assert!(paths.get(path).is_some(), "{path} missing");
    }
    // Every route the README documents: logout, liveness, OAuth start and callback.
    assert!(paths["/authentication"]["delete"].is_object(), "logout");
    assert!(paths["/authentication"]["post"].is_object(), "login");
    assert!(paths["/health"]["get"].is_object(), "health");
    assert!(
        paths
            .as_object()
            .unwrap()
            .keys()
            .any(|p| p.starts_with("/oauth/")),
        "oauth routes"
    );
    assert!(
        paths["/openapi.json"]["get"].is_object(),
        "the document itself"
    );
    // Every operation has an id, and no two share one (OpenAPI requires it; tools such as
    // schemathesis and client generators key operations by it).
    let mut ids = std::collections::HashSet::new();
    for (path, ops) in paths.as_object().unwrap() {
        for (verb, op) in ops.as_object().unwrap() {
            let id = op["operationId"].as_str();
            assert!(id.is_some(), "{verb} {path} has no operationId");
            assert!(
                ids.insert(id.unwrap().to_string()),
                "{verb} {path}: duplicate id"
            );
        }
    }
    // Session rows are written by logins only: no create or update is offered.
    assert!(paths["/auth_sessions"].get("post").is_none());
    assert!(paths["/auth_sessions/{id}"].get("put").is_none());
    // Text columns declare their bounds.
    assert_eq!(
        doc["components"]["schemas"]["users_data"]["properties"]["email"]["maxLength"],
        255
    );
    // Write-only fields are inputs, never outputs.
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["users"]["properties"].get("password").is_none());
    assert!(
        schemas["users_data"]["properties"]
            .get("password")
            .is_some()
    );
    assert!(
        schemas["oauth_providers"]["properties"]
            .get("secret")
            .is_none()
    );
    // Reports answer one record and declare their own query parameters.
    let explain = &paths["/authorization/explain"]["get"];
    assert_eq!(
        explain["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/authorization_explain"
    );
    let scope = explain["parameters"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "scope"))
        .expect("scope parameter");
    assert_eq!(scope["required"], true);
    let v1 = &paths["/v1/users"]["get"];
    assert_eq!(
        v1["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/v1_users"
    );
    assert!(
        schemas["v1_users"]["properties"]
            .get("pagination")
            .is_some()
    );
}
