//! The OpenAPI 3.1 document, generated from the registered services (their methods and
//! schemas), so it cannot drift from the code. Served at `GET /openapi.json`.

use serde_json::{Map, Value, json};

use crate::config::MetricsConfig;
use crate::service::{Method, Registry};

/// Builds the document for every service that describes itself, the `routes` mounted
/// beside them (the OAuth routes: the router passes their paths in), and the server's own
/// routes (`/metrics` as configured).
pub fn document(registry: &Registry, routes: Map<String, Value>, metrics: &MetricsConfig) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert("Error".into(), error_schema());
    for path in registry.paths() {
        let Some(service) = registry.get(path) else {
            continue;
        };
        let Some(schema) = service.schema() else {
            continue;
        };
        let name = path.replace('/', "_");
        schemas.insert(name.clone(), schema["record"].clone());
        schemas.insert(format!("{name}_data"), schema["data"].clone());
        let methods = service.methods();
        let record = reference(&name);
        let data = reference(&format!("{name}_data"));
        let paginated = schema
            .get("paginated")
            .and_then(Value::as_bool)
            .unwrap_or(true);

        let mut collection = Map::new();
        if methods.contains(&Method::Find) {
            // `"find": "record"`: find answers one record (a report, a page of its own shape).
            let answer = if schema.get("find").and_then(Value::as_str) == Some("record") {
                record.clone()
            } else if paginated {
                page_of(&record)
            } else {
                array_of(&record)
            };
            let mut op = operation(path, "find", &[], None, 200, answer);
            add_query_parameters(&mut op, schema.get("query"));
            collection.insert("get".into(), op);
        }
        if methods.contains(&Method::Create) {
            collection.insert(
                "post".into(),
                operation(path, "create", &[], Some(&data), 201, record.clone()),
            );
        }
        // `"remove": "collection"`: `remove(null)` is the method (logout: `DELETE /authentication`).
        if methods.contains(&Method::Remove)
            && schema.get("remove").and_then(Value::as_str) == Some("collection")
        {
            // Operation ids are unique in a document: the item `remove` keeps `<path>_remove`.
            collection.insert(
                "delete".into(),
                operation(path, "remove_collection", &[], None, 200, record.clone()),
            );
        }
        if !collection.is_empty() {
            paths.insert(format!("/{path}"), Value::Object(collection));
        }

        let mut item = Map::new();
        let id = ["id"];
        for (method, verb, body, status) in [
            (Method::Get, "get", None, 200),
            (Method::Update, "put", Some(&data), 200),
            (Method::Patch, "patch", Some(&data), 200),
            (Method::Remove, "delete", None, 200),
        ] {
            if methods.contains(&method) {
                item.insert(
                    verb.into(),
                    operation(path, method.as_str(), &id, body, status, record.clone()),
                );
            }
        }
        if !item.is_empty() {
            paths.insert(format!("/{path}/{{id}}"), Value::Object(item));
        }
    }
    paths.extend(routes);
    let readiness = json!({ "type": "object", "required": ["status", "checks"],
        "properties": {
            "status": { "type": "string", "enum": ["ready", "unavailable"] },
            "checks": { "type": "object", "additionalProperties": { "type": "string" } },
        } });
    paths.insert(
        "/health".into(),
        json!({ "get": {
            "operationId": "health",
            "tags": ["server"],
            "summary": "Liveness: 200 while the process serves requests",
            "security": [],
            "responses": { "200": { "description": "Alive",
                "content": { "application/json": { "schema": { "type": "object" } } } } },
        } }),
    );
    paths.insert(
        "/ready".into(),
        json!({ "get": {
            "operationId": "ready",
            "tags": ["server"],
            "summary": "Readiness: 200 when the database answers, every migration is applied and (several instances) the cluster bus listens; 503 otherwise",
            "security": [],
            "responses": {
                "200": { "description": "Ready", "content": { "application/json": { "schema": readiness.clone() } } },
                "503": { "description": "Not ready: `checks` says what is wrong", "content": { "application/json": { "schema": readiness } } },
            },
        } }),
    );
    paths.insert(
        "/".into(),
        json!({ "get": {
            "operationId": "root",
            "tags": ["server"],
            "summary": "The server's name, version and links to its documents",
            "security": [],
            "responses": { "200": { "description": "About this server",
                "content": { "application/json": { "schema": { "type": "object",
                    "required": ["name", "version", "links"],
                    "properties": {
                        "name": { "type": "string" }, "version": { "type": "string" },
                        "description": { "type": "string" },
                        "links": { "type": "object", "additionalProperties": { "type": "string" } },
                    } } } } } },
        } }),
    );
    paths.insert("/.well-known/jwks.json".into(), jwks_path());
    paths.insert(
        "/docs/".into(),
        json!({ "get": {
            "operationId": "docs",
            "tags": ["server"],
            "summary": "A readable reference of this document (Swagger UI, served from the binary; `/docs` redirects here)",
            "security": [],
            "responses": { "200": { "description": "The reference page",
                "content": { "text/html": { "schema": { "type": "string" } } } } },
        } }),
    );
    paths.insert(
        "/openapi.json".into(),
        json!({ "get": {
            "operationId": "openapi",
            "tags": ["server"],
            "summary": "This document",
            "security": [],
            "responses": { "200": { "description": "The OpenAPI 3.1 document",
                "content": { "application/json": { "schema": { "type": "object" } } } } },
        } }),
    );
    let mut security_schemes =
        json!({ "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } });
    if metrics.enabled {
        paths.insert("/metrics".into(), metrics_path(metrics.token.is_some()));
        if metrics.token.is_some() {
            security_schemes["metrics_token"] = json!({ "type": "http", "scheme": "bearer",
                "description": "The configured metrics.token" });
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Roost",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Identity and access server speaking the FeathersJS v5 service protocol. \
    Every service is also reachable over Socket.IO at /socket.io/ (emit(method, path, ...args)). \
    find accepts the Feathers query syntax in the query string: field=value, field[$lt|$lte|$gt|$gte|$ne|$in|$nin|$like|$notlike|$ilike]=..., \
    $or/$and, $sort[field]=1|-1, $select[]=field, $limit, $skip.",
        },
        "components": {
            "securitySchemes": security_schemes,
            "schemas": schemas,
        },
        "security": [{ "bearer": [] }],
        "paths": paths,
    })
}

/// `GET /.well-known/jwks.json`: exactly the members Roost publishes (public parts only).
fn jwks_path() -> Value {
    let common = |kty: &str, alg: &str, members: &[&str]| {
        let mut properties = Map::new();
        properties.insert("kty".into(), json!({ "type": "string", "const": kty }));
        for member in members {
            properties.insert((*member).into(), json!({ "type": "string" }));
        }
        properties.insert("alg".into(), json!({ "type": "string", "const": alg }));
        properties.insert("use".into(), json!({ "type": "string", "const": "sig" }));
        properties.insert("kid".into(), json!({ "type": "string" }));
        let mut required: Vec<&str> = vec!["kty"];
        required.extend(members);
        required.extend(["alg", "use", "kid"]);
        json!({ "type": "object", "properties": properties, "required": required,
            "additionalProperties": false })
    };
    let mut okp = common("OKP", "EdDSA", &["crv", "x"]);
    okp["properties"]["crv"] = json!({ "type": "string", "const": "Ed25519" });
    let rsa = common("RSA", "RS256", &["n", "e"]);
    json!({ "get": {
        "operationId": "jwks",
        "tags": ["server"],
        "summary": "The public keys that verify access tokens (JWK Set, RFC 7517); empty with the default HS256, whose secret is never published",
        "security": [],
        "responses": { "200": { "description": "The JWK Set (Cache-Control: public, max-age=300)",
            "content": { "application/json": { "schema": {
                "type": "object",
                "required": ["keys"],
                "additionalProperties": false,
                "properties": { "keys": { "type": "array", "items": { "oneOf": [okp, rsa] } } },
            } } } } },
    } })
}

/// `GET /metrics`: Prometheus text; with a token, 401 without it.
fn metrics_path(token: bool) -> Value {
    let text = json!({ "text/plain": { "schema": { "type": "string" } } });
    let mut responses = json!({
        "200": { "description": "Prometheus text exposition format (version 0.0.4)", "content": text },
    });
    let security = if token {
        responses["401"] = json!({ "description": "Missing or wrong metrics token",
            "content": { "application/json": { "schema": reference("Error") } } });
        json!([{ "metrics_token": [] }])
    } else {
        json!([])
    };
    json!({ "get": {
        "operationId": "metrics",
        "tags": ["server"],
        "summary": "Prometheus metrics: service calls, logins, refusals, realtime events, sockets, password hashing, database pool, cluster bus",
        "security": security,
        "responses": responses,
    } })
}

fn operation(
    path: &str,
    method: &str,
    path_params: &[&str],
    body: Option<&Value>,
    status: u16,
    response: Value,
) -> Value {
    let mut parameters: Vec<Value> = path_params
        .iter()
        .map(|p| json!({ "name": p, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    if method == "find" {
        for name in ["$limit", "$skip"] {
            parameters.push(json!({ "name": name, "in": "query", "schema": { "type": "integer", "minimum": 0 } }));
        }
    }
    let mut op = json!({
        "operationId": format!("{}_{method}", path.replace('/', "_")),
        "tags": [path],
        "parameters": parameters,
        "responses": {
            status.to_string(): { "description": "Success", "content": { "application/json": { "schema": response } } },
            "default": { "description": "A Feathers error", "content": { "application/json": { "schema": reference("Error") } } },
        },
    });
    if let Some(body) = body {
        op["requestBody"] =
            json!({ "required": true, "content": { "application/json": { "schema": body } } });
    }
    op
}

/// The find parameters a service declares (`"query"`: an object schema), besides the
/// Feathers ones.
fn add_query_parameters(op: &mut Value, query: Option<&Value>) {
    let Some(properties) = query
        .and_then(|q| q.get("properties"))
        .and_then(Value::as_object)
    else {
        return;
    };
    let required = query
        .and_then(|q| q.get("required"))
        .and_then(Value::as_array);
    let Some(parameters) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
        return;
    };
    for (name, schema) in properties {
        let is_required = required.is_some_and(|r| r.iter().any(|n| n == name));
        parameters.push(
            json!({ "name": name, "in": "query", "required": is_required, "schema": schema }),
        );
    }
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn array_of(item: &Value) -> Value {
    json!({ "type": "array", "items": item })
}

fn page_of(item: &Value) -> Value {
    json!({
        "type": "object",
        "properties": {
            "total": { "type": "integer" },
            "limit": { "type": "integer" },
            "skip": { "type": "integer" },
            "data": array_of(item),
        },
        "required": ["total", "limit", "skip", "data"],
    })
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": { "type": "string" },
            "message": { "type": "string" },
            "code": { "type": "integer" },
            "className": { "type": "string" },
            "data": {},
            "errors": { "type": "object" },
        },
        "required": ["name", "message", "code", "className"],
    })
}
