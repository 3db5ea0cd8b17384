//! Typed configuration: defaults, then the TOML file named by `ROOST_CONFIG`, then
//! `ROOST_*` environment variables (`__` nests: `ROOST_PAGINATE__MAX=100`), then
//! `*_file` keys that name files holding secrets. Invalid config stops start-up, and so
//! does an unknown key or `ROOST_*` variable (see `keys`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod keys;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    /// `sqlite://<file>` or `postgres://...`. Unset: `roost.db` in `data_dir`
    /// (`sqlite://data/roost.db?mode=rwc` by default).
    pub database_url: String,
    pub host: String,
    pub port: u16,
    /// Where the embedded database and generated secrets live.
    pub data_dir: PathBuf,
    /// `development` or `production` (any case; kept in lower case).
    pub env: String,
    /// Bootstrap admin created at start when no user with this email exists. Needs
    /// `admin_password` or `admin_password_file`, and they need it.
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
    pub admin_password_file: Option<PathBuf>,
    pub authentication: AuthConfig,
    pub password: PasswordConfig,
    pub paginate: PaginateConfig,
    pub signup: SignupConfig,
    pub http: HttpConfig,
    pub socket: SocketConfig,
    pub audit: AuditConfig,
    pub geoip: GeoIpConfig,
    pub notify: NotifyConfig,
    pub oauth: OAuthConfig,
    pub cluster: ClusterConfig,
    pub metrics: MetricsConfig,
    pub log: LogConfig,
}

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

/// OAuth / OpenID Connect login (`GET /oauth/:slug`, see `oauth`). Providers themselves
/// are rows of `oauth_providers`, not config.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct OAuthConfig {
    /// Frontend origins (`https://app.example.com`) a finished flow may redirect to. A
    /// `redirect` query naming another origin is refused (no open redirect). In the
    /// environment: a comma-separated list.
    #[serde(deserialize_with = "list_or_csv")]
    pub origins: Vec<String>,
    /// Where a finished flow goes when its `redirect` query is a path or absent: a URL on
    /// one of `origins`. Unset: the first of `origins`.
    pub redirect: Option<String>,
    /// This server's public base URL, for the `redirect_uri` sent to providers
    /// (`<public_url>/oauth/<slug>/callback`). Unset: `http://<Host header>` (`https://`
    /// when `env` is `production`).
    pub public_url: Option<String>,
    /// Seconds a started flow may take before its state expires.
    pub state_ttl: u64,
    /// Flows one client IP may start per 10 minutes (each stores a pending state until it
    /// finishes or expires); more answer 429.
    pub starts_per_ip: u32,
    /// Seconds discovery documents and JWKS are cached.
    pub cache_ttl: u64,
    /// Timeout of each request to a provider, in milliseconds.
    pub timeout_ms: u64,
    /// Clock skew allowed when checking ID token times, in seconds.
    pub leeway: u64,
}

/// A list, or one comma-separated string (how environment variables carry lists).
fn list_or_csv<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCsv {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match ListOrCsv::deserialize(d)? {
        ListOrCsv::List(list) => list,
        ListOrCsv::Csv(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            origins: Vec::new(),
            redirect: None,
            public_url: None,
            state_ttl: 600,
            starts_per_ip: 60,
            cache_ttl: 3600,
            timeout_ms: 10_000,
            leeway: 60,
        }
    }
}

/// Notifications (emailed / texted codes and tokens), see `notify`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct NotifyConfig {
    /// The email channel: `smtp`, `log` (development only: messages go to the log, text
    /// messages too unless `sms.url` is set) or `none`. Unset: `log` in development, `none`
    /// in production. Text messages have their own channel (`sms.url`).
    pub transport: Option<String>,
    /// Messages waiting to be sent before new ones are refused (and logged).
    pub queue: usize,
    /// Extra attempts after a failed send, with a doubling delay.
    pub retries: u32,
    /// First retry delay in milliseconds.
    pub backoff_ms: u64,
    pub smtp: SmtpConfig,
    pub sms: SmsConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    /// `starttls` (required STARTTLS), `tls` (implicit TLS) or `none` (plain, local relays
    /// and tests only).
    pub tls: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    pub from: String,
    /// Connect/command timeout in milliseconds.
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct SmsConfig {
    /// An `https://` or `http://` webhook that receives `POST {"to", "message"}` as JSON,
    /// whatever `transport` is (SMS needs no SMTP). Unset: text messages go to the log
    /// with `transport = "log"`, else are not sent (logged as undeliverable).
    pub url: Option<String>,
    pub timeout_ms: u64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            transport: None,
            queue: 1000,
            retries: 3,
            backoff_ms: 1000,
            smtp: SmtpConfig::default(),
            sms: SmsConfig::default(),
        }
    }
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            port: 587,
            tls: "starttls".into(),
            user: None,
            password: None,
            password_file: None,
            from: "Roost <no-reply@localhost>".into(),
            timeout_ms: 10_000,
        }
    }
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            url: None,
            timeout_ms: 5_000,
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

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct AuthConfig {
    /// HS256 secret (raw UTF-8 bytes, as Feathers uses it). Generated into
    /// `data_dir/jwt-secret` on first start when neither this nor `secret_file` is set.
    pub secret: Option<String>,
    pub secret_file: Option<PathBuf>,
    /// How access tokens are signed: `HS256` (with `secret`, as Feathers does), `EdDSA`
    /// or `RS256` (with `signing_key_file`; other apps verify them with the public keys
    /// at `/.well-known/jwks.json`, no shared secret). Any case.
    pub algorithm: String,
    /// PKCS#8 PEM private key for `EdDSA` (Ed25519) or `RS256` (RSA, 2048 to 4096 bits).
    /// Never generated: `openssl genpkey -algorithm ed25519 -out roost-signing.pem`.
    pub signing_key_file: Option<PathBuf>,
    /// The `kid` of tokens and of the published key. Unset: the key's RFC 7638 JWK
    /// thumbprint.
    pub kid: Option<String>,
    /// PEM files (public or private) of earlier signing keys: tokens they signed stay
    /// valid until they expire, and they stay published. In the environment: a
    /// comma-separated list.
    #[serde(deserialize_with = "list_or_csv")]
    pub previous_keys: Vec<String>,
    /// `aud` claim written and required.
    pub audience: String,
    /// `iss` claim written and required.
    pub issuer: String,
    /// Access token lifetime in seconds.
    pub expires_in: u64,
    /// AES-256-GCM key (64 hex characters) for `auth_sessions.encrypted_token`. Generated
    /// into `data_dir/token-key` on first start when neither this nor `token_key_file` is set.
    pub token_key: Option<String>,
    pub token_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct PasswordConfig {
    /// Never below 8, whatever is configured.
    pub min_length: usize,
    pub max_length: usize,
    /// Password hashes / checks that may wait for a worker (one per core) before more
    /// are refused with 503 `Unavailable` + `Retry-After` (`auth::password`).
    pub hash_queue: usize,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(default)]
pub struct PaginateConfig {
    pub default: u64,
    pub max: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct SignupConfig {
    /// Allow anonymous `users.create`.
    pub open: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Largest accepted request body (REST) and Socket.IO message, in bytes.
    pub body_limit: usize,
    /// Browser origins allowed by CORS; `["*"]` allows any. In the environment: a
    /// comma-separated list.
    #[serde(deserialize_with = "list_or_csv")]
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

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: sqlite_url_in(Path::new("data")),
            host: "127.0.0.1".into(),
            port: 3030,
            data_dir: PathBuf::from("data"),
            env: "development".into(),
            admin_email: None,
            admin_password: None,
            admin_password_file: None,
            authentication: AuthConfig::default(),
            password: PasswordConfig::default(),
            paginate: PaginateConfig::default(),
            signup: SignupConfig::default(),
            http: HttpConfig::default(),
            socket: SocketConfig::default(),
            audit: AuditConfig::default(),
            geoip: GeoIpConfig::default(),
            notify: NotifyConfig::default(),
            oauth: OAuthConfig::default(),
            cluster: ClusterConfig::default(),
            metrics: MetricsConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            secret: None,
            secret_file: None,
            algorithm: "HS256".into(),
            signing_key_file: None,
            kid: None,
            previous_keys: Vec::new(),
            audience: "roost".into(),
            issuer: "roost".into(),
            expires_in: 86_400,
            token_key: None,
            token_key_file: None,
        }
    }
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            min_length: 12,
            max_length: 128,
            hash_queue: 64,
        }
    }
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

impl Config {
    /// Loads defaults < `ROOST_CONFIG` file < `ROOST_*` environment, then secret files.
    pub fn load() -> anyhow::Result<Self> {
        Self::load_from(std::env::vars_os())
    }

    /// [`Config::load`] from the environment `vars`.
    pub fn load_from(vars: impl IntoIterator<Item = (OsString, OsString)>) -> anyhow::Result<Self> {
        let known = keys::Known::new()?;
        let env = known.split_env(vars)?;
        let mut builder = config::Config::builder();
        if let Some(path) = &env.config_file {
            builder = builder.add_source(config::File::with_name(path).required(true));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("ROOST")
                .prefix_separator("_")
                .separator("__")
                .source(Some(env.settings)),
        );
        let merged = builder.build()?;
        let tree = config::Source::collect(&merged)?;
        known.check_file(&tree, env.config_file.as_deref().unwrap_or_default())?;
        let mut cfg: Config = merged
            .try_deserialize()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        if !tree.contains_key("database_url") {
            cfg.database_url = sqlite_url_in(&cfg.data_dir);
        }
        cfg.read_secret_files()?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn read_secret_files(&mut self) -> anyhow::Result<()> {
        if let Some(path) = &self.authentication.secret_file {
            self.authentication.secret = Some(read_secret(path, "authentication.secret_file")?);
        }
        if let Some(path) = &self.authentication.token_key_file {
            self.authentication.token_key =
                Some(read_secret(path, "authentication.token_key_file")?);
        }
        if let Some(path) = &self.admin_password_file {
            self.admin_password = Some(read_secret(path, "admin_password_file")?);
        }
        if let Some(path) = &self.notify.smtp.password_file {
            self.notify.smtp.password = Some(read_secret(path, "notify.smtp.password_file")?);
        }
        if let Some(path) = &self.metrics.token_file {
            self.metrics.token = Some(read_secret(path, "metrics.token_file")?);
        }
        Ok(())
    }

    /// Rejects values that would make the server unsafe or unusable, naming the key.
    pub fn validate(&mut self) -> anyhow::Result<()> {
        let env = self.env.trim().to_ascii_lowercase();
        if env != "development" && env != "production" {
            anyhow::bail!(
                "env (ROOST_ENV) must be development or production, not '{}'",
                self.env
            );
        }
        self.env = env;
        let format = self.log.format.trim().to_ascii_lowercase();
        if format != "text" && format != "json" {
            anyhow::bail!(
                "log.format (ROOST_LOG__FORMAT) must be text or json, not '{}'",
                self.log.format
            );
        }
        self.log.format = format;
        if self
            .metrics
            .token
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            anyhow::bail!(
                "metrics.token (ROOST_METRICS__TOKEN) or metrics.token_file is empty: set a \
                 token or leave both unset"
            );
        }
        database_scheme(&self.database_url)?;
        // Read after the `*_file` keys, so a password from a file counts.
        both_or_neither(
            ("admin_email", self.admin_email.is_some()),
            (
                "admin_password or admin_password_file",
                self.admin_password.is_some(),
            ),
        )?;
        both_or_neither(
            ("notify.smtp.user", self.notify.smtp.user.is_some()),
            (
                "notify.smtp.password or notify.smtp.password_file",
                self.notify.smtp.password.is_some(),
            ),
        )?;
        if self.paginate.max == 0 || self.paginate.default == 0 {
            anyhow::bail!("paginate.default and paginate.max must be at least 1");
        }
        self.paginate.default = self.paginate.default.min(self.paginate.max);
        if self.password.min_length < 8 {
            anyhow::bail!("password.min_length must be at least 8");
        }
        if self.password.max_length < 64 || self.password.max_length > 1024 {
            anyhow::bail!("password.max_length must be between 64 and 1024");
        }
        if self.authentication.expires_in == 0 {
            anyhow::bail!("authentication.expires_in must be at least 1 second");
        }
        if let Some(secret) = &self.authentication.secret
            && secret.len() < 32
        {
            anyhow::bail!("authentication.secret must be at least 32 bytes");
        }
        // Kept in its JOSE spelling (`eddsa` -> `EdDSA`).
        let algorithm = crate::auth::signing::algorithm(&self.authentication.algorithm)?;
        self.authentication.algorithm = crate::auth::signing::alg_name(algorithm).into();
        if let Some(kid) = &self.authentication.kid
            && (kid.is_empty() || kid.len() > 128 || !kid.bytes().all(|b| b.is_ascii_graphic()))
        {
            anyhow::bail!(
                "{} must be 1 to 128 printable ASCII characters without spaces",
                named("authentication.kid")
            );
        }
        if let Some(key) = &self.authentication.token_key
            && crate::auth::crypto::parse_key(key).is_none()
        {
            anyhow::bail!("authentication.token_key must be 64 hex characters");
        }
        self.http.trusted_proxies = match &self.http.trusted_proxies_raw {
            Some(raw) => crate::proxies::TrustedProxies::parse(raw).map_err(|bad| {
                anyhow::anyhow!("http.trusted_proxies: '{bad}' is not an IP address or CIDR")
            })?,
            None if self.http.trust_proxy => crate::proxies::TrustedProxies::Hops(1),
            None => crate::proxies::TrustedProxies::Hops(0),
        };
        if self.http.body_limit < 1024 {
            anyhow::bail!("http.body_limit must be at least 1024 bytes");
        }
        if self.http.header_read_timeout_secs == 0 {
            anyhow::bail!("http.header_read_timeout_secs must be at least 1");
        }
        if self.http.idle_timeout_secs < 30 {
            anyhow::bail!(
                "http.idle_timeout_secs must be at least 30 (Socket.IO long-polling waits 25 s)"
            );
        }
        if self.socket.max_in_flight == 0 {
            anyhow::bail!("socket.max_in_flight must be at least 1");
        }
        crate::notify::validate(self)?;
        crate::oauth::validate_config(&self.oauth)?;
        let channel = &self.cluster.channel;
        if channel.is_empty()
            || channel.len() > 63
            || !channel
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            anyhow::bail!("cluster.channel must be 1-63 lower-case letters, digits or '_'");
        }
        if self.cluster.outbox_retention_secs < 10 {
            anyhow::bail!("cluster.outbox_retention_secs must be at least 10");
        }
        Ok(())
    }

    pub fn is_production(&self) -> bool {
        self.env == "production"
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

/// A setting and its environment variable: `admin_email (ROOST_ADMIN_EMAIL)`; `a or b`
/// gives both.
pub(crate) fn named(keys: &str) -> String {
    keys.split(" or ")
        .map(|key| format!("{key} ({})", keys::env_name(key)))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Settings that only work together: one given without the other is a mistake (a
/// bootstrap admin without a password would silently not be created).
fn both_or_neither(a: (&str, bool), b: (&str, bool)) -> anyhow::Result<()> {
    let (given, missing) = match (a.1, b.1) {
        (true, false) => (a.0, b.0),
        (false, true) => (b.0, a.0),
        _ => return Ok(()),
    };
    anyhow::bail!(
        "{} is set but {} is not: set both or neither",
        named(given),
        named(missing)
    )
}

/// The kinds of database Roost runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Sqlite,
    Postgres,
}

/// The kind of database `url` names, or an error saying what is wrong with it.
pub fn database_scheme(url: &str) -> anyhow::Result<Scheme> {
    let scheme = url.split_once(':').map(|(scheme, _)| scheme);
    match scheme {
        Some("sqlite") => Ok(Scheme::Sqlite),
        Some("postgres" | "postgresql") => Ok(Scheme::Postgres),
        Some(other) if !other.is_empty() => anyhow::bail!(
            "unsupported database URL scheme '{other}' in database_url (ROOST_DATABASE_URL); \
             use sqlite:// or postgres://"
        ),
        _ => anyhow::bail!(
            "database_url (ROOST_DATABASE_URL) is not a URL: use sqlite://<file> or \
             postgres://<user>@<host>:<port>/<database>"
        ),
    }
}

/// The URL of the default database, `roost.db` in `dir`. The SQLite driver
/// percent-decodes the path and ends it at `?`, so `%`, `?` and `#` are escaped.
pub fn sqlite_url_in(dir: &Path) -> String {
    let path = dir.join("roost.db");
    let mut url = String::from("sqlite://");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => url.push_str("%25"),
            '?' => url.push_str("%3F"),
            '#' => url.push_str("%23"),
            c => url.push(c),
        }
    }
    url.push_str("?mode=rwc");
    url
}

fn read_secret(path: &std::path::Path, key: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{key}: cannot read {}: {e}", path.display()))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}
