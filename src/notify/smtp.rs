//! Email over SMTP (lettre): STARTTLS, implicit TLS or plain, optional credentials.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::channel::Channel;
use super::{Message, To};
use crate::config::SmtpConfig;

pub struct Smtp {
    mailer: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Smtp {
    pub fn new(smtp: &SmtpConfig) -> anyhow::Result<Self> {
        smtp.validate()?;
        let mut builder = match smtp.tls.as_str() {
            "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)?,
            "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
            _ => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)?,
        }
        .port(smtp.port)
        .timeout(Some(Duration::from_millis(smtp.timeout_ms.max(1))));
        if let (Some(user), Some(password)) = (&smtp.user, &smtp.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self {
            mailer: builder.build(),
            from: smtp.from.parse()?,
        })
    }
}

#[async_trait]
impl Channel for Smtp {
    fn name(&self) -> &'static str {
        "smtp"
    }

    async fn send(&self, message: &Message) -> anyhow::Result<()> {
        let To::Email(address) = &message.to else {
            anyhow::bail!("the smtp channel sends email only");
        };
        let email = lettre::Message::builder()
            .from(self.from.clone())
            .to(address.parse::<Mailbox>()?)
            .subject(message.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(message.body.clone())?;
        self.mailer.send(email).await?;
        Ok(())
    }
}
