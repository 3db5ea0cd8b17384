//! Faults, against the real `roost` binary run as a child process (not the in-process
//! server of the other tests: signals and crashes are about the process):
//!
//! - SIGTERM while requests are in flight: each is answered in full, idle keep-alive and
//!   Socket.IO connections are closed, new connections are refused, and the process
//!   exits 0 within `http.shutdown_grace_secs`.
//! - SIGKILL in the middle of a burst of writes: after a restart on the same database,
//!   every write that was answered 201 is there, unchanged, with its audit event, and no
//!   audit event names a record that does not exist.
//!
//! Requests are written by hand over TCP (`Connection: close`, read to the end), so that
//! a connection closed without an answer is seen as such, never retried by a client.

use std::io::{BufRead, BufReader, ErrorKind};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Backend, PASSWORD, PgDatabase, SECRET, Setup, SocketClient,
    TempDir, WAIT,
};

crate::single_transport!(Rest:
    sigterm_answers_requests_in_flight,
    sigkill_during_write_burst_loses_no_acknowledged_write,
);

/// `http.shutdown_grace_secs` by default (the tests leave it unset).
const GRACE: Duration = Duration::from_secs(10);
/// tower-http's debug line for a request the server has read the head of.
const STARTED: &str = "started processing request";
/// The first line of a graceful shutdown, logged once the listener is closed.
const SHUTTING_DOWN: &str = "shutting down: no longer accepting connections";
/// The last line of a graceful shutdown.
const SHUT_DOWN: &str = "shut down in";

async fn sigterm_answers_requests_in_flight(s: Setup) {
    let store = Store::new(s).await;
    let mut roost = Roost::start(&store).await;
    let addr = roost.addr;
    let token = roost.login().await;

    // A keep-alive connection that has had its answer and sits idle, and a Socket.IO one.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: roost\r\n\r\n")
        .await
        .unwrap();
    let (status, _) = read_response(&mut idle).await.expect("health answer");
    assert_eq!(status, 200);
    let socket = SocketClient::connect(&addr.to_string()).await;

    let before = roost.count(STARTED);
    // A login whose body is only half sent: in flight for as long as the test wants.
    let login = login_body().to_string();
    let (first, rest) = login.split_at(login.len() / 2);
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /authentication HTTP/1.1\r\nHost: roost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{first}",
        login.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    // Requests that take a while (each hashes a password on one of two workers): 4 logins
    // (with the one above, the 5 simultaneous attempts the account throttle lets through)
    // and 4 user creations.
    let mut busy = Vec::new();
    for i in 0..8 {
        let token = token.clone();
        busy.push(tokio::spawn(async move {
            if i < 4 {
                http(addr, "POST", "/authentication", None, Some(&login_body())).await
            } else {
                let user = json!({"email": format!("u{i}@faults.test"), "password": PASSWORD});
                http(addr, "POST", "/users", Some(&token), Some(&user)).await
            }
        }));
    }
    roost.wait_log(STARTED, before + 9).await;

    let term = Instant::now();
    roost.signal("TERM");
    roost.wait_log(SHUTTING_DOWN, 1).await;

    // Refused at once, not accepted and left hanging.
    let refused = tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("a connection after SIGTERM hung");
    assert_eq!(
        refused.as_ref().err().map(std::io::Error::kind),
        Some(ErrorKind::ConnectionRefused),
        "a connection after SIGTERM: {refused:?}"
    );
    // The idle connection is closed (FIN: nothing was cut short).
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(WAIT, idle.read(&mut buf))
        .await
        .expect("the idle keep-alive connection was left open");
    assert!(matches!(read, Ok(0)), "idle connection: {read:?}");
    // The socket's transport is closed; not an `io server disconnect`, after which
    // Socket.IO clients would not reconnect.
    let reason = socket
        .wait_closed(WAIT)
        .await
        .expect("the Socket.IO connection was left open");
    assert_ne!(reason, "io server disconnect");

    // The half-sent login is still served.
    let sent = slow.write_all(rest.as_bytes()).await;
    assert!(sent.is_ok(), "the request in flight was cut off: {sent:?}");
    let answer = read_response(&mut slow).await;
    let (status, body) = answer.unwrap_or_else(|e| panic!("no answer in flight: {e}"));
    assert_eq!(status, 201, "{body}");
    assert!(body["accessToken"].is_string(), "{body}");
    for request in busy {
        let (status, body) = request
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("a request in flight at SIGTERM got no answer: {e}"));
        assert_eq!(status, 201, "{body}");
    }

    let exit = roost.wait_exit(GRACE).await;
    assert!(exit.success(), "exit status {exit}");
    assert!(term.elapsed() < GRACE, "took {:?}", term.elapsed());
    assert_eq!(
        roost.count(SHUT_DOWN),
        1,
        "no line for the end of the shutdown"
    );
}

async fn sigkill_during_write_burst_loses_no_acknowledged_write(s: Setup) {
    let store = Store::new(s).await;
    // Every role whose creation was answered 201, as answered.
    let mut acknowledged: Vec<Value> = Vec::new();
    for round in 0..3 {
        let mut roost = Roost::start(&store).await;
        let token = roost.login().await;
        check_survivors(&roost, &token, &acknowledged).await;
        let written = burst(&mut roost, &token, round).await;
        assert!(!written.is_empty());
        acknowledged.extend(written);
    }
    let mut roost = Roost::start(&store).await;
    let token = roost.login().await;
    check_survivors(&roost, &token, &acknowledged).await;
    roost.signal("TERM");
    assert!(roost.wait_exit(GRACE).await.success());
}

/// 8 writers create roles as fast as they are answered; the process is SIGKILLed once
/// `16 + 8 * round` are acknowledged. Returns the acknowledged records.
async fn burst(roost: &mut Roost, token: &str, round: usize) -> Vec<Value> {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for writer in 0..8 {
        let (acked, count, token, addr) =
            (acked.clone(), count.clone(), token.to_string(), roost.addr);
        writers.push(tokio::spawn(async move {
            for n in 0.. {
                let role = json!({
                    "name": format!("Role {round}-{writer}-{n}"),
                    "slug": format!("r{round}-w{writer}-n{n}"),
                    "description": format!("written by writer {writer} in round {round}"),
                });
                match http(addr, "POST", "/roles", Some(&token), Some(&role)).await {
                    Ok((201, record)) => {
                        assert_eq!(record["slug"], role["slug"], "{record}");
                        acked.lock().unwrap().push(record);
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok((status, body)) => panic!("create answered {status}: {body}"),
                    // Killed: the connection failed or closed unanswered.
                    Err(_) => return,
                }
            }
        }));
    }
    let target = 16 + 8 * round;
    let deadline = Instant::now() + WAIT * 2;
    while count.load(Ordering::SeqCst) < target {
        assert!(Instant::now() < deadline, "writes too slow: {count:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    roost.kill();
    for writer in writers {
        writer.await.unwrap();
    }
    std::mem::take(&mut *acked.lock().unwrap())
}

/// Every acknowledged role exists as it was answered and has its `created` event; every
/// `created` event of `roles` names a role that exists.
async fn check_survivors(roost: &Roost, token: &str, acknowledged: &[Value]) {
    let addr = roost.addr;
    for record in acknowledged {
        let path = format!("/roles/{}", record["id"]);
        let (status, stored) = http(addr, "GET", &path, Some(token), None).await.unwrap();
        assert_eq!(status, 200, "acknowledged role lost: {record} ({stored})");
        assert_eq!(&stored, record, "acknowledged role changed");
    }
    let ids = |page: &Value, field: &str| -> Vec<i64> {
        assert!(page["total"].as_u64().is_some_and(|t| t < 1000), "{page}");
        let rows = page["data"].as_array().expect("a page");
        rows.iter()
            .map(|r| r[field].as_i64().expect("an id"))
            .collect()
    };
    let (status, roles) = http(addr, "GET", "/roles?$limit=1000", Some(token), None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{roles}");
    let roles = ids(&roles, "id");
    let events = "/events?source_table=roles&event=created&$limit=1000";
    let (status, events) = http(addr, "GET", events, Some(token), None).await.unwrap();
    assert_eq!(status, 200, "{events}");
    let events = ids(&events, "table_id");
    for record in acknowledged {
        let id = record["id"].as_i64().unwrap();
        assert!(
            events.contains(&id),
            "no audit event for acknowledged {record}"
        );
    }
    for id in events {
        assert!(
            roles.contains(&id),
            "audit event for role {id}, which does not exist"
        );
    }
}

fn login_body() -> Value {
    json!({"strategy": "local", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
}

/// What a `roost` process runs on: a data directory, and a fresh PostgreSQL database for
/// the `pg` variant. Outlives the processes (restarts use the same one).
struct Store {
    dir: TempDir,
    _pg: Option<PgDatabase>,
    database_url: String,
}

impl Store {
    async fn new(s: Setup) -> Self {
        let dir = TempDir::new();
        let (pg, database_url) = match s.backend {
            Backend::Sqlite => (
                None,
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("roost.db").display()
                ),
            ),
            Backend::Postgres => {
                let admin = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL");
                let (pg, url) = PgDatabase::create(&admin).await;
                (Some(pg), url)
            }
        };
        Self {
            dir,
            _pg: pg,
            database_url,
        }
    }
}

/// A running `roost serve`, its stderr collected line by line (and echoed for failures).
/// Killed on drop if still running.
struct Roost {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Roost {
    async fn start(store: &Store) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_roost"))
            .arg("serve")
            .env_clear()
            .env("ROOST_DATABASE_URL", &store.database_url)
            .env("ROOST_HOST", "127.0.0.1")
            .env("ROOST_PORT", "0") // the port is read from the log
            .env("ROOST_DATA_DIR", store.dir.path())
            .env("ROOST_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("ROOST_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("ROOST_AUTHENTICATION__SECRET", SECRET)
            .env("ROOST_PAGINATE__MAX", "1000")
            .env("ROOST_LOG", "warn,roost=info,tower_http::trace=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn roost");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("roost: {line}");
                lines.lock().unwrap().push(line);
            }
        });
        let mut roost = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
        };
        let line = roost.wait_log("listening on http://", 1).await;
        let addr = line.split("listening on http://").nth(1).unwrap_or("");
        roost.addr = addr
            .split_whitespace()
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        // Listening comes before the admin bootstrap: wait until requests are served.
        let deadline = Instant::now() + WAIT * 2;
        while http(roost.addr, "GET", "/health", None, None)
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "roost did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        roost
    }

    /// The admin's access token.
    async fn login(&self) -> String {
        let (status, body) = http(
            self.addr,
            "POST",
            "/authentication",
            None,
            Some(&login_body()),
        )
        .await
        .unwrap();
        assert_eq!(status, 201, "{body}");
        body["accessToken"].as_str().unwrap().to_string()
    }

    /// Log lines containing `needle`.
    fn count(&self, needle: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits (up to `WAIT`) for the `n`th line containing `needle`, and returns it.
    async fn wait_log(&self, needle: &str, n: usize) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            {
                let log = self.log.lock().unwrap();
                let mut found = log.iter().filter(|l| l.contains(needle));
                if let Some(line) = found.nth(n.saturating_sub(1)) {
                    return line.clone();
                }
            }
            assert!(Instant::now() < deadline, "no line #{n} with {needle:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sends `SIG<name>` (the `kill` command: no libc binding in the tests).
    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name}: {status}");
    }

    /// SIGKILL, and waits until the process is gone.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
    }

    /// Waits for the process to exit, failing the test after `limit`.
    async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "still running after {limit:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Roost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request on a connection of its own. `Err`: the connection failed, or closed
/// before a complete answer.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: roost\r\nAccept: application/json\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n{body}",
        body.len(),
        auth.unwrap_or_default()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    read_response(&mut stream).await
}

/// Reads one response (head and `Content-Length` body); `Err` if the connection ends
/// or fails first. The body is parsed as JSON (`Null` when empty).
async fn read_response(stream: &mut TcpStream) -> Result<(u16, Value), String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("bad status line: {head:?}"))?;
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .ok_or_else(|| format!("no content-length: {head:?}"))?;
            let body = &buf[end + 4..];
            if body.len() >= length {
                let body = &body[..length];
                let json = if body.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(body).map_err(|e| format!("{e}: {body:?}"))?
                };
                return Ok((status, json));
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) => {
                return Err(format!(
                    "closed after {} bytes: {:?}",
                    buf.len(),
                    String::from_utf8_lossy(&buf)
                ));
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("{e} after {} bytes", buf.len())),
        }
    }
}
