//! The driver: the one loop that owns an engine and its socket, moves bytes and waits until
//! what a caller waits for is there. Everything above it — the exclusive connection, row
//! streams, COPY, notifications, the polling connection, the shared client — asks it for one
//! thing: [`poll_until`](Driver::poll_until) the engine shows what they wait for.
//!
//! It is poll-based (a `Context` in, `Poll` out), so that it serves `async fn`s, the
//! `AsyncRead` / `AsyncWrite` of COPY and a psycopg2-style polling connection alike, on any
//! runtime ([`Runtime`]).

use std::future::Future;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use pgsans::config::{ConnectPlan, HostAttempt, NextAttempt, Target};
use pgsans::{ClientNonce, Config, Error, Interest};

use crate::io::{available_cpus, read_fresh, spin_limit, transfer, SpinWait, TryIo};
use crate::runtime::{connect_socket, Runtime, Socket};

/// While data keeps arriving a read never waits, so a long result would never let the executor
/// run anything else (smol and async-std have no cooperative budget, as Tokio has): after this
/// many transfers in a row without waiting, the driver yields once.
const YIELD_EVERY: u32 = 32;

/// An engine, its socket, and how the driver waits on it.
pub struct Driver<R: Runtime> {
    pub(crate) engine: pgsans::Connection,
    pub(crate) socket: R::Socket,
    /// Where it is connected: cancel requests go there.
    pub(crate) target: Target,
    /// The last transfer said a read would find nothing: wait before reading.
    read_would_block: bool,
    /// Transfers that made progress since the driver last let its executor run something else.
    unyielded: u32,
    /// Whether to spin for an answer before sleeping.
    pub(crate) spin: SpinWait,
    /// A spin in progress: when it gives up.
    spinning: Option<Instant>,
}

impl<R: Runtime> std::fmt::Debug for Driver<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").field("engine", &self.engine).field("target", &self.target).finish_non_exhaustive()
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).map_err(|e| Error::from(std::io::Error::other(e.to_string())))?;
    Ok(bytes)
}

impl<R: Runtime> Driver<R> {
    /// Connects as libpq does ([`ConnectPlan`]): hosts in order (or shuffled), each within
    /// `connect_timeout`, libpq's second `sslmode` attempt on a host, on to the next host when
    /// one cannot be reached or is the wrong kind; a server that refuses the session ends it.
    /// The files the configuration names (`.pgpass`, certificates, CRLs) are read now.
    pub async fn connect(config: &Config) -> Result<Self, Error> {
        let config = crate::load::with_files(config)?;
        let mut plan = ConnectPlan::new(&config, u64::from_ne_bytes(random_bytes()?))?;
        let mut failed = None;
        let mut deadline = None;
        for attempt in 1.. {
            let (config, host, second) = match plan.next(failed.take()) {
                NextAttempt::Try { config, host, second_ssl } => (config, host, second_ssl),
                NextAttempt::GiveUp(e) => return Err(e),
            };
            // A second attempt on the same host shares its connect_timeout.
            if !second {
                deadline = config.connect_timeout().map(|t| Instant::now() + t);
            }
            let trace = crate::trace::connect_attempt(&host.target.host, host.target.port, attempt);
            match Self::attempt(&config, &host, deadline).await {
                Ok(driver) => {
                    trace.connected(&driver.engine);
                    return Ok(driver);
                }
                Err(e) => {
                    trace.failed(&e.0);
                    failed = Some(e)
                }
            }
        }
        Err(Error::Internal("connection attempts ran out of numbers".into()))
    }

    /// One attempt on one host; on failure, the error and whether TLS was in use.
    async fn attempt(config: &Config, host: &HostAttempt, deadline: Option<Instant>) -> Result<Self, (Error, bool)> {
        let socket =
            connect_socket::<R>(&host.target, &config.socket_options().map_err(|e| (e.into(), false))?, deadline)
                .await
                .map_err(|e| (e, false))?;
        let nonce = random_bytes().map(ClientNonce::from_random_bytes).map_err(|e| (e, false))?;
        let mut engine = pgsans::Connection::with_attempt(config, host, nonce).map_err(|e| (e, false))?;
        if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            engine.set_current_time(now);
        }
        // No spinning while starting up: the server's answers (TLS handshake, SCRAM's key
        // derivation, forking a backend) take milliseconds, and spinning would take a core
        // from the server that computes them.
        let mut driver = Driver::new(engine, socket, host.target.clone(), Duration::ZERO);
        match driver.until(deadline, |e| e.is_ready().then_some(Ok(()))).await {
            Ok(()) => {
                driver.spin.set_limit(spin_limit(config, available_cpus()));
                Ok(driver)
            }
            Err(e) => Err((e, driver.engine.ssl_in_use())),
        }
    }

    /// A driver for an engine already talking over `socket`.
    pub fn new(engine: pgsans::Connection, socket: R::Socket, target: Target, spin_limit: Duration) -> Self {
        Driver {
            engine,
            socket,
            target,
            read_would_block: false,
            unyielded: 0,
            spin: SpinWait::new(spin_limit),
            spinning: None,
        }
    }

    /// The engine.
    pub fn engine(&self) -> &pgsans::Connection {
        &self.engine
    }

    /// The engine, to submit requests and take results.
    pub fn engine_mut(&mut self) -> &mut pgsans::Connection {
        &mut self.engine
    }

    /// The socket.
    pub fn socket(&self) -> &R::Socket {
        &self.socket
    }

    /// The socket, mutably (runtime-specific settings, such as a wait callback).
    pub fn socket_mut(&mut self) -> &mut R::Socket {
        &mut self.socket
    }

    /// Where the driver is connected.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Moves bytes and waits until `ready` finds what the caller waits for in the engine
    /// (`Some`), after every input the engine has processed. Errors of the engine (a broken
    /// connection) end the wait; `deadline` ends it with [`Error::Timeout`].
    pub fn poll_until<T>(
        &mut self,
        cx: &mut Context<'_>,
        deadline: Option<Instant>,
        mut ready: impl FnMut(&mut pgsans::Connection) -> Option<Result<T, Error>>,
    ) -> Poll<Result<T, Error>> {
        loop {
            let interest = match self.engine.poll() {
                Ok(i) => i,
                Err(e) => return Poll::Ready(Err(e)),
            };
            if let Some(r) = ready(&mut self.engine) {
                return Poll::Ready(r);
            }
            let Some(interest) = interest else {
                return Poll::Ready(Err(Error::Internal("waiting for something the engine will never do".into())));
            };
            ready!(self.poll_io(cx, interest, deadline))?;
        }
    }

    /// [`poll_until`](Self::poll_until) as a future.
    pub fn until<'d, T: 'd>(
        &'d mut self,
        deadline: Option<Instant>,
        mut ready: impl FnMut(&mut pgsans::Connection) -> Option<Result<T, Error>> + 'd,
    ) -> impl Future<Output = Result<T, Error>> + 'd {
        std::future::poll_fn(move |cx| self.poll_until(cx, deadline, &mut ready))
    }

    /// Moves bytes for `interest`; waits for the socket only if nothing moves. `Ready(Ok(()))`:
    /// something happened, poll the engine again.
    pub fn poll_io(
        &mut self,
        cx: &mut Context<'_>,
        interest: Interest,
        deadline: Option<Instant>,
    ) -> Poll<Result<(), Error>> {
        let after_send = interest == Interest::Read && self.read_would_block;
        if after_send && self.socket.may_spin() {
            match self.poll_spin(cx, deadline) {
                Poll::Ready(Ok(true)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(false)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        } else {
            self.spinning = None;
        }
        if !after_send {
            let t = transfer(&mut self.engine, &mut self.socket, interest)?;
            self.read_would_block = t.read_would_block;
            if t.progressed {
                self.unyielded += 1;
                if self.unyielded >= YIELD_EVERY {
                    self.unyielded = 0;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                return Poll::Ready(Ok(()));
            }
        }
        self.unyielded = 0;
        self.read_would_block = false;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // No more waiting; but what has arrived by now still counts (a zero timeout means
            // "what is there now"), even if the runtime has not noticed it yet.
            if matches!(interest, Interest::Read | Interest::ReadWrite)
                && read_fresh(&mut self.engine, &mut self.socket)?
            {
                return Poll::Ready(Ok(()));
            }
            return Poll::Ready(Err(Error::Timeout));
        }
        if interest == Interest::Read {
            if let Some(r) = self.socket.read_blocking(self.engine.recv_buf(), deadline) {
                return Poll::Ready(match r {
                    Ok(0) => {
                        self.engine.receive_eof();
                        Ok(())
                    }
                    Ok(n) => {
                        self.engine.recv_commit(n);
                        Ok(())
                    }
                    Err(e) if matches!(e.kind(), std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock) => {
                        Ok(())
                    }
                    Err(e) => {
                        let e = self.engine.transport_error(e.into());
                        self.socket.shutdown();
                        Err(e)
                    }
                });
            }
        }
        match self.socket.poll_ready(cx, interest, deadline) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(true)) => Poll::Ready(Ok(())),
            Poll::Ready(Ok(false)) => Poll::Ready(Err(Error::Timeout)),
            Poll::Ready(Err(e)) => {
                // A failing wait (a wait callback's error included) closes the connection.
                let e = self.engine.transport_error(e.into());
                self.socket.shutdown();
                Poll::Ready(Err(e))
            }
        }
    }

    /// A request was just sent: retry reading for a moment before sleeping (see
    /// [`Config::spin_wait`]), yielding to the runtime's other tasks and to other threads (the
    /// server may be waiting for this CPU) between tries, never past `deadline`. `true` if the
    /// answer began to arrive, `false` to go and wait.
    fn poll_spin(&mut self, cx: &mut Context<'_>, deadline: Option<Instant>) -> Poll<Result<bool, Error>> {
        let end = match self.spinning {
            Some(end) => end,
            None => {
                let Some(budget) = self.spin.budget() else { return Poll::Ready(Ok(false)) };
                let now = Instant::now();
                let end = deadline.map_or(now + budget, |d| d.min(now + budget));
                self.spinning = Some(end);
                // Yield first: the answer cannot be there yet.
                cx.waker().wake_by_ref();
                std::thread::yield_now();
                return Poll::Pending;
            }
        };
        if transfer(&mut self.engine, &mut self.socket, Interest::Read)?.progressed {
            self.spinning = None;
            self.spin.record(true);
            self.read_would_block = false;
            return Poll::Ready(Ok(true));
        }
        if Instant::now() < end {
            cx.waker().wake_by_ref();
            std::thread::yield_now();
            return Poll::Pending;
        }
        self.spinning = None;
        self.spin.record(false);
        Poll::Ready(Ok(false))
    }

    /// Writes what the socket takes now, without waiting.
    pub fn write_now(&mut self) -> Result<(), Error> {
        transfer(&mut self.engine, &mut self.socket, Interest::Write)?;
        Ok(())
    }

    /// Reads what has arrived, without waiting — asking the socket itself, even where the
    /// runtime has not noticed the data yet (a task that never waits never lets a
    /// current-thread runtime poll its reactor).
    pub fn read_now(&mut self) -> Result<(), Error> {
        read_fresh(&mut self.engine, &mut self.socket)?;
        Ok(())
    }

    /// Counts one step of work done without waiting (a write the socket took at once); every
    /// 32 of them, lets the executor run something else (`Pending`, woken at once).
    pub fn poll_yield(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.unyielded += 1;
        if self.unyielded >= YIELD_EVERY {
            self.unyielded = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(())
    }

    /// Sends Terminate and closes the socket once it is written.
    /// On a broken connection it only closes the socket.
    pub async fn close(&mut self) -> Result<(), Error> {
        self.engine.terminate();
        let r = std::future::poll_fn(|cx| {
            while !self.engine.transmit().is_empty() {
                ready!(self.poll_io(cx, Interest::Write, None))?;
            }
            Poll::Ready(Ok(()))
        })
        .await;
        self.socket.shutdown();
        r
    }
}

impl<R: Runtime> Drop for Driver<R> {
    fn drop(&mut self) {
        // Best effort, without blocking: tell the server we are leaving.
        if !self.engine.is_closed() {
            self.engine.terminate();
            let _ = self.socket.try_write(self.engine.transmit());
        }
        self.socket.shutdown();
    }
}
