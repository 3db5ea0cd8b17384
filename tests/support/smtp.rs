//! A small SMTP server on loopback that accepts and keeps every message (plain SMTP only:
//! EHLO/HELO, MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT), so tests can read the codes
//! and tokens the server mails.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One received message.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The raw message (headers and body, dot-unstuffed, CRLF line ends).
    pub data: String,
}

impl Mail {
    /// The body with quoted-printable soft line breaks undone.
    pub fn body(&self) -> String {
        let body = self
            .data
            .split_once("\r\n\r\n")
            .map_or(self.data.as_str(), |(_, b)| b);
        body.replace("=\r\n", "")
    }

    /// The first body line that is entirely `len` characters of `alphabet`.
    pub fn secret(&self, len: usize, alphabet: fn(char) -> bool) -> Option<String> {
        self.body()
            .lines()
            .map(str::trim)
            .find(|l| l.len() == len && l.chars().all(alphabet))
            .map(str::to_string)
    }

    /// The 6-digit code in the message.
    pub fn code(&self) -> String {
        self.secret(6, |c| c.is_ascii_digit())
            .unwrap_or_else(|| panic!("no code in {}", self.data))
    }

    /// The 48-hex-character token in the message.
    pub fn token(&self) -> String {
        self.secret(48, |c| c.is_ascii_hexdigit())
            .unwrap_or_else(|| panic!("no token in {}", self.data))
    }

    pub fn subject(&self) -> Option<&str> {
        self.data.lines().find_map(|l| l.strip_prefix("Subject: "))
    }
}

pub struct SmtpServer {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
        let port = listener.local_addr().expect("smtp addr").port();
        let mails: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let store = mails.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = session(stream, store).await;
                });
            }
        });
        Self { port, mails, task }
    }

    /// Every message received so far.
    pub fn all(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    /// How many messages went to `to` so far.
    pub fn count_to(&self, to: &str) -> usize {
        self.all()
            .iter()
            .filter(|m| m.to.iter().any(|t| t == to))
            .count()
    }

    /// Waits for (and takes) the next message to `to`.
    pub async fn next_to(&self, to: &str) -> Mail {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            {
                let mut mails = self.mails.lock().unwrap();
                if let Some(i) = mails.iter().position(|m| m.to.iter().any(|t| t == to)) {
                    return mails.remove(i);
                }
            }
            assert!(Instant::now() < deadline, "no mail to {to} arrived");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn address(arg: &str) -> String {
    let arg = arg.trim();
    match (arg.find('<'), arg.find('>')) {
        (Some(a), Some(b)) if a < b => arg[a + 1..b].to_string(),
        _ => arg.to_string(),
    }
}

async fn session(
    stream: tokio::net::TcpStream,
    store: Arc<Mutex<Vec<Mail>>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 localhost ESMTP test\r\n").await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end();
        let upper = command.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            write
                .write_all(b"250-localhost\r\n250 8BITMIME\r\n")
                .await?;
        } else if upper.starts_with("HELO") {
            write.write_all(b"250 localhost\r\n").await?;
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&command[10..]);
            to.clear();
            write.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(address(&command[8..]));
            write.write_all(b"250 OK\r\n").await?;
        } else if upper == "DATA" {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                let text = line.strip_prefix('.').unwrap_or(&line);
                data.push_str(text);
            }
            store.lock().unwrap().push(Mail {
                from: from.clone(),
                to: std::mem::take(&mut to),
                data,
            });
            write.write_all(b"250 OK queued\r\n").await?;
        } else if upper == "RSET" || upper.starts_with("NOOP") {
            write.write_all(b"250 OK\r\n").await?;
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            write.write_all(b"502 not implemented\r\n").await?;
        }
    }
}
