//! The protocol-free core: the `Service` trait every resource implements, the call
//! parameters, the typed query AST, per-service policies and the registry.
//!
//! Transports turn requests into a [`Call`]; `hooks::run` pushes it through the pipeline.

pub mod db;
pub mod fields;
pub mod inline_reads;
pub mod inline_writes;
pub mod input;
pub mod policy;
pub mod query;
pub mod registry;
pub mod scopes;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

pub use db::{Database, Db, Executed, Get, Row, Write};
pub use input::{Field, Text, parse, peek};
pub use policy::{Access, Policy, Rows, ScopeRule};
pub use query::Query;
pub use registry::Registry;

/// The six Feathers service methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Find,
    Get,
    Create,
    Update,
    Patch,
    Remove,
}

impl Method {
    pub const ALL: [Method; 6] = [
        Method::Find,
        Method::Get,
        Method::Create,
        Method::Update,
        Method::Patch,
        Method::Remove,
    ];

    /// The methods that change rows.
    pub const MUTATIONS: [Method; 4] = [
        Method::Create,
        Method::Update,
        Method::Patch,
        Method::Remove,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Find => "find",
            Method::Get => "get",
            Method::Create => "create",
            Method::Update => "update",
            Method::Patch => "patch",
            Method::Remove => "remove",
        }
    }

    /// The realtime event a successful call of this method emits, if any.
    pub const fn event(self) -> Option<&'static str> {
        match self {
            Method::Create => Some("created"),
            Method::Update => Some("updated"),
            Method::Patch => Some("patched"),
            Method::Remove => Some("removed"),
            Method::Find | Method::Get => None,
        }
    }

    pub const fn is_mutation(self) -> bool {
        self.event().is_some()
    }
}

/// Where a call came from (`params.provider` in Feathers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Rest,
    Socketio,
    /// A server-side call: skips authorization, like Feathers' internal calls.
    Internal,
}

impl Provider {
    pub const fn as_str(self) -> &'static str {
        match self {
            Provider::Rest => "rest",
            Provider::Socketio => "socketio",
            Provider::Internal => "internal",
        }
    }
}

/// An authenticated caller, resolved from a verified access token.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub user_id: i64,
    /// The user's safe record (no password hash), as `get` returns it. Shared with the
    /// principal cache.
    pub user: Arc<Value>,
    /// The token this principal was authenticated with and its claims, shared with the
    /// verified-token memory ([`crate::auth::Keys`]): a principal is cheap to copy.
    pub token: Arc<VerifiedToken>,
    /// Effective global scopes, resolved when authenticated and refreshed from the scope
    /// cache by the authorize stage on every call (so role changes apply at once).
    pub scopes: Arc<scopes::Scopes>,
}

impl Principal {
    /// The token this principal was authenticated with (never logged).
    pub fn access_token(&self) -> &str {
        &self.token.token
    }

    /// The token's `jti`: names the authentication session.
    pub fn session_id(&self) -> &str {
        &self.token.claims.jti
    }

    /// Token expiry, seconds since the epoch.
    pub fn expires_at(&self) -> i64 {
        self.token.claims.exp
    }
}

/// The claims of a Roost access token, in Feathers' order.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Claims {
    pub iat: i64,
    pub exp: i64,
    pub aud: String,
    pub iss: String,
    pub sub: String,
    pub jti: String,
}

/// An access token whose signature and claims were checked ([`crate::auth::Keys`]), with
/// its claims. One per token, shared by the verified-token memory and every principal
/// authenticated with it.
#[derive(PartialEq)]
pub struct VerifiedToken {
    /// The token as presented. Kept in memory only (logout and `jwt` re-authentication
    /// compare and echo it); never logged.
    pub token: Box<str>,
    pub claims: Claims,
}

/// Without the token: a principal printed for debugging must not leak it.
impl std::fmt::Debug for VerifiedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedToken")
            .field("token", &"[redacted]")
            .field("claims", &self.claims)
            .finish()
    }
}

/// Facts about the connection a call arrived on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Connection {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The Socket.IO socket id, for socket calls.
    pub socket_id: Option<String>,
}

/// Call parameters (`params` in Feathers).
#[derive(Debug, Clone)]
pub struct Params {
    pub provider: Provider,
    /// The raw query, as parsed from the query string or sent over the socket.
    pub query: Map<String, Value>,
    /// The authenticated caller, once the authenticate stage ran (or the socket is bound).
    pub principal: Option<Arc<Principal>>,
    /// An access token presented with the request (REST `Authorization` header), verified
    /// by the authenticate stage.
    pub access_token: Option<String>,
    pub connection: Connection,
}

impl Params {
    pub fn new(provider: Provider) -> Self {
        Self {
            provider,
            query: Map::new(),
            principal: None,
            access_token: None,
            connection: Connection::default(),
        }
    }

    /// Parameters for a server-side call: authorization is skipped.
    pub fn internal() -> Self {
        Self::new(Provider::Internal)
    }

    pub fn with_query(mut self, query: Map<String, Value>) -> Self {
        self.query = query;
        self
    }

    pub fn is_internal(&self) -> bool {
        self.provider == Provider::Internal
    }

    pub fn user_id(&self) -> Option<i64> {
        self.principal.as_ref().map(|p| p.user_id)
    }
}

/// One service call, as the transports hand it to the pipeline.
#[derive(Debug, Clone)]
pub struct Call {
    pub path: String,
    pub method: Method,
    pub id: Option<Value>,
    pub data: Value,
    pub params: Params,
}

/// What a call did to its connection (login binds a socket, logout unbinds it).
#[derive(Debug, Clone)]
pub enum ConnectionEffect {
    Login(Arc<Principal>),
    Logout,
}

/// The result of a call: the (already protected) value for the caller, plus any effect
/// the transport must apply to the connection.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub value: Value,
    pub effect: Option<ConnectionEffect>,
}

/// What a service method sees of the call besides its arguments.
pub struct Ctx<'a> {
    /// The connection to use: inside the call's transaction for mutations.
    pub db: Db<'a>,
    pub params: &'a Params,
    pub path: &'a str,
    /// What the call did besides its answer (read by the pipeline after the method).
    pub effects: &'a Effects,
    /// The app's pipeline, for calls to other services and for what a service does
    /// beyond its rows (Feathers' `context.app`).
    pub pipeline: &'a dyn Pipeline,
}

/// What a service reaches of the running app through its [`Ctx`].
#[async_trait]
pub trait Pipeline: Send + Sync {
    /// Runs `call` through every stage, as the transports do.
    async fn run(&self, call: Call) -> Result<Outcome>;

    /// Logs out this instance's sockets bound to the sessions `jtis` (the other
    /// instances learn of the revocation over the cluster bus).
    fn log_out(&self, jtis: Vec<String>);

    /// An account changed outside a call to its own service: what is cached about
    /// callers is stale (here and on the other instances).
    fn principals_changed(&self);
}

/// No app around the service (a service driven directly, as in unit tests): nested calls
/// fail, and there is nothing to log out or invalidate.
pub struct Detached;

#[async_trait]
impl Pipeline for Detached {
    async fn run(&self, call: Call) -> Result<Outcome> {
        Err(Error::internal(format!(
            "cannot call {} {}: the service runs outside an app",
            call.path,
            call.method.as_str()
        )))
    }

    fn log_out(&self, _jtis: Vec<String>) {}

    fn principals_changed(&self) {}
}

/// What a call did besides its answer.
#[derive(Debug, Default)]
pub struct Effects {
    unchanged: std::sync::atomic::AtomicBool,
}

impl Effects {
    /// The answer stands for a change that did not happen (a sign-up with a taken
    /// address answers like a new account): nothing is audited as a row change,
    /// published, or applied to sessions and caches.
    pub fn mark_unchanged(&self) {
        self.unchanged
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn unchanged(&self) -> bool {
        self.unchanged.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// What a successful call does to the connection it arrived on (the socket transport
/// applies it; REST is stateless).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    None,
    /// The answer is a login (`accessToken`, `authentication`, `user`): the connection is
    /// bound to that user. Such a call authenticates with its data, never with a header.
    Login,
    /// The connection is unbound, and the caller's session ends.
    Logout,
}

/// The caller of a call authorization admitted, for a service's own rules.
pub struct Caller<'a> {
    pub principal: &'a Principal,
    /// The caller's current scopes.
    pub scopes: &'a scopes::Scopes,
    /// Admitted by the method's scope; otherwise by group roles or as the row's owner.
    pub by_scope: bool,
    /// Admitted for the caller's own rows only (the own-record rule).
    pub own_only: bool,
    /// The pool (rules run before the call's transaction).
    pub db: Db<'a>,
}

/// A Feathers service. Methods a service lacks keep the default and answer 405; they
/// must also be left out of [`Service::methods`] so transports can tell without calling.
#[async_trait]
pub trait Service: Send + Sync + 'static {
    /// The methods this service implements.
    fn methods(&self) -> &'static [Method] {
        &Method::ALL
    }

    /// Who may call what, what is audited and what is published.
    fn policy(&self) -> &Policy;

    /// Parses the call's id and data once, into the typed values the service will store
    /// (e.g. `"1 "`, `1e0` and `1.0` all become `1` for an integer column), before any rule
    /// reads them: authorization and the write then see the same values. A value that
    /// cannot be read is refused here (400). The default keeps the call as sent.
    fn parse(&self, call: &mut Call) -> Result<()> {
        let _ = call;
        Ok(())
    }

    /// The service's own rules on an outside call its policy admitted (after the scope
    /// rule; not for internal calls or callers of open methods), e.g. which fields of
    /// another user's record a caller may write. May rewrite the call.
    async fn authorize(&self, caller: &Caller<'_>, call: &mut Call) -> Result<()> {
        let _ = (caller, call);
        Ok(())
    }

    /// What a successful call of `method` does to its connection.
    fn binds(&self, method: Method) -> Binding {
        let _ = method;
        Binding::None
    }

    /// JSON Schemas for the OpenAPI document: `{"record": {..}, "data": {..}}` (what the
    /// service returns, what it accepts). `None` leaves the service undocumented.
    fn schema(&self) -> Option<Value> {
        None
    }

    async fn find(&self, ctx: &Ctx<'_>) -> Result<Value> {
        Err(not_supported(ctx.path, Method::Find))
    }
    async fn get(&self, ctx: &Ctx<'_>, id: &Value) -> Result<Value> {
        let _ = id;
        Err(not_supported(ctx.path, Method::Get))
    }
    async fn create(&self, ctx: &Ctx<'_>, data: Value) -> Result<Value> {
        let _ = data;
        Err(not_supported(ctx.path, Method::Create))
    }
    async fn update(&self, ctx: &Ctx<'_>, id: Option<&Value>, data: Value) -> Result<Value> {
        let _ = (id, data);
        Err(not_supported(ctx.path, Method::Update))
    }
    async fn patch(&self, ctx: &Ctx<'_>, id: Option<&Value>, data: Value) -> Result<Value> {
        let _ = (id, data);
        Err(not_supported(ctx.path, Method::Patch))
    }
    async fn remove(&self, ctx: &Ctx<'_>, id: Option<&Value>) -> Result<Value> {
        let _ = id;
        Err(not_supported(ctx.path, Method::Remove))
    }
}

/// Feathers' 405 for a method a service does not offer.
pub fn not_supported(path: &str, method: Method) -> Error {
    Error::method_not_allowed(format!(
        "Method `{}` is not supported by this endpoint.",
        method.as_str()
    ))
    .with_data(serde_json::json!({ "path": path }))
}
