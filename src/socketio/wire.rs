//! The way out of one connection: the packets waiting for a long-poll, or the websocket's
//! write side.
//!
//! A websocket packet is written by the code that sends it, straight to the connection,
//! as the Node server does: an event to a thousand sockets is a thousand non-blocking
//! writes of the same bytes, not a thousand channel sends and task wake-ups. Only what the
//! kernel does not take at once waits in a queue, written by a task started for that and
//! ended when the queue is empty. A connection whose queue outgrows [`QUEUE_LIMIT`] (a
//! client that stopped reading) is closed rather than left to hold memory.
//!
//! The writes go to the TCP stream itself when the server accepted it ([`split`]): no lock
//! shared with the reader, no layers of the upgraded connection, and no task budget.

use std::collections::VecDeque;
use std::future::Future;
use std::io::IoSlice;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker, ready};

use bytes::{Buf, Bytes};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Notify;

/// An upgraded HTTP connection that is not a TCP stream the server knows.
type Stream = TokioIo<Upgraded>;

/// Bytes a connection may have waiting for the kernel before it is closed (a packet is
/// taken whole while less than this waits).
pub const QUEUE_LIMIT: usize = 1 << 20;

/// Slices handed to one vectored write.
const WRITE_BATCH: usize = 32;

pub struct Wire {
    state: Mutex<State>,
    /// Wakes the long-poll waiting for packets (polling only).
    pub polled: Notify,
}

enum State {
    /// Packets (Engine.IO text) waiting for the next `GET`.
    Polling {
        queue: Vec<Bytes>,
        bytes: usize,
    },
    Websocket(Websocket),
    Closed,
}

struct Websocket {
    writer: Writer,
    /// Bytes the kernel has not taken yet, in order; the front may be partly written.
    queue: VecDeque<Bytes>,
    bytes: usize,
    /// A task is writing the queue.
    flushing: bool,
    /// Close once the queue is written.
    closing: bool,
}

/// The connection is closed; nothing more can be sent on it.
#[derive(Debug)]
pub struct Closed;

impl Wire {
    pub fn polling() -> Self {
        Self::with(State::Polling {
            queue: Vec::new(),
            bytes: 0,
        })
    }

    pub fn websocket(writer: Writer) -> Self {
        Self::with(State::Websocket(Websocket {
            writer,
            queue: VecDeque::new(),
            bytes: 0,
            flushing: false,
            closing: false,
        }))
    }

    fn with(state: State) -> Self {
        Self {
            state: Mutex::new(state),
            polled: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends one Engine.IO packet (text).
    pub fn send(self: &Arc<Self>, packet: &[u8]) -> Result<(), Closed> {
        self.send_frame(&Frame::of_text(packet))
    }

    /// Sends one Engine.IO packet framed once for any number of connections: a websocket
    /// writes the frame as it is, a long-poll takes its text.
    pub fn send_frame(self: &Arc<Self>, frame: &Frame) -> Result<(), Closed> {
        let mut state = self.lock();
        match &mut *state {
            State::Closed => Err(Closed),
            State::Polling { queue, bytes } => {
                if *bytes > QUEUE_LIMIT {
                    *state = State::Closed;
                    drop(state);
                    self.polled.notify_one();
                    return Err(Closed);
                }
                let text = frame.text();
                *bytes += text.len();
                queue.push(text);
                drop(state);
                self.polled.notify_one();
                Ok(())
            }
            State::Websocket(_) => self.write(state, &frame.bytes),
        }
    }

    /// Writes bytes as they are (frames tungstenite made: pongs, close answers).
    fn send_raw(self: &Arc<Self>, bytes: &[u8]) -> Result<(), Closed> {
        let state = self.lock();
        self.write(state, &Bytes::copy_from_slice(bytes))
    }

    fn write(
        self: &Arc<Self>,
        mut state: MutexGuard<'_, State>,
        chunk: &Bytes,
    ) -> Result<(), Closed> {
        let State::Websocket(ws) = &mut *state else {
            return Err(Closed);
        };
        if ws.closing {
            return Err(Closed);
        }
        let mut written = 0;
        if ws.queue.is_empty() && !ws.flushing {
            match ws.writer.write_now(chunk) {
                Ok(n) if n == chunk.len() => return Ok(()),
                Ok(n) => written = n,
                Err(Closed) => {
                    *state = State::Closed;
                    return Err(Closed);
                }
            }
        }
        // What the kernel did not take waits, unless too much waits already.
        if ws.bytes > QUEUE_LIMIT {
            tracing::debug!("closing a connection that does not read what it is sent");
            *state = State::Closed;
            return Err(Closed);
        }
        let rest = chunk.slice(written..);
        ws.bytes += rest.len();
        ws.queue.push_back(rest);
        if !ws.flushing {
            ws.flushing = true;
            tokio::spawn(flush(self.clone()));
        }
        Ok(())
    }

    /// Closes the connection once what was sent before is written (a websocket gets a
    /// close frame first).
    pub fn close(self: &Arc<Self>) {
        let mut state = self.lock();
        match &mut *state {
            State::Websocket(ws) if !ws.closing => {
                drop(state);
                let _ = self.send_raw(&CLOSE_FRAME);
                let mut state = self.lock();
                if let State::Websocket(ws) = &mut *state {
                    ws.closing = true;
                    if !ws.flushing {
                        *state = State::Closed;
                    }
                }
            }
            State::Websocket(_) | State::Closed => {}
            State::Polling { .. } => {
                *state = State::Closed;
                drop(state);
                self.polled.notify_one();
            }
        }
    }

    pub fn is_closed(&self) -> bool {
        matches!(*self.lock(), State::Closed)
    }

    /// What a long-poll answers now: the waiting packets joined by `\x1e`, or `None` when
    /// there are none yet (`Err` once the connection is closed or upgraded).
    pub fn take_polled(&self) -> Result<Option<Bytes>, Closed> {
        let mut state = self.lock();
        let State::Polling { queue, bytes } = &mut *state else {
            return Err(Closed);
        };
        if queue.is_empty() {
            return Ok(None);
        }
        *bytes = 0;
        if queue.len() == 1 {
            return Ok(queue.pop());
        }
        let mut joined = Vec::with_capacity(queue.iter().map(|p| p.len() + 1).sum());
        for (i, packet) in queue.drain(..).enumerate() {
            if i > 0 {
                joined.push(0x1e);
            }
            joined.extend_from_slice(&packet);
        }
        Ok(Some(joined.into()))
    }

    /// Moves a polling connection onto `upgraded`'s websocket: the packets a long-poll
    /// had not taken yet go out first. `Err` when this connection is closed.
    pub fn upgrade(self: &Arc<Self>, upgraded: &Wire) -> Result<(), Closed> {
        let mut from = upgraded.lock();
        let State::Websocket(ws) = std::mem::replace(&mut *from, State::Closed) else {
            return Err(Closed);
        };
        drop(from);
        let mut state = self.lock();
        let State::Polling { queue, .. } = std::mem::replace(&mut *state, State::Websocket(ws))
        else {
            *state = State::Closed;
            return Err(Closed);
        };
        drop(state);
        self.polled.notify_one();
        for packet in &queue {
            self.send(packet)?;
        }
        Ok(())
    }
}

/// A websocket connection's two sides: the TCP stream's own halves when the server
/// accepted it ([`crate::net::into_tcp`]; each side used without a lock), or halves of the
/// upgraded connection sharing it under a lock.
pub fn split(upgraded: Upgraded) -> (Reader, Writer) {
    match crate::net::into_tcp(upgraded) {
        Ok((tcp, head)) => {
            // `head` is a view of hyper's read buffer (8 kB) and would keep all of it for
            // the socket's life: its few bytes, if any, are copied out.
            let head = Bytes::copy_from_slice(&head);
            let (read, write) = tcp.into_split();
            (Reader::Tcp { head, read }, Writer::Tcp(write))
        }
        Err(upgraded) => {
            let (read, write) = tokio::io::split(TokioIo::new(upgraded));
            (Reader::Shared(read), Writer::Shared(write))
        }
    }
}

/// The read side of a websocket's connection.
pub enum Reader {
    /// `head`: what hyper had read past the upgrade request, read first.
    Tcp {
        head: Bytes,
        read: OwnedReadHalf,
    },
    Shared(ReadHalf<Stream>),
}

impl AsyncRead for Reader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Reader::Tcp { head, read } if head.is_empty() => Pin::new(read).poll_read(cx, buf),
            Reader::Tcp { head, .. } => {
                let n = head.len().min(buf.remaining());
                buf.put_slice(&head.split_to(n));
                Poll::Ready(Ok(()))
            }
            Reader::Shared(read) => Pin::new(read).poll_read(cx, buf),
        }
    }
}

/// The write side of a websocket's connection.
pub enum Writer {
    Tcp(OwnedWriteHalf),
    Shared(WriteHalf<Stream>),
}

impl Writer {
    /// Writes what the kernel takes now, without waiting; returns how much it took.
    fn write_now(&mut self, bytes: &[u8]) -> Result<usize, Closed> {
        let mut written = 0;
        match self {
            Writer::Tcp(tcp) => {
                while written < bytes.len() {
                    match tcp.try_write(&bytes[written..]) {
                        Ok(0) => return Err(Closed),
                        Ok(n) => written += n,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => return Err(Closed),
                    }
                }
            }
            Writer::Shared(shared) => {
                // Nobody waits on the writer: a write that would block registers no one.
                let mut cx = Context::from_waker(Waker::noop());
                // Outside tokio's task budget: an event to a thousand sockets is a
                // thousand writes in one poll of the publishing task, and past the
                // budget's 128 every write would be refused untried and left to a flush
                // task of its own. (`try_write` above is not budgeted.)
                let attempt = std::future::poll_fn(|cx| {
                    while written < bytes.len() {
                        match ready!(Pin::new(&mut *shared).poll_write(cx, &bytes[written..])) {
                            Ok(0) | Err(_) => return Poll::Ready(Err(Closed)),
                            Ok(n) => written += n,
                        }
                    }
                    Poll::Ready(Ok(()))
                });
                if let Poll::Ready(Err(Closed)) =
                    pin!(tokio::task::unconstrained(attempt)).poll(&mut cx)
                {
                    return Err(Closed);
                }
            }
        }
        Ok(written)
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        slices: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self {
            Writer::Tcp(tcp) => Pin::new(tcp).poll_write_vectored(cx, slices),
            Writer::Shared(shared) => Pin::new(shared).poll_write_vectored(cx, slices),
        }
    }
}

/// Writes a connection's queue until it is empty (or the connection fails).
async fn flush(wire: Arc<Wire>) {
    std::future::poll_fn(|cx| {
        let mut state = wire.lock();
        let State::Websocket(ws) = &mut *state else {
            return Poll::Ready(());
        };
        loop {
            if ws.queue.is_empty() {
                ws.flushing = false;
                if ws.closing {
                    *state = State::Closed;
                }
                return Poll::Ready(());
            }
            let slices: Vec<IoSlice<'_>> = ws
                .queue
                .iter()
                .take(WRITE_BATCH)
                .map(|c| IoSlice::new(c))
                .collect();
            match ws.writer.poll_write_vectored(cx, &slices) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                    *state = State::Closed;
                    return Poll::Ready(());
                }
                Poll::Ready(Ok(mut n)) => {
                    drop(slices);
                    ws.bytes = ws.bytes.saturating_sub(n);
                    while n > 0 {
                        let Some(front) = ws.queue.front_mut() else {
                            break;
                        };
                        if n >= front.len() {
                            n -= front.len();
                            ws.queue.pop_front();
                        } else {
                            front.advance(n);
                            n = 0;
                        }
                    }
                }
            }
        }
    })
    .await;
}

/// A server's close frame (no status).
const CLOSE_FRAME: [u8; 2] = [0x88, 0x00];

/// An Engine.IO packet as a websocket text frame, made once however many connections it
/// goes to.
#[derive(Clone)]
pub struct Frame {
    bytes: Bytes,
    /// Where the packet's text starts (after the frame header).
    text_at: usize,
}

impl Frame {
    /// The frame of the text `write` puts in the buffer it is given (which has room for
    /// the header in front, so the text is not copied again).
    pub fn build<E>(write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<Self, E> {
        let mut buf = Vec::with_capacity(128);
        buf.resize(HEADER_MAX, 0);
        write(&mut buf)?;
        let mut header = [0u8; HEADER_MAX];
        let len = frame_header(&mut header, buf.len() - HEADER_MAX);
        let start = HEADER_MAX - len;
        buf[start..HEADER_MAX].copy_from_slice(&header[..len]);
        Ok(Self {
            bytes: Bytes::from(buf).slice(start..),
            text_at: len,
        })
    }

    pub fn of_text(text: &[u8]) -> Self {
        Self::build(|buf| {
            buf.extend_from_slice(text);
            Ok::<_, std::convert::Infallible>(())
        })
        .unwrap_or_else(|never| match never {})
    }

    /// The packet's text (what a long-poll answers).
    pub fn text(&self) -> Bytes {
        self.bytes.slice(self.text_at..)
    }
}

/// The longest frame header: 2 bytes and a 64-bit length.
const HEADER_MAX: usize = 10;

/// Writes the header of an unmasked, final text frame of `len` bytes into `out`; returns
/// its length.
pub fn frame_header(out: &mut [u8; 10], len: usize) -> usize {
    out[0] = 0x81;
    if len < 126 {
        out[1] = len as u8;
        2
    } else if let Ok(len) = u16::try_from(len) {
        out[1] = 126;
        out[2..4].copy_from_slice(&len.to_be_bytes());
        4
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    }
}

/// The websocket as tungstenite sees it: it reads the connection, and what it writes
/// (pongs, the answer to a close) goes out through the [`Wire`].
pub struct Duplex {
    pub read: Reader,
    pub wire: Arc<Wire>,
}

impl AsyncRead for Duplex {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for Duplex {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(match self.wire.send_raw(buf) {
            Ok(()) => Ok(buf.len()),
            Err(Closed) => Err(std::io::ErrorKind::BrokenPipe.into()),
        })
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_headers_by_length() {
        let mut h = [0u8; 10];
        assert_eq!(frame_header(&mut h, 5), 2);
        assert_eq!(h[..2], [0x81, 5]);
        assert_eq!(frame_header(&mut h, 126), 4);
        assert_eq!(h[..4], [0x81, 126, 0, 126]);
        assert_eq!(frame_header(&mut h, 70_000), 10);
        assert_eq!(h[..10], [0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
    }

    #[test]
    fn frames_carry_their_text_after_the_header() {
        for len in [0, 5, 125, 126, 65_535, 65_536] {
            let text = vec![b'x'; len];
            let frame = Frame::of_text(&text);
            let mut header = [0u8; 10];
            let header_len = frame_header(&mut header, len);
            assert_eq!(frame.bytes[..header_len], header[..header_len]);
            assert_eq!(frame.text(), text);
        }
    }

    #[tokio::test]
    async fn a_tcp_reader_reads_what_hyper_had_read_first() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (read, _write) = server.into_split();
        let mut reader = Reader::Tcp {
            head: Bytes::from_static(b"head-"),
            read,
        };
        client.write_all(b"tail").await.unwrap();
        drop(client);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"head-tail");
    }

    #[test]
    fn long_polls_take_what_waits_joined() {
        let wire = Arc::new(Wire::polling());
        assert!(matches!(wire.take_polled(), Ok(None)));
        wire.send(b"2").unwrap();
        wire.send(b"42[\"a\"]").unwrap();
        assert_eq!(&wire.take_polled().unwrap().unwrap()[..], b"2\x1e42[\"a\"]");
        assert!(matches!(wire.take_polled(), Ok(None)));
        wire.close();
        assert!(wire.take_polled().is_err());
        assert!(wire.send(b"2").is_err());
    }
}
