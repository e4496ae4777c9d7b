//! What the connection needs from a runtime: a way to connect and a socket it can wait on, each
//! until a deadline. Tokio and smol implement it in a few dozen lines each; the blocking client
//! implements it with `poll(2)` (or a wait callback) under its own minimal executor, and the
//! polling connection with a socket that never waits (the caller's event loop does).

use std::future::Future;
use std::io;
use std::os::fd::AsFd;
use std::task::{Context, Poll};
use std::time::Instant;

use pgsans::config::{SocketOptions, Target};
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

    /// Completes at `deadline` (for a pool's acquire timeout).
    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> + Send;
}

/// A connected socket the runtime can wait on (its descriptor: for socket options, and for
/// callers who wait on it themselves, like psycopg's `fileno()`).
pub trait Socket: TryIo + AsFd + Send + 'static {
    /// `Ready(Ok(true))` when the socket may be ready for `interest`, `Ready(Ok(false))` once
    /// `deadline` has passed; `Pending` after arranging for the task to be woken at either.
    /// Spurious readiness is fine: the caller tries the operation and polls again if it would
    /// block. [`Interest::ReadWrite`]: either will do.
    fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
        interest: Interest,
        deadline: Option<Instant>,
    ) -> Poll<io::Result<bool>>;

    /// Whether to spin (retry the read for a moment) before waiting. False when waiting
    /// belongs to someone else's scheduler (a wait callback).
    fn may_spin(&self) -> bool {
        true
    }

    /// Shuts the socket down (after Terminate, or when the connection is dropped).
    fn shutdown(&mut self) {}

    /// Waits for bytes and reads them in one call, where the runtime can (a blocking socket
    /// with nothing else to wait for): one system call instead of a wait and a read. `None`:
    /// not here, wait with [`poll_ready`](Self::poll_ready). Only asked for a read with no
    /// deadline other than `deadline`; `Ok(0)` is end of stream.
    fn read_blocking(&mut self, _buf: &mut [u8], _deadline: Option<Instant>) -> Option<io::Result<usize>> {
        None
    }
}

/// Waits until `socket` may be ready for `interest` (`true`) or `deadline` passes (`false`).
pub async fn ready<S: Socket>(socket: &mut S, interest: Interest, deadline: Option<Instant>) -> io::Result<bool> {
    std::future::poll_fn(|cx| socket.poll_ready(cx, interest, deadline)).await
}

/// A runtime's connect, with its timeout as pgsans' [`Error::Timeout`], and the configuration's
/// TCP options set.
pub(crate) async fn connect_socket<R: Runtime>(
    target: &Target,
    options: &SocketOptions,
    deadline: Option<Instant>,
) -> Result<R::Socket, Error> {
    match R::connect(target, deadline).await {
        Ok(s) => {
            set_socket_options(s.as_fd(), target.socket_path().is_some(), options)?;
            Ok(s)
        }
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut && deadline.is_some_and(|d| Instant::now() >= d) => {
            Err(Error::Timeout)
        }
        Err(e) => Err(e.into()),
    }
}

/// Sets libpq's TCP options ([`pgsans::Config::socket_options`]) on a connected TCP socket, or
/// checks `requirepeer` on a Unix socket (the server process's OS user, from `SO_PEERCRED`).
pub fn set_socket_options(fd: std::os::fd::BorrowedFd<'_>, unix: bool, options: &SocketOptions) -> Result<(), Error> {
    if unix {
        return match &options.require_peer {
            Some(required) => {
                let actual = peer_user(fd)?;
                if &actual == required {
                    Ok(())
                } else {
                    Err(pgsans::AuthError::PeerMismatch { required: required.clone(), actual }.into())
                }
            }
            None => Ok(()),
        };
    }
    let socket = socket2::SockRef::from(&fd);
    socket.set_keepalive(options.keepalives)?;
    if options.keepalives {
        let mut k = socket2::TcpKeepalive::new();
        if let Some(t) = options.keepalives_idle {
            k = k.with_time(t);
        }
        if let Some(t) = options.keepalives_interval {
            k = k.with_interval(t);
        }
        if let Some(n) = options.keepalives_count {
            k = k.with_retries(n);
        }
        socket.set_tcp_keepalive(&k)?;
    }
    if let Some(t) = options.user_timeout {
        socket.set_tcp_user_timeout(Some(t))?;
    }
    Ok(())
}

/// The name of the OS user running the process at the other end of a Unix socket.
fn peer_user(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<String> {
    let cred = nix::sys::socket::getsockopt(&fd, nix::sys::socket::sockopt::PeerCredentials)?;
    let uid = nix::unistd::Uid::from_raw(cred.uid());
    match nix::unistd::User::from_uid(uid)? {
        Some(user) => Ok(user.name),
        None => Err(io::Error::other(format!("the peer's uid {uid} has no user name"))),
    }
}
