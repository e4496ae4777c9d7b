//! The pgsans PostgreSQL client on smol / async-io: [`pgsans_client::Connection`] over
//! async-io's reactor and timer. It uses only async-io, so it also runs under async-std
//! (`async_std::task::block_on`) and any executor. Same names as the blocking `pgsans-std`
//! client, with `.await`:
//!
//! ```no_run
//! smol::block_on(async {
//!     let mut conn = pgsans_smol::Connection::connect("postgresql://app@localhost/shop").await?;
//!     let results = conn.simple_query("SELECT 1").await?;
//!     assert_eq!(results[0].rows()[0].text(0).unwrap().as_deref(), Some("1"));
//!     conn.close().await
//! })?;
//! # Ok::<(), pgsans::Error>(())
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::task::{Context, Poll};
use std::time::Instant;

use async_io::{Async, Timer};
use futures_lite::future;
use pgsans::config::Target;
use pgsans_client::connect_error;
use pgsans_client::io::TryIo;

pub use pgsans;
/// The client written once over [`Runtime`](pgsans_client::Runtime): the methods of this
/// crate's connection, streams, COPY and transaction types are documented here.
#[doc(inline)]
pub use pgsans_client;

/// smol / async-io, as a [`pgsans_client::Runtime`].
#[derive(Debug, Clone, Copy)]
pub struct Smol;

/// A connection on smol / async-io: its methods are [`pgsans_client::Connection`]'s.
pub type Connection = pgsans_client::Connection<Smol>;
/// A transaction scope on smol / async-io: its methods are [`pgsans_client::Transaction`]'s.
pub type Transaction<'a> = pgsans_client::Transaction<'a, Smol>;
/// A connection many tasks share, their calls pipelined (`Clone + Send + Sync`, `&self`
/// methods, autocommit; see [`pgsans_client::Client`]).
pub type Client = pgsans_client::Client<Smol>;
/// A transaction of a [`Client`]: it has the connection to itself until it ends.
pub type ClientTransaction<'a> = pgsans_client::ClientTransaction<'a, Smol>;
/// A [`Client`]'s connection leased to one caller: every method of [`Connection`] (COPY, row
/// streams, notifications) while the other callers wait.
pub type Lease<'a> = pgsans_client::Lease<'a, Smol>;
/// A pool of connections on this runtime (see [`pgsans_client::Pool`]): a connection given back
/// inside a transaction, a COPY or a result is rolled back, drained or discarded.
pub type Pool = pgsans_client::Pool<Smol>;
/// A connection out of a [`Pool`]; dropped, it goes back.
pub type PooledConnection = pgsans_client::PooledConnection<Smol>;
pub use pgsans_client::{HealthCheck, PoolOptions, PoolStats, Recycle};
/// Streamed rows on smol / async-io: its methods are [`pgsans_client::RowStream`]'s.
pub type RowStream<'a> = pgsans_client::RowStream<'a, Smol>;
/// A portal on smol / async-io: its methods are [`pgsans_client::Portal`]'s.
pub type Portal<'a> = pgsans_client::Portal<'a, Smol>;
/// A cancel token on smol / async-io: its methods are [`pgsans_client::CancelToken`]'s.
pub type CancelToken = pgsans_client::CancelToken<Smol>;
/// `COPY … FROM STDIN` on smol: the `futures` family's `AsyncWrite`; its methods are
/// [`pgsans_client::CopyIn`]'s.
pub type CopyIn<'a> = pgsans_client::CopyIn<'a, Smol>;
/// `COPY … TO STDOUT` on smol: `AsyncRead` and `AsyncBufRead`; its methods are
/// [`pgsans_client::CopyOut`]'s.
pub type CopyOut<'a> = pgsans_client::CopyOut<'a, Smol>;

/// A TCP or Unix-domain socket registered with async-io, and the timer of the deadline it
/// waits for, if any.
#[derive(Debug)]
pub struct Socket {
    stream: Stream,
    timer: Option<(Instant, Timer)>,
}

#[derive(Debug)]
enum Stream {
    Tcp(Async<TcpStream>),
    Unix(Async<UnixStream>),
}

impl TryIo for Socket {
    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.stream {
            Stream::Tcp(s) => s.get_ref().read(buf),
            Stream::Unix(s) => s.get_ref().read(buf),
        }
    }
    fn try_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &self.stream {
            Stream::Tcp(s) => s.get_ref().write(buf),
            Stream::Unix(s) => s.get_ref().write(buf),
        }
    }
}

/// Whether async-io's reactor has seen `s` ready for `interest` (registering the task if not).
fn poll_interest<T>(s: &Async<T>, cx: &mut Context<'_>, interest: pgsans::Interest) -> Poll<io::Result<()>> {
    let (read, write) = match interest {
        pgsans::Interest::Read => (true, false),
        pgsans::Interest::Write => (false, true),
        pgsans::Interest::ReadWrite => (true, true),
    };
    if read {
        if let Poll::Ready(r) = s.poll_readable(cx) {
            return Poll::Ready(r);
        }
    }
    if write {
        if let Poll::Ready(r) = s.poll_writable(cx) {
            return Poll::Ready(r);
        }
    }
    Poll::Pending
}

/// Runs `f` until `deadline`: `None` if it passes first.
async fn until<T>(deadline: Option<Instant>, f: impl std::future::Future<Output = T>) -> Option<T> {
    match deadline {
        Some(d) => {
            future::or(async { Some(f.await) }, async {
                Timer::at(d).await;
                None
            })
            .await
        }
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

impl pgsans_client::Socket for Socket {
    fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
        interest: pgsans::Interest,
        deadline: Option<Instant>,
    ) -> Poll<io::Result<bool>> {
        let ready = match &self.stream {
            Stream::Tcp(s) => poll_interest(s, cx, interest),
            Stream::Unix(s) => poll_interest(s, cx, interest),
        };
        if let Poll::Ready(r) = ready {
            return Poll::Ready(r.map(|()| true));
        }
        let Some(deadline) = deadline else { return Poll::Pending };
        let (at, timer) = self.timer.get_or_insert_with(|| (deadline, Timer::at(deadline)));
        if *at != deadline {
            *at = deadline;
            timer.set_at(deadline);
        }
        match std::pin::Pin::new(timer).poll(cx) {
            Poll::Ready(_) => Poll::Ready(Ok(false)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn shutdown(&mut self) {
        let _ = match &self.stream {
            Stream::Tcp(s) => s.get_ref().shutdown(std::net::Shutdown::Both),
            Stream::Unix(s) => s.get_ref().shutdown(std::net::Shutdown::Both),
        };
    }
}

impl pgsans_client::Runtime for Smol {
    type Socket = Socket;

    async fn connect(target: &Target, deadline: Option<Instant>) -> io::Result<Socket> {
        until(deadline, connect(target)).await.unwrap_or_else(|| Err(io::ErrorKind::TimedOut.into()))
    }

    async fn sleep_until(deadline: Instant) {
        async_io::Timer::at(deadline).await;
    }
}

async fn connect(target: &Target) -> io::Result<Socket> {
    if let Some(path) = target.socket_path() {
        let s = Async::<UnixStream>::connect(&path).await.map_err(|e| connect_error::unix(&path, e))?;
        return Ok(Socket { stream: Stream::Unix(s), timer: None });
    }
    let host = target.host_to_resolve();
    let mut addrs: Vec<SocketAddr> =
        async_net::resolve((host.as_str(), target.port)).await.map_err(|e| connect_error::resolve(&host, e))?;
    target.order_addresses(&mut addrs);
    let mut last = connect_error::no_address(&host);
    for addr in addrs {
        match Async::<TcpStream>::connect(addr).await {
            Ok(s) => {
                s.get_ref().set_nodelay(true)?;
                return Ok(Socket { stream: Stream::Tcp(s), timer: None });
            }
            Err(e) => last = connect_error::tcp(addr, e),
        }
    }
    Err(last)
}
