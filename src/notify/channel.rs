//! One [`Channel`] per way out (`smtp`, `sms`, `log`), each built from its own settings
//! and usable alone; [`Channels`] picks the one for a message's address kind.
//!
//! Email: `notify.transport` = `smtp` | `log` | `none` (unset: `log` in development,
//! `none` in production). Text messages: the `notify.sms.url` webhook when set, whatever
//! the email transport is (SMS needs no SMTP); unset, they go to the log when
//! `notify.transport` is `log`, else nowhere.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Message, To};
use crate::config::Config;

/// Delivers a message to its address. Retries and the queue are the caller's
/// ([`super::Notifier`]); an error is worth retrying.
#[async_trait]
pub trait Channel: Send + Sync {
    /// What the logs call it (`smtp`, `sms webhook`, `log`).
    fn name(&self) -> &'static str;

    async fn send(&self, message: &Message) -> anyhow::Result<()>;
}

/// The channel of each address kind; `None` where nothing can deliver.
#[derive(Default, Clone)]
pub struct Channels {
    pub email: Option<Arc<dyn Channel>>,
    pub sms: Option<Arc<dyn Channel>>,
}

impl Channels {
    /// The channels `config` names (checked by [`crate::config::NotifyConfig::validate`] first).
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let log: Arc<dyn Channel> = Arc::new(super::log::Log);
        let email: Option<Arc<dyn Channel>> =
            match config.notify.email_transport(config.is_production()) {
                "smtp" => Some(Arc::new(super::smtp::Smtp::new(&config.notify.smtp)?)),
                "log" => Some(log.clone()),
                _ => None,
            };
        let sms: Option<Arc<dyn Channel>> = match &config.notify.sms.url {
            Some(_) => Some(Arc::new(super::sms::SmsWebhook::new(&config.notify.sms)?)),
            None if config.notify.email_transport(config.is_production()) == "log" => Some(log),
            None => None,
        };
        Ok(Self { email, sms })
    }

    /// The channel for `to`, or the setting that would provide one.
    pub fn for_address(&self, to: &To) -> Result<&Arc<dyn Channel>, &'static str> {
        match to {
            To::Email(_) => self.email.as_ref().ok_or("notify.transport"),
            To::Phone(_) => self.sms.as_ref().ok_or("notify.sms.url"),
        }
    }
}
