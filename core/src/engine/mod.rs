//! The connection engine: a [`Channel`](channel) of bytes (and TLS), the [dispatch](dispatch)
//! of every server message, and the requests in flight — submitted, held back, running,
//! answered. Request kinds meet it through one small interface (`request::Wants` and the
//! machine's hooks); their own public methods live with them in `request/`. Its contract is
//! on the crate page.

mod channel;
mod dispatch;
mod getters;
mod handed;
mod requests;

use std::collections::VecDeque;
use std::sync::Arc;

use channel::{Channel, Ssl};

use crate::auth::startup::{ClientNonce, Startup};
use crate::config::Config;
use crate::encoding::Encoding;
use crate::error::{ClosedReason, ConfigError, DbError, Error, Notice, UsageError};
use crate::request::{Abandoned, Machine, Request, Response};
use crate::session::conversation::{Conversation, RequestId};
use crate::session::status::{NoticeHandler, Notification, NotificationHandler, ServerStatus, TransactionStatus};
use crate::session::SessionState;
use crate::types::row::Column;
pub use crate::wire::{Interest, Wire};

#[derive(Debug)]
enum Phase {
    Startup(Box<Startup>),
    Ready,
    /// Terminate is queued; once it is written the connection is closed.
    Closing,
    Closed,
}

/// A request in flight.
#[derive(Debug)]
struct InFlight {
    id: RequestId,
    machine: Machine,
    /// The first error of what was sent for it (its automatic BEGIN): its error.
    prefix_error: Option<Box<DbError>>,
    /// Nobody waits for its response any more, but it runs to its end (a session command).
    detached: Option<Abandoned>,
}

/// A PostgreSQL client connection as a pure state machine; see the crate documentation for
/// its contract.
pub struct Connection {
    phase: Phase,
    channel: Channel,
    fatal: Option<Error>,
    conv: Conversation,
    requests: VecDeque<InFlight>,
    /// Requests submitted but not yet queued: they wait for the transaction status that work
    /// in flight will leave (see `must_wait`), in order.
    held: VecDeque<(RequestId, Request)>,
    done: Vec<(RequestId, Result<Response, Error>)>,
    next_id: u64,
    columns: Option<Arc<[Column]>>,
    /// Between a CopyOutResponse (or CopyBothResponse) and its CopyDone: CopyData is allowed.
    copy_out: bool,
    /// The copy is a replication stream's (CopyBoth): data may trail the server's CopyDone.
    copy_both: bool,
    row_ranges: Vec<Option<(u32, u32)>>,
    /// The last RowDescription's bytes and columns: an identical one (in the same client
    /// encoding) reuses the same `Arc` instead of allocating column names again (the common
    /// case of a repeated query), which also makes comparing it with a cached one cheap.
    last_row_description: (Encoding, Vec<u8>, Option<Arc<[Column]>>),
    /// Where the last `poll` stopped: before a message of this request, of this type and
    /// framed length, that it hands its caller itself. Cleared by anything that could move it.
    stop: Option<(RequestId, u8, usize)>,
    /// How much of the message the engine stopped before was read already (a caller taking
    /// less than a message at a time).
    stop_consumed: usize,
    dsn: String,
    dsn_parameters: Vec<(String, String)>,
    /// [`Config::trace_query_text`].
    trace_query_text: bool,
    /// Parameter buffers of finished queries, kept for the next ones
    /// ([`query_request`](Self::query_request)): a repeated query allocates nothing for them.
    spare_params: Vec<crate::request::params::Encoded>,
    /// The wall-clock time last given ([`set_current_time`](Self::set_current_time)), since the
    /// Unix epoch: what replication status updates report.
    wall_clock: std::time::Duration,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("phase", &self.phase)
            .field("transaction_status", &self.conv.tx_status)
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
        if let Some(refused) = config.unsupported() {
            return Err(ConfigError::Unsupported(refused).into());
        }
        let (startup, packet, max_minor) = Startup::for_attempt(config, attempt, nonce)?;
        let clock = Arc::new(crate::auth::tls::Clock::default());
        let plan = crate::auth::tls::plan(config, &attempt.target, &clock)?;
        let mut conv = Conversation {
            session: SessionState::new(config.autocommit_value().unwrap_or(config.is_replication())),
            // What we asked for, until the server negotiates it down.
            status: ServerStatus { protocol_minor: max_minor, ..ServerStatus::default() },
            binary_results: config.binary_results_on(),
            ..Conversation::default()
        };
        let mut tls_plan = None;
        let ssl = match plan {
            // Direct TLS: the handshake at once, the StartupMessage its first plaintext.
            Some(plan) if plan.direct => {
                let tls = crate::auth::tls::TlsSession::new(&plan)?;
                conv.buf().extend_from_slice(&packet);
                tls_plan = Some(Arc::new(plan));
                Ssl::On(Box::new(tls))
            }
            Some(plan) => {
                conv.buf().extend_from_slice(&crate::auth::tls::SSL_REQUEST);
                Ssl::Requested { plan, startup: packet }
            }
            None => {
                conv.buf().extend_from_slice(&packet);
                Ssl::Off
            }
        };
        Ok(Connection {
            phase: Phase::Startup(Box::new(startup)),
            channel: Channel::new(ssl, config.max_message_len_value(), clock, tls_plan),
            fatal: None,
            conv,
            requests: VecDeque::new(),
            held: VecDeque::new(),
            done: Vec::new(),
            next_id: 1,
            columns: None,
            copy_out: false,
            copy_both: false,
            row_ranges: Vec::new(),
            last_row_description: (Encoding::UTF8, Vec::new(), None),
            stop: None,
            stop_consumed: 0,
            dsn: config.dsn(),
            dsn_parameters: config.dsn_parameters().into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
            trace_query_text: config.trace_query_text_on(),
            spare_params: Vec::new(),
            wall_clock: std::time::Duration::ZERO,
        })
    }

    // ----- inputs -----------------------------------------------------------------------

    /// Spare space to read socket bytes into; then call [`recv_commit`](Self::recv_commit) with
    /// the count read. Large enough for the message being received, up to the message cap.
    pub fn recv_buf(&mut self) -> &mut [u8] {
        self.channel.recv_buf()
    }

    /// Reports that `n` bytes were read into [`recv_buf`](Self::recv_buf).
    ///
    /// # Panics
    /// If `n` is larger than the slice `recv_buf` returned: that is a bug in the transport.
    pub fn recv_commit(&mut self, n: usize) {
        if let Err(e) = self.channel.recv_commit(n) {
            self.fail(e);
        }
    }

    /// Copies bytes received from the server into the engine.
    pub fn receive(&mut self, data: &[u8]) {
        if let Err(e) = self.channel.receive(data) {
            self.fail(e);
        }
    }

    /// The current wall-clock time, which TLS needs to check certificate validity and
    /// replication status updates report (the engine never reads the clock). Transports call
    /// it before the handshake and before taking replication messages.
    pub fn set_current_time(&mut self, since_epoch: std::time::Duration) {
        self.wall_clock = since_epoch;
        self.channel.clock.set(since_epoch);
    }

    /// Reports that the server closed its end of the connection.
    pub fn receive_eof(&mut self) {
        self.channel.eof = true;
    }

    /// Reports a transport failure (a socket error, a timeout while connecting). The connection
    /// becomes broken: the error is sticky, as if the server had broken the protocol.
    pub fn transport_error(&mut self, e: Error) -> Error {
        self.fail(e)
    }

    // ----- outputs ----------------------------------------------------------------------

    /// Bytes to write to the socket, in order. Empty when there is nothing to send.
    pub fn transmit(&self) -> &[u8] {
        self.channel.transmit(&self.conv.send)
    }

    /// Encrypts what was queued, when TLS is in use (after every command that queues).
    fn seal(&mut self) {
        if let Err(e) = self.channel.seal(&mut self.conv.send) {
            self.fail(e);
        }
    }

    /// Reports that the first `n` bytes of [`transmit`](Self::transmit) were written.
    ///
    /// # Panics
    /// If `n` exceeds the length of `transmit()`: that is a bug in the transport.
    pub fn advance(&mut self, n: usize) {
        self.channel.advance(&mut self.conv.send, n);
        if matches!(self.phase, Phase::Closing) && self.channel.send_empty(&self.conv.send) {
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
        if self.stop.is_some() {
            return Ok(None);
        }
        let write = !self.channel.send_empty(&self.conv.send);
        let read = match self.phase {
            Phase::Startup(_) => true,
            Phase::Ready => self.expects_messages(),
            Phase::Closing | Phase::Closed => false,
        };
        if read && self.channel.eof {
            return Err(self.fail(Error::Closed(ClosedReason::UnexpectedEof)));
        }
        Ok(match (read, write) {
            (true, true) if matches!(self.phase, Phase::Ready) => Some(Interest::ReadWrite),
            (_, true) => Some(Interest::Write),
            (true, false) => Some(Interest::Read),
            (false, false) => None,
        })
    }

    /// Whether [`take_response`](Self::take_response) has the response of `id` (for a caller
    /// that drives the connection on behalf of others and wakes whoever waits for it).
    pub fn response_ready(&self, id: RequestId) -> bool {
        self.done.iter().any(|(d, _)| *d == id)
    }

    /// The response of a finished request (once; afterwards `None`). `None` while it runs.
    pub fn take_response(&mut self, id: RequestId) -> Option<Result<Response, Error>> {
        let i = self.done.iter().position(|(d, _)| *d == id)?;
        Some(self.done.swap_remove(i).1)
    }

    // ----- commands ---------------------------------------------------------------------

    /// Runs `handler` for every notification as it arrives, during any operation, instead of
    /// keeping it for [`take_notifications`](Self::take_notifications) (psycopg 3's
    /// `add_notify_handler`). A wait for notifications then ends only at its timeout: the
    /// handler has them.
    pub fn set_notification_handler(&mut self, handler: Option<NotificationHandler>) {
        self.conv.status.notification_handler = handler;
    }

    /// Sends every notice to `handler` instead of keeping them (psycopg 3's notice handlers).
    pub fn set_notice_handler(&mut self, handler: Option<NoticeHandler>) {
        self.conv.status.notice_handler = handler;
    }

    /// How many notifications to keep until they are taken (default 10,000; at least 1);
    /// beyond it the oldest are dropped and counted in
    /// [`notifications_dropped`](Self::notifications_dropped). A handler receives every one.
    pub fn set_notification_limit(&mut self, limit: usize) {
        self.conv.status.notification_limit = limit.max(1);
        while self.conv.status.notifications.len() > limit.max(1) {
            self.conv.status.notifications.pop_front();
            self.conv.status.notifications_dropped += 1;
        }
    }

    /// Notifications dropped because nobody took them before the queue was full.
    pub fn notifications_dropped(&self) -> u64 {
        self.conv.status.notifications_dropped
    }

    /// How many notices to keep; older ones are dropped first. 0 keeps none.
    pub fn set_notice_limit(&mut self, limit: usize) {
        self.conv.status.set_notice_limit(limit);
    }

    /// psycopg 3's `prepare_threshold`: after this many executions of the same SQL a statement
    /// is prepared server-side (default 5; `Some(0)` prepares on first use). `None` never
    /// prepares: for transaction-pooling proxies (pgbouncer) where a named statement may not
    /// exist on the next backend.
    pub fn set_prepare_threshold(&mut self, threshold: Option<usize>) {
        self.conv.statements.threshold = threshold;
    }

    /// How many statements the cache keeps (default 100); the least recently used is evicted
    /// and closed on the server.
    pub fn set_statement_cache_capacity(&mut self, capacity: usize) {
        self.conv.statements.capacity = capacity;
    }

    /// Takes the notices received so far.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        self.conv.status.notices.drain(..).collect()
    }

    /// Takes the notifications received so far.
    pub fn take_notifications(&mut self) -> Vec<Notification> {
        self.conv.status.notifications.drain(..).collect()
    }

    /// Takes the oldest notification received so far; the others stay queued.
    pub fn take_notification(&mut self) -> Option<Notification> {
        self.conv.status.notifications.pop_front()
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

    /// Every request someone waits for ends with `e`; nothing more will be answered.
    fn fail_requests(&mut self, e: &Error) {
        for r in self.requests.drain(..).filter(|r| r.detached.is_none()) {
            self.done.push((r.id, Err(e.clone())));
        }
        for (id, _) in self.held.drain(..) {
            self.done.push((id, Err(e.clone())));
        }
        self.conv.syncs.clear();
    }

    fn fail(&mut self, e: Error) -> Error {
        self.stop = None;
        if self.fatal.is_none() {
            self.fatal = Some(e.clone());
        }
        self.conv.tx_status = TransactionStatus::Unknown;
        self.fail_requests(&e);
        e
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
