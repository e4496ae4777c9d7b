//! What the connection needs from a runtime: a way to connect and a socket it can wait on, each
//! until a deadline. Tokio and smol implement it in a few dozen lines each; the blocking client
//! implements it with `poll(2)` (or a wait callback) under its own minimal executor.

use std::future::Future;
use std::io;
use std::time::Instant;

use pgsans::config::Target;
use pgsans::{Error, Interest};

use crate::io::TryIo;

/// An async runtime pgsans can run on.
pub trait Runtime: Sized + Send + Sync + 'static {
    /// A connected, non-blocking socket.
    type Socket: Socket;

    /// Connects to `target`: its Unix socket, or each of its addresses in turn (TCP with
    /// `TCP_NODELAY`), giving up at `deadline` (`ErrorKind::TimedOut`). The error names where
    /// it tried.
    fn connect(target: &Target, deadline: Option<Instant>) -> impl Future<Output = io::Result<Self::Socket>> + Send;
}

/// A connected socket the runtime can wait on.
pub trait Socket: TryIo + Send + 'static {
    /// Completes when the socket may be ready for `interest` (`true`), or at `deadline`
    /// (`false`). Spurious completions are fine: the caller tries the operation and waits again
    /// if it would block.
    fn ready(&mut self, interest: Interest, deadline: Option<Instant>)
        -> impl Future<Output = io::Result<bool>> + Send;

    /// Whether to spin (retry the read for a moment) before waiting. False when waiting
    /// belongs to someone else's scheduler (a wait callback).
    fn may_spin(&self) -> bool {
        true
    }

    /// Shuts the socket down (after Terminate, or when the connection is dropped).
    fn shutdown(&mut self) {}
}

/// A runtime's connect, with its timeout as pgsans' [`Error::Timeout`].
pub(crate) async fn connect_socket<R: Runtime>(target: &Target, deadline: Option<Instant>) -> Result<R::Socket, Error> {
    match R::connect(target, deadline).await {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut && deadline.is_some_and(|d| Instant::now() >= d) => {
            Err(Error::Timeout)
        }
        Err(e) => Err(e.into()),
    }
}
