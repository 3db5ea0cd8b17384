//! The development channel: each message, body included (so a developer can read the
//! code), is written to the log at info level. `NotifyConfig::validate` refuses it when
//! `env = "production"`, so no secret is logged there.

use async_trait::async_trait;

use super::channel::Channel;
use super::{Message, To};

pub struct Log;

#[async_trait]
impl Channel for Log {
    fn name(&self) -> &'static str {
        "log"
    }

    async fn send(&self, message: &Message) -> anyhow::Result<()> {
        let to = match &message.to {
            To::Email(a) | To::Phone(a) => a,
        };
        tracing::info!(%to, subject = %message.subject, "notification (log transport):\n{}", message.body);
        Ok(())
    }
}
