//! Notification settings: the email transport (SMTP) and the SMS webhook. Each section is
//! a typed struct with its defaults, re-exported by [`crate::config`]; the checks that
//! need the channels are `notify::validate`.

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
