//! The server's TCP connections as hyper serves them ([`Served`]): each stream records
//! when it last moved a byte, which the accept loop's idle watchdog reads (`app::serve`),
//! and a connection upgraded to a websocket gives its TCP stream back ([`into_tcp`]), so
//! Socket.IO reads and writes it without hyper's layers or a lock between the two sides.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// What the accept loop hands hyper for each connection.
pub type Served = TokioIo<Watched<TcpStream>>;

/// The TCP stream under an upgraded connection, with the bytes hyper had read past the
/// upgrade request; the connection as it was when it is not a TCP stream this server (or
/// `axum::serve`, which the examples use) accepted.
pub fn into_tcp(upgraded: Upgraded) -> Result<(TcpStream, Bytes), Upgraded> {
    let upgraded = match upgraded.downcast::<Served>() {
        Ok(parts) => return Ok((parts.io.into_inner().inner, parts.read_buf)),
        Err(upgraded) => upgraded,
    };
    upgraded
        .downcast::<TokioIo<TcpStream>>()
        .map(|parts| (parts.io.into_inner(), parts.read_buf))
}

/// When a connection last moved a byte, shared by its stream and its watchdog.
#[derive(Clone)]
pub struct Activity {
    start: Instant,
    /// Milliseconds after `start`.
    last: Arc<AtomicU64>,
}

impl Activity {
    pub fn starting_now() -> Self {
        Self {
            start: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(now, Ordering::Relaxed);
    }

    pub fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// A stream that records each read or write that moved bytes.
pub struct Watched<S> {
    inner: S,
    activity: Activity,
}

impl<S> Watched<S> {
    pub fn new(inner: S, activity: Activity) -> Self {
        Self { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The accept loop's upgraded connections give their TCP stream back: Socket.IO's
    /// lock-free writes depend on it.
    #[tokio::test]
    async fn an_upgraded_connection_gives_back_its_tcp_stream() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tx = std::sync::Mutex::new(Some(tx));
        let service = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            let on_upgrade = hyper::upgrade::on(&mut req);
            let tx = tx.lock().unwrap().take();
            tokio::spawn(async move {
                let upgraded = on_upgrade.await.unwrap();
                let _ = tx
                    .unwrap()
                    .send(into_tcp(upgraded).map(|(_, head)| head).is_ok());
            });
            async {
                hyper::Response::builder()
                    .status(101)
                    .header("upgrade", "test")
                    .header("connection", "upgrade")
                    .body(String::new())
            }
        });
        let io: Served = TokioIo::new(Watched::new(stream, Activity::starting_now()));
        tokio::spawn(
            http1::Builder::new()
                .serve_connection(io, service)
                .with_upgrades(),
        );
        client
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: test\r\n\r\n")
            .await
            .unwrap();
        let mut answer = [0u8; 12];
        client.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"HTTP/1.1 101");
        assert!(
            rx.await.unwrap(),
            "the upgraded connection was not the accepted TCP stream"
        );
    }
}
