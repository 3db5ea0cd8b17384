//! The server's own routes: `GET /` says what it is, `/ready` says whether it can serve
//! (database reachable, migrations applied, cluster bus listening) and names what is not.

use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::support::*;

async fn get(srv: &TestServer, path: &str) -> (u16, Value) {
    let r = srv.rest().raw_anonymous("GET", path, None, &[]).await;
    (r.status, r.json())
}

#[tokio::test]
async fn root_names_the_server_and_readiness_names_what_is_missing() {
    let srv = Setup::new(Backend::Sqlite, Transport::Rest).server().await;
    let (status, about) = get(&srv, "/").await;
    assert_eq!(status, 200);
    assert_eq!(about["name"], "roost");
    assert_eq!(about["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(about["links"]["openapi"], "/openapi.json");
    assert_eq!(about["links"]["docs"], "/docs/");
    let (status, ready) = get(&srv, "/ready").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(
        ready,
        json!({"status": "ready",
            "checks": {"database": "ok", "migrations": "ok", "bus": "off"}})
    );
    // A database one migration behind this binary is not ready.
    srv.app()
        .db
        .execute_unprepared(
            "DELETE FROM seaql_migrations WHERE version = \
             (SELECT MAX(version) FROM seaql_migrations)",
        )
        .await
        .unwrap();
    let (status, ready) = get(&srv, "/ready").await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["status"], "unavailable");
    assert_eq!(ready["checks"]["migrations"], "1 not applied");
    // Liveness is another question.
    assert_eq!(get(&srv, "/health").await.0, 200);
}

/// The database refuses connections: `/ready` is 503 naming the database (and the bus,
/// once its listener notices), then ready again when the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database_pg() {
    let Some(s) = Setup::postgres(Transport::Rest) else {
        return;
    };
    let srv = s.server().await;
    let wait_for = |want: u16| {
        let srv = &srv;
        async move {
            let started = Instant::now();
            loop {
                let (status, body) = get(srv, "/ready").await;
                if status == want {
                    return body;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(15),
                    "/ready stayed {status}: {body}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let ready = wait_for(200).await;
    assert_eq!(ready["checks"]["bus"], "ok", "{ready}");
    let url = &srv.config.database_url;
    let name = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let admin_url = std::env::var("TEST_DATABASE_URL").unwrap();
    let admin = sea_orm::Database::connect(&admin_url).await.unwrap();
    let cut = |allow: bool| {
        let admin = &admin;
        async move {
            admin
                .execute_unprepared(&format!(
                    "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS {allow}"
                ))
                .await
                .unwrap();
            if !allow {
                admin
                    .execute_unprepared(&format!(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                    ))
                    .await
                    .unwrap();
            }
        }
    };
    cut(false).await;
    let down = wait_for(503).await;
    assert_eq!(down["status"], "unavailable");
    assert_ne!(down["checks"]["database"], "ok", "{down}");
    cut(true).await;
    let back = wait_for(200).await;
    assert_eq!(back["checks"]["database"], "ok");
    let _ = admin.close().await;
}

/// `/docs/` is Swagger UI over `/openapi.json`, every file served from the binary.
#[tokio::test]
async fn docs_are_served_from_the_binary() {
    let srv = Setup::new(Backend::Sqlite, Transport::Rest).server().await;
    let rest = srv.rest();
    let page = rest.raw_anonymous("GET", "/docs/", None, &[]).await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text.contains("swagger-ui"), "{}", page.text);
    assert!(
        !page.text.contains("https://") && !page.text.contains("//cdn"),
        "the page loads nothing from elsewhere: {}",
        page.text
    );
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .starts_with("default-src 'self'")
    );
    // `/docs` (no slash) ends up on the page too.
    assert_eq!(
        rest.raw_anonymous("GET", "/docs", None, &[]).await.text,
        page.text
    );
    let init = rest
        .raw_anonymous("GET", "/docs/swagger-initializer.js", None, &[])
        .await;
    assert_eq!(init.status, 200);
    assert!(init.text.contains("\"/openapi.json\""), "{}", init.text);
    assert!(
        init.text.contains("\"validatorUrl\": \"none\""),
        "{}",
        init.text
    );
    let bundle = rest
        .raw_anonymous("GET", "/docs/swagger-ui-bundle.js", None, &[])
        .await;
    assert_eq!(bundle.status, 200);
    assert!(
        bundle
            .header("content-type")
            .unwrap()
            .contains("javascript")
    );
    assert!(bundle.text.len() > 100_000);
    let missing = rest
        .raw_anonymous("GET", "/docs/../openapi.json", None, &[])
        .await;
    assert_ne!(missing.status, 500);
    let missing = rest.raw_anonymous("GET", "/docs/nope.js", None, &[]).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error().name(), "NotFound");
    // The document declares the page.
    let doc = rest
        .raw_anonymous("GET", "/openapi.json", None, &[])
        .await
        .json();
    assert_eq!(doc["paths"]["/docs/"]["get"]["operationId"], "docs");
}
