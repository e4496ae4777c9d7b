//! The connection engine: the byte buffers, the dispatch of every server message, the requests
//! in flight. Its contract is on the crate page.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::auth::startup::{ClientNonce, Startup};
use crate::buffer::RecvBuffer;
use crate::codec::backend::{self, BackendMessage};
use crate::codec::frontend;
use crate::config::Config;
use crate::encoding::Encoding;
use crate::error::{ClosedReason, ConfigError, DbError, Error, Notice, ProtocolError, UsageError};
use crate::event::Event;
use crate::request::{CopyFormat, Machine, Progress, Request, Response, Started};
use crate::row::{Column, Row};
use crate::session::{rules, ConnectionStatus, IsolationLevel, SessionState, Xid};
use crate::shared::{Predicted, RequestId, Shared};
use crate::status::{BackendKey, NoticeHandler, Notification, NotificationHandler, ServerStatus, TransactionStatus};

/// What to wait for before calling the engine again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Until the socket is readable, then read into [`Connection::recv_buf`].
    Read,
    /// Until the socket is writable, then write [`Connection::transmit`].
    Write,
    /// Until the socket is readable *or* writable, then do whichever is possible. Asked while
    /// requests are being sent and answers may already be coming back: a transport that only
    /// waited for writability could deadlock against a server blocked on writing to us.
    ReadWrite,
}

/// The byte-level half of the contract, shared by the connection engine and the short-lived
/// cancel connection, so one byte mover can feed either.
pub trait Wire {
    /// Bytes to write, in order; empty when there is nothing to send.
    fn transmit(&self) -> &[u8];
    /// The first `n` bytes of [`transmit`](Wire::transmit) were written.
    fn advance(&mut self, n: usize);
    /// Space to read socket bytes into; then [`recv_commit`](Wire::recv_commit) the count.
    fn recv_buf(&mut self) -> &mut [u8];
    /// `n` bytes were read into [`recv_buf`](Wire::recv_buf).
    fn recv_commit(&mut self, n: usize);
    /// The peer closed its end.
    fn receive_eof(&mut self);
    /// A socket error: recorded (the connection becomes broken) and returned.
    fn transport_error(&mut self, e: Error) -> Error;
}

#[derive(Debug)]
enum Phase {
    Startup(Box<Startup>),
    Ready,
    /// Terminate is queued; once it is written the connection is closed.
    Closing,
    Closed,
}

/// Where TLS stands for this connection.
#[derive(Debug)]
enum Ssl {
    Off,
    /// SSLRequest sent; the StartupMessage waits for the server's `S` or `N`.
    Requested {
        plan: crate::tls::TlsPlan,
        startup: Vec<u8>,
    },
    On(Box<crate::tls::TlsSession>),
}

/// A request in flight.
#[derive(Debug)]
struct InFlight {
    id: RequestId,
    machine: Machine,
    /// The first error of what was sent for it (its automatic BEGIN): its error.
    prefix_error: Option<Box<DbError>>,
    /// Nobody waits for its response any more (an abandoned session command, which still
    /// runs to its end).
    detached: bool,
}

/// Where the next message's bytes are, or what to report instead (decided while mutating,
/// turned into a borrowing [`Event`] afterwards).
enum Next {
    Owned(Event<'static>),
    RowDescription,
    DataRow(std::ops::Range<usize>),
    CommandComplete(std::ops::Range<usize>),
    CopyData(std::ops::Range<usize>),
}

/// A PostgreSQL client connection as a pure state machine; see the crate documentation for
/// its contract.
pub struct Connection {
    phase: Phase,
    recv: RecvBuffer,
    max_message_len: usize,
    eof: bool,
    fatal: Option<Error>,
    shared: Shared,
    requests: VecDeque<InFlight>,
    /// Requests submitted but not yet queued: they wait for the transaction status that work
    /// in flight will leave (see `must_wait`), in order.
    held: VecDeque<(RequestId, Request)>,
    done: Vec<(RequestId, Result<Response, Error>)>,
    next_id: u64,
    status: ServerStatus,
    columns: Option<Arc<[Column]>>,
    row_ranges: Vec<Option<(u32, u32)>>,
    /// The last RowDescription's bytes and columns: an identical one (in the same client
    /// encoding) reuses the same `Arc` instead of allocating column names again (the common
    /// case of a repeated query), which also makes comparing it with a cached one cheap.
    last_row_description: (Encoding, Vec<u8>, Option<Arc<[Column]>>),
    /// Where the last `poll` stopped: before a streamed DataRow of this request, of this
    /// framed length. Cleared by anything that could move it.
    row_stop: Option<(RequestId, usize)>,
    /// How much of the CopyData message the engine stopped before was read already
    /// ([`copy_data_consume`](Self::copy_data_consume)).
    copy_consumed: usize,
    /// TLS: not used, asked for (SSLRequest sent, the StartupMessage held back), or in use.
    ssl: Ssl,
    /// The wall-clock time the caller gave, for certificate validity.
    clock: Arc<crate::tls::Clock>,
    /// The TLS setup in use, for cancel requests.
    tls_plan: Option<Arc<crate::tls::TlsPlan>>,
    dsn: String,
    dsn_parameters: Vec<(String, String)>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("phase", &self.phase)
            .field("transaction_status", &self.shared.tx_status)
            .field("requests_in_flight", &self.requests.len())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Starts a connection: the StartupMessage is queued at once, so the first
    /// [`poll`](Self::poll) answers [`Interest::Write`].
    ///
    /// `nonce` is used if the server asks for SCRAM; transports make it from OS randomness.
    pub fn new(config: &Config, nonce: ClientNonce) -> Result<Connection, Error> {
        let target = config.targets()?.into_iter().next().ok_or(ConfigError::Unsupported("no host".into()))?;
        Connection::with_target(config, &target, nonce)
    }

    /// [`new`](Self::new) for one of the configuration's hosts: TLS is set up for its name
    /// (SNI, `verify-full`). With `sslmode` prefer or stronger over TCP, an SSLRequest is sent
    /// first and the StartupMessage follows the server's answer.
    pub fn with_target(
        config: &Config,
        target: &crate::config::Target,
        nonce: ClientNonce,
    ) -> Result<Connection, Error> {
        let attempt = crate::config::HostAttempt { target: target.clone(), attrs: config.target_session_attrs() };
        Connection::with_attempt(config, &attempt, nonce)
    }

    /// [`with_target`](Self::with_target) for one of [`Config::host_attempts`]: once started,
    /// the server is checked against the attempt's `target_session_attrs` before the connection
    /// is ready ([`Error::TargetSessionAttrs`] when it is the wrong kind).
    pub fn with_attempt(
        config: &Config,
        attempt: &crate::config::HostAttempt,
        nonce: ClientNonce,
    ) -> Result<Connection, Error> {
        let target = &attempt.target;
        let user = config.user().ok_or(ConfigError::NoUser)?.to_owned();
        if let Some(refused) = config.unsupported() {
            return Err(ConfigError::Unsupported(refused).into());
        }
        let clock = Arc::new(crate::tls::Clock::default());
        let plan = crate::tls::plan(config, target, &clock)?;
        let database = config.dbname().unwrap_or(&user).to_owned();
        let mut params: Vec<(&str, &str)> = vec![("user", &user), ("database", &database)];
        if let Some(app) = config.application_name() {
            params.push(("application_name", app));
        }
        let encoding = match config.get("client_encoding") {
            None | Some("auto") => "UTF8",
            Some(e) => e,
        };
        params.push(("client_encoding", encoding));
        if let Some(options) = config.options() {
            params.push(("options", options));
        }
        if let Some(replication) = config.get("replication") {
            params.push(("replication", replication));
        }
        for (k, v) in config.params() {
            params.push((k, v));
        }
        let mut shared =
            Shared { session: SessionState::new(config.autocommit_value().unwrap_or(false)), ..Shared::default() };
        let mut startup = Vec::new();
        let (min_minor, max_minor) = config.protocol_versions()?;
        frontend::startup_message_version(max_minor, params.iter().copied(), &mut startup)?;
        let mut tls_plan = None;
        let ssl = match plan {
            // Direct TLS: the handshake at once, the StartupMessage its first plaintext.
            Some(plan) if plan.direct => {
                let tls = crate::tls::TlsSession::new(&plan)?;
                shared.buf().extend_from_slice(&startup);
                tls_plan = Some(Arc::new(plan));
                Ssl::On(Box::new(tls))
            }
            Some(plan) => {
                shared.buf().extend_from_slice(&crate::tls::SSL_REQUEST);
                Ssl::Requested { plan, startup }
            }
            None => {
                shared.buf().extend_from_slice(&startup);
                Ssl::Off
            }
        };
        let password = config.password_for(target).map(|p| p.as_bytes().to_vec());
        Ok(Connection {
            phase: Phase::Startup(Box::new(Startup::new(
                user,
                password,
                nonce,
                config.auth_policy()?,
                attempt.attrs,
                min_minor,
            ))),
            recv: RecvBuffer::default(),
            max_message_len: config.max_message_len_value(),
            eof: false,
            fatal: None,
            shared,
            requests: VecDeque::new(),
            held: VecDeque::new(),
            done: Vec::new(),
            next_id: 1,
            // What we asked for, until the server negotiates it down.
            status: ServerStatus { protocol_minor: max_minor, ..ServerStatus::default() },
            columns: None,
            row_ranges: Vec::new(),
            last_row_description: (Encoding::UTF8, Vec::new(), None),
            row_stop: None,
            copy_consumed: 0,
            ssl,
            clock,
            tls_plan,
            dsn: config.dsn(),
            dsn_parameters: config.dsn_parameters().into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        })
    }

    // ----- inputs -----------------------------------------------------------------------

    /// Spare space to read socket bytes into; then call [`recv_commit`](Self::recv_commit) with
    /// the count read. Large enough for the message being received, up to the message cap.
    pub fn recv_buf(&mut self) -> &mut [u8] {
        if let Ssl::On(tls) = &mut self.ssl {
            return tls.recv_buf();
        }
        let unread = self.recv.unread();
        let needed = backend::bytes_needed(unread).min(self.max_message_len + 5);
        let want = needed.saturating_sub(unread.len());
        self.recv.spare(want)
    }

    /// Reports that `n` bytes were read into [`recv_buf`](Self::recv_buf).
    ///
    /// # Panics
    /// If `n` is larger than the slice `recv_buf` returned: that is a bug in the transport.
    pub fn recv_commit(&mut self, n: usize) {
        match &mut self.ssl {
            Ssl::On(tls) => {
                if let Err(e) = tls.recv_commit(n, &mut self.recv) {
                    self.fail(e);
                }
            }
            _ => self.recv.commit(n),
        }
    }

    /// Copies bytes received from the server into the engine.
    pub fn receive(&mut self, data: &[u8]) {
        match &mut self.ssl {
            Ssl::On(tls) => {
                if let Err(e) = tls.receive(data, &mut self.recv) {
                    self.fail(e);
                }
            }
            _ => self.recv.extend(data),
        }
    }

    /// The current wall-clock time, which TLS needs to check certificate validity (the engine
    /// never reads the clock). Transports call it before the handshake.
    pub fn set_current_time(&mut self, since_epoch: std::time::Duration) {
        self.clock.set(since_epoch);
    }

    /// Reports that the server closed its end of the connection.
    pub fn receive_eof(&mut self) {
        self.eof = true;
    }

    /// Reports a transport failure (a socket error, a timeout while connecting). The connection
    /// becomes broken: the error is sticky, as if the server had broken the protocol.
    pub fn transport_error(&mut self, e: Error) -> Error {
        self.fail(e)
    }

    // ----- outputs ----------------------------------------------------------------------

    /// Bytes to write to the socket, in order. Empty when there is nothing to send.
    pub fn transmit(&self) -> &[u8] {
        match &self.ssl {
            Ssl::On(tls) => tls.transmit(),
            _ => self.shared.send.pending(),
        }
    }

    /// Whether nothing waits to be written.
    fn send_empty(&self) -> bool {
        match &self.ssl {
            Ssl::On(tls) => tls.is_empty() && self.shared.send.is_empty(),
            _ => self.shared.send.is_empty(),
        }
    }

    /// Encrypts what was queued, when TLS is in use (after every command that queues).
    fn seal(&mut self) {
        if let Ssl::On(tls) = &mut self.ssl {
            if let Err(e) = tls.seal(&mut self.shared.send) {
                self.fail(e);
            }
        }
    }

    /// Reports that the first `n` bytes of [`transmit`](Self::transmit) were written.
    ///
    /// # Panics
    /// If `n` exceeds the length of `transmit()`: that is a bug in the transport.
    pub fn advance(&mut self, n: usize) {
        match &mut self.ssl {
            Ssl::On(tls) => tls.advance(n),
            _ => self.shared.send.advance(n),
        }
        if matches!(self.phase, Phase::Closing) && self.send_empty() {
            self.phase = Phase::Closed;
        }
    }

    /// Processes what was received, lets requests queue more, and says what to wait for next:
    /// `None` when there is nothing to wait for — nothing is outstanding, or a streamed row is
    /// ready for [`take_row`](Self::take_row). Fatal errors are sticky.
    pub fn poll(&mut self) -> Result<Option<Interest>, Error> {
        self.pump()?;
        self.seal();
        if let Some(e) = &self.fatal {
            return Err(e.clone());
        }
        if self.row_stop.is_some() {
            return Ok(None);
        }
        let write = !self.send_empty();
        let read = match self.phase {
            Phase::Startup(_) => true,
            // A suspended portal's point waits for the fetch that adopts it, a COPY IN for its
            // first data: what was already received stays unread until then, as it would had
            // it not arrived yet.
            Phase::Ready => match self.shared.syncs.front() {
                Some(p) => p.discard || self.requests.iter().any(|r| r.id == p.owner && !r.machine.waits_for_caller()),
                None => self.requests.iter().any(|r| r.machine.listens()),
            },
            Phase::Closing | Phase::Closed => false,
        };
        if read && self.eof {
            return Err(self.fail(Error::Closed(ClosedReason::UnexpectedEof)));
        }
        Ok(match (read, write) {
            (true, true) if matches!(self.phase, Phase::Ready) => Some(Interest::ReadWrite),
            (_, true) => Some(Interest::Write),
            (true, false) => Some(Interest::Read),
            (false, false) => None,
        })
    }

    /// The response of a finished request (once; afterwards `None`). `None` while it runs.
    pub fn take_response(&mut self, id: RequestId) -> Option<Result<Response, Error>> {
        let i = self.done.iter().position(|(d, _)| *d == id)?;
        Some(self.done.swap_remove(i).1)
    }

    /// Whether a streamed row of request `id` is ready for [`take_row`](Self::take_row).
    pub fn row_ready(&self, id: RequestId) -> bool {
        self.stopped_before(id, b'D').is_some()
    }

    /// The length of the message of type `ty` of request `id` the engine stopped before.
    fn stopped_before(&self, id: RequestId, ty: u8) -> Option<usize> {
        let (owner, len) = self.row_stop?;
        (owner == id && self.recv.unread().first() == Some(&ty)).then_some(len)
    }

    /// Whether COPY OUT data of request `id` is ready for
    /// [`take_copy_data`](Self::take_copy_data).
    pub fn copy_data_ready(&self, id: RequestId) -> bool {
        self.stopped_before(id, b'd').is_some()
    }

    /// The next chunk of a COPY OUT ([`Request::copy_out`]), borrowed from the receive buffer
    /// until the next call on the engine (with the text formats, usually one row); `None`
    /// when none is ready (call [`poll`](Self::poll) and move bytes). The end of the data is
    /// the request's response.
    pub fn take_copy_data(&mut self, id: RequestId) -> Option<&[u8]> {
        let len = self.stopped_before(id, b'd')?;
        self.row_stop = None;
        let range = self.recv.consume(len);
        let start = range.start + 5 + std::mem::take(&mut self.copy_consumed);
        Some(self.recv.slice(start.min(range.end)..range.end))
    }

    /// The unread rest of the COPY OUT chunk of request `id` the engine stopped before,
    /// borrowed from the receive buffer, without taking it (for a reader that hands out less
    /// than a chunk at a time: `AsyncBufRead`); `None` when none is ready. Mark what was used
    /// with [`copy_data_consume`](Self::copy_data_consume).
    pub fn copy_data_peek(&self, id: RequestId) -> Option<&[u8]> {
        let len = self.stopped_before(id, b'd')?;
        let message = &self.recv.unread()[..len];
        Some(&message[(5 + self.copy_consumed).min(len)..])
    }

    /// Marks `n` more bytes of the chunk [`copy_data_peek`](Self::copy_data_peek) shows as read;
    /// once all of it is, the engine moves past it (and `n == 0` on an empty chunk moves past
    /// it too).
    pub fn copy_data_consume(&mut self, id: RequestId, n: usize) {
        let Some(len) = self.stopped_before(id, b'd') else { return };
        self.copy_consumed += n;
        if 5 + self.copy_consumed >= len {
            self.copy_consumed = 0;
            self.row_stop = None;
            self.recv.consume(len);
        }
    }

    /// The format of COPY OUT request `id`, once the server has announced it.
    pub fn copy_out_format(&self, id: RequestId) -> Option<&CopyFormat> {
        self.requests.iter().find(|r| r.id == id)?.machine.copy_ref()?.out_format()
    }

    /// `Some(format)` while COPY IN request `id` waits for data: send it with
    /// [`copy_send`](Self::copy_send). `None` before the server is ready and once the copy
    /// has ended (a server error mid-copy ends it: see [`take_response`](Self::take_response)).
    pub fn copy_in_format(&self, id: RequestId) -> Option<&CopyFormat> {
        self.requests.iter().find(|r| r.id == id)?.machine.copy_ref()?.in_format()
    }

    /// The next row of a streaming request ([`Mode::Stream`](crate::Mode::Stream)), borrowed
    /// from the receive buffer until the next call on the engine; `None` when no row of `id`
    /// is ready (call [`poll`](Self::poll) and move bytes).
    pub fn take_row(&mut self, id: RequestId) -> Result<Option<Row<'_>>, Error> {
        let Some(len) = self.stopped_before(id, b'D') else {
            return Ok(None);
        };
        self.row_stop = None;
        let range = self.recv.consume(len);
        let body = range.start + 5..range.end;
        if let Err(e) = self.index_row(body.clone()) {
            return Err(self.fail(e));
        }
        Ok(Some(Row::new(self.columns.as_ref(), self.recv.slice(body), &self.row_ranges)))
    }

    // ----- commands ---------------------------------------------------------------------

    /// Submits a request: its messages are queued (after the automatic BEGIN psycopg2 would
    /// send) and it gets an id to take its response by. Any number may be in flight: they run
    /// in order. The session's rules are checked here, once: a refused request queues nothing
    /// and leaves the connection as it was.
    pub fn submit(&mut self, request: Request) -> Result<RequestId, Error> {
        self.check_ready()?;
        if self.requests.iter().any(|r| r.machine.copy_ref().is_some_and(|c| c.blocks_others())) {
            return Err(
                UsageError::InvalidState("a COPY FROM STDIN is in progress: finish or abort it first".into()).into()
            );
        }
        if !request.is_fetch() && self.shared.open_point().is_some() {
            return Err(
                UsageError::InvalidState("a portal is open: fetch it to the end or close it first".into()).into()
            );
        }
        let id = RequestId(self.next_id);
        self.next_id += 1;
        if self.must_wait(&request) {
            self.held.push_back((id, request));
            return Ok(id);
        }
        self.start(id, request)?;
        Ok(id)
    }

    /// Whether `request` must wait in the engine before anything of it is queued: behind
    /// requests already waiting (order is kept), or because what it sends depends on a
    /// transaction status that only the server's answers to work in flight will tell (a
    /// session command still running, a statement that may end or open a block).
    fn must_wait(&self, request: &Request) -> bool {
        !self.held.is_empty() || self.blocked(request)
    }

    /// Whether what `request` sends depends on a transaction status (or session state) that
    /// work in flight has yet to settle.
    fn blocked(&self, request: &Request) -> bool {
        request.depends_on_tx(self.shared.session.autocommit)
            && (self.shared.predicted_tx() == Predicted::Unknown
                || self.requests.iter().any(|r| r.machine.is_command()))
    }

    /// The transaction status the rules see for a request queued now: the one the server will
    /// be in when it arrives (see [`Shared::predicted_tx`]).
    fn tx_for_rules(&self) -> TransactionStatus {
        match self.shared.predicted_tx() {
            Predicted::Exactly(s) => s,
            Predicted::InBlock => TransactionStatus::InTransaction,
            Predicted::Unknown => self.shared.tx_status,
        }
    }

    /// Applies the session's rules to `request` and queues its messages (after the automatic
    /// BEGIN psycopg2 would send). A refused request queues nothing.
    fn start(&mut self, id: RequestId, request: Request) -> Result<(), Error> {
        let tx = self.tx_for_rules();
        let plan = match request.command_ref() {
            Some(cmd) => Some(rules::plan(cmd, &self.shared.session, tx)?),
            None => None,
        };
        let begin = match request.runs_sql() {
            Some(what) => rules::before_query(what, &self.shared.session, tx)?,
            None => None,
        }
        .filter(|_| request.may_begin());
        let in_block = begin.is_some() || tx != TransactionStatus::Idle;
        let tx_effect = request.tx_effect();
        let shared = &mut self.shared;
        let mark = (shared.send.vec().len(), shared.syncs.len());
        shared.statements.sweep_user();
        let closes = shared.statements.to_close.clone();
        let started = (|| {
            if let Some(b) = &begin {
                shared.queue_prefix(id, b, true)?;
            }
            Machine::start(request, id, begin, in_block, plan, shared)
        })();
        match started {
            Err(e) => {
                shared.send.vec().truncate(mark.0);
                shared.syncs.truncate(mark.1);
                shared.statements.to_close = closes;
                Err(e)
            }
            Ok(Started::Running(machine)) => {
                shared.mark_tx_effect(mark.1, tx_effect);
                self.requests.push_back(InFlight { id, machine, prefix_error: None, detached: false });
                Ok(())
            }
            Ok(Started::Done(response)) => {
                self.done.push((id, Ok(response)));
                Ok(())
            }
        }
    }

    /// Starts the requests that waited, in order, as far as what they depend on is known.
    fn start_held(&mut self) {
        while let Some((_, request)) = self.held.front() {
            if self.blocked(request) {
                return;
            }
            let (id, request) = self.held.pop_front().expect("front");
            if let Err(e) = self.start(id, request) {
                self.done.push((id, Err(e)));
            }
        }
    }

    /// Abandons a request: its remaining answers are read and dropped inside the engine (an
    /// open portal is ended with a Sync), its response is never delivered. This is what makes
    /// a dropped future or an interrupted call leave the connection usable. Harmless for a
    /// finished or unknown id.
    pub fn abandon(&mut self, id: RequestId) {
        self.row_stop = None;
        if self.requests.iter().any(|r| r.id == id) {
            // A chunk half read by this request is dropped whole with the rest of it.
            self.copy_consumed = 0;
        }
        self.held.retain(|(h, _)| *h != id);
        if let Some(r) = self.requests.iter_mut().find(|r| r.id == id) {
            if r.machine.is_command() {
                // A session command still runs to its end: its effect on the session applies
                // when the server has answered (a dropped `commit()` still commits), and what
                // comes next is planned after it. Only its response is dropped.
                r.detached = true;
                self.done.retain(|(d, _)| *d != id);
                return;
            }
            if let Some(copy) = r.machine.copy() {
                if copy.blocks_others() {
                    copy.abandon(&mut self.shared);
                    self.shared.mark_copy_failed(id);
                }
            }
        }
        self.done.retain(|(d, _)| *d != id);
        self.requests.retain(|r| r.id != id);
        self.shared.abandon(id);
    }

    /// Sends `data` for COPY IN request `id` (while [`copy_in_format`](Self::copy_in_format)
    /// is `Some`). The bytes are queued in [`transmit`](Self::transmit): write them out before
    /// queueing much more (the transports keep at most a few hundred KiB queued).
    pub fn copy_send(&mut self, id: RequestId, data: &[u8]) -> Result<(), Error> {
        self.check_ready()?;
        let copy = copy_machine(&mut self.requests, id)?;
        copy.send(data, &mut self.shared)?;
        self.seal();
        Ok(())
    }

    /// Ends COPY IN request `id`: CopyDone; its response is the row count.
    pub fn copy_finish(&mut self, id: RequestId) -> Result<(), Error> {
        self.check_ready()?;
        let copy = copy_machine(&mut self.requests, id)?;
        copy.end(None, &mut self.shared)?;
        self.seal();
        Ok(())
    }

    /// Aborts COPY IN request `id` with `message` (CopyFail): the server rejects the copy
    /// (its response is the server's 57014 error naming the message) and, in a transaction
    /// block, aborts the transaction.
    pub fn copy_abort(&mut self, id: RequestId, message: &str) -> Result<(), Error> {
        self.check_ready()?;
        let copy = copy_machine(&mut self.requests, id)?;
        copy.end(Some(message), &mut self.shared)?;
        self.seal();
        Ok(())
    }

    /// A dropped transaction scope: its rollback is queued now and its answers drained; the
    /// scope is closed at once.
    pub fn abandon_scope(&mut self) {
        if self.check_ready().is_err() {
            return;
        }
        let tx = self.tx_for_rules();
        let Some(statements) = rules::abandon_scope(&mut self.shared.session, tx) else { return };
        let id = RequestId(self.next_id);
        self.next_id += 1;
        for sql in statements {
            if self.shared.queue_simple(id, &sql).is_err() {
                break;
            }
        }
        self.shared.abandon(id);
    }

    /// Queues Terminate. Once [`transmit`](Self::transmit) is fully written the connection is
    /// closed and the transport closes the socket. Idempotent.
    pub fn terminate(&mut self) {
        self.row_stop = None;
        if matches!(self.phase, Phase::Closing | Phase::Closed) {
            return;
        }
        for r in self.requests.drain(..).filter(|r| !r.detached) {
            self.done.push((r.id, Err(Error::Closed(ClosedReason::ByClient))));
        }
        for (id, _) in self.held.drain(..) {
            self.done.push((id, Err(Error::Closed(ClosedReason::ByClient))));
        }
        self.shared.syncs.clear();
        if self.fatal.is_none() {
            frontend::terminate(self.shared.buf());
            self.seal();
            if let Ssl::On(tls) = &mut self.ssl {
                tls.close();
            }
            self.phase = Phase::Closing;
        } else {
            self.phase = Phase::Closed;
        }
        self.shared.tx_status = TransactionStatus::Unknown;
    }

    /// Whether TLS is in use (psycopg 3's `pgconn.ssl_in_use`).
    pub fn ssl_in_use(&self) -> bool {
        matches!(self.ssl, Ssl::On(_))
    }

    /// A TLS attribute, as libpq's `PQsslAttribute` (psycopg 3's `pgconn.ssl_attribute`):
    /// `library` (`"rustls"`), `protocol` (`"TLSv1.3"`), `cipher` (IANA name),
    /// `key_bits` (the cipher's key size), `compression` (`"off"`), `alpn`. `None` without TLS
    /// or before the handshake has settled it.
    pub fn ssl_attribute(&self, name: &str) -> Option<String> {
        match &self.ssl {
            Ssl::On(tls) => tls.attribute(name),
            _ => None,
        }
    }

    /// The names [`ssl_attribute`](Self::ssl_attribute) knows (libpq's `PQsslAttributeNames`).
    pub fn ssl_attribute_names() -> &'static [&'static str] {
        &["library", "protocol", "cipher", "key_bits", "compression", "alpn"]
    }

    /// Runs `handler` for every notification as it arrives, during any operation, instead of
    /// keeping it for [`take_notifications`](Self::take_notifications) (psycopg 3's
    /// `add_notify_handler`). A wait for notifications then ends only at its timeout: the
    /// handler has them.
    pub fn set_notification_handler(&mut self, handler: Option<NotificationHandler>) {
        self.status.notification_handler = handler;
    }

    /// Sends every notice to `handler` instead of keeping them (psycopg 3's notice handlers).
    pub fn set_notice_handler(&mut self, handler: Option<NoticeHandler>) {
        self.status.notice_handler = handler;
    }

    /// How many notices to keep; older ones are dropped first. 0 keeps none.
    pub fn set_notice_limit(&mut self, limit: usize) {
        self.status.set_notice_limit(limit);
    }

    /// psycopg 3's `prepare_threshold`: after this many executions of the same SQL a statement
    /// is prepared server-side (default 5; `Some(0)` prepares on first use). `None` never
    /// prepares: for transaction-pooling proxies (pgbouncer) where a named statement may not
    /// exist on the next backend.
    pub fn set_prepare_threshold(&mut self, threshold: Option<usize>) {
        self.shared.statements.threshold = threshold;
    }

    /// How many statements the cache keeps (default 100); the least recently used is evicted
    /// and closed on the server.
    pub fn set_statement_cache_capacity(&mut self, capacity: usize) {
        self.shared.statements.capacity = capacity;
    }

    /// Takes the notices received so far.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        self.status.notices.drain(..).collect()
    }

    /// Takes the notifications received so far.
    pub fn take_notifications(&mut self) -> Vec<Notification> {
        self.status.notifications.drain(..).collect()
    }

    /// Takes the oldest notification received so far; the others stay queued.
    pub fn take_notification(&mut self) -> Option<Notification> {
        self.status.notifications.pop_front()
    }

    // ----- getters ----------------------------------------------------------------------

    /// Whether startup is complete and the connection is neither closed nor broken.
    pub fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Ready) && self.fatal.is_none()
    }

    /// Whether [`terminate`](Self::terminate) was called or a fatal error happened.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closing | Phase::Closed) || self.fatal.is_some()
    }

    /// psycopg 3's `broken`: whether the connection was lost to a fatal error (the server went
    /// away, the protocol broke, a socket error) — and stays lost: it remains true after
    /// [`terminate`](Self::terminate) (`close()`), while psycopg2's [`closed`](Self::closed)
    /// turns from 2 (broken) to 1 (closed).
    pub fn is_broken(&self) -> bool {
        self.fatal.as_ref().is_some_and(|e| !matches!(e, Error::Closed(ClosedReason::ByClient)))
    }

    /// psycopg2's `closed`: 0 open, 1 closed (by the client, even after it broke), 2 broken.
    pub fn closed(&self) -> u8 {
        if matches!(self.phase, Phase::Closing | Phase::Closed) {
            1
        } else if self.fatal.is_some() {
            2
        } else {
            0
        }
    }

    /// The sticky fatal error, if any.
    pub fn fatal_error(&self) -> Option<&Error> {
        self.fatal.as_ref()
    }

    /// Whether requests are in flight or bytes wait to be sent.
    pub fn is_busy(&self) -> bool {
        match self.phase {
            Phase::Startup(_) => true,
            Phase::Ready => !self.requests.is_empty() || !self.held.is_empty() || !self.send_empty(),
            Phase::Closing => !self.send_empty(),
            Phase::Closed => false,
        }
    }

    /// `PQtransactionStatus`: `Active` while a request someone waits for is outstanding,
    /// `Unknown` when not connected. While only work nobody waits for is in flight (what a
    /// dropped future or transaction scope left), the status that work will certainly leave
    /// (a dropped scope's ROLLBACK: `Idle`), so that what the connection reports agrees with
    /// what it does next.
    pub fn transaction_status(&self) -> TransactionStatus {
        if !self.is_ready() {
            TransactionStatus::Unknown
        } else if self.shared.syncs.is_empty() && self.held.is_empty() {
            self.shared.tx_status
        } else if let (true, Predicted::Exactly(s)) = (self.nobody_waits(), self.shared.predicted_tx()) {
            s
        } else {
            TransactionStatus::Active
        }
    }

    /// Whether work nobody waits for (abandoned requests, a dropped scope's rollback) is still
    /// in flight, and only such work: nothing else a cancel request could hit — no request
    /// someone waits for, no abandoned session command (whose effect must happen), nothing
    /// held. What a transport checks before it cancels what a dropped future left running.
    pub fn abandoned_work_in_flight(&self) -> bool {
        self.is_ready()
            && self.held.is_empty()
            && self.requests.iter().all(|r| r.machine.listens())
            && self.shared.syncs.iter().any(|p| p.discard)
            && self.shared.syncs.iter().all(|p| p.discard)
    }

    /// Whether every sync point in flight belongs to work nobody waits for (abandoned
    /// requests, a dropped scope's rollback) and no request is held.
    fn nobody_waits(&self) -> bool {
        self.held.is_empty()
            && self
                .shared
                .syncs
                .iter()
                .all(|p| p.discard || self.requests.iter().find(|r| r.id == p.owner).is_none_or(|r| r.detached))
    }

    /// The transaction status of the last ReadyForQuery, even while a request is outstanding.
    pub fn server_transaction_status(&self) -> TransactionStatus {
        if self.is_ready() {
            self.shared.tx_status
        } else {
            TransactionStatus::Unknown
        }
    }

    /// psycopg2's `status`: READY, BEGIN (a transaction is open, as the server reports it) or
    /// PREPARED (after `tpc_prepare`). While only work nobody waits for is in flight, the
    /// status it will leave where that is certain (a dropped scope: READY at once).
    pub fn connection_status(&self) -> ConnectionStatus {
        let tx = match (self.is_ready() && self.nobody_waits(), self.shared.predicted_tx()) {
            (true, Predicted::Exactly(s)) => s,
            (true, Predicted::InBlock) => TransactionStatus::InTransaction,
            _ => self.server_transaction_status(),
        };
        rules::connection_status(&self.shared.session, tx)
    }

    /// Whether each statement commits by itself (no BEGIN is sent for you).
    pub fn autocommit(&self) -> bool {
        self.shared.session.autocommit
    }

    /// The isolation level put on BEGIN (or set as default in autocommit); `None` = server default.
    pub fn isolation_level(&self) -> Option<IsolationLevel> {
        self.shared.session.isolation_level
    }

    /// Read-only setting; `None` = server default.
    pub fn read_only(&self) -> Option<bool> {
        self.shared.session.read_only
    }

    /// Deferrable setting; `None` = server default.
    pub fn deferrable(&self) -> Option<bool> {
        self.shared.session.deferrable
    }

    /// The xid of the current two-phase transaction.
    pub fn tpc_xid(&self) -> Option<&Xid> {
        self.shared.session.tpc.as_ref().map(|(x, _)| x)
    }

    /// The nesting depth of open transaction scopes.
    pub fn transaction_depth(&self) -> usize {
        self.shared.session.scopes
    }

    /// The current prepare threshold.
    pub fn prepare_threshold(&self) -> Option<usize> {
        self.shared.statements.threshold
    }

    /// `(cached, prepared server-side)` statement counts.
    pub fn statement_cache_stats(&self) -> (usize, usize) {
        (self.shared.statements.len(), self.shared.statements.prepared_count())
    }

    /// The client encoding the server reported.
    pub fn client_encoding(&self) -> Option<&str> {
        self.parameter_status("client_encoding")
    }

    /// The session's client encoding (UTF8 unless the session changed it).
    pub fn encoding(&self) -> Encoding {
        self.shared.encoding
    }

    /// What a cancel request for this connection's running query needs (the transport adds
    /// where to connect). A misuse error after `tpc_prepare`, as in psycopg2; not ready before
    /// BackendKeyData.
    pub fn cancel_key(&self) -> Result<crate::CancelToken, Error> {
        rules::before_cancel(&self.shared.session, self.server_transaction_status())?;
        let key = self.status.backend_key.as_ref().ok_or(UsageError::NotReady("no BackendKeyData yet"))?;
        Ok(crate::CancelToken {
            process_id: key.process_id,
            secret_key: key.secret_key.clone(),
            tls: self.tls_plan.clone(),
        })
    }

    /// The last value the server reported for a run-time parameter (`ParameterStatus`).
    pub fn parameter_status(&self, name: &str) -> Option<&str> {
        self.status.parameter(name)
    }

    /// Every parameter the server reported, in first-reported order.
    pub fn parameters(&self) -> impl Iterator<Item = (&str, &str)> {
        self.status.parameters.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `server_version` as an integer the way libpq computes it (15.4 → 150004, 9.6.1 → 90601).
    pub fn server_version(&self) -> i32 {
        self.parameter_status("server_version").map(crate::status::parse_server_version).unwrap_or(0)
    }

    /// psycopg2's `dsn`: the connection string, with the password shown as `xxx`.
    pub fn dsn(&self) -> &str {
        &self.dsn
    }

    /// psycopg2's `get_dsn_parameters()`: the effective connection parameters, no password.
    pub fn dsn_parameters(&self) -> &[(String, String)] {
        &self.dsn_parameters
    }

    /// The backend process id and cancel key.
    pub fn backend_key(&self) -> Option<&BackendKey> {
        self.status.backend_key.as_ref()
    }

    /// The backend process id (0 before BackendKeyData).
    pub fn backend_pid(&self) -> i32 {
        self.status.backend_key.as_ref().map(|k| k.process_id).unwrap_or(0)
    }

    /// The protocol version in use, as `(3, minor)`.
    pub fn protocol_version(&self) -> (u16, u16) {
        (3, self.status.protocol_minor)
    }

    /// Notices received so far (oldest first), at most the notice limit.
    pub fn notices(&self) -> impl Iterator<Item = &Notice> {
        self.status.notices.iter()
    }

    /// Notifications received so far, oldest first.
    pub fn notifications(&self) -> impl Iterator<Item = &Notification> {
        self.status.notifications.iter()
    }

    // ----- inside -----------------------------------------------------------------------

    fn check_ready(&self) -> Result<(), Error> {
        match (&self.phase, &self.fatal) {
            // Closed by the client, even after it broke: psycopg2's "connection already closed".
            (Phase::Closing | Phase::Closed, _) => Err(Error::Closed(ClosedReason::ByClient)),
            (_, Some(e)) => Err(e.clone()),
            (Phase::Ready, None) => Ok(()),
            (Phase::Startup(_), None) => Err(UsageError::NotReady("the connection is still starting up").into()),
        }
    }

    fn fail(&mut self, e: Error) -> Error {
        self.row_stop = None;
        if self.fatal.is_none() {
            self.fatal = Some(e.clone());
        }
        self.shared.tx_status = TransactionStatus::Unknown;
        self.shared.syncs.clear();
        for r in self.requests.drain(..).filter(|r| !r.detached) {
            self.done.push((r.id, Err(e.clone())));
        }
        for (id, _) in self.held.drain(..) {
            self.done.push((id, Err(e.clone())));
        }
        e
    }

    /// The server's answer to the SSLRequest: `S` starts TLS (and nothing may follow it in
    /// plaintext: CVE-2021-23222), `N` continues in plaintext unless TLS is required; anything
    /// else is not PostgreSQL's answer (an `E` is left for the startup to report).
    fn ssl_answer(&mut self) -> Result<(), Error> {
        let Some(&first) = self.recv.unread().first() else {
            if self.eof {
                return Err(Error::Closed(ClosedReason::UnexpectedEof));
            }
            return Ok(());
        };
        let Ssl::Requested { plan, startup } = std::mem::replace(&mut self.ssl, Ssl::Off) else {
            return Ok(());
        };
        match first {
            b'S' => {
                if self.recv.unread().len() > 1 {
                    return Err(Error::Tls(
                        "the server sent unencrypted data after accepting TLS (refused: CVE-2021-23222)".into(),
                    ));
                }
                self.recv.consume(1);
                let tls = crate::tls::TlsSession::new(&plan)?;
                self.ssl = Ssl::On(Box::new(tls));
                self.tls_plan = Some(Arc::new(plan));
                self.shared.buf().extend_from_slice(&startup);
            }
            b'N' if plan.required => {
                return Err(Error::Tls("the server does not support TLS, but sslmode requires it".into()));
            }
            b'N' => {
                self.recv.consume(1);
                self.shared.buf().extend_from_slice(&startup);
            }
            // An old server's error: the startup reports it.
            b'E' => {}
            _ => {
                let seen = self.recv.unread().get(..5).unwrap_or(self.recv.unread()).to_vec();
                return Err(ProtocolError::NotPostgres(String::from_utf8_lossy(&seen).into_owned()).into());
            }
        }
        Ok(())
    }

    /// The request whose streamed DataRow or COPY OUT CopyData is next (and its framed
    /// length), if the engine must stop before it.
    fn row_owner(&self) -> Option<(RequestId, usize)> {
        if self.fatal.is_some() {
            return None;
        }
        let front = self.shared.syncs.front()?;
        let copy = match self.recv.unread().first() {
            Some(b'D') => false,
            Some(b'd') => true,
            _ => return None,
        };
        if front.discard || front.prefix {
            return None;
        }
        let owner = self.requests.iter().find(|r| r.id == front.owner)?;
        if !(if copy { owner.machine.streams_copy() } else { owner.machine.streams() }) {
            return None;
        }
        backend::frame(self.recv.unread(), self.max_message_len).ok().flatten().map(|f| (front.owner, f.total_len))
    }

    /// Handles every complete message buffered, stopping before a streamed row.
    fn pump(&mut self) -> Result<(), Error> {
        self.row_stop = None;
        if let Some(e) = &self.fatal {
            return Err(e.clone());
        }
        if matches!(self.ssl, Ssl::Requested { .. }) {
            if let Err(e) = self.ssl_answer() {
                return Err(self.fail(e));
            }
        }
        loop {
            self.row_stop = self.row_owner();
            if self.row_stop.is_some() {
                break;
            }
            if !self.expects_messages() {
                // Nothing is outstanding: what follows cannot be an answer yet. Leave it for
                // when it can be (a real server never gets ahead of us; garbage is judged the
                // same way however it was cut).
                break;
            }
            let first = matches!(&self.phase, Phase::Startup(s) if s.nothing_received());
            let seen = if first { self.recv.unread().get(..5).unwrap_or_default().to_vec() } else { Vec::new() };
            let frame = match backend::frame(self.recv.unread(), self.max_message_len) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    let e = Self::not_postgres(first, &seen, e.into());
                    return Err(self.fail(e));
                }
            };
            let range = self.recv.consume(frame.total_len);
            if matches!(self.phase, Phase::Closing | Phase::Closed) {
                continue; // After Terminate nothing more matters.
            }
            let body = range.start + 5..range.end;
            if let Err(e) = self.handle(frame.ty, body) {
                // A message a server may start with is judged as that message.
                let startup_type = matches!(frame.ty, b'R' | b'E' | b'N' | b'v');
                let e = Self::not_postgres(first && !startup_type, &seen, e);
                return Err(self.fail(e));
            }
        }
        if self.row_stop.is_none() {
            self.recv.shrink_if_idle();
            if self.eof && !self.recv.unread().is_empty() {
                return Err(self.fail(Error::Closed(ClosedReason::UnexpectedEof)));
            }
            if self.eof
                && matches!(self.phase, Phase::Ready)
                && self.shared.syncs.is_empty()
                && !self.requests.iter().any(|r| r.machine.listens())
            {
                return Err(self.fail(Error::Closed(ClosedReason::ServerClosed)));
            }
        }
        if !self.status.notifications.is_empty() {
            if let Some(i) = self.requests.iter().position(|r| r.machine.listens()) {
                // The notifications stay queued for whoever takes them, one or all at a time.
                let r = self.requests.remove(i).expect("found");
                self.done.push((r.id, Ok(Response::NotificationsArrived)));
            }
        }
        if !self.held.is_empty() && self.row_stop.is_none() {
            self.start_held();
        }
        for r in self.requests.iter_mut() {
            if let Err(e) = r.machine.queue_more(r.id, &mut self.shared) {
                return Err(self.fail(e));
            }
        }
        Ok(())
    }

    /// Whether a message can be handled now: during startup, or while a sync point someone
    /// waits on or a wait for notifications is outstanding. (Notices, notifications and parameter changes
    /// that follow the last ReadyForQuery wait too: they are handled with what comes next.)
    fn expects_messages(&self) -> bool {
        match self.phase {
            Phase::Startup(_) | Phase::Closing | Phase::Closed => true,
            // A suspended portal's point waits for the fetch that adopts it, a COPY IN for its
            // first data: what was already received stays unread until then, as it would had
            // it not arrived yet.
            Phase::Ready => match self.shared.syncs.front() {
                Some(p) => p.discard || self.requests.iter().any(|r| r.id == p.owner && !r.machine.waits_for_caller()),
                None => self.requests.iter().any(|r| r.machine.listens()),
            },
        }
    }

    /// A protocol error in the server's very first message: the peer does not speak the
    /// PostgreSQL protocol at all (an HTTP server answers `HTTP/1.1 400 …`, which would frame
    /// as a 1.4 GB 'H' message). Says so, with the first five bytes it sent.
    fn not_postgres(first: bool, seen: &[u8], e: Error) -> Error {
        if first && matches!(e, Error::Protocol(_)) {
            return ProtocolError::NotPostgres(String::from_utf8_lossy(seen).into_owned()).into();
        }
        e
    }

    /// Validates and indexes a DataRow body against the current RowDescription.
    fn index_row(&mut self, body: std::ops::Range<usize>) -> Result<(), Error> {
        // Every execution is described (simple queries always are; pgsans sends Describe with
        // every Execute), so a row is always decoded with its own execution's description.
        let Some(cols) = self.columns.as_ref() else {
            return Err(ProtocolError::Unexpected { ty: 'D', state: "no RowDescription preceded it" }.into());
        };
        backend::data_row_ranges(self.recv.slice(body), &mut self.row_ranges)?;
        if cols.len() != self.row_ranges.len() {
            return Err(ProtocolError::Malformed {
                message: "DataRow",
                what: "column count differs from RowDescription",
            }
            .into());
        }
        Ok(())
    }

    fn handle(&mut self, ty: u8, body: std::ops::Range<usize>) -> Result<(), Error> {
        // During startup a row can only answer the target_session_attrs check.
        if ty == b'D' && !matches!(self.phase, Phase::Startup(_)) {
            if self.shared.syncs.is_empty() {
                return Err(ProtocolError::Unexpected { ty: 'D', state: "idle" }.into());
            }
            self.index_row(body.clone())?;
            return self.deliver(Next::DataRow(body), None);
        }
        // The message borrows the receive buffer while the handler mutates the rest of the
        // engine; moving the buffer out for the duration is two pointer-sized moves.
        let recv = std::mem::take(&mut self.recv);
        let result = backend::decode(ty, recv.slice(body.clone()))
            .map_err(Error::from)
            .and_then(|msg| self.handle_message(ty, body, msg));
        self.recv = recv;
        match result? {
            Some((next, popped)) => self.deliver(next, popped),
            None => Ok(()),
        }
    }

    /// Handles a decoded message: what only the engine cares about is done here; what belongs
    /// to a request is returned (with the sync point a ReadyForQuery ended).
    fn handle_message(
        &mut self,
        ty: u8,
        body: std::ops::Range<usize>,
        msg: BackendMessage<'_>,
    ) -> Result<Option<(Next, Option<crate::shared::SyncPoint>)>, Error> {
        // Messages that can arrive at any time.
        match msg {
            BackendMessage::ParameterStatus { name, value } => {
                let name = self.shared.encoding.decode_lossy(name).into_owned();
                let value = self.shared.encoding.decode_lossy(value).into_owned();
                match name.as_str() {
                    "client_encoding" => self.shared.encoding = Encoding::from_name(&value),
                    "search_path" => self.shared.statements.observe_search_path(),
                    _ => {}
                }
                self.status.set_parameter(name, value);
                return Ok(None);
            }
            BackendMessage::NoticeResponse(fields) => {
                let notice = DbError::parse_in(fields, self.shared.encoding)?;
                self.status.push_notice(notice);
                return Ok(None);
            }
            BackendMessage::NotificationResponse { process_id, channel, payload } => {
                let encoding = self.shared.encoding;
                self.status.push_notification(Notification {
                    process_id,
                    channel: encoding.decode_lossy(channel).into_owned(),
                    payload: encoding.decode_lossy(payload).into_owned(),
                });
                return Ok(None);
            }
            _ => {}
        }
        if let Phase::Startup(startup) = &mut self.phase {
            let encoding = self.shared.encoding;
            let tls = match &self.ssl {
                Ssl::On(t) => Some(&**t),
                _ => None,
            };
            if let Some(status) =
                startup.on_message(ty, msg, self.shared.send.vec(), &mut self.status, encoding, tls)?
            {
                self.shared.tx_status = status;
                self.phase = Phase::Ready;
            }
            return Ok(None);
        }
        // Ready: everything else answers the sync point at the front of the queue.
        if let BackendMessage::ErrorResponse(fields) = msg {
            let err = DbError::parse_in(fields, self.shared.encoding)?;
            if err.is_fatal() {
                return Err(Error::Db(Box::new(err)));
            }
            if self.shared.syncs.is_empty() {
                return Err(ProtocolError::Unexpected { ty: 'E', state: "idle" }.into());
            }
            self.shared.statements.observe_error();
            return Ok(Some((Next::Owned(Event::Error(Box::new(err))), None)));
        }
        let Some(front) = self.shared.syncs.front() else {
            return Err(ProtocolError::Unexpected { ty: ty as char, state: "idle" }.into());
        };
        let next = match msg {
            BackendMessage::ReadyForQuery { .. } if front.unsynced => {
                // Only a Sync (or a simple Query) is answered with ReadyForQuery.
                return Err(ProtocolError::Unexpected { ty: 'Z', state: "no Sync was sent" }.into());
            }
            BackendMessage::ReadyForQuery { status } => {
                let status = TransactionStatus::from_ready_for_query(status)?;
                let point = self.shared.syncs.pop_front().expect("front");
                self.shared.tx_status = status;
                self.columns = None;
                self.shared.statements.observe_ready(status == TransactionStatus::Idle);
                return Ok(Some((Next::Owned(Event::ReadyForQuery(status)), Some(point))));
            }
            BackendMessage::RowDescription(desc) => {
                let raw = desc.raw();
                let encoding = self.shared.encoding;
                let cols = match &self.last_row_description {
                    (enc, bytes, Some(cols)) if *enc == encoding && bytes.as_slice() == raw => cols.clone(),
                    _ => {
                        let cols: Arc<[Column]> =
                            desc.fields().map(|f| Column::from_field(f, encoding)).collect::<Vec<_>>().into();
                        self.last_row_description = (encoding, raw.to_vec(), Some(cols.clone()));
                        cols
                    }
                };
                self.columns = Some(cols);
                Next::RowDescription
            }
            BackendMessage::CommandComplete { tag } => {
                self.shared.statements.observe_tag(tag, front.search_path);
                Next::CommandComplete(body.start..body.start + tag.len())
            }
            BackendMessage::EmptyQueryResponse => Next::Owned(Event::EmptyQueryResponse),
            BackendMessage::ParseComplete => Next::Owned(Event::ParseComplete),
            BackendMessage::BindComplete => Next::Owned(Event::BindComplete),
            BackendMessage::CloseComplete => Next::Owned(Event::CloseComplete),
            BackendMessage::NoData => Next::Owned(Event::NoData),
            BackendMessage::PortalSuspended => Next::Owned(Event::PortalSuspended),
            BackendMessage::ParameterDescription(p) => Next::Owned(Event::ParameterDescription(p.types().collect())),
            BackendMessage::CopyInResponse(c) => {
                // A COPY IN request sends its own data; anything else is ended here (unless
                // an abandoned COPY IN request already sent its CopyFail).
                let wanted = !front.discard
                    && self
                        .requests
                        .iter()
                        .any(|r| r.id == front.owner && r.machine.copy_ref().is_some_and(|c| c.wants_copy_in()));
                if !wanted && !front.copy_failed {
                    self.shared.end_copy_in()?;
                }
                Next::Owned(Event::CopyInResponse { format: c.format, column_formats: c.column_formats().collect() })
            }
            BackendMessage::CopyOutResponse(c) => {
                Next::Owned(Event::CopyOutResponse { format: c.format, column_formats: c.column_formats().collect() })
            }
            BackendMessage::CopyData(_) => Next::CopyData(body),
            BackendMessage::CopyDone => Next::Owned(Event::CopyDone),
            _ => return Err(ProtocolError::Unexpected { ty: ty as char, state: "a request was running" }.into()),
        };
        Ok(Some((next, None)))
    }

    /// Hands an event to the request whose sync point it answers (`popped`: the one a
    /// ReadyForQuery just ended; else the front one): swallowed for an abandoned request,
    /// recorded (its first error) for what was sent on a request's behalf.
    fn deliver(&mut self, next: Next, popped: Option<crate::shared::SyncPoint>) -> Result<(), Error> {
        let (owner, discard, prefix) = match &popped {
            Some(p) => (p.owner, p.discard, p.prefix),
            None => {
                let front = self.shared.syncs.front().expect("checked by the caller");
                (front.owner, front.discard, front.prefix)
            }
        };
        if discard {
            return Ok(());
        }
        let Some(i) = self.requests.iter().position(|r| r.id == owner) else {
            return Err(ProtocolError::Unexpected { ty: '?', state: "no request is waiting for it" }.into());
        };
        let ev = match next {
            Next::Owned(e) => e,
            Next::RowDescription => Event::RowDescription(self.columns.as_ref().expect("just set")),
            Next::DataRow(body) => {
                Event::DataRow(Row::new(self.columns.as_ref(), self.recv.slice(body), &self.row_ranges))
            }
            Next::CommandComplete(r) => Event::CommandComplete(std::str::from_utf8(self.recv.slice(r)).unwrap_or("")),
            Next::CopyData(r) => Event::CopyData(self.recv.slice(r)),
        };
        let request = &mut self.requests[i];
        if prefix {
            if let Event::Error(e) = ev {
                request.prefix_error.get_or_insert(e);
            }
            return Ok(());
        }
        let undo = request.detached && request.machine.undo_when_detached();
        match request.machine.on_event(ev, owner, &mut self.shared)? {
            Progress::Pending => {}
            Progress::Done(result) => {
                let request = self.requests.remove(i).expect("found");
                if request.detached {
                    // Nobody waits: its effect is applied; a scope opened for a guard that
                    // was never handed out is closed again at once.
                    if undo && result.is_ok() {
                        self.abandon_scope();
                    }
                    return Ok(());
                }
                // A request may finish before its last sync point is answered (misuse found
                // after a describe): what is left is swallowed. A suspended portal keeps its
                // open point for the fetch that adopts it.
                if !matches!(result, Ok(Response::Suspended(_))) {
                    self.shared.abandon(owner);
                }
                let result = match request.prefix_error {
                    Some(e) => Err(Error::Db(e)),
                    None => result,
                };
                self.done.push((owner, result));
            }
        }
        Ok(())
    }
}

impl Wire for Connection {
    fn transmit(&self) -> &[u8] {
        Connection::transmit(self)
    }
    fn advance(&mut self, n: usize) {
        Connection::advance(self, n)
    }
    fn recv_buf(&mut self) -> &mut [u8] {
        Connection::recv_buf(self)
    }
    fn recv_commit(&mut self, n: usize) {
        Connection::recv_commit(self, n)
    }
    fn receive_eof(&mut self) {
        Connection::receive_eof(self)
    }
    fn transport_error(&mut self, e: Error) -> Error {
        Connection::transport_error(self, e)
    }
}

/// The COPY machine of request `id`.
fn copy_machine(requests: &mut VecDeque<InFlight>, id: RequestId) -> Result<&mut crate::request::CopyMachine, Error> {
    requests
        .iter_mut()
        .find(|r| r.id == id)
        .and_then(|r| r.machine.copy())
        .ok_or_else(|| UsageError::InvalidState("no COPY is in progress for this request".into()).into())
}
