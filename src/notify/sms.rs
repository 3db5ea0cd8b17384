//! Text messages through a webhook: `POST <notify.sms.url>` with the JSON body
//! `{"to", "message"}`; any 2xx is delivered. `https://` (rustls, the platform's roots)
//! or `http://` (a relay on a trusted network); no redirects followed; bounded by
//! `notify.sms.timeout_ms`. Errors never carry the URL (it may hold a key in its query).

use std::time::Duration;

use async_trait::async_trait;

use super::channel::Channel;
use super::{Message, To};
use crate::config::SmsConfig;

pub struct SmsWebhook {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl SmsWebhook {
    pub fn new(sms: &SmsConfig) -> anyhow::Result<Self> {
        let url = sms
            .url
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("notify.sms.url is not set"))?;
        let url = crate::config::parse_webhook_url(url)
            .map_err(|e| anyhow::anyhow!("notify.sms.url: {e}"))?;
        // reqwest is built without a crypto provider (rustls on ring, as `oauth::http`).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let timeout = Duration::from_millis(sms.timeout_ms.max(1));
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("roost/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, url })
    }
}

#[async_trait]
impl Channel for SmsWebhook {
    fn name(&self) -> &'static str {
        "sms webhook"
    }

    async fn send(&self, message: &Message) -> anyhow::Result<()> {
        let To::Phone(phone) = &message.to else {
            anyhow::bail!("the SMS webhook sends text messages only");
        };
        let body = serde_json::json!({ "to": phone, "message": message.body });
        let response = self
            .client
            .post(self.url.clone())
            .json(&body)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("SMS webhook: {}", e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            anyhow::bail!("SMS webhook answered {}", status.as_u16())
        }
    }
}
