//! smol / async-io PostgreSQL client driving the [`pgsans`] engine. It uses only `async-io`
//! reactors, so it also runs under async-std (`async_std::task::block_on`) and any executor.
//!
//! Same names as the blocking `pgsans-std` client, with `.await`:
//!
//! ```no_run
//! smol::block_on(async {
//!     let mut conn = pgsans_smol::Connection::connect("postgresql://app@localhost/shop").await?;
//!     let results = conn.simple_query("SELECT 1").await?;
//!     assert_eq!(results[0].rows()[0].text(0), Some("1"));
//!     conn.close().await
//! })?;
//! # Ok::<(), pgsans::Error>(())
//! ```

#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;

use async_io::{Async, Timer};
use futures_lite::future;
use pgsans::config::Target;
use pgsans::drive::TryIo;
use pgsans::{Error, Poll};

pub use pgsans;

#[derive(Debug)]
enum Socket {
    Tcp(Async<TcpStream>),
    Unix(Async<UnixStream>),
}

impl TryIo for Socket {
    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.get_ref().read(buf),
            Socket::Unix(s) => s.get_ref().read(buf),
        }
    }
    fn try_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.get_ref().write(buf),
            Socket::Unix(s) => s.get_ref().write(buf),
        }
    }
}

impl Socket {
    async fn ready(&self, wanted: Poll) -> io::Result<()> {
        macro_rules! wait {
            ($s:expr) => {
                match wanted {
                    Poll::Read => $s.readable().await,
                    Poll::Write => $s.writable().await,
                    _ => future::or($s.readable(), $s.writable()).await,
                }
            };
        }
        match self {
            Socket::Tcp(s) => wait!(s),
            Socket::Unix(s) => wait!(s),
        }
    }
}

/// An async connection to PostgreSQL on smol / async-io (and so async-std).
async fn open_socket(target: &Target) -> Result<Socket, Error> {
    if let Some(path) = target.socket_path() {
        let s = Async::<UnixStream>::connect(&path)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("connect to {}: {e}", path.display())))?;
        return Ok(Socket::Unix(s));
    }
    let host = target.host_to_resolve();
    let addrs: Vec<SocketAddr> = async_net::resolve((host.as_str(), target.port))
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("could not translate host name \"{host}\": {e}")))?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("no address for \"{host}\""));
    for addr in addrs {
        match Async::<TcpStream>::connect(addr).await {
            Ok(s) => {
                s.get_ref().set_nodelay(true)?;
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
    future::or(f, async {
        Timer::at(deadline).await;
        Err(Error::Timeout)
    })
    .await
}

pgsans::async_transport!();
