//! The blocking client's runtime: std's non-blocking sockets, waited on in `poll(2)` or in the
//! connection's wait callback, and the minimal executor that runs the connection's async code
//! on the calling thread.
//!
//! Waiting happens inside the socket's `ready` future itself (it blocks the thread, or calls the
//! callback, until the socket is ready or the deadline passes), so the executor only has to
//! poll the future again when it yields (the spin loop does) — nothing else can be pending.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use pgsans::config::Target;
use pgsans::{Error, Interest};
use pgsans_client::io::TryIo;

use crate::socket::{attempts, poll_fd, Socket};
use crate::wait::{Wait, WaitRequest};

/// std's sockets and `poll(2)` (or a wait callback), as a [`pgsans_client::Runtime`]. Its
/// futures block the thread and run on [`block_on`].
#[derive(Debug, Clone, Copy)]
pub struct Std;

thread_local! {
    /// The wait callback for the next connect on this thread: `Connection::connect_with_wait`
    /// puts it here, the runtime's connect takes it into the socket it opens.
    static NEXT_WAITER: RefCell<Option<Box<dyn Wait>>> = const { RefCell::new(None) };
}

/// Runs `connect` with `waiter` as the wait callback of the socket it opens (and of the
/// connect itself); gives the callback back if no socket took it.
pub(crate) fn with_waiter<T>(waiter: Option<Box<dyn Wait>>, connect: impl FnOnce() -> T) -> (T, Option<Box<dyn Wait>>) {
    NEXT_WAITER.with(|w| *w.borrow_mut() = waiter);
    let out = connect();
    (out, NEXT_WAITER.with(|w| w.borrow_mut().take()))
}

/// Waits for `interest` on `fd`: through the callback if there is one, else in `poll(2)`.
/// `Ok(false)`: the deadline passed.
fn wait_for(
    waiter: &mut Option<Box<dyn Wait>>,
    fd: BorrowedFd<'_>,
    interest: Interest,
    deadline: Option<Instant>,
) -> io::Result<bool> {
    if deadline.is_some_and(|d| Instant::now() >= d) {
        return Ok(false);
    }
    let r = match waiter {
        Some(w) => w.wait(WaitRequest { fd, interest, deadline }).map_err(Error::from),
        None => poll_fd(fd, interest, deadline),
    };
    match r {
        Ok(()) => Ok(true),
        Err(Error::Timeout) => Ok(false),
        Err(Error::Io(e)) => Err(io::Error::new(e.kind(), e.to_string())),
        Err(e) => Err(io::Error::other(e.to_string())),
    }
}

/// A connected non-blocking socket and the wait callback that waits on it, if any.
pub struct StdSocket {
    socket: Socket,
    waiter: Option<Box<dyn Wait>>,
    /// The descriptor is blocking (no wait callback): reads may wait in `recv` itself.
    blocking: bool,
}

impl std::fmt::Debug for StdSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdSocket")
            .field("socket", &self.socket)
            .field("wait_callback", &self.waiter.is_some())
            .finish()
    }
}

impl StdSocket {
    /// Sets (or removes) the wait callback.
    pub fn set_wait_callback(&mut self, waiter: Option<Box<dyn Wait>>) {
        self.waiter = waiter;
        self.set_mode();
    }

    /// A callback sees a non-blocking descriptor (it may read or register it as it likes);
    /// without one, the descriptor is blocking so that a read can wait in `recv` itself. A
    /// failure to switch only costs that shortcut.
    fn set_mode(&mut self) {
        let blocking = self.waiter.is_none();
        self.blocking = self.socket.set_blocking(blocking).is_ok() && blocking;
    }

    /// Whether a wait callback waits for this socket.
    pub fn has_wait_callback(&self) -> bool {
        self.waiter.is_some()
    }
}

impl AsFd for StdSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl TryIo for StdSocket {
    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.try_read(buf)
    }
    fn try_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.socket.try_write(buf)
    }
}

impl pgsans_client::Socket for StdSocket {
    /// Blocks (in `poll(2)` or the callback) until ready or the deadline: see the module docs.
    /// Never `Pending`.
    fn poll_ready(
        &mut self,
        _: &mut Context<'_>,
        interest: Interest,
        deadline: Option<Instant>,
    ) -> Poll<io::Result<bool>> {
        Poll::Ready(wait_for(&mut self.waiter, self.socket.as_fd(), interest, deadline))
    }

    /// Waits belong to the callback's scheduler when there is one: never spin then.
    fn may_spin(&self) -> bool {
        self.waiter.is_none()
    }

    fn shutdown(&mut self) {
        self.socket.shutdown();
    }

    /// With no callback and no deadline, the blocking client waits in the read itself (the
    /// descriptor is then blocking; every other read and write passes `MSG_DONTWAIT`): one
    /// `recv` per answer instead of `poll` and `recv`.
    fn read_blocking(&mut self, buf: &mut [u8], deadline: Option<Instant>) -> Option<io::Result<usize>> {
        (self.blocking && self.waiter.is_none() && deadline.is_none()).then(|| self.socket.read_blocking(buf))
    }
}

impl pgsans_client::Runtime for Std {
    type Socket = StdSocket;

    /// Every address of `target` in turn: a non-blocking connect, waited for like any other
    /// wait (in `poll(2)` or the callback). DNS resolution blocks, as in libpq without
    /// `hostaddr`.
    async fn connect(target: &Target, deadline: Option<Instant>) -> io::Result<StdSocket> {
        let mut waiter = NEXT_WAITER.with(|w| w.borrow_mut().take());
        let result = (|| {
            let mut last = io::Error::new(io::ErrorKind::NotFound, "no address to connect to");
            for attempt in attempts(target).map_err(to_io)? {
                let connecting = match attempt.start() {
                    Ok(c) => c,
                    Err(e) => {
                        last = to_io(e);
                        continue;
                    }
                };
                if !wait_for(&mut waiter, connecting.fd.as_fd(), Interest::Write, deadline)? {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                match connecting.finish() {
                    Ok(socket) => return Ok(socket),
                    Err(e) => last = to_io(e),
                }
            }
            Err(last)
        })();
        match result {
            Ok(socket) => {
                let mut socket = StdSocket { socket, waiter, blocking: false };
                socket.set_mode();
                Ok(socket)
            }
            Err(e) => {
                NEXT_WAITER.with(|w| *w.borrow_mut() = waiter);
                Err(e)
            }
        }
    }

    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> + Send {
        sleep_until(deadline)
    }
}

thread_local! {
    /// The earliest deadline a sleeping future polled by [`block_on`] on this thread waits
    /// for: `block_on` parks until then (or until woken).
    static NEXT_TIMER: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

/// [`Std`]'s timer: ready once `deadline` has passed; until then it tells [`block_on`] when to
/// poll again, and `block_on` parks the thread until that time (or until something wakes it).
fn sleep_until(deadline: Instant) -> impl Future<Output = ()> + Send {
    std::future::poll_fn(move |_| {
        if Instant::now() >= deadline {
            return Poll::Ready(());
        }
        NEXT_TIMER.with(|t| t.set(Some(t.get().map_or(deadline, |d| d.min(deadline)))));
        Poll::Pending
    })
}

fn to_io(e: Error) -> io::Error {
    match e {
        Error::Io(e) => io::Error::new(e.kind(), e.to_string()),
        other => io::Error::other(other.to_string()),
    }
}

/// Whether the future was woken, and the thread to unpark when it is (from another thread:
/// a pooled connection given back, say).
struct Woken(AtomicBool, std::thread::Thread);

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
        self.1.unpark();
    }
}

/// Runs a future of the blocking client to completion on this thread. Its waits block inside
/// the sockets' `ready`; a future that yields (the spin loop) is polled again at once.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    thread_local! {
        // One waker per thread, made once: a blocking call per streamed row stays cheap.
        static WAKER: (Arc<Woken>, Waker) = new_waker();
    }
    fn new_waker() -> (Arc<Woken>, Waker) {
        let woken = Arc::new(Woken(AtomicBool::new(false), std::thread::current()));
        (woken.clone(), Waker::from(woken))
    }
    fn run<F: Future>(fut: F, woken: &Woken, waker: &Waker) -> F::Output {
        let mut cx = Context::from_waker(waker);
        let mut fut = pin!(fut);
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
            let timer = NEXT_TIMER.with(std::cell::Cell::take);
            if !woken.0.swap(false, Ordering::Acquire) {
                // Pending without having woken itself: waiting for another thread (a pool's
                // connection) or for a timer.
                match timer {
                    Some(at) => std::thread::park_timeout(at.saturating_duration_since(Instant::now())),
                    None => std::thread::park(),
                }
            }
        }
    }
    // Borrowed, not cloned (no atomic increments per call); a fresh one while the thread's
    // locals are being destroyed (a connection dropped by another thread-local's destructor).
    let mut slot = Some(fut);
    // The slot is full until one of the two runs takes it: these cannot fail.
    #[allow(clippy::expect_used)]
    if let Ok(out) = WAKER.try_with(|(woken, waker)| run(slot.take().expect("not yet run"), woken, waker)) {
        return out;
    }
    let (woken, waker) = new_waker();
    #[allow(clippy::expect_used)]
    let fut = slot.take().expect("try_with did not run it");
    run(fut, &woken, &waker)
}
