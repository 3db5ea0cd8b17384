//! Typed configuration: defaults, then the TOML file named by `ROOST_CONFIG`, then
//! `ROOST_*` environment variables (`__` nests: `ROOST_PAGINATE__MAX=100`), then
//! `*_file` keys that name files holding secrets. Invalid config stops start-up, and so
//! does an unknown key or `ROOST_*` variable (see `keys`).
//!
//! This file holds [`Config`], its loading and the database URL helpers; the sections are
//! typed in `server.rs`, `auth.rs` and `notify.rs`, the start-up checks in `validate.rs`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod auth;
mod keys;
mod notify;
mod server;
mod validate;

pub(crate) use auth::unhex;
pub use auth::{
    AuthConfig, OAuthConfig, PasswordConfig, SIGNING_KEY, SignupConfig, alg_name, algorithm,
    algorithm_named, allowed_origin, origin_of, parse_key,
};
pub use notify::{NotifyConfig, SmsConfig, SmtpConfig, parse_webhook_url};
pub use server::{
    AuditConfig, ClusterConfig, GeoIpConfig, HttpConfig, LogConfig, MetricsConfig, PaginateConfig,
    SocketConfig,
};

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

    pub fn is_production(&self) -> bool {
        self.env == "production"
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
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

/// A setting and its environment variable: `admin_email (ROOST_ADMIN_EMAIL)`; `a or b`
/// gives both.
pub(crate) fn named(keys: &str) -> String {
    keys.split(" or ")
        .map(|key| format!("{key} ({})", keys::env_name(key)))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// The kinds of database Roost runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Sqlite,
    Postgres,
}

/// A database URL without its password, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
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
