//! Tokio PostgreSQL client driving the [`pgsans`] engine.
//!
//! Same names as the blocking `pgsans-std` client, with `.await`:
//!
//! ```no_run
//! # async fn demo() -> Result<(), pgsans::Error> {
//! let mut conn = pgsans_tokio::Connection::connect("postgresql://app@localhost/shop").await?;
//! let results = conn.simple_query("SELECT 1").await?;
//! assert_eq!(results[0].rows()[0].text(0), Some("1"));
//! conn.close().await?;
//! # Ok(()) }
//! ```
//!
//! Dropping a future mid-operation is safe: the engine drains the abandoned responses before the
//! next operation starts.

#![forbid(unsafe_code)]

use std::io;
use std::net::SocketAddr;

use pgsans::config::Target;
use pgsans::drive::TryIo;
use pgsans::{Error, Poll};
use tokio::io::Interest;
use tokio::net::{TcpStream, UnixStream};

pub use pgsans;

#[derive(Debug)]
enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// After a short read the socket is drained: clear tokio's cached readiness (no syscall; tokio
/// keeps any newer event), so the next wait goes to epoll instead of a read that fails.
fn clear_if_drained(n: usize, requested: usize, try_io: impl FnOnce() -> io::Result<()>) -> usize {
    if n > 0 && n < requested {
        let _ = try_io();
    }
    n
}

fn would_block() -> io::Result<()> {
    Err(io::ErrorKind::WouldBlock.into())
}

impl TryIo for Socket {
    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let requested = buf.len();
        match self {
            Socket::Tcp(s) => {
                let n = s.try_read(buf)?;
                Ok(clear_if_drained(n, requested, || s.try_io(Interest::READABLE, would_block)))
            }
            Socket::Unix(s) => {
                let n = s.try_read(buf)?;
                Ok(clear_if_drained(n, requested, || s.try_io(Interest::READABLE, would_block)))
            }
        }
    }
    fn try_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.try_write(buf),
            Socket::Unix(s) => s.try_write(buf),
        }
    }
}

impl Socket {
    async fn ready(&self, wanted: Poll) -> io::Result<()> {
        let interest = match wanted {
            Poll::Read => Interest::READABLE,
            Poll::Write => Interest::WRITABLE,
            _ => Interest::READABLE | Interest::WRITABLE,
        };
        match self {
            Socket::Tcp(s) => s.ready(interest).await.map(drop),
            Socket::Unix(s) => s.ready(interest).await.map(drop),
        }
    }
}

/// An async connection to PostgreSQL on Tokio.
async fn open_socket(target: &Target) -> Result<Socket, Error> {
    if let Some(path) = target.socket_path() {
        let s = UnixStream::connect(&path)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("connect to {}: {e}", path.display())))?;
        return Ok(Socket::Unix(s));
    }
    let host = target.host_to_resolve();
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), target.port))
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("could not translate host name \"{host}\": {e}")))?
        .collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("no address for \"{host}\""));
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(Socket::Tcp(s));
            }
            Err(e) => last = io::Error::new(e.kind(), format!("connection to server at {addr} failed: {e}")),
        }
    }
    Err(last.into())
}

/// The runtime's timer for connect timeouts and deadlines.
async fn with_deadline<T>(
    deadline: std::time::Instant,
    f: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), f).await.unwrap_or(Err(Error::Timeout))
}

pgsans::async_transport!();
