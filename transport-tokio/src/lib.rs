//! The pgsans PostgreSQL client on Tokio: [`pgsans_client::Connection`] over Tokio's sockets
//! and timer. Same names as the blocking `pgsans-std` client, with `.await`:
//!
//! ```no_run
//! # async fn demo() -> Result<(), pgsans::Error> {
//! let mut conn = pgsans_tokio::Connection::connect("postgresql://app@localhost/shop").await?;
//! let row = conn.query_one("SELECT $1::int4 + 1", &[&41i32]).await?;
//! assert_eq!(row.get::<i32, _>(0)?, 42);
//! conn.close().await?;
//! # Ok(()) }
//! ```
//!
//! Dropping a future mid-operation is safe: the engine drains the abandoned responses and the
//! connection stays usable. Futures are `Send`: a connection can live in a spawned task.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use pgsans::config::Target;
use pgsans_client::connect_error;
use pgsans_client::io::TryIo;
use tokio::net::{TcpStream, UnixStream};

pub use pgsans;
/// The client written once over [`Runtime`](pgsans_client::Runtime): the methods of this
/// crate's connection, streams, COPY and transaction types are documented here.
#[doc(inline)]
pub use pgsans_client;

/// Tokio, as a [`pgsans_client::Runtime`].
#[derive(Debug, Clone, Copy)]
pub struct Tokio;

/// A connection on Tokio: its methods are [`pgsans_client::Connection`]'s.
pub type Connection = pgsans_client::Connection<Tokio>;
/// A transaction scope on Tokio: its methods are [`pgsans_client::Transaction`]'s.
pub type Transaction<'a> = pgsans_client::Transaction<'a, Tokio>;
/// A connection many tasks share, their calls pipelined (`Clone + Send + Sync`, `&self`
/// methods, autocommit; see [`pgsans_client::Client`]).
pub type Client = pgsans_client::Client<Tokio>;
/// A transaction of a [`Client`]: it has the connection to itself until it ends.
pub type ClientTransaction<'a> = pgsans_client::ClientTransaction<'a, Tokio>;
/// A [`Client`]'s connection leased to one caller: every method of [`Connection`] (COPY, row
/// streams, notifications) while the other callers wait.
pub type Lease<'a> = pgsans_client::Lease<'a, Tokio>;
/// A pool of connections on this runtime (see [`pgsans_client::Pool`]): a connection given back
/// inside a transaction, a COPY or a result is rolled back, drained or discarded.
pub type Pool = pgsans_client::Pool<Tokio>;
/// A connection out of a [`Pool`]; dropped, it goes back.
pub type PooledConnection = pgsans_client::PooledConnection<Tokio>;
pub use pgsans_client::{HealthCheck, PoolOptions, PoolStats, Recycle};
/// Streamed rows on Tokio: its methods are [`pgsans_client::RowStream`]'s.
pub type RowStream<'a> = pgsans_client::RowStream<'a, Tokio>;
/// A portal on Tokio: its methods are [`pgsans_client::Portal`]'s.
pub type Portal<'a> = pgsans_client::Portal<'a, Tokio>;
/// A cancel token on Tokio: its methods are [`pgsans_client::CancelToken`]'s.
pub type CancelToken = pgsans_client::CancelToken<Tokio>;
/// `COPY … FROM STDIN` on Tokio: Tokio's `AsyncWrite` (so `tokio::io::copy` works); its
/// methods are [`pgsans_client::CopyIn`]'s.
pub type CopyIn<'a> = pgsans_client::CopyIn<'a, Tokio>;
/// `COPY … TO STDOUT` on Tokio: Tokio's `AsyncRead` and `AsyncBufRead`; its methods are
/// [`pgsans_client::CopyOut`]'s.
pub type CopyOut<'a> = pgsans_client::CopyOut<'a, Tokio>;

/// A TCP or Unix-domain socket registered with Tokio, and the timer of the deadline it waits
/// for, if any.
#[derive(Debug)]
pub struct Socket {
    stream: Stream,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

#[derive(Debug)]
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// Reads inside Tokio's `try_io` so that a short read (the socket drained, as Tokio's own
/// `poll_read` judges it) clears the readiness Tokio captured *before* the read: an event that
/// arrives after the read carries a newer tick and survives, so no wake-up is lost (clearing
/// readiness captured after the read could swallow it on the multi-thread runtime). Saves the
/// read that would only return `WouldBlock` before waiting.
fn read_clearing_when_drained(
    buf: &mut [u8],
    try_io: impl FnOnce(&mut dyn FnMut() -> io::Result<()>) -> io::Result<()>,
    read: impl Fn(&mut [u8]) -> io::Result<usize>,
) -> io::Result<usize> {
    let requested = buf.len();
    let mut got = None;
    let r = try_io(&mut || {
        let n = read(buf)?;
        got = Some(n);
        if n > 0 && n < requested {
            // Drained: let Tokio clear the readiness it read before this read.
            Err(io::ErrorKind::WouldBlock.into())
        } else {
            Ok(())
        }
    });
    match (got, r) {
        (Some(n), _) => Ok(n),
        (None, Err(e)) => Err(e),
        (None, Ok(())) => Err(io::ErrorKind::WouldBlock.into()),
    }
}

impl TryIo for Socket {
    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.stream {
            Stream::Tcp(s) => {
                read_clearing_when_drained(buf, |f| s.try_io(tokio::io::Interest::READABLE, f), |b| s.try_read(b))
            }
            Stream::Unix(s) => {
                read_clearing_when_drained(buf, |f| s.try_io(tokio::io::Interest::READABLE, f), |b| s.try_read(b))
            }
        }
    }
    fn try_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &self.stream {
            Stream::Tcp(s) => s.try_write(buf),
            Stream::Unix(s) => s.try_write(buf),
        }
    }
    /// A `recv(2)` on the descriptor: Tokio's cached readiness may be stale on a runtime
    /// that has not polled its driver since the data came (the current-thread runtime, inside
    /// one task). Readiness is left alone.
    fn try_read_fresh(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::io::Read;
        let fd = std::os::fd::AsFd::as_fd(self);
        let socket = socket2::SockRef::from(&fd);
        (&*socket).read(buf)
    }
}

/// Runs `f` until `deadline`: `None` if it passes first.
async fn until<T>(deadline: Option<Instant>, f: impl std::future::Future<Output = T>) -> Option<T> {
    match deadline {
        Some(d) => tokio::time::timeout_at(tokio::time::Instant::from_std(d), f).await.ok(),
        None => Some(f.await),
    }
}

impl std::os::fd::AsFd for Socket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match &self.stream {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
        }
    }
}

impl Socket {
    fn new(stream: Stream) -> Socket {
        Socket { stream, timer: None }
    }

    /// Whether Tokio has seen the socket ready for `interest` (registering the task if not).
    fn poll_interest(&self, cx: &mut Context<'_>, interest: pgsans::Interest) -> Poll<io::Result<()>> {
        let (read, write) = match interest {
            pgsans::Interest::Read => (true, false),
            pgsans::Interest::Write => (false, true),
            pgsans::Interest::ReadWrite => (true, true),
        };
        let poll = |ready: Poll<io::Result<()>>| ready;
        match &self.stream {
            Stream::Tcp(s) => {
                if read {
                    if let Poll::Ready(r) = poll(s.poll_read_ready(cx)) {
                        return Poll::Ready(r);
                    }
                }
                if write {
                    if let Poll::Ready(r) = poll(s.poll_write_ready(cx)) {
                        return Poll::Ready(r);
                    }
                }
            }
            Stream::Unix(s) => {
                if read {
                    if let Poll::Ready(r) = poll(s.poll_read_ready(cx)) {
                        return Poll::Ready(r);
                    }
                }
                if write {
                    if let Poll::Ready(r) = poll(s.poll_write_ready(cx)) {
                        return Poll::Ready(r);
                    }
                }
            }
        }
        Poll::Pending
    }
}

impl pgsans_client::Socket for Socket {
    fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
        interest: pgsans::Interest,
        deadline: Option<Instant>,
    ) -> Poll<io::Result<bool>> {
        if let Poll::Ready(r) = self.poll_interest(cx, interest) {
            return Poll::Ready(r.map(|()| true));
        }
        let Some(deadline) = deadline else { return Poll::Pending };
        let at = tokio::time::Instant::from_std(deadline);
        let timer = match &mut self.timer {
            Some(t) => {
                if t.deadline() != at {
                    t.as_mut().reset(at);
                }
                t
            }
            None => self.timer.insert(Box::pin(tokio::time::sleep_until(at))),
        };
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Ok(false)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn shutdown(&mut self) {
        let fd = std::os::fd::AsFd::as_fd(self);
        let _ = socket2::SockRef::from(&fd).shutdown(std::net::Shutdown::Both);
    }
}

impl pgsans_client::Runtime for Tokio {
    type Socket = Socket;

    async fn connect(target: &Target, deadline: Option<Instant>) -> io::Result<Socket> {
        until(deadline, connect(target)).await.unwrap_or_else(|| Err(io::ErrorKind::TimedOut.into()))
    }

    async fn sleep_until(deadline: Instant) {
        tokio::time::sleep_until(deadline.into()).await;
    }
}

async fn connect(target: &Target) -> io::Result<Socket> {
    if let Some(path) = target.socket_path() {
        let s = UnixStream::connect(&path).await.map_err(|e| connect_error::unix(&path, e))?;
        return Ok(Socket::new(Stream::Unix(s)));
    }
    let host = target.host_to_resolve();
    let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), target.port))
        .await
        .map_err(|e| connect_error::resolve(&host, e))?
        .collect();
    target.order_addresses(&mut addrs);
    let mut last = connect_error::no_address(&host);
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(Socket::new(Stream::Tcp(s)));
            }
            Err(e) => last = connect_error::tcp(addr, e),
        }
    }
    Err(last)
}
