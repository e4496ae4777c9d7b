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

use pgsans::config::{Host, Target};
use pgsans::drive::{transfer, TryIo};
use pgsans::op::{Startup, Terminate};
use pgsans::{ClientNonce, Config, Error, Operation, Poll, Step};
use tokio::io::Interest;
use tokio::net::{TcpStream, UnixStream};
use tokio::time::Instant;

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
#[derive(Debug)]
pub struct Connection {
    engine: pgsans::Connection,
    socket: Socket,
    /// Where we are connected: cancel requests go there.
    target: Target,
    /// The last transfer said a read would find nothing: wait before reading.
    read_would_block: bool,
}

pgsans::transport_transaction!(async);

/// Cancels the running query of the connection it came from (a CancelRequest on a new
/// connection to the same server). `Send + Sync`; cancelling when nothing runs is harmless.
#[derive(Debug, Clone)]
pub struct CancelToken {
    key: pgsans::CancelToken,
    target: Target,
}

impl CancelToken {
    /// Sends the cancel request and waits until the server has read it (it closes the socket).
    pub async fn cancel(&self) -> Result<(), Error> {
        let mut socket = open_socket(&self.target).await?;
        let mut request = pgsans::CancelRequest::new(&self.key);
        loop {
            match request.poll()? {
                Poll::Ok => return Ok(()),
                wanted => match transfer(&mut request, &mut socket, wanted) {
                    Ok(t) if t.progressed => {}
                    Ok(_) => socket.ready(wanted).await?,
                    Err(_) if request.is_done() => return Ok(()),
                    Err(e) => return Err(e),
                },
            }
        }
    }
}

impl std::ops::Deref for Connection {
    type Target = pgsans::Connection;
    fn deref(&self) -> &pgsans::Connection {
        &self.engine
    }
}

fn random_nonce() -> Result<ClientNonce, Error> {
    let mut bytes = [0u8; 18];
    getrandom::getrandom(&mut bytes).map_err(|e| Error::from(io::Error::other(e.to_string())))?;
    Ok(ClientNonce::from_random_bytes(bytes))
}

async fn open_socket(target: &Target) -> Result<Socket, Error> {
    if let Some(path) = target.socket_path() {
        let s = UnixStream::connect(&path)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("connect to {}: {e}", path.display())))?;
        return Ok(Socket::Unix(s));
    }
    let host = match (&target.hostaddr, &target.host) {
        (Some(addr), _) => addr.clone(),
        (None, Host::Tcp(h)) => h.clone(),
        (None, Host::Unix(d)) => d.display().to_string(),
    };
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

impl Connection {
    /// Connects with a libpq connection string or `postgresql://` URL, completed from the `PG*`
    /// environment variables and `.pgpass` like libpq. Hosts are tried in order.
    pub async fn connect(conninfo: &str) -> Result<Connection, Error> {
        Self::connect_with(&Config::load(conninfo)?).await
    }

    /// Connects with a ready configuration (nothing is read from the environment).
    pub async fn connect_with(config: &Config) -> Result<Connection, Error> {
        let mut last = None;
        for target in config.targets()? {
            let attempt = async {
                let socket = open_socket(&target).await?;
                let engine = pgsans::Connection::new(config, random_nonce()?)?;
                let mut conn = Connection { engine, socket, target: target.clone(), read_would_block: false };
                conn.run(Startup).await?;
                Ok::<_, Error>(conn)
            };
            let result = match config.connect_timeout() {
                Some(t) => tokio::time::timeout_at(Instant::now() + t, attempt).await.unwrap_or(Err(Error::Timeout)),
                None => attempt.await,
            };
            match result {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(Error::Config(pgsans::ConfigError::Unsupported("no host to connect to".into()))))
    }

    /// Runs any engine [`Operation`] to completion.
    pub async fn run<O: Operation>(&mut self, mut op: O) -> Result<O::Output, Error> {
        loop {
            match pgsans::step(&mut self.engine, &mut op)? {
                Step::Done(out) => return Ok(out),
                Step::Wait(wanted) => self.io_step(wanted, None).await?,
            }
        }
    }

    /// Moves bytes for `wanted`, waiting for readiness only if nothing moves.
    async fn io_step(&mut self, wanted: Poll, _deadline: Option<std::time::Instant>) -> Result<(), Error> {
        if !(wanted == Poll::Read && self.read_would_block) {
            let t = transfer(&mut self.engine, &mut self.socket, wanted)?;
            self.read_would_block = t.read_would_block;
            if t.progressed {
                return Ok(());
            }
        }
        self.read_would_block = false;
        match self.socket.ready(wanted).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.engine.transport_error(e.into())),
        }
    }

    /// Runs an operation until `deadline` ([`Error::Timeout`]; the connection stays usable:
    /// the abandoned operation is drained by the next one).
    pub async fn run_deadline<O: Operation>(
        &mut self,
        op: O,
        deadline: Option<std::time::Instant>,
    ) -> Result<O::Output, Error> {
        match deadline {
            Some(d) => tokio::time::timeout_at(Instant::from_std(d), self.run(op)).await.unwrap_or(Err(Error::Timeout)),
            None => self.run(op).await,
        }
    }

    pgsans::transport_methods!(async);

    /// Sends Terminate and closes the socket. Idempotent.
    pub async fn close(&mut self) -> Result<(), Error> {
        if self.engine.is_closed() && self.engine.transmit().is_empty() {
            return Ok(());
        }
        let op = Terminate::start(&mut self.engine);
        self.run(op).await
    }

    /// A token that cancels this connection's running query from any task or thread.
    pub fn cancel_token(&self) -> Option<CancelToken> {
        Some(CancelToken { key: self.engine.cancel_key()?, target: self.target.clone() })
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if !self.engine.is_closed() {
            self.engine.terminate();
            let _ = self.socket.try_write(self.engine.transmit());
        }
    }
}
