//! Notification settings: the email transport (SMTP) and the SMS webhook. Each section is
//! a typed struct with its defaults, re-exported by [`crate::config`], and its checks, so
//! a bad value is refused at start-up and `notify` only builds what passed.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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

impl NotifyConfig {
    /// The email transport: `transport`, or when unset `log` in development and `none` in
    /// production.
    pub fn email_transport(&self, production: bool) -> &str {
        match self.transport.as_deref() {
            Some(name) => name,
            None if production => "none",
            None => "log",
        }
    }

    /// Refuses settings the channels cannot run with.
    pub fn validate(&self, production: bool) -> anyhow::Result<()> {
        match self.email_transport(production) {
            "log" if production => {
                anyhow::bail!(
                    "notify.transport = \"log\" is for development only (env is production)"
                )
            }
            "log" | "none" => {}
            "smtp" => self.smtp.validate()?,
            other => anyhow::bail!("notify.transport must be smtp, log or none (got {other:?})"),
        }
        if let Some(url) = &self.sms.url {
            parse_webhook_url(url).map_err(|e| anyhow::anyhow!("notify.sms.url: {e}"))?;
        }
        if self.queue == 0 {
            anyhow::bail!("notify.queue must be at least 1");
        }
        Ok(())
    }
}

impl SmtpConfig {
    /// Refuses settings the SMTP channel cannot run with.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.host.trim().is_empty() {
            anyhow::bail!("notify.smtp.host is required with notify.transport = \"smtp\"");
        }
        if !matches!(self.tls.as_str(), "starttls" | "tls" | "none") {
            anyhow::bail!("notify.smtp.tls must be starttls, tls or none");
        }
        if self.from.parse::<lettre::message::Mailbox>().is_err() {
            anyhow::bail!("notify.smtp.from is not a valid address");
        }
        Ok(())
    }
}

/// The SMS webhook URL, if it is one the channel calls: `http` or `https`, a host, no
/// credentials in it.
pub fn parse_webhook_url(url: &str) -> anyhow::Result<reqwest::Url> {
    let parsed = reqwest::Url::parse(url).map_err(|_| anyhow::anyhow!("not a valid URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        anyhow::bail!("only http:// and https:// URLs are supported");
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        anyhow::bail!("invalid host");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        anyhow::bail!("credentials in the URL are not supported");
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_webhook_urls() {
        assert!(parse_webhook_url("http://sms.local:8080/send").is_ok());
        assert!(parse_webhook_url("http://sms.local").is_ok());
        assert!(parse_webhook_url("https://api.example.com/v1/sms?key=x").is_ok());
        assert!(parse_webhook_url("ftp://x/").is_err());
        assert!(parse_webhook_url("http://:80/").is_err());
        assert!(parse_webhook_url("http://a:b/").is_err());
        assert!(parse_webhook_url("http://u@h/").is_err());
        assert!(parse_webhook_url("http://u:p@h/").is_err());
        assert!(parse_webhook_url("sms.local/send").is_err());
    }

    #[test]
    fn log_is_refused_in_production() {
        let mut notify = NotifyConfig {
            transport: Some("log".into()),
            ..NotifyConfig::default()
        };
        assert!(notify.validate(true).is_err());
        notify.transport = None;
        assert!(notify.validate(true).is_ok());
        notify.transport = Some("log".into());
        assert!(notify.validate(false).is_ok());
    }
}
