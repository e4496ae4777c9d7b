//! Blocking PostgreSQL client on std sockets, driving the [`pgsans`] engine.
//!
//! ```no_run
//! let mut conn = pgsans_std::Connection::connect("postgresql://app@localhost/shop")?;
//! for row in conn.simple_query("SELECT id, name FROM items")?[0].rows() {
//!     println!("{:?} {:?}", row.get("id"), row.get("name"));
//! }
//! conn.close()?;
//! # Ok::<(), pgsans::Error>(())
//! ```
//!
//! All protocol logic is in the engine: this crate opens sockets (TCP, or Unix when the host
//! starts with `/`), waits with `poll(2)` for what the engine asks, and moves bytes. Every
//! getter of the engine ([`transaction_status`](pgsans::Connection::transaction_status),
//! [`parameter_status`](pgsans::Connection::parameter_status), [`notices`](pgsans::Connection::notices),
//! …) is available on [`Connection`] through `Deref`.

#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use pgsans::config::{Host, Target};
use pgsans::drive::{transfer, TryIo};
use pgsans::op::{Startup, Terminate};
use pgsans::{ClientNonce, Config, Error, Operation, Poll, Step};
use rustix::event::{PollFd, PollFlags};

pub use pgsans;

/// A TCP or Unix-domain socket in non-blocking mode.
#[derive(Debug)]
enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl TryIo for Socket {
    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.read(buf),
            Socket::Unix(s) => s.read(buf),
        }
    }
    fn try_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.write(buf),
            Socket::Unix(s) => s.write(buf),
        }
    }
}

impl Socket {
    fn shutdown(&self) {
        let _ = match self {
            Socket::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
            Socket::Unix(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Socket::Tcp(s) => s.as_fd(),
            Socket::Unix(s) => s.as_fd(),
        }
    }
}

/// Waits with `poll(2)` until `fd` is ready for `interest` or the deadline passes.
fn wait_fd(fd: BorrowedFd<'_>, interest: Poll, deadline: Option<Instant>) -> Result<(), Error> {
    let flags = match interest {
        Poll::Read => PollFlags::IN,
        Poll::Write => PollFlags::OUT,
        Poll::ReadWrite => PollFlags::IN | PollFlags::OUT,
        Poll::Ok => return Ok(()),
    };
    loop {
        let timeout = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::Timeout);
                }
                Some(
                    rustix::event::Timespec::try_from(left)
                        .unwrap_or(rustix::event::Timespec { tv_sec: i64::MAX, tv_nsec: 0 }),
                )
            }
            None => None,
        };
        let mut fds = [PollFd::new(&fd, flags)];
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(0) => continue, // timeout: re-checked at the top
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(io::Error::from(e).into()),
        }
    }
}

/// A blocking connection to PostgreSQL.
#[derive(Debug)]
pub struct Connection {
    engine: pgsans::Connection,
    socket: Socket,
    /// Where we are connected: cancel requests go there.
    target: Target,
}

pgsans::transport_transaction!(sync);

/// Cancels the running query of the connection it came from (a CancelRequest on a new
/// connection to the same server). `Send + Sync`; cancelling when nothing runs is harmless.
#[derive(Debug, Clone)]
pub struct CancelToken {
    key: pgsans::CancelToken,
    target: Target,
}

impl CancelToken {
    /// Sends the cancel request and waits until the server has read it (it closes the socket).
    pub fn cancel(&self) -> Result<(), Error> {
        let deadline = Some(Instant::now() + std::time::Duration::from_secs(30));
        let mut socket = open_socket(&self.target, deadline)?;
        let request = self.key.request_bytes();
        let mut sent = 0;
        while sent < request.len() {
            match socket.try_write(&request[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_fd(socket.as_fd(), Poll::Write, deadline)?,
                Err(e) => return Err(e.into()),
            }
        }
        let mut buf = [0u8; 64];
        loop {
            match socket.try_read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_fd(socket.as_fd(), Poll::Read, deadline)?,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
                Err(e) => return Err(e.into()),
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
    getrandom::getrandom(&mut bytes).map_err(|e| Error::Io(std::sync::Arc::new(io::Error::other(e.to_string()))))?;
    Ok(ClientNonce::from_random_bytes(bytes))
}

fn open_socket(target: &Target, deadline: Option<Instant>) -> Result<Socket, Error> {
    if let Some(path) = target.socket_path() {
        let s = UnixStream::connect(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("connect to {}: {e}", path.display())))?;
        s.set_nonblocking(true)?;
        return Ok(Socket::Unix(s));
    }
    let host = match (&target.hostaddr, &target.host) {
        (Some(addr), _) => addr.clone(),
        (None, Host::Tcp(h)) => h.clone(),
        (None, Host::Unix(d)) => d.display().to_string(),
    };
    let addrs: Vec<SocketAddr> = (host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| io::Error::new(e.kind(), format!("could not translate host name \"{host}\": {e}")))?
        .collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("no address for \"{host}\""));
    for addr in addrs {
        let attempt = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::Timeout);
                }
                TcpStream::connect_timeout(&addr, left)
            }
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(s) => {
                s.set_nodelay(true)?;
                s.set_nonblocking(true)?;
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
    pub fn connect(conninfo: &str) -> Result<Connection, Error> {
        Self::connect_with(&Config::load(conninfo)?)
    }

    /// Connects with a ready configuration (nothing is read from the environment).
    pub fn connect_with(config: &Config) -> Result<Connection, Error> {
        let mut last = None;
        for target in config.targets()? {
            let deadline = config.connect_timeout().map(|t| Instant::now() + t);
            let attempt = (|| {
                let socket = open_socket(&target, deadline)?;
                let engine = pgsans::Connection::new(config, random_nonce()?)?;
                let mut conn = Connection { engine, socket, target: target.clone() };
                conn.run_deadline(Startup, deadline)?;
                Ok(conn)
            })();
            match attempt {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(Error::Config(pgsans::ConfigError::Unsupported("no host to connect to".into()))))
    }

    /// Runs any engine [`Operation`] to completion, or until `deadline` ([`Error::Timeout`];
    /// the connection stays usable: the abandoned operation is drained by the next one).
    pub fn run_deadline<O: Operation>(&mut self, mut op: O, deadline: Option<Instant>) -> Result<O::Output, Error> {
        loop {
            match pgsans::step(&mut self.engine, &mut op)? {
                Step::Done(out) => return Ok(out),
                Step::Wait(wanted) => {
                    if !transfer(&mut self.engine, &mut self.socket, wanted)? {
                        match wait_fd(self.socket.as_fd(), wanted, deadline) {
                            Ok(()) => {}
                            Err(Error::Timeout) => return Err(Error::Timeout),
                            Err(e) => return Err(self.engine.transport_error(e)),
                        }
                    }
                }
            }
        }
    }

    /// Runs any engine [`Operation`] to completion.
    pub fn run<O: Operation>(&mut self, op: O) -> Result<O::Output, Error> {
        self.run_deadline(op, None)
    }

    pgsans::transport_methods!(sync);

    /// Sends Terminate and closes the socket. Idempotent; later operations fail with
    /// [`Error::Closed`].
    pub fn close(&mut self) -> Result<(), Error> {
        if self.engine.is_closed() && self.engine.transmit().is_empty() {
            self.socket.shutdown();
            return Ok(());
        }
        let op = Terminate::start(&mut self.engine);
        let r = self.run(op);
        self.socket.shutdown();
        r
    }

    /// A token that cancels this connection's running query from any thread.
    pub fn cancel_token(&self) -> Option<CancelToken> {
        Some(CancelToken { key: self.engine.cancel_key()?, target: self.target.clone() })
    }
}

impl AsRawFd for Connection {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_fd().as_raw_fd()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Best effort, without blocking: tell the server we are leaving.
        if !self.engine.is_closed() {
            self.engine.terminate();
            let _ = self.socket.try_write(self.engine.transmit());
        }
        self.socket.shutdown();
    }
}
