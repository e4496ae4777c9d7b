//! psycopg2's asynchronous connection: you own the event loop. The engine plus a non-blocking
//! socket: submit a request, then `poll()`.

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use pgsans::config::{HostAttempt, Target};
use pgsans::session::Command;
use pgsans::{Config, Error, Interest, Mode, Request, RequestId, Response, SessionChange, SimpleBatch, UsageError};
use pgsans_client::io::transfer;

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
}

enum Io {
    Connecting(Connecting),
    Connected(Socket),
    Closed,
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
/// assert_eq!(batch.results[0].rows()[0].text(0), Some("42"));
/// # Ok::<(), pgsans::Error>(())
/// ```
pub struct PollingConnection {
    config: Config,
    engine: pgsans::Connection,
    io: Io,
    /// Addresses still to try if the current connect fails, with the host attempt (numbered)
    /// each belongs to.
    remaining: VecDeque<(usize, HostAttempt, Attempt)>,
    /// The host attempt being made, its address, and whether this is libpq's second
    /// (`sslmode` allow / prefer) attempt on it.
    host: usize,
    host_attempt: HostAttempt,
    address: Option<Attempt>,
    second_ssl: bool,
    target: Target,
    /// The request in flight, if any.
    pending: Option<(Kind, Option<RequestId>)>,
    result: Option<Result<SimpleBatch, Error>>,
    query_result: Option<Result<pgsans::QueryResult, Error>>,
    copy_result: Option<Result<pgsans::CopyResult, Error>>,
    last_error: Option<Error>,
}

impl std::fmt::Debug for PollingConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollingConnection")
            .field("engine", &self.engine)
            .field("executing", &self.is_executing())
            .finish_non_exhaustive()
    }
}

impl PollingConnection {
    /// Starts connecting and returns at once (after resolving host names, which blocks as in
    /// libpq unless `hostaddr` is given). The first [`poll`](Self::poll) answers
    /// [`Poll::Write`] while the TCP connect is in progress.
    pub fn connect_start(conninfo: &str) -> Result<PollingConnection, Error> {
        Self::connect_start_with(&Config::load(conninfo)?)
    }

    /// [`connect_start`](Self::connect_start) with a ready configuration. Hosts are tried as
    /// libpq tries them ([`Config::host_attempts`]): on to the next address when one cannot be
    /// reached, to the next host when the server is not the kind `target_session_attrs` asks
    /// for; a server that refuses the session ends the attempt.
    pub fn connect_start_with(config: &Config) -> Result<PollingConnection, Error> {
        let mut seed = [0u8; 8];
        getrandom::getrandom(&mut seed).map_err(|e| Error::from(std::io::Error::other(e.to_string())))?;
        let mut remaining = VecDeque::new();
        let mut last = None;
        for (i, host) in config.host_attempts(u64::from_ne_bytes(seed))?.into_iter().enumerate() {
            match attempts(&host.target) {
                Ok(list) => remaining.extend(list.into_iter().map(|a| (i, host.clone(), a))),
                Err(e) => last = Some(e),
            }
        }
        let Some((host, first, socket)) = remaining.pop_front() else {
            return Err(last.unwrap_or(Error::Config(pgsans::ConfigError::Unsupported("no host to connect to".into()))));
        };
        let engine = new_engine(config, &first)?;
        let mut conn = PollingConnection {
            config: config.clone(),
            engine,
            io: Io::Closed,
            remaining,
            host,
            host_attempt: first.clone(),
            address: None,
            second_ssl: false,
            target: first.target,
            pending: Some((Kind::Startup, None)),
            result: None,
            query_result: None,
            copy_result: None,
            last_error: None,
        };
        conn.start_attempt(socket)?;
        Ok(conn)
    }

    fn start_attempt(&mut self, mut attempt: Attempt) -> Result<(), Error> {
        loop {
            match attempt.start() {
                Ok(c) => {
                    self.address = Some(attempt);
                    self.io = Io::Connecting(c);
                    return Ok(());
                }
                Err(e) => match self.next_attempt(false)? {
                    Some(next) => attempt = next,
                    None => return Err(e),
                },
            }
        }
    }

    /// Moves to the next address (or, with `next_host`, the next host) with a fresh engine.
    fn next_attempt(&mut self, next_host: bool) -> Result<Option<Attempt>, Error> {
        while let Some((i, host, socket)) = self.remaining.pop_front() {
            if next_host && i == self.host {
                continue;
            }
            self.engine = new_engine(&self.config, &host)?;
            self.host = i;
            self.target = host.target.clone();
            self.host_attempt = host;
            self.second_ssl = false;
            return Ok(Some(socket));
        }
        Ok(None)
    }

    /// A failed startup goes on to the next address or host when libpq's would.
    fn connect_elsewhere(&mut self, e: Error) -> Result<Poll, Error> {
        if !matches!(self.pending, Some((Kind::Startup, _))) {
            return Err(e);
        }
        self.io = Io::Closed;
        let second = if self.second_ssl { None } else { self.config.second_ssl_attempt(&e, self.engine.ssl_in_use()) };
        if let (Some(second), Some(address)) = (second, self.address.clone()) {
            self.engine = new_engine(&second, &self.host_attempt)?;
            self.second_ssl = true;
            self.start_attempt(address)?;
            return Ok(Poll::Write);
        }
        if !e.tries_next_host() {
            return Err(e);
        }
        let next_host = matches!(e, Error::TargetSessionAttrs { .. });
        match self.next_attempt(next_host)? {
            Some(attempt) => {
                self.start_attempt(attempt).map_err(|_| e)?;
                Ok(Poll::Write)
            }
            None => Err(e),
        }
    }

    /// Performs the I/O possible now and says what to wait for; see the type's documentation.
    pub fn poll(&mut self) -> Result<Poll, Error> {
        if let Some(e) = &self.last_error {
            return Err(e.clone());
        }
        let r = self.poll_inner().or_else(|e| self.connect_elsewhere(e));
        if let Err(e) = &r {
            if e.is_fatal() {
                self.last_error = Some(e.clone());
            }
        }
        r
    }

    fn poll_inner(&mut self) -> Result<Poll, Error> {
        if let Io::Connecting(c) = &self.io {
            if !ready_now(c.fd.as_fd(), Interest::Write)? {
                return Ok(Poll::Write);
            }
            let Io::Connecting(c) = std::mem::replace(&mut self.io, Io::Closed) else { unreachable!() };
            match c.finish() {
                Ok(socket) => {
                    let options = self.config.socket_options()?;
                    pgsans_client::set_socket_options(socket.as_fd(), self.target.socket_path().is_some(), &options)?;
                    self.io = Io::Connected(socket)
                }
                Err(e) => return self.connect_elsewhere(e),
            }
        }
        let Io::Connected(socket) = &mut self.io else {
            return Err(Error::Closed(pgsans::ClosedReason::ByClient));
        };
        if self.pending.is_none() {
            // Idle: read what arrives (notifications, notices) without waiting.
            let id = self.engine.submit(Request::wait_notifications())?;
            self.pending = Some((Kind::Listen, Some(id)));
        }
        let Some((kind, id)) = self.pending else { unreachable!("set above") };
        loop {
            let interest = self.engine.poll()?;
            let finished = match (kind, id) {
                (Kind::Startup, _) => self.engine.is_ready(),
                (Kind::Close, _) => self.engine.transmit().is_empty(),
                (_, Some(id)) => match self.engine.take_response(id) {
                    Some(r) => {
                        match kind {
                            Kind::Simple => self.result = Some(r.and_then(Response::into_batch)),
                            Kind::Extended => self.query_result = Some(r.and_then(Response::into_query)),
                            Kind::CopyIn | Kind::CopyInEnding | Kind::CopyOut => {
                                self.copy_result = Some(r.and_then(Response::into_copy))
                            }
                            // The notifications stay queued in the engine.
                            _ => drop(r?),
                        }
                        true
                    }
                    // Ready for the caller, the request still running.
                    None if kind == Kind::CopyIn && self.engine.copy_in_format(id).is_some() => {
                        if self.engine.transmit().len() < pgsans_client::COPY_BUFFER {
                            // Send what can go now and read any early answer (an error on
                            // some line) without waiting; the caller may give more data.
                            transfer(&mut self.engine, socket, Interest::ReadWrite)?;
                            return Ok(Poll::Ok);
                        }
                        false
                    }
                    None if kind == Kind::CopyOut && self.engine.copy_data_ready(id) => return Ok(Poll::Ok),
                    None => false,
                },
                (_, None) => true,
            };
            if finished {
                match kind {
                    Kind::Startup => {
                        // psycopg2: asynchronous connections are always in autocommit mode.
                        let autocommit = Command::SetSession(SessionChange::new().autocommit(true));
                        let id = self.engine.submit(Request::command(autocommit))?;
                        self.engine.take_response(id).expect("a setting is stored at once")?;
                    }
                    Kind::Close => {
                        socket.shutdown();
                        self.io = Io::Closed;
                    }
                    _ => {}
                }
                self.pending = None;
                return Ok(Poll::Ok);
            }
            let Some(interest) = interest else {
                return Err(Error::Internal("the polling connection cannot make progress".into()));
            };
            if !transfer(&mut self.engine, socket, interest)?.progressed {
                // Idle and nothing has arrived: nothing to wait for on the caller's behalf.
                return Ok(if kind == Kind::Listen { Poll::Ok } else { interest.into() });
            }
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
        match self.pending {
            Some((Kind::Startup, _)) => {
                return Err(UsageError::InvalidState("asynchronous connection attempt underway".into()).into())
            }
            Some((Kind::Listen, Some(id))) => self.engine.abandon(id),
            Some(_) => {
                return Err(UsageError::InvalidState("a query is already executing on this connection".into()).into())
            }
            None => {}
        }
        self.pending = None;
        let id = self.engine.submit(request)?;
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
        self.engine.copy_send(id, data)
    }

    /// Ends the COPY data (CopyDone); poll until `Ok`, then
    /// [`take_copy_result`](Self::take_copy_result).
    pub fn copy_end(&mut self) -> Result<(), Error> {
        let id = self.copy_id(Kind::CopyIn)?;
        self.engine.copy_finish(id)?;
        self.pending = Some((Kind::CopyInEnding, Some(id)));
        Ok(())
    }

    /// Aborts the COPY (CopyFail with `message`); poll until `Ok`: the result is then the
    /// server's 57014 error.
    pub fn copy_abort(&mut self, message: &str) -> Result<(), Error> {
        let id = self.copy_id(Kind::CopyIn)?;
        self.engine.copy_abort(id, message)?;
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
        self.engine.poll()?;
        Ok(self.engine.take_copy_data(id))
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

    /// The result of the last [`execute_params`](Self::execute_params), once `poll` answered
    /// [`Poll::Ok`].
    pub fn take_query_result(&mut self) -> Option<Result<pgsans::QueryResult, Error>> {
        self.query_result.take()
    }

    /// psycopg2's `isexecuting()`: connecting, or a query was started and `poll` has not yet
    /// answered [`Poll::Ok`] for it.
    pub fn is_executing(&self) -> bool {
        matches!(self.io, Io::Connecting(_)) || matches!(self.pending, Some((k, _)) if k != Kind::Listen)
    }

    /// The result of the last query, once `poll` answered [`Poll::Ok`]: every statement's
    /// results, and the error of the failing statement if any.
    pub fn take_result(&mut self) -> Option<Result<SimpleBatch, Error>> {
        self.result.take()
    }

    /// Takes the notifications received so far.
    pub fn take_notifications(&mut self) -> Vec<pgsans::Notification> {
        self.engine.take_notifications()
    }

    /// Takes the notices received so far.
    pub fn take_notices(&mut self) -> Vec<pgsans::Notice> {
        self.engine.take_notices()
    }

    /// The engine, for its getters.
    pub fn engine(&self) -> &pgsans::Connection {
        &self.engine
    }

    /// A token that cancels the running query from any thread.
    pub fn cancel_token(&self) -> Result<crate::CancelToken, Error> {
        let key = self.engine.cancel_key()?;
        Ok(crate::CancelToken::from_parts(key, self.target.clone()))
    }

    /// Starts closing: queues Terminate; `poll` until [`Poll::Ok`]. Idempotent.
    pub fn close_start(&mut self) {
        match self.io {
            Io::Connected(_) if !matches!(self.pending, Some((Kind::Close, _))) => {
                if let Some((_, Some(id))) = self.pending {
                    self.engine.abandon(id);
                }
                self.engine.terminate();
                self.pending = Some((Kind::Close, None));
            }
            Io::Connecting(_) => {
                self.io = Io::Closed;
                self.pending = None;
            }
            _ => {}
        }
    }
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
        match &self.io {
            Io::Connecting(c) => c.fd.as_fd(),
            Io::Connected(s) => s.as_fd(),
            // A closed connection has no socket; a descriptor that is never ready stands in.
            Io::Closed => CLOSED.as_fd(),
        }
    }
}

impl AsRawFd for PollingConnection {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// Stands in for the socket of a closed polling connection.
static CLOSED: std::sync::LazyLock<std::os::fd::OwnedFd> =
    std::sync::LazyLock::new(|| std::fs::File::open("/dev/null").expect("/dev/null").into());
