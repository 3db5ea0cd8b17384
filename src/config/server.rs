//! The server's own settings: HTTP (limits, CORS, trusted proxies, timeouts), Socket.IO,
//! logs, metrics, the cluster bus, paging, the audit log and GeoIP. Each section is a
//! typed struct with its defaults, re-exported by [`crate::config`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Prometheus metrics at `GET /metrics` (see `metrics`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct MetricsConfig {
    /// Serve `/metrics`. Off: it is a 404 like any unknown path.
    pub enabled: bool,
    /// When set, `/metrics` requires `Authorization: Bearer <token>` (else 401). A secret:
    /// never logged.
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            token: None,
            token_file: None,
        }
    }
}

/// Logging. The filter is `ROOST_LOG` (tracing's EnvFilter syntax), not a setting.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct LogConfig {
    /// `text` (human-readable lines) or `json` (one JSON object per line, with the
    /// request span's fields, `request_id` included).
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "text".into(),
        }
    }
}

impl LogConfig {
    pub fn is_json(&self) -> bool {
        self.format == "json"
    }
}

/// Several instances on one PostgreSQL database (DESIGN §2): realtime events, session
/// revocations and scope-cache invalidations cross instances over `LISTEN`/`NOTIFY`
/// (see `realtime::bus`). Ignored on SQLite.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ClusterConfig {
    /// Run the bus on PostgreSQL. Turn off only when one instance serves the database.
    pub enabled: bool,
    /// The `NOTIFY` channel (lower-case letters, digits, `_`); instances on one database
    /// must agree on it.
    pub channel: String,
    /// Seconds a large message stays in `bus_outbox` before it is pruned.
    pub outbox_retention_secs: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            channel: "roost_bus".into(),
            outbox_retention_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct GeoIpConfig {
    /// A local MaxMind / GeoLite2 City `.mmdb` file for the geo fields of
    /// `auth_sessions`. Unset: those fields stay null. Never downloaded.
    pub database: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(default)]
pub struct PaginateConfig {
    pub default: u64,
    pub max: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Largest accepted request body (REST) and Socket.IO message, in bytes.
    pub body_limit: usize,
    /// Browser origins allowed by CORS; `["*"]` allows any. In the environment: a
    /// comma-separated list.
    #[serde(deserialize_with = "super::list_or_csv")]
    pub cors_origins: Vec<String>,
    /// Deprecated: `true` means `trusted_proxies = 1`.
    pub trust_proxy: bool,
    /// Proxies trusted to write `X-Forwarded-For`: a number of hops, or a list (in the
    /// environment: comma-separated) of addresses / CIDRs. Unset: the header is ignored.
    /// See `proxies`.
    #[serde(rename = "trusted_proxies")]
    pub trusted_proxies_raw: Option<crate::proxies::RawTrustedProxies>,
    /// The parsed value of `trusted_proxies` (and `trust_proxy`), set by `validate`.
    #[serde(skip)]
    pub trusted_proxies: crate::proxies::TrustedProxies,
    /// Seconds a connection may take to send a complete request head, counted from when
    /// it opens or its previous response was written (so it also closes idle keep-alive
    /// connections). Clients that never finish their headers are dropped after it.
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may go without a byte moving either way while a request is
    /// read or answered (a body sent too slowly, a response not read) before it is
    /// closed. At least 30: a Socket.IO long-polling request waits up to 25 s.
    pub idle_timeout_secs: u64,
    /// Seconds a stopping server (SIGTERM, ctrl-c) gives requests in flight to finish and
    /// background senders to flush before it exits anyway. 0: exit at once.
    pub shutdown_grace_secs: u64,
}

/// Socket.IO connections.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct SocketConfig {
    /// Service calls one socket may have running at once; an event beyond it is answered
    /// at once with a 429 `TooManyRequests` ack and not run (each call in flight holds
    /// memory: a client emitting thousands of `find`s without waiting must not).
    pub max_in_flight: usize,
}

impl Default for SocketConfig {
    fn default() -> Self {
        Self { max_in_flight: 32 }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct AuditConfig {
    /// Allow update/patch/remove on `events` (still needs `full_access`).
    pub mutable: bool,
}

impl Default for PaginateConfig {
    fn default() -> Self {
        Self {
            default: 10,
            max: 50,
        }
    }
}

static ONE_HOP: crate::proxies::TrustedProxies = crate::proxies::TrustedProxies::Hops(1);

impl HttpConfig {
    /// The proxies to trust: `trusted_proxies`, or one hop for the deprecated
    /// `trust_proxy = true`.
    pub fn proxies(&self) -> &crate::proxies::TrustedProxies {
        if self.trust_proxy && self.trusted_proxies.is_none() && self.trusted_proxies_raw.is_none()
        {
            return &ONE_HOP;
        }
        &self.trusted_proxies
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit: 1_000_000,
            cors_origins: vec!["*".into()],
            trust_proxy: false,
            trusted_proxies_raw: None,
            trusted_proxies: Default::default(),
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            shutdown_grace_secs: 10,
        }
    }
}
