//! psycopg2's asynchronous connection: you own the event loop. The engine and the client's one
//! driver over a socket that never waits: submit a request, then `poll()`.

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use pgsans::config::{ConnectPlan, HostAttempt, NextAttempt, Target};
use pgsans::session::Command;
use pgsans::{Config, Error, Interest, Mode, Request, RequestId, Response, SessionChange, SimpleBatch, UsageError};
use pgsans_client::io::TryIo;
use pgsans_client::Driver;

use crate::socket::{attempts, ready_now, Attempt, Connecting, Socket};

/// What [`PollingConnection::poll`] answers: psycopg2's `POLL_OK`, `POLL_READ`, `POLL_WRITE`,
/// and psycopg 3's read-or-write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// The current operation is finished (or, idle, nothing to do).
    Ok,
    /// Wait until the socket is readable, then poll again.
    Read,
    /// Wait until the socket is writable, then poll again.
    Write,
    /// Wait until it is readable or writable: a request is still being sent while results
    /// come back, and waiting for only one could deadlock.
    ReadWrite,
}

impl From<Interest> for Poll {
    fn from(i: Interest) -> Poll {
        match i {
            Interest::Read => Poll::Read,
            Interest::Write => Poll::Write,
            Interest::ReadWrite => Poll::ReadWrite,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Startup,
    Simple,
    Extended,
    Close,
    /// Idle: reading notifications as they come.
    Listen,
    /// A COPY FROM STDIN: `Ok` when the server waits for data and the send buffer has room.
    CopyIn,
    /// CopyDone / CopyFail sent: `Ok` when the server has answered.
    CopyInEnding,
    /// A COPY TO STDOUT: `Ok` when a chunk is ready or the copy has ended.
    CopyOut,
    /// A replication stream: `Ok` once it has started (then read with `read_message`) or
    /// ended.
    Replication,
}

/// The socket of a polling connection: it never waits (the caller's event loop does); it only
/// notes what the driver would wait for, which [`PollingConnection::poll`] answers.
#[derive(Debug)]
pub struct PollingSocket {
    socket: Socket,
    wanted: Option<Interest>,
}

impl TryIo for PollingSocket {
    fn try_read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.socket.try_read(buf)
    }
    fn try_write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.socket.try_write(buf)
    }
}

impl AsFd for PollingSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl pgsans_client::Socket for PollingSocket {
    fn poll_ready(
        &mut self,
        _: &mut Context<'_>,
        interest: Interest,
        deadline: Option<Instant>,
    ) -> std::task::Poll<std::io::Result<bool>> {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return std::task::Poll::Ready(Ok(false));
        }
        self.wanted = Some(interest);
        std::task::Poll::Pending
    }

    /// The caller's loop decides when to come back: never spin.
    fn may_spin(&self) -> bool {
        false
    }

    fn shutdown(&mut self) {
        self.socket.shutdown();
    }
}

/// The runtime of the polling connection: its sockets never wait. It connects only through
/// [`PollingConnection`], which makes its own non-blocking connects.
#[derive(Debug, Clone, Copy)]
pub struct Polling;

impl pgsans_client::Runtime for Polling {
    type Socket = PollingSocket;

    async fn connect(_: &Target, _: Option<Instant>) -> std::io::Result<PollingSocket> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "a polling connection connects with PollingConnection::connect_start",
        ))
    }

    /// Nothing here sleeps (the caller's event loop waits): ready once `deadline` has passed,
    /// asking to be polled again until then.
    fn sleep_until(deadline: Instant) -> impl std::future::Future<Output = ()> + Send {
        std::future::poll_fn(move |cx| {
            if Instant::now() >= deadline {
                return std::task::Poll::Ready(());
            }
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        })
    }
}

enum State {
    /// A non-blocking connect in progress, the host's addresses still to try, and the engine
    /// that will talk over it.
    Connecting {
        connecting: Connecting,
        address: Attempt,
        rest: VecDeque<Attempt>,
        engine: Box<pgsans::Connection>,
    },
    Connected(Box<Driver<Polling>>),
    /// The last attempt failed and none is left: its engine, for the getters.
    Failed(Box<pgsans::Connection>),
}

/// A waker that notes it was woken: the driver wakes its own task when it yields, which the
/// polling connection takes as "poll again at once".
struct Flag(AtomicBool);

impl std::task::Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

/// A connection driven by your own event loop, like psycopg2's `async_=True` connections.
///
/// [`connect_start`](Self::connect_start) returns at once with the socket connecting. From then
/// on, call [`poll`](Self::poll) whenever the socket is ready for what the previous `poll`
/// asked: it does all the non-blocking I/O it can and answers
///
/// * [`Poll::Ok`]: the current operation is finished (for a query, take its result with
///   [`take_result`](Self::take_result));
/// * [`Poll::Read`] / [`Poll::Write`]: wait until the socket ([`AsRawFd`], psycopg2's
///   `fileno()`) is readable / writable, then poll again;
/// * [`Poll::ReadWrite`]: wait for either (a long query is still being sent while results come
///   back; waiting for only one could deadlock);
///
/// or a typed error. [`execute`](Self::execute) starts a query without waiting; starting a
/// second one while one runs is a misuse error. Polling an idle connection reads whatever
/// arrived and collects notifications (psycopg2's idle `poll()`).
///
/// Every byte moves through the client's one [`Driver`], over a socket that never waits.
///
/// Like psycopg2's asynchronous connections it is always in autocommit mode: the
/// transaction-control methods of [`Connection`](crate::Connection) (`commit`, `rollback`,
/// `set_session`, `tpc_*`, `reset`, transaction scopes) do not exist on this type — a compile
/// error rather than psycopg2's run-time `ProgrammingError`. Send `BEGIN` / `COMMIT` as SQL.
///
/// ```no_run
/// use pgsans_std::{Poll, PollingConnection};
///
/// let mut conn = PollingConnection::connect_start("host=127.0.0.1 user=app")?;
/// // A minimal loop: block in poll(2) for what poll() asks. Real code registers
/// // `conn.as_raw_fd()` with mio, polling, epoll… next to its other sockets.
/// fn drive(conn: &mut PollingConnection) -> Result<(), pgsans::Error> {
///     loop {
///         match conn.poll()? {
///             Poll::Ok => return Ok(()),
///             wanted => conn.wait_blocking(wanted)?,
///         }
///     }
/// }
/// drive(&mut conn)?;
/// conn.execute("SELECT 42")?;
/// assert!(conn.is_executing());
/// drive(&mut conn)?;
/// let batch = conn.take_result().unwrap()?;
/// assert_eq!(batch.results[0].rows()[0].text(0).unwrap().as_deref(), Some("42"));
/// # Ok::<(), pgsans::Error>(())
/// ```
pub struct PollingConnection {
    plan: ConnectPlan,
    /// The host attempt being made: its configuration (libpq's second attempt changes
    /// `sslmode`) and host.
    config: Box<Config>,
    host: HostAttempt,
    state: State,
    /// The address the last connect reached (a second attempt goes there again).
    reached: Option<Attempt>,
    closed: bool,
    /// The request in flight, if any.
    pending: Option<(Kind, Option<RequestId>)>,
    result: Option<Result<SimpleBatch, Error>>,
    query_result: Option<Result<pgsans::QueryResult, Error>>,
    copy_result: Option<Result<pgsans::CopyResult, Error>>,
    replication_end: Option<Result<pgsans::replication::ReplicationEnd, Error>>,
    last_error: Option<Error>,
    flag: Arc<Flag>,
    waker: Waker,
}

impl std::fmt::Debug for PollingConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollingConnection")
            .field("engine", self.engine())
            .field("executing", &self.is_executing())
            .finish_non_exhaustive()
    }
}

/// What to do once a request's condition holds.
enum Done {
    /// The request's response, for `take_*`.
    Response(Result<Response, Error>),
    /// Ready for the caller, the request still running (COPY).
    CallerTurn,
    Finished,
}

impl PollingConnection {
    /// Starts connecting and returns at once (after resolving host names, which blocks as in
    /// libpq unless `hostaddr` is given). The first [`poll`](Self::poll) answers
    /// [`Poll::Write`] while the TCP connect is in progress.
    pub fn connect_start(conninfo: &str) -> Result<PollingConnection, Error> {
        Self::connect_start_with(&pgsans_client::load(conninfo)?)
    }

    /// [`connect_start`](Self::connect_start) with a ready configuration. Hosts are tried as
    /// libpq tries them ([`ConnectPlan`], as every connection does): on to the next address
    /// when one cannot be reached, to the next host when one is unreachable or not the kind
    /// `target_session_attrs` asks for; a server that refuses the session ends the attempt.
    pub fn connect_start_with(config: &Config) -> Result<PollingConnection, Error> {
        // The files it names (`.pgpass`, certificates) are read now, at each connect.
        let config = &pgsans_client::with_files(config)?;
        let mut seed = [0u8; 8];
        getrandom::getrandom(&mut seed).map_err(|e| Error::from(std::io::Error::other(e.to_string())))?;
        let mut plan = ConnectPlan::new(config, u64::from_ne_bytes(seed))?;
        let mut failed = None;
        loop {
            let (config, host) = match plan.next(failed.take()) {
                NextAttempt::Try { config, host, .. } => (config, host),
                NextAttempt::GiveUp(e) => return Err(e),
            };
            // Until a connect can at least be started (an address that resolves).
            match start(&config, &host, None) {
                Ok(state) => {
                    let flag = Arc::new(Flag(AtomicBool::new(false)));
                    return Ok(PollingConnection {
                        plan,
                        config,
                        host,
                        state,
                        reached: None,
                        closed: false,
                        pending: Some((Kind::Startup, None)),
                        result: None,
                        query_result: None,
                        copy_result: None,
                        replication_end: None,
                        last_error: None,
                        waker: Waker::from(flag.clone()),
                        flag,
                    });
                }
                Err(e) => failed = Some((e, false)),
            }
        }
    }

    /// The attempt on the current host failed with `e` (TLS in use or not): the plan's next
    /// step — libpq's second attempt on the host, the next host — or `e`.
    fn next_attempt(&mut self, mut e: Error, mut tls_used: bool) -> Result<(), Error> {
        loop {
            let (config, host, second) = match self.plan.next(Some((e, tls_used))) {
                NextAttempt::Try { config, host, second_ssl } => (config, host, second_ssl),
                NextAttempt::GiveUp(e) => return Err(e),
            };
            let retry = if second { self.reached.clone() } else { None };
            match start(&config, &host, retry) {
                Ok(state) => {
                    self.config = config;
                    self.host = host;
                    self.state = state;
                    self.pending = Some((Kind::Startup, None));
                    return Ok(());
                }
                Err(next) => (e, tls_used) = (next, false),
            }
        }
    }

    /// Performs the I/O possible now and says what to wait for; see the type's documentation.
    pub fn poll(&mut self) -> Result<Poll, Error> {
        if let Some(e) = &self.last_error {
            return Err(e.clone());
        }
        let r = self.poll_inner();
        if let Err(e) = &r {
            if e.is_fatal() {
                self.last_error = Some(e.clone());
            }
        }
        r
    }

    fn poll_inner(&mut self) -> Result<Poll, Error> {
        loop {
            if let State::Connecting { connecting, .. } = &self.state {
                if !ready_now(connecting.fd.as_fd(), Interest::Write)? {
                    return Ok(Poll::Write);
                }
                if let Err(e) = self.finish_connect() {
                    self.next_attempt(e, false)?;
                }
                continue;
            }
            match self.poll_driver() {
                Ok(p) => return Ok(p),
                Err(e) if matches!(self.pending, Some((Kind::Startup, _))) => {
                    let tls_used = self.engine().ssl_in_use();
                    self.next_attempt(e, tls_used)?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The TCP connect finished: a driver over the socket; or, when it failed, the next address
    /// of the host (the error when there is none).
    fn finish_connect(&mut self) -> Result<(), Error> {
        // Every path below sets the state again; an engine that never connects stands in
        // meanwhile (making one does no I/O).
        let stand_in = State::Failed(Box::new(new_engine(&self.config, &self.host)?));
        let State::Connecting { connecting, address, mut rest, engine } = std::mem::replace(&mut self.state, stand_in)
        else {
            return Ok(());
        };
        match connecting.finish() {
            Ok(socket) => {
                let socket = PollingSocket { socket, wanted: None };
                let driver: Driver<Polling> = Driver::new(*engine, socket, self.host.target.clone(), Duration::ZERO);
                let options = self.config.socket_options();
                let set = options.map_err(Error::from).and_then(|options| {
                    pgsans_client::set_socket_options(
                        driver.socket().as_fd(),
                        self.host.target.socket_path().is_some(),
                        &options,
                    )
                });
                self.state = State::Connected(Box::new(driver));
                self.reached = Some(address);
                set
            }
            Err(e) => {
                while let Some(address) = rest.pop_front() {
                    if let Ok(connecting) = address.start() {
                        self.state = State::Connecting { connecting, address, rest, engine };
                        return Ok(());
                    }
                }
                self.state = State::Failed(engine);
                Err(e)
            }
        }
    }

    /// Runs the driver until the pending request's condition holds, or until it would wait.
    fn poll_driver(&mut self) -> Result<Poll, Error> {
        let State::Connected(driver) = &mut self.state else {
            return Err(Error::Internal("the polling connection is not connected".into()));
        };
        if self.closed && self.pending.is_none() {
            return Ok(Poll::Ok);
        }
        if self.pending.is_none() {
            // Idle: read what arrives (notifications, notices) without waiting.
            let id = driver.engine_mut().submit(Request::wait_notifications())?;
            self.pending = Some((Kind::Listen, Some(id)));
        }
        let Some((kind, id)) = self.pending else { unreachable!("set above") };
        let mut cx = Context::from_waker(&self.waker);
        let done = loop {
            self.flag.0.store(false, Ordering::Release);
            driver.socket_mut().wanted = None;
            let polled = driver.poll_until(&mut cx, None, |e| match (kind, id) {
                (Kind::Startup, _) => e.is_ready().then_some(Ok(Done::Finished)),
                (Kind::Close, _) => e.transmit().is_empty().then_some(Ok(Done::Finished)),
                (_, None) => Some(Ok(Done::Finished)),
                (_, Some(id)) => {
                    if let Some(r) = e.take_response(id) {
                        return Some(Ok(Done::Response(r)));
                    }
                    let caller_turn = match kind {
                        Kind::CopyIn => e.input_format(id).is_some() && e.transmit().len() < pgsans_client::COPY_BUFFER,
                        Kind::CopyOut => e.data_ready(id),
                        Kind::Replication => e.replication_started(id) || e.data_ready(id),
                        _ => false,
                    };
                    caller_turn.then_some(Ok(Done::CallerTurn))
                }
            });
            match polled {
                std::task::Poll::Ready(r) => break r?,
                // The driver yielded to its executor: poll again at once.
                std::task::Poll::Pending if self.flag.0.load(Ordering::Acquire) => continue,
                std::task::Poll::Pending => {
                    let wanted = driver.socket_mut().wanted.take();
                    return match (kind, wanted) {
                        // Idle and nothing has arrived: nothing to wait for on the caller's behalf.
                        (Kind::Listen, _) => Ok(Poll::Ok),
                        (_, Some(interest)) => Ok(interest.into()),
                        (_, None) => Err(Error::Internal("the polling connection cannot make progress".into())),
                    };
                }
            }
        };
        match done {
            Done::CallerTurn => {
                if kind == Kind::CopyIn {
                    // Send what can go now and read any early answer (an error on some line)
                    // without waiting; the caller may give more data.
                    driver.write_now()?;
                    driver.read_now()?;
                }
                return Ok(Poll::Ok);
            }
            Done::Response(r) => match kind {
                Kind::Simple => self.result = Some(r.and_then(Response::into_batch)),
                Kind::Extended => self.query_result = Some(r.and_then(Response::into_query)),
                Kind::CopyIn | Kind::CopyInEnding | Kind::CopyOut => {
                    self.copy_result = Some(r.and_then(Response::into_copy))
                }
                Kind::Replication => self.replication_end = Some(r.and_then(Response::into_replication_end)),
                // The notifications stay queued in the engine.
                _ => drop(r?),
            },
            Done::Finished => match kind {
                Kind::Startup => {
                    // psycopg2: asynchronous connections are always in autocommit mode (a
                    // setting only stored: answered at once).
                    let autocommit = Command::SetSession(SessionChange::new().autocommit(true));
                    let engine = driver.engine_mut();
                    let id = engine.submit(Request::command(autocommit))?;
                    engine.take_response(id).ok_or_else(|| Error::Internal("autocommit was not stored".into()))??;
                }
                Kind::Close => {
                    pgsans_client::Socket::shutdown(driver.socket_mut());
                    self.closed = true;
                }
                _ => {}
            },
        }
        self.pending = None;
        Ok(Poll::Ok)
    }

    fn driver(&mut self) -> Result<&mut Driver<Polling>, Error> {
        match &mut self.state {
            State::Connected(d) if !matches!(self.pending, Some((Kind::Startup, _))) => Ok(d),
            _ => Err(UsageError::InvalidState("asynchronous connection attempt underway".into()).into()),
        }
    }

    /// Blocks in `poll(2)` until the socket is ready for `wanted` (for simple programs and
    /// tests; an event loop waits on [`AsRawFd::as_raw_fd`] instead).
    pub fn wait_blocking(&self, wanted: Poll) -> Result<(), Error> {
        let interest = match wanted {
            Poll::Ok => return Ok(()),
            Poll::Read => Interest::Read,
            Poll::Write => Interest::Write,
            Poll::ReadWrite => Interest::ReadWrite,
        };
        crate::socket::poll_fd(self.as_fd(), interest, None)
    }

    fn start(&mut self, kind: Kind, request: Request) -> Result<(), Error> {
        if let Some(e) = &self.last_error {
            return Err(e.clone());
        }
        let pending = self.pending;
        let driver = self.driver()?;
        match pending {
            Some((Kind::Listen, Some(id))) => driver.engine_mut().abandon(id),
            Some(_) => {
                return Err(UsageError::InvalidState("a query is already executing on this connection".into()).into())
            }
            None => {}
        }
        self.pending = None;
        let id = self.driver()?.engine_mut().submit(request)?;
        self.pending = Some((kind, Some(id)));
        Ok(())
    }

    /// Starts a simple query without waiting for it; then [`poll`](Self::poll) until
    /// [`Poll::Ok`] and [`take_result`](Self::take_result). A misuse error while connecting or
    /// while another query runs.
    pub fn execute(&mut self, sql: &str) -> Result<(), Error> {
        self.result = None;
        self.start(Kind::Simple, Request::simple(sql))
    }

    /// Starts a query with parameters (`$1`, `$2` …) without waiting; then [`poll`](Self::poll)
    /// until [`Poll::Ok`] and [`take_query_result`](Self::take_query_result). The values are
    /// encoded at once, so they need not outlive this call; each is declared as its Rust type
    /// (strings as text, for the server to convert). Results come in binary for the types
    /// pgsans decodes, as on the other connections. Misuse as for [`execute`](Self::execute).
    pub fn execute_params(&mut self, sql: &str, params: pgsans::Params<'_>) -> Result<(), Error> {
        self.query_result = None;
        let request = Request::query(sql, params, Mode::Collect)?;
        self.start(Kind::Extended, request)
    }

    /// Starts `COPY … FROM STDIN` without waiting. `poll` answers [`Poll::Ok`] when the server
    /// waits for data and the send buffer has room: give it data with
    /// [`copy_put`](Self::copy_put) and poll again; end with [`copy_end`](Self::copy_end)
    /// (or [`copy_abort`](Self::copy_abort)), poll until `Ok`, and take the row count with
    /// [`take_copy_result`](Self::take_copy_result) — which is also where a server error
    /// mid-copy (bad data) shows up, at any `Ok`.
    pub fn copy_in_start(&mut self, sql: &str) -> Result<(), Error> {
        self.copy_result = None;
        self.start(Kind::CopyIn, Request::copy_in(sql))
    }

    /// Queues COPY data (any split; rows may span calls). Poll before the next call: it sends
    /// the data and answers `Ok` once there is room again.
    pub fn copy_put(&mut self, data: &[u8]) -> Result<(), Error> {
        let id = self.copy_id(Kind::CopyIn)?;
        self.driver()?.engine_mut().send_data(id, data)
    }

    /// Ends the COPY data (CopyDone); poll until `Ok`, then
    /// [`take_copy_result`](Self::take_copy_result).
    pub fn copy_end(&mut self) -> Result<(), Error> {
        let id = self.copy_id(Kind::CopyIn)?;
        self.driver()?.engine_mut().finish_data(id)?;
        self.pending = Some((Kind::CopyInEnding, Some(id)));
        Ok(())
    }

    /// Aborts the COPY (CopyFail with `message`); poll until `Ok`: the result is then the
    /// server's 57014 error.
    pub fn copy_abort(&mut self, message: &str) -> Result<(), Error> {
        let id = self.copy_id(Kind::CopyIn)?;
        self.driver()?.engine_mut().fail_data(id, message)?;
        self.pending = Some((Kind::CopyInEnding, Some(id)));
        Ok(())
    }

    /// Starts `COPY … TO STDOUT` without waiting. `poll` answers [`Poll::Ok`] when data is
    /// ready — take it with [`copy_get`](Self::copy_get) until `None`, then poll again — or
    /// when the copy has ended ([`take_copy_result`](Self::take_copy_result) is `Some`).
    pub fn copy_out_start(&mut self, sql: &str) -> Result<(), Error> {
        self.copy_result = None;
        self.start(Kind::CopyOut, Request::copy_out(sql))
    }

    /// The next chunk of COPY OUT data already received, borrowed until the next call; `None`
    /// when nothing more is received yet (poll) or the copy has ended.
    pub fn copy_get(&mut self) -> Result<Option<&[u8]>, Error> {
        let Some((Kind::CopyOut, Some(id))) = self.pending else { return Ok(None) };
        let engine = self.driver()?.engine_mut();
        engine.poll()?;
        Ok(engine.take_data(id))
    }

    /// The outcome of the last COPY once it has ended: the row count, or the error.
    pub fn take_copy_result(&mut self) -> Option<Result<pgsans::CopyResult, Error>> {
        self.copy_result.take()
    }

    fn copy_id(&self, kind: Kind) -> Result<RequestId, Error> {
        match self.pending {
            Some((k, Some(id))) if k == kind => Ok(id),
            _ => Err(UsageError::InvalidState("no COPY FROM STDIN is waiting for data".into()).into()),
        }
    }

    /// psycopg2's asynchronous `start_replication_expert`: starts the replication stream of a
    /// `START_REPLICATION …` command (on a `replication=database` or `true` connection)
    /// without waiting. [`poll`](Self::poll) until [`Poll::Ok`]: the stream has started (or
    /// failed: [`take_replication_end`](Self::take_replication_end) is `Some`). Then read it
    /// with [`read_message`](Self::read_message), waiting for the socket to be readable when it
    /// returns `None`, and report progress with [`send_feedback`](Self::send_feedback) — at
    /// least every `wal_sender_timeout` / 2; keepalives that ask for a reply are answered by
    /// the engine.
    pub fn start_replication_expert(&mut self, sql: &str) -> Result<(), Error> {
        self.replication_end = None;
        self.start(Kind::Replication, Request::start_replication(sql))
    }

    /// psycopg2's `read_message`: the next message of the replication stream if one has
    /// arrived (reading the socket without waiting), borrowed until the next call; `None` when
    /// none has (wait for the socket to be readable) or the stream has ended
    /// ([`take_replication_end`](Self::take_replication_end)).
    pub fn read_message(&mut self) -> Result<Option<pgsans::replication::ReplicationMessage<'_>>, Error> {
        let Some((Kind::Replication, Some(id))) = self.pending else { return Ok(None) };
        let driver = self.driver()?;
        driver.write_now()?;
        driver.read_now()?;
        let engine = driver.engine_mut();
        if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            engine.set_current_time(now);
        }
        engine.poll()?;
        if !engine.data_ready(id) {
            if let Some(r) = engine.take_response(id) {
                self.pending = None;
                self.replication_end = Some(r.and_then(Response::into_replication_end));
            }
            return Ok(None);
        }
        let Some((Kind::Replication, Some(id))) = self.pending else { return Ok(None) };
        self.driver()?.engine_mut().take_replication(id)
    }

    /// psycopg2's `send_feedback`: records the positions (they never move back) and, with
    /// `force` or `reply`, sends them at once (without waiting: what the socket does not take
    /// goes with the next call).
    pub fn send_feedback(
        &mut self,
        status: pgsans::replication::StandbyStatus,
        reply: bool,
        force: bool,
    ) -> Result<(), Error> {
        let Some((Kind::Replication, Some(id))) = self.pending else {
            return Err(UsageError::InvalidState("no replication stream is running".into()).into());
        };
        let driver = self.driver()?;
        if !(force || reply) {
            return driver.engine_mut().record_standby_status(id, status);
        }
        if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            driver.engine_mut().set_current_time(now);
        }
        driver.engine_mut().send_standby_status(id, status, reply)?;
        driver.write_now()
    }

    /// Ends the replication stream (CopyDone); [`poll`](Self::poll) until [`Poll::Ok`], then
    /// [`take_replication_end`](Self::take_replication_end).
    pub fn stop_replication(&mut self) -> Result<(), Error> {
        let Some((Kind::Replication, Some(id))) = self.pending else {
            return Err(UsageError::InvalidState("no replication stream is running".into()).into());
        };
        self.driver()?.engine_mut().stop_replication(id)
    }

    /// How the last replication stream ended (or why it did not start), once it has.
    pub fn take_replication_end(&mut self) -> Option<Result<pgsans::replication::ReplicationEnd, Error>> {
        self.replication_end.take()
    }

    /// The result of the last [`execute_params`](Self::execute_params), once `poll` answered
    /// [`Poll::Ok`].
    pub fn take_query_result(&mut self) -> Option<Result<pgsans::QueryResult, Error>> {
        self.query_result.take()
    }

    /// psycopg2's `isexecuting()`: connecting, or a query was started and `poll` has not yet
    /// answered [`Poll::Ok`] for it.
    pub fn is_executing(&self) -> bool {
        matches!(self.state, State::Connecting { .. }) || matches!(self.pending, Some((k, _)) if k != Kind::Listen)
    }

    /// The result of the last query, once `poll` answered [`Poll::Ok`]: every statement's
    /// results, and the error of the failing statement if any.
    pub fn take_result(&mut self) -> Option<Result<SimpleBatch, Error>> {
        self.result.take()
    }

    /// Takes the notifications received so far.
    pub fn take_notifications(&mut self) -> Vec<pgsans::Notification> {
        self.engine_mut().take_notifications()
    }

    /// Takes the notices received so far.
    pub fn take_notices(&mut self) -> Vec<pgsans::Notice> {
        self.engine_mut().take_notices()
    }

    /// The engine, for its getters.
    pub fn engine(&self) -> &pgsans::Connection {
        match &self.state {
            State::Connecting { engine, .. } | State::Failed(engine) => engine,
            State::Connected(d) => d.engine(),
        }
    }

    fn engine_mut(&mut self) -> &mut pgsans::Connection {
        match &mut self.state {
            State::Connecting { engine, .. } | State::Failed(engine) => engine,
            State::Connected(d) => d.engine_mut(),
        }
    }

    /// A token that cancels the running query from any thread.
    pub fn cancel_token(&self) -> Result<crate::CancelToken, Error> {
        let key = self.engine().cancel_key()?;
        Ok(crate::CancelToken::from_parts(key, self.host.target.clone()))
    }

    /// Starts closing: queues Terminate; `poll` until [`Poll::Ok`]. Idempotent.
    pub fn close_start(&mut self) {
        if self.closed || matches!(self.pending, Some((Kind::Close, _))) {
            return;
        }
        let pending = self.pending.take();
        match &mut self.state {
            State::Connected(driver) => {
                if let Some((_, Some(id))) = pending {
                    driver.engine_mut().abandon(id);
                }
                driver.engine_mut().terminate();
                self.pending = Some((Kind::Close, None));
            }
            State::Connecting { .. } | State::Failed(_) => self.closed = true,
        }
    }
}

/// Starts connecting to `host` (`retry`: only that address, for a second attempt): the
/// connecting state, or the error when not even a connect could be started.
fn start(config: &Config, host: &HostAttempt, retry: Option<Attempt>) -> Result<State, Error> {
    let mut addresses: VecDeque<Attempt> = match retry {
        Some(a) => VecDeque::from([a]),
        None => attempts(&host.target)?.into(),
    };
    let engine = Box::new(new_engine(config, host)?);
    let mut last = Error::Internal("no address to connect to".into());
    while let Some(address) = addresses.pop_front() {
        match address.start() {
            Ok(connecting) => return Ok(State::Connecting { connecting, address, rest: addresses, engine }),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// An engine for one host attempt (TLS is set up for its name), with the time for certificates.
fn new_engine(config: &Config, attempt: &HostAttempt) -> Result<pgsans::Connection, Error> {
    let mut nonce = [0u8; 18];
    getrandom::getrandom(&mut nonce).map_err(|e| Error::from(std::io::Error::other(e.to_string())))?;
    let mut engine = pgsans::Connection::with_attempt(config, attempt, pgsans::ClientNonce::from_random_bytes(nonce))?;
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        engine.set_current_time(now);
    }
    Ok(engine)
}

impl AsFd for PollingConnection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.state {
            // A closed connection has no socket; a descriptor that is never ready stands in.
            _ if self.closed => CLOSED.as_fd(),
            State::Connecting { connecting, .. } => connecting.fd.as_fd(),
            State::Connected(d) => d.socket().as_fd(),
            State::Failed(_) => CLOSED.as_fd(),
        }
    }
}

impl AsRawFd for PollingConnection {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// Stands in for the socket of a closed polling connection.
// A system without /dev/null cannot run this crate's tests either; nothing else to stand in.
#[allow(clippy::expect_used)]
static CLOSED: std::sync::LazyLock<std::os::fd::OwnedFd> =
    std::sync::LazyLock::new(|| std::fs::File::open("/dev/null").expect("/dev/null").into());
