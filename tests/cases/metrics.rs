//! `GET /metrics`: exact counts for a known sequence of calls (the text format parsed,
//! series by series), the sockets gauge, the token and the switch; and JSON logs whose
//! lines carry the request id.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Client, Setup, TempDir, TestServer, Transport, ok, q,
};

/// The samples of a scrape: `name` + its labels (sorted) -> value.
struct Scrape(HashMap<(String, BTreeMap<String, String>), f64>);

impl Scrape {
    /// Parses the text exposition format: `name{a="x",b="y"} value` per sample line.
    fn parse(text: &str) -> Self {
        let mut samples = HashMap::new();
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("sample line");
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), BTreeMap::new()),
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').expect("closing brace");
                    let mut labels = BTreeMap::new();
                    // Our label values hold no `,` or `"`.
                    for pair in body.split(',').filter(|p| !p.is_empty()) {
                        let (k, v) = pair.split_once('=').expect("label pair");
                        let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
                        labels.insert(k.to_string(), v.expect("quoted value").to_string());
                    }
                    (name.to_string(), labels)
                }
            };
            assert!(
                samples.insert((name, labels), value).is_none(),
                "duplicate series: {line}"
            );
        }
        Self(samples)
    }

    /// The value of one series (0 when it is not there yet).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.0
            .get(&(name.to_string(), labels))
            .copied()
            .unwrap_or(0.0)
    }

    /// The series of `name` whose value changed from `before`, with the change.
    fn changed(&self, before: &Scrape, name: &str) -> BTreeMap<String, f64> {
        self.0
            .iter()
            .filter(|((n, _), _)| n == name)
            .filter_map(|((n, labels), v)| {
                let old = before.0.get(&(n.clone(), labels.clone())).unwrap_or(&0.0);
                (v != old).then(|| (format!("{labels:?}"), v - old))
            })
            .collect()
    }
}

async fn scrape(srv: &TestServer) -> Scrape {
    let res = srv.rest().raw_anonymous("GET", "/metrics", None, &[]).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert!(
        res.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{:?}",
        res.headers
    );
    Scrape::parse(&res.text)
}

fn call(transport: &str, service: &str, method: &str, status: &str) -> Vec<(String, String)> {
    [
        ("transport", transport),
        ("service", service),
        ("method", method),
        ("status", status),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_a_known_sequence_of_calls() {
    let srv = Setup::new(Backend::Sqlite, Transport::Rest).server().await;
    let admin = srv.rest_admin().await;
    let listener = srv.admin_socket().await;
    let admin_id =
        ok(admin.find("users", json!({"email": ADMIN_EMAIL})).await)["data"][0]["id"].clone();
    let before = scrape(&srv).await;

    // REST: a find, a get, a get of a missing id (404 of `users`), an unknown path (404
    // of no service: labelled `unknown`, never with the raw path).
    ok(admin.find("users", q()).await);
    ok(admin.get("users", admin_id.clone(), q()).await);
    assert!(admin.get("users", json!(999_999), q()).await.is_err());
    let res = admin.raw("GET", "/no-such-service/x1", None, &[]).await;
    assert_eq!(res.status, 404);
    // Socket.IO: two finds.
    ok(listener.find("users", q()).await);
    ok(listener.find("users", q()).await);
    // Logins: one failed, one good.
    let anon = srv.rest();
    let wrong = json!({"strategy": "local", "email": ADMIN_EMAIL, "password": "Wrong-Passw0rd-xx"});
    assert!(anon.authenticate(wrong).await.is_err());
    let good = json!({"strategy": "local", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
    ok(anon.authenticate(good).await);
    // A realtime event: a role created over REST reaches the admin socket.
    let slug = format!("m-{}", uuid::Uuid::new_v4().simple());
    ok(admin
        .create(
            "roles",
            json!({"name": "M", "slug": slug, "description": "metrics"}),
            q(),
        )
        .await);
    listener
        .wait_event("roles created", Duration::from_secs(5))
        .await
        .expect("roles created event");

    let after = scrape(&srv).await;
    let mut expected: BTreeMap<String, f64> = BTreeMap::new();
    for (pairs, delta) in [
        (call("rest", "users", "find", "200"), 1.0),
        (call("rest", "users", "get", "200"), 1.0),
        (call("rest", "users", "get", "404"), 1.0),
        (call("rest", "unknown", "unknown", "404"), 1.0),
        (call("socketio", "users", "find", "200"), 2.0),
        (call("rest", "authentication", "create", "401"), 1.0),
        (call("rest", "authentication", "create", "201"), 1.0),
        (call("rest", "roles", "create", "201"), 1.0),
    ] {
        let map: BTreeMap<String, String> = pairs.into_iter().collect();
        expected.insert(format!("{map:?}"), delta);
    }
    assert_eq!(after.changed(&before, "roost_requests_total"), expected);
    // One duration sample per call.
    let count = |s: &Scrape, t: &str, m: &str| {
        s.get(
            "roost_request_duration_seconds_count",
            &[("transport", t), ("service", "users"), ("method", m)],
        )
    };
    assert_eq!(
        count(&after, "rest", "get") - count(&before, "rest", "get"),
        2.0
    );
    assert_eq!(
        count(&after, "socketio", "find") - count(&before, "socketio", "find"),
        2.0
    );
    let delta =
        |name: &str, pairs: &[(&str, &str)]| after.get(name, pairs) - before.get(name, pairs);
    assert_eq!(delta("roost_logins_total", &[("result", "success")]), 1.0);
    assert_eq!(delta("roost_logins_total", &[("result", "failure")]), 1.0);
    assert_eq!(delta("roost_logins_total", &[("result", "throttled")]), 0.0);
    let refused = |reason| [("transport", "rest"), ("reason", reason)];
    assert_eq!(
        delta("roost_calls_refused_total", &refused("unauthenticated")),
        1.0
    );
    assert_eq!(
        delta("roost_calls_refused_total", &refused("forbidden")),
        0.0
    );
    let event = [("service", "roles"), ("event", "created")];
    assert_eq!(delta("roost_events_published_total", &event), 1.0);
    assert_eq!(
        delta("roost_events_delivered_total", &[("service", "roles")]),
        1.0
    );
    // The first scrape is counted by its route template.
    let route = [("route", "/metrics"), ("status", "200")];
    assert_eq!(delta("roost_http_requests_total", &route), 1.0);
    // Gauges read at scrape time.
    assert_eq!(after.get("roost_sockets_connected", &[]), 1.0);
    assert_eq!(after.get("roost_password_jobs", &[]), 0.0);
    assert!(after.get("roost_password_jobs_capacity", &[]) >= 65.0);
    assert!(after.get("roost_db_pool_connections", &[]) >= 1.0);
    assert_eq!(after.get("roost_bus_enabled", &[]), 0.0);
    // No raw path became a label.
    let text = srv
        .rest()
        .raw_anonymous("GET", "/metrics", None, &[])
        .await
        .text;
    assert!(!text.contains("no-such-service"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_gauge_follows_connections() {
    let srv = Setup::new(Backend::Sqlite, Transport::Socket)
        .server()
        .await;
    let gauge = |s: &Scrape| s.get("roost_sockets_connected", &[]);
    assert_eq!(gauge(&scrape(&srv).await), 0.0);
    let socket = srv.socket().await;
    assert_eq!(gauge(&scrape(&srv).await), 1.0);
    socket.disconnect();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = gauge(&scrape(&srv).await);
        if now == 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {now} sockets after disconnect"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_guards_metrics_when_set() {
    const TOKEN: &str = "metrics-token-0123456789";
    let srv = Setup::new(Backend::Sqlite, Transport::Rest)
        .server_with(|c| c.metrics.token = Some(TOKEN.into()))
        .await;
    let rest = srv.rest();
    for headers in [
        vec![],
        vec![("Authorization", "Bearer wrong-token")],
        vec![("Authorization", TOKEN)],
    ] {
        let res = rest.raw_anonymous("GET", "/metrics", None, &headers).await;
        assert_eq!(res.status, 401, "{headers:?}: {}", res.text);
        let body = res.json();
        assert_eq!(body["name"], "NotAuthenticated");
        assert_eq!(body["className"], "not-authenticated");
        assert!(!res.text.contains(TOKEN));
        assert_eq!(res.header("www-authenticate"), Some("Bearer"));
    }
    let bearer = format!("Bearer {TOKEN}");
    let res = rest
        .raw_anonymous("GET", "/metrics", None, &[("Authorization", &bearer)])
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert!(
        res.text.contains("# TYPE roost_sockets_connected gauge"),
        "{}",
        res.text
    );
    // The document says so.
    let doc = rest
        .raw_anonymous("GET", "/openapi.json", None, &[])
        .await
        .json();
    let op = &doc["paths"]["/metrics"]["get"];
    assert!(op["responses"]["401"].is_object(), "{op}");
    assert_eq!(op["security"], json!([{"metrics_token": []}]));
    assert!(!doc.to_string().contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_be_switched_off() {
    let srv = Setup::new(Backend::Sqlite, Transport::Rest)
        .server_with(|c| c.metrics.enabled = false)
        .await;
    let rest = srv.rest();
    let res = rest.raw_anonymous("GET", "/metrics", None, &[]).await;
    assert_eq!(res.status, 404, "{}", res.text);
    assert_eq!(res.json()["name"], "NotFound");
    let doc = rest
        .raw_anonymous("GET", "/openapi.json", None, &[])
        .await
        .json();
    assert!(doc["paths"].get("/metrics").is_none());
    // Open by default, declared without security.
    let srv = Setup::new(Backend::Sqlite, Transport::Rest).server().await;
    let doc = srv
        .rest()
        .raw_anonymous("GET", "/openapi.json", None, &[])
        .await
        .json();
    let op = &doc["paths"]["/metrics"]["get"];
    assert_eq!(op["security"], json!([]));
    assert!(op["responses"]["401"].is_null());
}

/// The release binary with `ROOST_LOG__FORMAT=json`: every stderr line is a JSON object,
/// a request's `x-request-id` is echoed and carried by every line logged for it, and an
/// invalid one is replaced.
#[tokio::test]
async fn json_logs_carry_the_request_id() {
    let dir = TempDir::new();
    let roost = crate::startup::spawn(
        &dir.0,
        &[
            ("ROOST_LOG__FORMAT", "json"),
            ("ROOST_LOG", "roost=debug,tower_http=debug,warn"),
        ],
    );
    let mut lines: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let port = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = roost
            .lines
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("no listening line ({e}):\n{}", lines.join("\n")));
        lines.push(line.clone());
        if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            break digits;
        }
    };
    let rest = crate::support::RestClient::new(&format!("http://127.0.0.1:{port}"));
    let res = rest
        .raw_anonymous("GET", "/users", None, &[("x-request-id", "abc-123")])
        .await;
    assert_eq!(res.header("x-request-id"), Some("abc-123"));
    // Not visible ASCII: replaced by a fresh id.
    let res = rest
        .raw_anonymous("GET", "/health", None, &[("x-request-id", "a b")])
        .await;
    let fresh = res.header("x-request-id").expect("an id").to_string();
    assert_eq!(fresh.len(), 36, "{fresh}");
    // Read what was logged by then (the requests are answered: their lines are out).
    let quiet = Instant::now() + Duration::from_millis(500);
    while let Ok(line) = roost
        .lines
        .recv_timeout(quiet.saturating_duration_since(Instant::now()))
    {
        lines.push(line);
    }
    drop(roost);
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let carries = |line: &Value| {
        line["spans"]
            .as_array()
            .is_some_and(|spans| spans.iter().any(|s| s["request_id"] == "abc-123"))
    };
    let of_call: Vec<&Value> = parsed
        .iter()
        .filter(|v| v.to_string().contains("abc-123"))
        .collect();
    assert!(
        of_call.len() >= 2,
        "lines of the call:\n{}",
        lines.join("\n")
    );
    for line in of_call {
        assert!(carries(line), "{line}");
    }
    // Every line logged inside that request's span carries its id.
    let in_request = parsed.iter().filter(|v| {
        v["spans"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["path"] == "/users"))
    });
    for line in in_request {
        assert!(carries(line), "{line}");
    }
}
