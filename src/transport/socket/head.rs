//! What a socket keeps of the request that opened it, for its whole life: the headers
//! Roost reads, copied out. hyper parses header values as slices of the connection's read
//! buffer (8 KiB at least): kept as they come, every socket would hold that buffer and
//! every header the client sent. Copied, they are a few hundred bytes a socket, however
//! large the request head.

use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// Where Engine.IO answers (the socket.io client's default).
pub const PATH: &str = "/socket.io";

/// A request for Engine.IO (`/socket.io` or below it).
pub fn is_engine_io(path: &str) -> bool {
    path.strip_prefix(PATH)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The headers read from a socket's request: the handshake login and `connection_info`
/// (`Authorization`, `User-Agent`, `X-Forwarded-For`). Reading another header from
/// `socket.headers` means adding it here.
const KEPT: [HeaderName; 3] = [
    AUTHORIZATION,
    USER_AGENT,
    HeaderName::from_static("x-forwarded-for"),
];

/// Copies of the headers a socket keeps (`KEPT`), in a map sized to them.
pub fn kept_headers(headers: &HeaderMap) -> HeaderMap {
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
        let mut sent = HeaderMap::new();
        for (name, value) in [
            ("cookie", "a=b"),
            ("x-forwarded-for", "203.0.113.1"),
            ("x-forwarded-for", "198.51.100.2"),
            ("user-agent", "node"),
            ("authorization", "Bearer t"),
            ("sec-websocket-key", "k"),
        ] {
            sent.append(name, HeaderValue::from_static(value));
        }
        let headers = kept_headers(&sent);
        assert_eq!(headers.len(), 4);
        assert!(headers.get("cookie").is_none());
        let xff: Vec<_> = headers.get_all("x-forwarded-for").iter().collect();
        assert_eq!(xff, ["203.0.113.1", "198.51.100.2"]);
        assert_eq!(headers["authorization"], "Bearer t");
    }

    #[test]
    fn engine_io_paths() {
        assert!(is_engine_io("/socket.io/"));
        assert!(is_engine_io("/socket.io"));
        assert!(!is_engine_io("/socket.iox"));
        assert!(!is_engine_io("/messages"));
    }
}
