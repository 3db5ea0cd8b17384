//! The HTTP/1.1 accept loop. `axum::serve` offers no header-read or idle timeout, so a
//! client that opens connections and never finishes its headers (or its body, or never
//! reads its response) would hold each one forever. Here every connection is served by
//! hyper with
//!
//! - `http.header_read_timeout_secs`: hyper's header read timeout, which runs from when
//!   the connection opens or its previous response was written until a request head is
//!   complete (so idle keep-alive connections close after it as well);
//! - `http.idle_timeout_secs`: a watchdog that closes the connection once no byte moved
//!   either way for that long while hyper owns it (a body trickling in too slowly, a
//!   response the client does not read).
//!
//! Websocket upgrades are served as before (`with_upgrades`); an upgraded connection
//! leaves this loop, and Engine.IO's ping timeout bounds it from then on.
//!
//! Shutdown ([`Stopping`]): the loop closes its listener (new connections are refused), and
//! every connection is shut down gracefully by hyper: an idle keep-alive connection closes
//! at once, a request in flight is answered (with `connection: close`) before its
//! connection closes, and a connection that has not sent its first request yet may still
//! send one within the header read timeout. Each connection holds a receiver of the
//! signal, so the sender sees when the last one has ended.

use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::Service;

use crate::net::{Activity, Watched};

/// The connection bounds, from `http.*`.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub header_read: Duration,
    pub idle: Duration,
}

impl Timeouts {
    pub fn from_config(http: &crate::config::HttpConfig) -> Self {
        Self {
            header_read: Duration::from_secs(http.header_read_timeout_secs),
            idle: Duration::from_secs(http.idle_timeout_secs),
        }
    }
}

/// Tells the accept loop and its connections to stop (see the module docs).
pub struct Stopping(watch::Sender<bool>);

impl Stopping {
    pub fn new() -> (Self, watch::Receiver<bool>) {
        let (tx, rx) = watch::channel(false);
        (Self(tx), rx)
    }

    /// Stops accepting and asks every connection to finish its request and close.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    /// Connections (and the accept loop) not yet ended.
    pub fn open(&self) -> usize {
        self.0.receiver_count()
    }

    /// Resolves once the accept loop and every connection have ended.
    pub async fn ended(&self) {
        self.0.closed().await;
    }
}

/// Accepts connections, each served on a task of its own, until `stopping` says stop
/// (then drops the listener and returns; the connections finish on their own). Handlers
/// see the peer address as `ConnectInfo<SocketAddr>`, as with
/// `into_make_service_with_connect_info`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    timeouts: Timeouts,
    mut stopping: watch::Receiver<bool>,
) {
    // False once the `Stopping` is gone without a stop: serve for as long as the task lives.
    let mut watching = true;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            stop = stopping.wait_for(|stop| *stop), if watching => {
                if stop.is_ok() {
                    return;
                }
                watching = false;
                continue;
            }
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        tokio::spawn(connection(
            stream,
            peer,
            router.clone(),
            timeouts,
            stopping.clone(),
        ));
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    timeouts: Timeouts,
    mut stopping: watch::Receiver<bool>,
) {
    let activity = Activity::starting_now();
    let io = TokioIo::new(Watched::new(stream, activity.clone()));
    let service = service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        router.clone().call(req)
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read);
    let mut conn = pin!(builder.serve_connection(io, service).with_upgrades());
    // Until the stop signal has been seen (or can no longer come).
    let mut watching = true;
    loop {
        let quiet = activity.quiet_for();
        if quiet >= timeouts.idle {
            // Dropping the connection closes the socket.
            tracing::debug!(%peer, "closing a connection idle for {quiet:?}");
            return;
        }
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            stop = stopping.wait_for(|stop| *stop), if watching => {
                watching = false;
                if stop.is_ok() {
                    // Idle: closes now; busy: after the response in flight.
                    conn.as_mut().graceful_shutdown();
                }
            }
            () = tokio::time::sleep(timeouts.idle - quiet) => {}
        }
    }
}
