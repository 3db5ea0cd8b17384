//! Connection bounds, over raw TCP: slow headers and stalled requests are closed after
//! `http.header_read_timeout_secs` / `http.idle_timeout_secs`, and a body over
//! `http.body_limit` gets its 413 even when the client writes the whole body before it
//! reads (as browsers and Node's `fetch` do).

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// Far above every configured timeout: a test that waits this long has failed.
const PATIENCE: Duration = Duration::from_secs(20);

async fn server(edit: impl FnOnce(&mut roost::config::Config)) -> TestServer {
    Setup::new(Backend::Sqlite, Transport::Rest)
        .server_with(edit)
        .await
}

async fn connect(srv: &TestServer) -> TcpStream {
    TcpStream::connect(srv.addr).await.unwrap()
}

/// Reads until the server closes the connection; what it sent, and how long that took.
async fn read_until_closed(stream: &mut TcpStream) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let read = async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .expect("the server must close the connection");
    (received, started.elapsed())
}

/// One HTTP/1.1 response read off `stream`: status, and body (by `Content-Length`).
async fn read_response(stream: &mut TcpStream) -> (u16, Value) {
    let read = async {
        let mut data = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = stream.read(&mut buf).await.expect("read the response");
            assert!(n > 0, "closed before a full response: {:?}", text(&data));
            data.extend_from_slice(&buf[..n]);
            let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = text(&data[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if data.len() >= end + 4 + length {
                let status = head[9..12].parse().unwrap();
                let body = &data[end + 4..end + 4 + length];
                return (status, serde_json::from_slice(body).unwrap_or(Value::Null));
            }
        }
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .expect("a response in time")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_headers_are_closed_after_the_header_read_timeout() {
    let srv = server(|c| c.http.header_read_timeout_secs = 1).await;
    let mut slow = connect(&srv).await;
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: roost\r\nX-Slow: ")
        .await
        .unwrap();
    let (_, took) = read_until_closed(&mut slow).await;
    assert!(
        took >= Duration::from_millis(900),
        "closed too early: {took:?}"
    );
    // Others are served meanwhile and afterwards.
    let r = srv.rest().raw("GET", "/health", None, &[]).await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed() {
    let srv = server(|c| c.http.header_read_timeout_secs = 1).await;
    let mut conn = connect(&srv).await;
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: roost\r\n\r\n")
        .await
        .unwrap();
    let (status, body) = read_response(&mut conn).await;
    assert_eq!((status, &body["status"]), (200, &Value::from("ok")));
    // Kept alive, then closed once no next request head arrives in time.
    let (rest, took) = read_until_closed(&mut conn).await;
    assert!(rest.is_empty(), "{:?}", text(&rest));
    assert!(
        took >= Duration::from_millis(900),
        "closed too early: {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_are_closed_after_the_idle_timeout() {
    let srv = server(|c| c.http.idle_timeout_secs = 1).await;
    let mut stalled = connect(&srv).await;
    stalled
        .write_all(
            b"POST /roles HTTP/1.1\r\nHost: roost\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"slug\":",
        )
        .await
        .unwrap();
    let (_, took) = read_until_closed(&mut stalled).await;
    assert!(
        took >= Duration::from_millis(900),
        "closed too early: {took:?}"
    );
}

/// What Node's `fetch` does: write the whole (too large) body, then read the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_written_in_full_gets_the_413() {
    let srv = server(|_| {}).await;
    let limit = srv.config.http.body_limit;
    let body = vec![b' '; 5 * 1024 * 1024];
    let mut conn = connect(&srv).await;
    let head = format!(
        "POST /roles HTTP/1.1\r\nHost: roost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    let write = async {
        conn.write_all(head.as_bytes()).await?;
        conn.write_all(&body).await
    };
    tokio::time::timeout(PATIENCE, write)
        .await
        .expect("the server reads the body")
        .expect("the server must not reset the connection while the body is sent");
    let (status, body) = read_response(&mut conn).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["name"], "PayloadTooLarge", "{body}");
    assert_eq!(body["code"], 413, "{body}");
    assert_eq!(body["className"], "payload-too-large", "{body}");
    assert_eq!(body["data"]["limit"], limit, "{body}");
    // The body was read to its end: the connection can carry the next request.
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: roost\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut conn).await.0, 200);
}

/// The same with a chunked body (no `Content-Length`): refused when the limit is crossed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_written_in_full_gets_the_413() {
    let srv = server(|_| {}).await;
    let mut conn = connect(&srv).await;
    let chunk = vec![b' '; 64 * 1024];
    let write = async {
        conn.write_all(
            b"POST /roles HTTP/1.1\r\nHost: roost\r\nContent-Type: application/json\r\n\
              Transfer-Encoding: chunked\r\n\r\n",
        )
        .await?;
        for _ in 0..48 {
            conn.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            conn.write_all(&chunk).await?;
            conn.write_all(b"\r\n").await?;
        }
        conn.write_all(b"0\r\n\r\n").await
    };
    tokio::time::timeout(PATIENCE, write)
        .await
        .expect("the server reads the body")
        .expect("the server must not reset the connection while the body is sent");
    let (status, body) = read_response(&mut conn).await;
    assert_eq!(
        (status, &body["name"]),
        (413, &Value::from("PayloadTooLarge"))
    );
}

/// `Expect: 100-continue` (curl): the 413 comes at once, and no body is asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_continue_gets_the_413_without_sending_the_body() {
    let srv = server(|_| {}).await;
    let mut conn = connect(&srv).await;
    conn.write_all(
        b"POST /roles HTTP/1.1\r\nHost: roost\r\nContent-Type: application/json\r\n\
          Content-Length: 5242880\r\nExpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    let (status, body) = read_response(&mut conn).await;
    assert_eq!(
        (status, &body["name"]),
        (413, &Value::from("PayloadTooLarge"))
    );
}
