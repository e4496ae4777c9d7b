//! Sockets: connecting, and waiting with `poll(2)` or a wait callback.
//!
//! Every socket here is non-blocking from its creation, `connect` included, and every read and
//! write is non-blocking (`MSG_DONTWAIT`) whatever the descriptor's mode, so the client blocks
//! only where it chooses: in [`wait`](crate::wait) (`poll(2)`, or the caller's callback), or in
//! [`read_blocking`](Socket::read_blocking) — the blocking client's one-call wait-and-read,
//! on a descriptor it has made blocking for that.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use pgsans::config::Target;
use pgsans::{Error, Interest};
use pgsans_client::connect_error;
use pgsans_client::io::TryIo;
use rustix::event::{PollFd, PollFlags};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketAddrUnix, SocketFlags, SocketType};

/// A TCP or Unix-domain socket.
#[derive(Debug)]
pub(crate) enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl TryIo for Socket {
    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(rustix::net::recv(self.as_fd(), buf, RecvFlags::DONTWAIT)?.0)
    }
    fn try_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(rustix::net::send(self.as_fd(), buf, SendFlags::DONTWAIT | SendFlags::NOSIGNAL)?)
    }
}

impl Socket {
    /// Makes the descriptor blocking or not (its reads and writes stay non-blocking): blocking,
    /// [`read_blocking`](Self::read_blocking) waits in the read itself.
    pub(crate) fn set_blocking(&self, blocking: bool) -> io::Result<()> {
        Ok(rustix::io::ioctl_fionbio(self.as_fd(), !blocking)?)
    }

    /// Waits for bytes and reads them, in one system call where a wait and a read would take
    /// two (only on a descriptor made blocking by [`set_blocking`](Self::set_blocking)).
    /// `Ok(0)`: end of stream.
    pub(crate) fn read_blocking(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(rustix::net::recv(self.as_fd(), buf, RecvFlags::empty())?.0)
    }

    pub(crate) fn shutdown(&self) {
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
pub(crate) fn poll_fd(fd: BorrowedFd<'_>, interest: Interest, deadline: Option<Instant>) -> Result<(), Error> {
    let flags = match interest {
        Interest::Read => PollFlags::IN,
        Interest::Write => PollFlags::OUT,
        Interest::ReadWrite => PollFlags::IN | PollFlags::OUT,
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
            Ok(0) => continue, // timed out: checked at the top
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(io::Error::from(e).into()),
        }
    }
}

/// Whether `fd` is ready for `interest` right now.
pub(crate) fn ready_now(fd: BorrowedFd<'_>, interest: Interest) -> io::Result<bool> {
    let flags = if interest == Interest::Read { PollFlags::IN } else { PollFlags::OUT };
    let mut fds = [PollFd::new(&fd, flags)];
    let zero = rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 };
    Ok(rustix::event::poll(&mut fds, Some(&zero))? > 0)
}

/// A socket whose non-blocking `connect` may still be in progress.
#[derive(Debug)]
pub(crate) struct Connecting {
    pub(crate) fd: OwnedFd,
    pub(crate) unix: bool,
    /// Where, for error messages.
    pub(crate) peer: String,
}

impl Connecting {
    /// Checks a connect that `poll` reported writable: `Ok(socket)` or the connect error.
    pub(crate) fn finish(self) -> Result<Socket, Error> {
        match rustix::net::sockopt::socket_error(&self.fd) {
            Ok(Ok(())) => {}
            Ok(Err(e)) | Err(e) => {
                let e = io::Error::from(e);
                return Err(connect_error::tcp(&self.peer, e).into());
            }
        }
        Ok(if self.unix {
            Socket::Unix(UnixStream::from(self.fd))
        } else {
            let s = TcpStream::from(self.fd);
            s.set_nodelay(true)?;
            Socket::Tcp(s)
        })
    }
}

/// The addresses to try for `target`, in order (DNS is resolved here, blocking, as libpq does
/// unless `hostaddr` is given).
pub(crate) fn resolve(target: &Target) -> Result<Vec<SocketAddr>, Error> {
    let host = target.host_to_resolve();
    let mut addrs: Vec<SocketAddr> =
        (host.as_str(), target.port).to_socket_addrs().map_err(|e| connect_error::resolve(&host, e))?.collect();
    target.order_addresses(&mut addrs);
    if addrs.is_empty() {
        return Err(connect_error::no_address(&host).into());
    }
    Ok(addrs)
}

/// Starts a non-blocking connect to a TCP address; returns at once.
pub(crate) fn start_tcp(addr: SocketAddr) -> Result<Connecting, Error> {
    let family = if addr.is_ipv4() { AddressFamily::INET } else { AddressFamily::INET6 };
    let fd = rustix::net::socket_with(family, SocketType::STREAM, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC, None)
        .map_err(io::Error::from)?;
    match rustix::net::connect(&fd, &addr) {
        Ok(()) | Err(rustix::io::Errno::INPROGRESS) => {}
        Err(e) => {
            let e = io::Error::from(e);
            return Err(connect_error::tcp(addr, e).into());
        }
    }
    Ok(Connecting { fd, unix: false, peer: addr.to_string() })
}

/// Starts a non-blocking connect to a Unix socket.
pub(crate) fn start_unix(path: &std::path::Path) -> Result<Connecting, Error> {
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )
    .map_err(io::Error::from)?;
    let addr = SocketAddrUnix::new(path).map_err(io::Error::from)?;
    match rustix::net::connect(&fd, &addr) {
        Ok(()) | Err(rustix::io::Errno::INPROGRESS) | Err(rustix::io::Errno::AGAIN) => {}
        Err(e) => {
            let e = io::Error::from(e);
            return Err(connect_error::unix(path, e).into());
        }
    }
    Ok(Connecting { fd, unix: true, peer: path.display().to_string() })
}

/// Every connection attempt for `target`: one per resolved address (a Unix socket has one).
pub(crate) fn attempts(target: &Target) -> Result<Vec<Attempt>, Error> {
    Ok(match target.socket_path() {
        Some(path) => vec![Attempt::Unix(path)],
        None => resolve(target)?.into_iter().map(Attempt::Tcp).collect(),
    })
}

#[derive(Debug, Clone)]
pub(crate) enum Attempt {
    Tcp(SocketAddr),
    Unix(std::path::PathBuf),
}

impl Attempt {
    pub(crate) fn start(&self) -> Result<Connecting, Error> {
        match self {
            Attempt::Tcp(a) => start_tcp(*a),
            Attempt::Unix(p) => start_unix(p),
        }
    }
}
