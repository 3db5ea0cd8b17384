//! Notifications: the emails and text messages that carry one-time codes and tokens, and
//! the notices that tell an account of a change it should know about (a linked sign-in
//! method; no secret in those).
//!
//! [`Notifier::send`] never blocks the request path: it puts the message on a bounded
//! queue that a background task drains. Each message is delivered by the channel for its
//! address kind in its own task (at most [`CONCURRENCY`] at once), retried with a doubling
//! delay; a message that cannot be queued or delivered, or has no channel, is logged as an
//! error (address masked, never its body), never dropped silently.
//!
//! Channels ([`channel::Channel`], one per file, each configured on its own):
//! - [`smtp`]: email through lettre (STARTTLS, implicit TLS or plain, optional auth), with
//!   `notify.transport = "smtp"`.
//! - [`sms`]: text messages through the `notify.sms.url` webhook (JSON `POST {"to",
//!   "message"}`, http or https), whenever that URL is set: SMS needs no SMTP.
//! - [`log`]: development only (refused when `env = "production"`): messages are written
//!   to the log at info level, so a developer can read the code. Email with
//!   `notify.transport = "log"`, and text messages too when `notify.sms.url` is unset.
//! - `notify.transport = "none"`: no email channel (each email is logged as undeliverable).
//!
//! What to send and when (one-time codes, email changes, the account services' shared
//! lookups) is account logic and lives in [`crate::accounts`]; this module only delivers.

pub mod channel;
pub mod log;
pub mod sms;
pub mod smtp;
pub mod templates;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinHandle;

use crate::config::Config;

pub use templates::Kind;

/// Deliveries in flight at once.
pub const CONCURRENCY: usize = 8;

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum To {
    Email(String),
    Phone(String),
}

impl To {
    /// The address for logs: `j***@example.com`, `***1234`.
    pub fn masked(&self) -> String {
        match self {
            To::Email(email) => match email.split_once('@') {
                Some((local, domain)) => {
                    let first: String = local.chars().take(1).collect();
                    format!("{first}***@{domain}")
                }
                None => "***".into(),
            },
            To::Phone(phone) => {
                let digits: Vec<char> = phone.chars().collect();
                let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
                format!("***{tail}")
            }
        }
    }
}

/// One message to deliver.
#[derive(Clone)]
pub struct Message {
    pub to: To,
    pub subject: String,
    pub body: String,
}

impl std::fmt::Debug for Message {
    // The body carries a secret: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("to", &self.to.masked())
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// The sending side of the notification queue (in `AppState`).
pub struct Notifier {
    tx: mpsc::Sender<Message>,
    /// Tells the background task to take no more messages and finish the queued ones.
    closing: Arc<Notify>,
    /// The background task, until [`Notifier::flush`] has waited for it.
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Default for Notifier {
    /// A notifier with no sender behind it: every message is logged as not queued.
    fn default() -> Self {
        let (tx, _) = mpsc::channel(1);
        Self {
            tx,
            closing: Arc::default(),
            task: std::sync::Mutex::new(None),
        }
    }
}

impl Notifier {
    /// Checks the config, builds the channels and starts the background sender.
    pub fn start(config: &Config) -> anyhow::Result<Self> {
        config.notify.validate(config.is_production())?;
        let channels = channel::Channels::from_config(config)?;
        if channels.email.is_none() {
            tracing::warn!(
                "notify.transport is none: emailed codes and tokens cannot be delivered"
            );
        }
        Ok(Self::with_channels(channels, config))
    }

    /// Starts the background sender over `channels` (a test or an embedder may build its
    /// own; [`Notifier::start`] builds them from config).
    pub fn with_channels(channels: channel::Channels, config: &Config) -> Self {
        let (tx, mut rx) = mpsc::channel::<Message>(config.notify.queue);
        let retries = config.notify.retries;
        let backoff = Duration::from_millis(config.notify.backoff_ms.max(1));
        let closing = Arc::new(Notify::new());
        let close = closing.clone();
        let task = tokio::spawn(async move {
            let permits = Arc::new(Semaphore::new(CONCURRENCY));
            let mut open = true;
            loop {
                let message = tokio::select! {
                    message = rx.recv() => message,
                    () = close.notified(), if open => {
                        // Refuses new messages; those queued are still received.
                        rx.close();
                        open = false;
                        continue;
                    }
                };
                let Some(message) = message else { break };
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let channels = channels.clone();
                tokio::spawn(async move {
                    deliver(&channels, &message, retries, backoff).await;
                    drop(permit);
                });
            }
            // Every permit back: no delivery is running.
            let _ = permits.acquire_many(CONCURRENCY as u32).await;
        });
        Self {
            tx,
            closing,
            task: std::sync::Mutex::new(Some(task)),
        }
    }

    /// Stops taking messages and waits until every queued one has been delivered or
    /// given up on (the server is stopping). Later messages are logged as not queued.
    pub async fn flush(&self) {
        self.closing.notify_one();
        let task = self.task.lock().ok().and_then(|mut task| task.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// Queues `message`; returns at once.
    pub fn send(&self, message: Message) {
        if let Err(e) = self.tx.try_send(message) {
            let message = match &e {
                mpsc::error::TrySendError::Full(m) | mpsc::error::TrySendError::Closed(m) => m,
            };
            tracing::error!(
                to = %message.to.masked(),
                subject = %message.subject,
                "notification not queued: the queue is full or closed"
            );
        }
    }
}

async fn deliver(channels: &channel::Channels, message: &Message, retries: u32, backoff: Duration) {
    let channel = match channels.for_address(&message.to) {
        Ok(channel) => channel,
        Err(setting) => {
            // Nothing to retry: no channel will appear while the server runs.
            tracing::error!(
                to = %message.to.masked(),
                subject = %message.subject,
                "notification not delivered: no channel for this address ({setting} is not set)"
            );
            return;
        }
    };
    let mut delay = backoff;
    for attempt in 0..=retries {
        match channel.send(message).await {
            Ok(()) => return,
            Err(e) if attempt < retries => {
                tracing::warn!(
                    to = %message.to.masked(),
                    channel = channel.name(),
                    attempt = attempt + 1,
                    error = %e,
                    "notification failed; retrying"
                );
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2).min(Duration::from_secs(300));
            }
            Err(e) => {
                tracing::error!(
                    to = %message.to.masked(),
                    subject = %message.subject,
                    channel = channel.name(),
                    attempts = attempt + 1,
                    error = %e,
                    "notification not delivered"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_addresses() {
        assert_eq!(
            To::Email("jane@example.com".into()).masked(),
            "j***@example.com"
        );
        assert_eq!(To::Phone("+15551234567".into()).masked(), "***4567");
        assert_eq!(To::Phone("12".into()).masked(), "***12");
        assert_eq!(To::Email("bad".into()).masked(), "***");
    }
}
