//! The transports behind [`super::Notifier`]: SMTP (lettre), an HTTP webhook for SMS, the
//! development log, or nothing.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Message, To};
use crate::config::Config;

pub enum Transport {
    Smtp {
        mailer: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
        sms: Option<Webhook>,
    },
    Log,
    None,
}

impl Transport {
    pub fn new(config: &Config, name: &str) -> anyhow::Result<Self> {
        let notify = &config.notify;
        let sms = match &notify.sms.url {
            Some(url) => Some(Webhook::new(url, notify.sms.timeout_ms)?),
            None => None,
        };
        Ok(match name {
            "smtp" => {
                let smtp = &notify.smtp;
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
                Self::Smtp {
                    mailer: builder.build(),
                    from: smtp.from.parse()?,
                    sms,
                }
            }
            "log" => Self::Log,
            _ => Self::None,
        })
    }

    pub async fn send(&self, message: &Message) -> anyhow::Result<()> {
        match (self, &message.to) {
            (Self::Smtp { mailer, from, .. }, To::Email(address)) => {
                let email = lettre::Message::builder()
                    .from(from.clone())
                    .to(address.parse::<Mailbox>()?)
                    .subject(message.subject.clone())
                    .header(ContentType::TEXT_PLAIN)
                    .body(message.body.clone())?;
                mailer.send(email).await?;
                Ok(())
            }
            (Self::Smtp { sms: Some(sms), .. }, To::Phone(phone)) => {
                sms.post(phone, &message.body).await
            }
            (Self::Smtp { sms: None, .. }, To::Phone(_)) => {
                anyhow::bail!("no SMS webhook configured (notify.sms.url)")
            }
            (Self::Log, to) => {
                // Development only (refused in production by `validate`).
                let to = match to {
                    To::Email(a) | To::Phone(a) => a,
                };
                tracing::info!(%to, subject = %message.subject, "notification (log transport):\n{}", message.body);
                Ok(())
            }
            (Self::None, _) => {
                anyhow::bail!("no notification transport configured (notify.transport)")
            }
        }
    }
}

/// An `http://` webhook that receives `POST {"to", "message"}`.
pub struct Webhook {
    host: String,
    port: u16,
    path: String,
    timeout: Duration,
}

/// `(host, port, path)` of an `http://host[:port]/path` URL.
pub fn parse_http_url(url: &str) -> anyhow::Result<(String, u16, String)> {
    let Some(rest) = url.strip_prefix("http://") else {
        anyhow::bail!("only http:// URLs are supported (use a local relay for https)");
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        anyhow::bail!("invalid host");
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => (
            host,
            port.parse::<u16>()
                .map_err(|_| anyhow::anyhow!("invalid port"))?,
        ),
        _ => (authority, 80),
    };
    if host.is_empty() || path.chars().any(|c| c.is_control() || c == ' ') {
        anyhow::bail!("invalid URL");
    }
    Ok((
        host.trim_matches(['[', ']']).to_string(),
        port,
        path.to_string(),
    ))
}

impl Webhook {
    pub fn new(url: &str, timeout_ms: u64) -> anyhow::Result<Self> {
        let (host, port, path) = parse_http_url(url)?;
        Ok(Self {
            host,
            port,
            path,
            timeout: Duration::from_millis(timeout_ms.max(1)),
        })
    }

    pub async fn post(&self, to: &str, text: &str) -> anyhow::Result<()> {
        tokio::time::timeout(self.timeout, self.post_inner(to, text))
            .await
            .map_err(|_| anyhow::anyhow!("SMS webhook timed out"))?
    }

    async fn post_inner(&self, to: &str, text: &str) -> anyhow::Result<()> {
        let body = serde_json::json!({ "to": to, "message": text }).to_string();
        let mut stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await?;
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: roost\r\n\r\n{body}",
            self.path,
            self.host,
            self.port,
            body.len()
        );
        stream.write_all(request.as_bytes()).await?;
        let mut head = Vec::with_capacity(64);
        let mut buf = [0u8; 256];
        while !head.contains(&b'\n') && head.len() < 4096 {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&head);
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| anyhow::anyhow!("SMS webhook sent no HTTP status"))?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            anyhow::bail!("SMS webhook answered {status}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_http_url;

    #[test]
    fn parses_webhook_urls() {
        assert_eq!(
            parse_http_url("http://sms.local:8080/send").ok(),
            Some(("sms.local".into(), 8080, "/send".into()))
        );
        assert_eq!(
            parse_http_url("http://sms.local").ok(),
            Some(("sms.local".into(), 80, "/".into()))
        );
        assert!(parse_http_url("https://x/").is_err());
        assert!(parse_http_url("http://:80/").is_err());
        assert!(parse_http_url("http://a:b/").is_err());
        assert!(parse_http_url("http://u@h/").is_err());
    }
}
