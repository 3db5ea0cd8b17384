//! `GET /docs/`: a readable API reference (Swagger UI) over the served `/openapi.json`.
//! Every file is built into the binary (`utoipa-swagger-ui`'s vendored bundle), so the page
//! works with no network beyond this server; `/docs` redirects to `/docs/` so the page's
//! relative asset paths resolve.

use std::sync::{Arc, LazyLock};

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use utoipa_swagger_ui::Config;

/// Swagger UI's settings: the document, try-it-out with a bearer token kept across
/// reloads, no calls to the public validator.
static CONFIG: LazyLock<Arc<Config<'static>>> = LazyLock::new(|| {
    Arc::new(
        Config::from("/openapi.json")
            .validator_url("none")
            .persist_authorization(true)
            .display_operation_id(true)
            .filter(true)
            .doc_expansion("list"),
    )
});

/// What the page may load: its own files (Swagger UI inlines some styles and images).
const POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' \
                      'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

pub async fn redirect() -> Redirect {
    Redirect::permanent("/docs/")
}

pub async fn index() -> Response {
    file("")
}

pub async fn asset(Path(path): Path<String>) -> Response {
    file(&path)
}

fn file(path: &str) -> Response {
    let served = match utoipa_swagger_ui::serve(path, CONFIG.clone()) {
        Ok(Some(file)) => file,
        Ok(None) => {
            let message = format!("Path /docs/{path} not found");
            return super::rest::error_response(&crate::error::Error::not_found(message));
        }
        Err(e) => {
            tracing::error!(error = %e, path, "cannot serve the API reference");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut response = served.bytes.into_owned().into_response();
    let headers = response.headers_mut();
    if let Ok(content_type) = HeaderValue::from_str(&served.content_type) {
        headers.insert(header::CONTENT_TYPE, content_type);
    }
    if served.gzpipped {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}
