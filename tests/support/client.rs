//! The one client abstraction every scenario is written against, so each scenario runs
//! unchanged over REST and over Socket.IO (CONVENTIONS: "Write each scenario once and run
//! it over both transports").

use serde_json::{Value, json};

use super::rest::RestClient;
use super::socket::SocketClient;

/// A Feathers error as it reached the client: the JSON body (REST) or the first ack
/// argument (Socket.IO), plus the HTTP status for REST.
#[derive(Debug, Clone)]
pub struct FeathersError {
    /// HTTP status (REST only).
    pub status: Option<u16>,
    pub body: Value,
}

pub type Res = Result<Value, FeathersError>;

/// The Feathers error table (`@feathersjs/errors`): name -> (code, className).
pub const ERROR_CLASSES: &[(&str, u16, &str)] = &[
    ("BadRequest", 400, "bad-request"),
    ("NotAuthenticated", 401, "not-authenticated"),
    ("PaymentError", 402, "payment-error"),
    ("Forbidden", 403, "forbidden"),
    ("NotFound", 404, "not-found"),
    ("MethodNotAllowed", 405, "method-not-allowed"),
    ("NotAcceptable", 406, "not-acceptable"),
    ("Timeout", 408, "timeout"),
    ("Conflict", 409, "conflict"),
    ("Gone", 410, "gone"),
    ("LengthRequired", 411, "length-required"),
    ("Unprocessable", 422, "unprocessable"),
    ("TooManyRequests", 429, "too-many-requests"),
    ("GeneralError", 500, "general-error"),
    ("NotImplemented", 501, "not-implemented"),
    ("BadGateway", 502, "bad-gateway"),
    ("Unavailable", 503, "unavailable"),
];

impl FeathersError {
    pub fn name(&self) -> &str {
        self.body["name"].as_str().unwrap_or("")
    }
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }
    pub fn code(&self) -> u64 {
        self.body["code"].as_u64().unwrap_or(0)
    }

    /// Checks that the body is a well-formed Feathers error: a known class whose `name`,
    /// `code` and `className` agree, and (REST) an HTTP status equal to `code`.
    #[track_caller]
    pub fn assert_well_formed(&self) {
        let name = self.name();
        let Some((_, code, class)) = ERROR_CLASSES.iter().find(|(n, _, _)| *n == name) else {
            panic!("not a Feathers error class: {}", self.body);
        };
        assert_eq!(self.code(), u64::from(*code), "code of {}", self.body);
        assert_eq!(
            self.body["className"],
            json!(class),
            "className of {}",
            self.body
        );
        assert!(self.body["message"].is_string(), "message of {}", self.body);
        assert!(
            self.body.get("stack").is_none(),
            "stack leaked: {}",
            self.body
        );
        if let Some(status) = self.status {
            assert_eq!(status, *code, "HTTP status of {}", self.body);
        }
    }

    /// Asserts the exact class (name, code, className and HTTP status).
    #[track_caller]
    pub fn assert_kind(&self, name: &str, code: u16) -> &Self {
        assert_eq!(self.name(), name, "error name; body: {}", self.body);
        assert_eq!(
            self.code(),
            u64::from(code),
            "error code; body: {}",
            self.body
        );
        self.assert_well_formed();
        self
    }
}

/// Unwraps an error of the given class, failing with the unexpected success otherwise.
#[track_caller]
pub fn expect_err(result: Res, name: &str, code: u16) -> FeathersError {
    match result {
        Ok(v) => panic!("expected {name} ({code}), got success: {v}"),
        Err(e) => {
            e.assert_kind(name, code);
            e
        }
    }
}

/// Unwraps a success, failing with the error body otherwise.
#[track_caller]
pub fn ok(result: Res) -> Value {
    match result {
        Ok(v) => v,
        Err(e) => panic!("expected success, got {:?} {}", e.status, e.body),
    }
}

/// `{}`: the query most calls send.
pub fn q() -> Value {
    json!({})
}

/// The six Feathers methods plus login/logout, as a Feathers client app offers them.
#[allow(async_fn_in_trait)]
pub trait Client {
    async fn find(&self, path: &str, query: Value) -> Res;
    async fn get(&self, path: &str, id: Value, query: Value) -> Res;
    async fn create(&self, path: &str, data: Value, query: Value) -> Res;
    async fn update(&self, path: &str, id: Value, data: Value, query: Value) -> Res;
    async fn patch(&self, path: &str, id: Value, data: Value, query: Value) -> Res;
    async fn remove(&self, path: &str, id: Value, query: Value) -> Res;
    /// `create` on `authentication`; on success the client keeps the token (REST sends
    /// it as `Authorization: Bearer`, a socket is bound by the server).
    async fn authenticate(&self, data: Value) -> Res;
    /// `remove` on `authentication`; the client forgets its token.
    async fn logout(&self) -> Res;
}

/// A client of either transport.
pub enum Conn {
    Rest(RestClient),
    Socket(SocketClient),
}

impl Conn {
    pub fn is_rest(&self) -> bool {
        matches!(self, Conn::Rest(_))
    }

    pub fn rest(&self) -> &RestClient {
        match self {
            Conn::Rest(r) => r,
            Conn::Socket(_) => panic!("not a REST client"),
        }
    }

    pub fn socket(&self) -> &SocketClient {
        match self {
            Conn::Socket(s) => s,
            Conn::Rest(_) => panic!("not a socket client"),
        }
    }

    /// The access token this client holds, if any.
    pub fn token(&self) -> Option<String> {
        match self {
            Conn::Rest(r) => r.token(),
            Conn::Socket(s) => s.token(),
        }
    }
}

impl Client for Conn {
    async fn find(&self, path: &str, query: Value) -> Res {
        match self {
            Conn::Rest(c) => c.find(path, query).await,
            Conn::Socket(c) => c.find(path, query).await,
        }
    }
    async fn get(&self, path: &str, id: Value, query: Value) -> Res {
        match self {
            Conn::Rest(c) => c.get(path, id, query).await,
            Conn::Socket(c) => c.get(path, id, query).await,
        }
    }
    async fn create(&self, path: &str, data: Value, query: Value) -> Res {
        match self {
            Conn::Rest(c) => c.create(path, data, query).await,
            Conn::Socket(c) => c.create(path, data, query).await,
        }
    }
    async fn update(&self, path: &str, id: Value, data: Value, query: Value) -> Res {
        match self {
            Conn::Rest(c) => c.update(path, id, data, query).await,
            Conn::Socket(c) => c.update(path, id, data, query).await,
        }
    }
    async fn patch(&self, path: &str, id: Value, data: Value, query: Value) -> Res {
        match self {
            Conn::Rest(c) => c.patch(path, id, data, query).await,
            Conn::Socket(c) => c.patch(path, id, data, query).await,
        }
    }
    async fn remove(&self, path: &str, id: Value, query: Value) -> Res {
        match self {
            Conn::Rest(c) => c.remove(path, id, query).await,
            Conn::Socket(c) => c.remove(path, id, query).await,
        }
    }
    async fn authenticate(&self, data: Value) -> Res {
        match self {
            Conn::Rest(c) => c.authenticate(data).await,
            Conn::Socket(c) => c.authenticate(data).await,
        }
    }
    async fn logout(&self) -> Res {
        match self {
            Conn::Rest(c) => c.logout().await,
            Conn::Socket(c) => c.logout().await,
        }
    }
}
