//! Blocking PostgreSQL client on std sockets, driving the [`pgsans`] engine, with psycopg2's
//! two ways of not blocking the thread: a [`PollingConnection`] for your own event loop, and
//! [wait callbacks](wait) for green-thread runtimes.
//!
//! # Blocking
//!
//! ```no_run
//! let mut conn = pgsans_std::Connection::connect("postgresql://app@localhost/shop")?;
//! conn.set_autocommit(true)?;
//! for row in conn.simple_query("SELECT id, name FROM items")?[0].rows() {
//!     println!("{:?} {:?}", row.text("id"), row.text("name"));
//! }
//! conn.close()?;
//! # Ok::<(), pgsans::Error>(())
//! ```
//!
//! # Your own event loop
//!
//! See [`PollingConnection`]: `connect_start`, then `poll()` whenever its socket is ready,
//! exactly like psycopg2's asynchronous connections.
//!
//! # Green threads
//!
//! See [`wait`]: every wait goes through a callback you supply, per connection
//! ([`Connection::set_wait_callback`]) or process-wide ([`set_wait_callback`]).
//!
//! # Latency
//!
//! After sending a whole request, a [`Connection`] retries its read for up to 100 µs (yielding
//! the CPU) before it sleeps in `poll(2)`: a nearby server's answer is usually there by then,
//! and the client saves the wake-up (3× lower loopback latency in `BENCHMARKS.md`). Fruitless
//! spins back off; there is no spinning on a single CPU, with a wait callback, or on a
//! [`PollingConnection`]. Tune or turn off with [`Config::spin_wait`] /
//! [`Connection::set_spin_wait`].
//!
//! All protocol logic is in the engine: this crate opens non-blocking sockets (TCP, or Unix
//! when the host starts with `/`), waits for what the engine asks, and moves bytes. Every
//! getter of the engine ([`transaction_status`](pgsans::Connection::transaction_status),
//! [`parameter_status`](pgsans::Connection::parameter_status), …) is available on
//! [`Connection`] through `Deref`.

#![forbid(unsafe_code)]

/// The README's Rust examples, compiled by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;

mod polling;
mod socket;
pub mod wait;

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Instant;

use pgsans::config::Target;
use pgsans::drive::{transfer, SpinWait, TryIo};
use pgsans::op::{Startup, Terminate};
use pgsans::{ClientNonce, Config, Error, Operation, Poll, Step};

pub use pgsans;
pub use polling::PollingConnection;
pub use wait::{get_wait_callback, set_wait_callback, Interest, Wait, WaitFactory, WaitRequest};

use socket::{attempts, poll_fd, Socket};

/// Waits for `interest` on `fd`: through the callback if there is one, else in `poll(2)`.
/// A failing callback is `Err(Ok(e))` (the connection must be closed); a timeout or a poll
/// failure is `Err(Err(e))`.
fn wait_for(
    waiter: &mut Option<Box<dyn Wait>>,
    fd: BorrowedFd<'_>,
    interest: Poll,
    deadline: Option<Instant>,
) -> Result<(), Error> {
    match waiter {
        Some(w) => {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::Timeout);
            }
            w.wait(WaitRequest { fd, interest, deadline }).map_err(|e| Error::Io(std::sync::Arc::new(e)))
        }
        None => poll_fd(fd, interest, deadline),
    }
}

pub(crate) fn random_nonce() -> Result<ClientNonce, Error> {
    let mut bytes = [0u8; 18];
    getrandom::getrandom(&mut bytes).map_err(|e| Error::from(io::Error::other(e.to_string())))?;
    Ok(ClientNonce::from_random_bytes(bytes))
}

/// A blocking connection to PostgreSQL.
pub struct Connection {
    engine: pgsans::Connection,
    socket: Socket,
    /// Where we are connected: cancel requests go there.
    target: Target,
    waiter: Option<Box<dyn Wait>>,
    /// The last transfer said a read would find nothing: wait before reading.
    read_would_block: bool,
    /// Whether to spin for an answer before sleeping.
    spin: SpinWait,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("engine", &self.engine)
            .field("target", &self.target)
            .field("wait_callback", &self.waiter.is_some())
            .finish()
    }
}

impl std::ops::Deref for Connection {
    type Target = pgsans::Connection;
    fn deref(&self) -> &pgsans::Connection {
        &self.engine
    }
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
        let mut last = None;
        for attempt in attempts(&self.target)? {
            match send_cancel(&attempt, &self.key, deadline) {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(Error::Timeout))
    }
}

fn send_cancel(attempt: &socket::Attempt, key: &pgsans::CancelToken, deadline: Option<Instant>) -> Result<(), Error> {
    let connecting = attempt.start()?;
    poll_fd(connecting.fd.as_fd(), Poll::Write, deadline)?;
    let mut socket = connecting.finish()?;
    let mut request = pgsans::CancelRequest::new(key);
    loop {
        match request.poll()? {
            Poll::Ok => return Ok(()),
            wanted => match transfer(&mut request, &mut socket, wanted) {
                Ok(t) if t.progressed => {}
                Ok(_) => poll_fd(socket.as_fd(), wanted, deadline)?,
                Err(_) if request.is_done() => return Ok(()),
                Err(e) => return Err(e),
            },
        }
    }
}

impl Connection {
    /// Connects with a libpq connection string or `postgresql://` URL, completed from the `PG*`
    /// environment variables and `.pgpass` like libpq. Hosts (and each host's addresses) are
    /// tried in order. Uses the process-wide wait callback, if one is set.
    pub fn connect(conninfo: &str) -> Result<Connection, Error> {
        Self::connect_with(&Config::load(conninfo)?)
    }

    /// Connects with a ready configuration (nothing is read from the environment).
    pub fn connect_with(config: &Config) -> Result<Connection, Error> {
        let waiter = get_wait_callback().map(|factory| factory());
        Self::connect_with_wait(config, waiter)
    }

    /// Connects using `waiter` for every wait, the connect itself included.
    pub fn connect_with_wait(config: &Config, mut waiter: Option<Box<dyn Wait>>) -> Result<Connection, Error> {
        let mut last = None;
        for target in config.targets()? {
            let deadline = config.connect_timeout().map(|t| Instant::now() + t);
            let addresses = match attempts(&target) {
                Ok(a) => a,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            for attempt in addresses {
                let result = (|| {
                    let connecting = attempt.start()?;
                    wait_for(&mut waiter, connecting.fd.as_fd(), Poll::Write, deadline)?;
                    let socket = connecting.finish()?;
                    let engine = pgsans::Connection::new(config, random_nonce()?)?;
                    Ok::<_, Error>((engine, socket))
                })();
                let (engine, socket) = match result {
                    Ok(v) => v,
                    Err(e) => {
                        last = Some(e);
                        continue;
                    }
                };
                let mut conn = Connection {
                    engine,
                    socket,
                    target: target.clone(),
                    waiter: waiter.take(),
                    read_would_block: false,
                    spin: SpinWait::new(pgsans::drive::spin_limit(config, pgsans::transport_kit::available_cpus())),
                };
                match conn.run_deadline(Startup, deadline) {
                    Ok(()) => return Ok(conn),
                    Err(e) => {
                        waiter = conn.waiter.take();
                        last = Some(e);
                    }
                }
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
                Step::Wait(wanted) => self.io_step(wanted, deadline)?,
            }
        }
    }

    /// Moves bytes for `wanted`, waiting (poll(2) or the wait callback) only if nothing moves.
    fn io_step(&mut self, wanted: Poll, deadline: Option<Instant>) -> Result<(), Error> {
        if wanted == Poll::Read && self.read_would_block && self.waiter.is_none() && self.spin_for_answer(deadline)? {
            return Ok(());
        }
        if !(wanted == Poll::Read && self.read_would_block) {
            let t = transfer(&mut self.engine, &mut self.socket, wanted)?;
            self.read_would_block = t.read_would_block;
            if t.progressed {
                return Ok(());
            }
        }
        self.read_would_block = false;
        match wait_for(&mut self.waiter, self.socket.as_fd(), wanted, deadline) {
            Ok(()) => Ok(()),
            Err(Error::Timeout) => Err(Error::Timeout),
            Err(e) => {
                // A failing wait callback closes the connection (psycopg2).
                let e = self.engine.transport_error(e);
                self.socket.shutdown();
                Err(e)
            }
        }
    }

    pgsans::spin_methods!(sync);

    /// Runs any engine [`Operation`] to completion.
    pub fn run<O: Operation>(&mut self, op: O) -> Result<O::Output, Error> {
        self.run_deadline(op, None)
    }

    pgsans::transport_methods!(sync);

    /// Sets (or removes) this connection's wait callback.
    pub fn set_wait_callback(&mut self, waiter: Option<Box<dyn Wait>>) {
        self.waiter = waiter;
    }

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

impl AsFd for Connection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
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
