//! Wait callbacks: how the blocking client waits, replaceable for green-thread runtimes.
//!
//! Whenever the client would block — connecting, sending, waiting for results — it calls the
//! connection's [`Wait`] with the socket, what it waits for and the deadline. Without one it
//! blocks in `poll(2)`. The socket is always non-blocking, so a client with a callback never
//! blocks anywhere else: this is psycopg2's `set_wait_callback`, the hook gevent and eventlet
//! use, and what lets a coroutine runtime (`may`, a custom scheduler) park the caller instead
//! of the thread.
//!
//! # Contract
//!
//! * `wait` returns `Ok(())` once the socket *may* be ready for `interest` (or the deadline has
//!   passed). Spurious returns are fine: the client retries the I/O and calls again if it would
//!   still block.
//! * Returning an error closes the connection and the error propagates to the caller (psycopg2
//!   behaviour). A server error (a failing SQL statement) never reaches the callback and never
//!   closes the connection.
//! * The same `Wait` value serves one connection for its whole life, so it may keep
//!   per-connection state (a registration with a reactor).
//!
//! ```no_run
//! use std::io;
//! use pgsans_std::{Connection, WaitRequest};
//!
//! let mut conn = Connection::connect("host=/var/run/postgresql user=app")?;
//! // Log every wait, then block the thread as the default would.
//! conn.set_wait_callback(Some(Box::new(|req: WaitRequest<'_>| -> io::Result<()> {
//!     eprintln!("waiting for {:?} on fd {}", req.interest, req.raw_fd());
//!     req.wait_with_poll()
//! })));
//! conn.simple_query("SELECT pg_sleep(0.1)")?;
//! # Ok::<(), pgsans::Error>(())
//! ```
//!
//! # Green threads: a complete example with `may`
//!
//! Each connection gets a callback that registers its socket with may's reactor on the first
//! wait and parks the *coroutine* (not the thread) until the socket is ready. Fifty coroutines on
//! two threads then run their queries concurrently. (Not compiled here, so that this crate
//! does not depend on `may`: the same callback runs fifty coroutines in the test suite,
//! `tests/tests/behaviour/nonblocking.rs`, `may_waiter`.)
//!
//! ```ignore
//! use std::os::fd::{AsRawFd, RawFd};
//! use may::io::{CoIo, WaitIo};
//! use pgsans_std::{Connection, Wait, WaitRequest};
//!
//! struct Fd(RawFd);
//! impl AsRawFd for Fd {
//!     fn as_raw_fd(&self) -> RawFd { self.0 }
//! }
//!
//! fn may_waiter() -> Box<dyn Wait> {
//!     let mut registered: Option<CoIo<Fd>> = None;
//!     Box::new(move |req: WaitRequest<'_>| -> std::io::Result<()> {
//!         if registered.is_none() {
//!             registered = Some(CoIo::new(Fd(req.raw_fd())).map_err(|e| std::io::Error::other(e.to_string()))?);
//!         }
//!         registered.as_ref().unwrap().wait_io(); // parks this coroutine until the fd is ready
//!         Ok(())
//!     })
//! }
//!
//! may::config().set_workers(2).set_stack_size(0x40000);
//! let handles: Vec<_> = (0..50)
//!     .map(|i| unsafe {
//!         may::coroutine::spawn(move || {
//!             let config = pgsans::Config::parse("host=127.0.0.1 user=app dbname=app").unwrap();
//!             let mut conn = Connection::connect_with_wait(&config, Some(may_waiter())).unwrap();
//!             conn.simple_query(&format!("SELECT {i}, pg_sleep(1)")).unwrap();
//!         })
//!     })
//!     .collect();
//! for h in handles {
//!     h.join().unwrap(); // about one second in all, not fifty
//! }
//! ```

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::{Arc, RwLock};
use std::time::Instant;

pub use pgsans::Interest;

/// What the client is waiting for.
#[derive(Debug, Clone, Copy)]
pub struct WaitRequest<'a> {
    /// The connection's socket, borrowed for the duration of the call.
    pub fd: BorrowedFd<'a>,
    /// [`Interest::Read`], [`Interest::Write`] or [`Interest::ReadWrite`] (either will do).
    pub interest: Interest,
    /// When the operation times out, if it has a deadline.
    pub deadline: Option<Instant>,
}

impl WaitRequest<'_> {
    /// The socket's raw descriptor.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Blocks the thread in `poll(2)`: what the client does without a callback.
    pub fn wait_with_poll(&self) -> io::Result<()> {
        match crate::socket::poll_fd(self.fd, self.interest, self.deadline) {
            Ok(()) | Err(pgsans::Error::Timeout) => Ok(()),
            Err(pgsans::Error::Io(e)) => Err(io::Error::new(e.kind(), e.to_string())),
            Err(e) => Err(io::Error::other(e.to_string())),
        }
    }
}

/// A wait callback. Closures `FnMut(WaitRequest<'_>) -> io::Result<()>` implement it.
pub trait Wait: Send {
    fn wait(&mut self, request: WaitRequest<'_>) -> io::Result<()>;
}

impl<F: FnMut(WaitRequest<'_>) -> io::Result<()> + Send> Wait for F {
    fn wait(&mut self, request: WaitRequest<'_>) -> io::Result<()> {
        self(request)
    }
}

/// Makes the [`Wait`] for each new connection.
pub type WaitFactory = Arc<dyn Fn() -> Box<dyn Wait> + Send + Sync>;

static DEFAULT: RwLock<Option<WaitFactory>> = RwLock::new(None);

/// Sets the process-wide default (psycopg2's `set_wait_callback`): every connection made after
/// this call gets `factory()` as its wait callback. `None` restores blocking in `poll(2)`.
pub fn set_wait_callback(factory: Option<WaitFactory>) {
    *DEFAULT.write().unwrap_or_else(|e| e.into_inner()) = factory;
}

/// The process-wide default, if one is set.
pub fn get_wait_callback() -> Option<WaitFactory> {
    DEFAULT.read().unwrap_or_else(|e| e.into_inner()).clone()
}
