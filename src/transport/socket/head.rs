//! The request head a socket keeps. Engine.IO stores the head of the request that opened a
//! socket for the socket's whole life (`socket.req_parts()`), and hyper parses header
//! values and the URI as slices of the connection's read buffer (8 KiB at least): kept as
//! they come, every socket would hold that buffer and every header the client sent. So
//! before Engine.IO sees a request, its URI and the headers anything reads are copied out
//! and the rest dropped: a few hundred bytes a socket, however large the request head.

use axum::extract::Request;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, SEC_WEBSOCKET_KEY, USER_AGENT};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri};

/// Where Engine.IO answers (socketioxide's default, set explicitly by `socket_layer`).
pub const PATH: &str = "/socket.io";

/// The headers read from a socket's request: the handshake login and `connection_info`
/// (`Authorization`, `User-Agent`, `X-Forwarded-For`), and Engine.IO's own
/// (`Sec-WebSocket-Key` for the upgrade, `Content-Type` of a polling `POST`). Reading
/// another header from `req_parts()` means adding it here.
const KEPT: [HeaderName; 5] = [
    AUTHORIZATION,
    USER_AGENT,
    HeaderName::from_static("x-forwarded-for"),
    SEC_WEBSOCKET_KEY,
    CONTENT_TYPE,
];

/// `req` with its URI and kept headers copied out of the read buffer, when it is for
/// Engine.IO; other requests pass unchanged.
pub fn own_head(req: Request) -> Request {
    if !req.uri().path().starts_with(PATH) {
        return req;
    }
    let (mut parts, body) = req.into_parts();
    if let Ok(uri) = Uri::try_from(parts.uri.to_string()) {
        parts.uri = uri;
    }
    parts.headers = kept_headers(&parts.headers);
    Request::from_parts(parts, body)
}

fn kept_headers(headers: &HeaderMap) -> HeaderMap {
    // Sized to what is kept: a map left to grow holds room for twice as many.
    let names = &KEPT;
    let count = names
        .iter()
        .map(|name| headers.get_all(name).iter().count());
    let mut kept = HeaderMap::with_capacity(count.sum());
    for name in names {
        for value in headers.get_all(name) {
            // `from_bytes` copies; it refuses only bytes hyper refuses too.
            let mut copy = HeaderValue::from_bytes(value.as_bytes()).unwrap_or(value.clone());
            copy.set_sensitive(value.is_sensitive());
            kept.append(name.clone(), copy);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_is_read_and_drops_the_rest() {
        let req = Request::builder()
            .uri("/socket.io/?EIO=4&transport=websocket")
            .header("cookie", "a=b")
            .header("x-forwarded-for", "203.0.113.1")
            .header("x-forwarded-for", "198.51.100.2")
            .header("user-agent", "node")
            .header("authorization", "Bearer t")
            .header("sec-websocket-key", "k")
            .body(axum::body::Body::empty())
            .unwrap();
        let req = own_head(req);
        let headers = req.headers();
        assert_eq!(req.uri(), "/socket.io/?EIO=4&transport=websocket");
        assert_eq!(headers.len(), 5);
        assert!(headers.get("cookie").is_none());
        let xff: Vec<_> = headers.get_all("x-forwarded-for").iter().collect();
        assert_eq!(xff, ["203.0.113.1", "198.51.100.2"]);
        assert_eq!(headers["authorization"], "Bearer t");
    }

    #[test]
    fn other_paths_pass_unchanged() {
        let req = Request::builder()
            .uri("/messages")
            .header("cookie", "a=b")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(own_head(req).headers()["cookie"], "a=b");
    }
}
