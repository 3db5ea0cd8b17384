//! [`Config::validate`]: the checks that stop start-up on a value that would make the
//! server unsafe or unusable, each naming the key (and its `ROOST_*` variable) to fix.

use super::{Config, database_scheme, named};

impl Config {
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
        let algorithm = super::algorithm(&self.authentication.algorithm)?;
        self.authentication.algorithm = super::alg_name(algorithm).into();
        if let Some(kid) = &self.authentication.kid
            && (kid.is_empty() || kid.len() > 128 || !kid.bytes().all(|b| b.is_ascii_graphic()))
        {
            anyhow::bail!(
                "{} must be 1 to 128 printable ASCII characters without spaces",
                named("authentication.kid")
            );
        }
        if let Some(key) = &self.authentication.token_key
            && super::parse_key(key).is_none()
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
        self.notify.validate(self.is_production())?;
        self.oauth.validate()?;
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
