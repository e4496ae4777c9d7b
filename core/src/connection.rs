//! The connection state machine.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::auth::scram::{ChannelBinding, ScramClient};
use crate::buffer::{RecvBuffer, SendBuffer};
use crate::codec::backend::{self, Authentication, BackendMessage};
use crate::codec::frontend;
use crate::config::{Config, SslMode};
use crate::encoding::Encoding;
use crate::error::{AuthError, ClosedReason, ConfigError, DbError, Error, Notice, ProtocolError, UsageError};
use crate::row::{Column, Row};
use crate::session::{ConnectionStatus, IsolationLevel, SessionState, Xid};

/// What the transport must wait for before calling the engine again: psycopg2's
/// `POLL_OK` / `POLL_READ` / `POLL_WRITE`, plus psycopg 3's read-or-write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Nothing to wait for: drain [`Connection::poll_event`]; if that yields nothing, the current
    /// operation is complete.
    Ok,
    /// Wait until the socket is readable, then read into [`Connection::recv_buf`].
    Read,
    /// Wait until the socket is writable, then write [`Connection::transmit`].
    Write,
    /// Wait until the socket is readable *or* writable and do whichever is possible. Returned
    /// while requests are being sent and responses may already be coming back: a transport that
    /// only waited for writability could deadlock against a server blocked on writing to us.
    ReadWrite,
}

/// `PQtransactionStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionStatus {
    /// Idle, not in a transaction block.
    Idle,
    /// A command is in progress.
    Active,
    /// Idle, in a transaction block.
    InTransaction,
    /// Idle, in a failed transaction block.
    InError,
    /// The connection is bad (closed, broken, or not established).
    Unknown,
}

/// A `NotificationResponse` (LISTEN / NOTIFY).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notification {
    pub process_id: i32,
    pub channel: String,
    pub payload: String,
}

/// The backend's process id and secret key, from `BackendKeyData`, for cancel requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendKey {
    pub process_id: i32,
    /// 4 bytes in protocol 3.0; up to 256 in 3.2.
    pub secret_key: Vec<u8>,
}

/// The printable nonce for SCRAM. Injected so that the engine never draws randomness itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientNonce(String);

impl ClientNonce {
    /// The nonce libpq would build from 18 random bytes (their base64). Transports pass bytes
    /// from the OS random source.
    pub fn from_random_bytes(bytes: [u8; 18]) -> Self {
        ClientNonce(crate::auth::scram::nonce_from_random(&bytes))
    }

    /// A given printable nonce, for replaying a recorded exchange. It must be non-empty,
    /// printable ASCII and contain no `,`.
    pub fn from_printable(s: &str) -> Result<Self, UsageError> {
        if s.is_empty() || !s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',') {
            return Err(UsageError::InvalidArgument("SCRAM nonce must be printable ASCII without ','".into()));
        }
        Ok(ClientNonce(s.to_owned()))
    }
}

/// One event from the server, borrowed from the receive buffer until the next call on the engine.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The columns of the rows that follow.
    RowDescription(&'a Arc<[Column]>),
    /// One row.
    DataRow(Row<'a>),
    /// A statement finished; the tag is e.g. `INSERT 0 3` or `SELECT 2`.
    CommandComplete(&'a str),
    /// The query string was empty.
    EmptyQueryResponse,
    /// A statement failed. The connection stays usable; a ReadyForQuery follows.
    Error(Box<DbError>),
    /// The server is ready for the next query: the end of one request.
    ReadyForQuery(TransactionStatus),
    ParseComplete,
    BindComplete,
    CloseComplete,
    NoData,
    PortalSuspended,
    /// The parameter types of a described statement.
    ParameterDescription(Vec<u32>),
    /// The server is waiting for COPY data.
    CopyInResponse {
        format: u8,
        column_formats: Vec<i16>,
    },
    /// The server is about to send COPY data.
    CopyOutResponse {
        format: u8,
        column_formats: Vec<i16>,
    },
    /// A chunk of COPY OUT data.
    CopyData(&'a [u8]),
    /// The end of COPY OUT data.
    CopyDone,
    /// The result of a FunctionCall.
    FunctionCallResponse(Option<&'a [u8]>),
}

#[derive(Debug)]
enum AuthState {
    /// Waiting for the first Authentication request.
    Start,
    /// A password was sent; waiting for AuthenticationOk.
    SentPassword,
    Scram(Box<ScramClient>),
    /// AuthenticationOk received; waiting for BackendKeyData, ParameterStatus and ReadyForQuery.
    Authenticated,
}

#[derive(Debug)]
enum Phase {
    Startup(AuthState),
    Ready,
    /// Terminate is queued; once it is written the connection is closed.
    Closing,
    Closed,
}

/// What one outstanding request (a Query, or everything up to a Sync) expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestKind {
    SimpleQuery,
    /// Extended-query messages up to and including a Sync.
    Sync,
}

#[derive(Debug)]
struct Request {
    #[allow(dead_code)] // kept for debugging output
    kind: RequestKind,
    /// Its operation was abandoned: swallow its responses.
    discard: bool,
    /// No Sync was sent for it yet (an open portal fetched in batches).
    unsynced: bool,
    /// Its SQL may change `search_path`: its completion drops the statement cache.
    search_path: bool,
}

impl Request {
    fn new(kind: RequestKind, unsynced: bool) -> Request {
        Request { kind, discard: false, unsynced, search_path: false }
    }
}

/// A callback that receives every notice instead of the notice queue.
pub type NoticeHandler = Box<dyn FnMut(&Notice) + Send>;

/// Consumes the events of requests queued ahead of an operation's own (the automatic BEGIN):
/// returns `true` when `ev` belonged to them, keeping the first error.
pub(crate) fn consume_prefix(prefix: &mut usize, ev: &Event<'_>, error: &mut Option<Box<DbError>>) -> bool {
    if *prefix == 0 {
        return false;
    }
    match ev {
        Event::Error(e) => {
            error.get_or_insert_with(|| e.clone());
        }
        Event::ReadyForQuery(_) => *prefix -= 1,
        _ => {}
    }
    true
}

/// The maximum number of notices kept by default (psycopg2's `CONN_NOTICES_LIMIT`).
pub const DEFAULT_NOTICE_LIMIT: usize = 50;

/// A PostgreSQL client connection as a pure state machine: bytes in, bytes out, events out.
///
/// It never touches a socket, a clock or a random source. A transport drives it with one loop:
///
/// 1. **Inputs.** Read from the socket into [`recv_buf`](Self::recv_buf) and
///    [`recv_commit`](Self::recv_commit) the count (or [`receive`](Self::receive) a slice);
///    report end of stream with [`receive_eof`](Self::receive_eof).
/// 2. **Outputs.** Write [`transmit`](Self::transmit) to the socket and
///    [`advance`](Self::advance) by the count written; partial writes are fine.
/// 3. **Events.** Call [`poll_event`](Self::poll_event) until it returns `None`; rows borrow from
///    the receive buffer.
/// 4. **Wait.** [`poll`](Self::poll) says what to wait for next: [`Poll::Read`],
///    [`Poll::Write`], [`Poll::ReadWrite`] or [`Poll::Ok`] (nothing: the operation is done).
///
/// **Commands** ([`simple_query`](Self::simple_query), [`terminate`](Self::terminate), …) queue
/// bytes and register what response they expect; misuse is reported before anything is queued.
/// **Getters** ([`transaction_status`](Self::transaction_status),
/// [`parameter_status`](Self::parameter_status), …) never change state.
///
/// Fatal errors (a protocol violation, a FATAL ErrorResponse, an unexpected end of stream) are
/// sticky: every later call returns the same error.
///
/// Most code does not drive the engine by hand: the [`Operation`](crate::Operation)s in this
/// crate (connect, simple query, close) are the same loops, and a transport runs any of them with
/// a dozen lines of socket code.
pub struct Connection {
    phase: Phase,
    recv: RecvBuffer,
    send: SendBuffer,
    max_message_len: usize,
    eof: bool,
    fatal: Option<Error>,

    user: String,
    password: Option<Vec<u8>>,
    nonce: ClientNonce,

    parameters: Vec<(String, String)>,
    backend_key: Option<BackendKey>,
    tx_status: TransactionStatus,
    protocol_minor: u16,
    requests: VecDeque<Request>,

    notices: VecDeque<Notice>,
    notice_limit: usize,
    notifications: VecDeque<Notification>,

    columns: Option<Arc<[Column]>>,
    row_ranges: Vec<Option<(u32, u32)>>,
    /// The last RowDescription's bytes and columns: an identical one (in the same client
    /// encoding) reuses the same `Arc` instead of allocating column names again (the common
    /// case of a repeated query), which also makes comparing it with a cached one cheap.
    last_row_description: (Encoding, Vec<u8>, Option<Arc<[Column]>>),
    /// The session's client encoding, from its ParameterStatus.
    encoding: Encoding,
    pub(crate) statements: crate::statement::StatementCache,

    config: Config,
    session: SessionState,
    notice_handler: Option<NoticeHandler>,
    /// Read while idle: a caller is waiting for notifications.
    idle_read: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("phase", &self.phase)
            .field("transaction_status", &self.tx_status)
            .field("outstanding_requests", &self.requests.len())
            .finish_non_exhaustive()
    }
}

/// Where the next message's bytes are, or what to report instead (decided while mutating,
/// returned as a borrow afterwards).
enum Next {
    None,
    Owned(Event<'static>),
    RowDescription,
    DataRow(std::ops::Range<usize>),
    CommandComplete(std::ops::Range<usize>),
    CopyData(std::ops::Range<usize>),
    FunctionCallResponse(Option<std::ops::Range<usize>>),
}

impl Connection {
    /// Starts a connection: the StartupMessage is queued at once, so the first [`poll`](Self::poll)
    /// answers [`Poll::Write`].
    ///
    /// `nonce` is used if the server asks for SCRAM; transports make it from OS randomness.
    pub fn new(config: &Config, nonce: ClientNonce) -> Result<Connection, Error> {
        let user = config.user().ok_or(ConfigError::NoUser)?.to_owned();
        match config.ssl_mode() {
            SslMode::Disable | SslMode::Allow | SslMode::Prefer => {}
            other => {
                return Err(ConfigError::Unsupported(format!(
                    "sslmode={other:?}: this build of pgsans does not speak TLS yet"
                ))
                .into())
            }
        }
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
        if config.get("replication").is_some() {
            params.push(("replication", config.get("replication").unwrap_or_default()));
        }
        for (k, v) in config.params() {
            params.push((k, v));
        }
        let mut send = SendBuffer::default();
        frontend::startup_message(params.iter().copied(), send.vec())?;
        Ok(Connection {
            phase: Phase::Startup(AuthState::Start),
            recv: RecvBuffer::default(),
            send,
            max_message_len: config.max_message_len_value(),
            eof: false,
            fatal: None,
            password: config.password().map(|p| p.as_bytes().to_vec()),
            user,
            nonce,
            parameters: Vec::new(),
            backend_key: None,
            tx_status: TransactionStatus::Unknown,
            protocol_minor: 0,
            requests: VecDeque::new(),
            notices: VecDeque::new(),
            notice_limit: DEFAULT_NOTICE_LIMIT,
            notifications: VecDeque::new(),
            columns: None,
            row_ranges: Vec::new(),
            last_row_description: (Encoding::UTF8, Vec::new(), None),
            encoding: Encoding::UTF8,
            statements: crate::statement::StatementCache::default(),
            config: config.clone(),
            session: SessionState::default(),
            notice_handler: None,
            idle_read: false,
        })
    }

    // ----- inputs -----------------------------------------------------------------------

    /// Spare space to read socket bytes into; then call [`recv_commit`](Self::recv_commit) with
    /// the count read. Large enough for the message being received, up to the message cap.
    pub fn recv_buf(&mut self) -> &mut [u8] {
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
        self.recv.commit(n);
    }

    /// Copies bytes received from the server into the engine.
    pub fn receive(&mut self, data: &[u8]) {
        self.recv.extend(data);
    }

    /// Reports that the server closed its end of the connection.
    pub fn receive_eof(&mut self) {
        self.eof = true;
    }

    // ----- outputs ----------------------------------------------------------------------

    /// Bytes to write to the socket, in order. Empty when there is nothing to send.
    pub fn transmit(&self) -> &[u8] {
        self.send.pending()
    }

    /// Reports that the first `n` bytes of [`transmit`](Self::transmit) were written.
    ///
    /// # Panics
    /// If `n` exceeds the length of `transmit()`: that is a bug in the transport.
    pub fn advance(&mut self, n: usize) {
        self.send.advance(n);
        if matches!(self.phase, Phase::Closing) && self.send.is_empty() {
            self.phase = Phase::Closed;
        }
    }

    /// What to wait for next. Call it after draining [`poll_event`](Self::poll_event).
    pub fn poll(&mut self) -> Result<Poll, Error> {
        if let Some(e) = &self.fatal {
            return Err(e.clone());
        }
        let unread = self.recv.unread();
        if !unread.is_empty() && !matches!(backend::frame(unread, self.max_message_len), Ok(None)) {
            return Ok(Poll::Ok); // a complete (or invalid) message is waiting for poll_event
        }
        let write = !self.send.is_empty();
        let read = match self.phase {
            Phase::Startup(_) => true,
            Phase::Ready => !self.requests.is_empty() || self.idle_read,
            Phase::Closing | Phase::Closed => false,
        };
        if read && self.eof {
            return Err(self.fail(Error::Closed(ClosedReason::UnexpectedEof)));
        }
        Ok(match (read, write) {
            (true, true) if matches!(self.phase, Phase::Ready) => Poll::ReadWrite,
            (_, true) => Poll::Write,
            (true, false) => Poll::Read,
            (false, false) => Poll::Ok,
        })
    }

    /// Reports a transport failure (a socket error, a timeout while connecting). The connection
    /// becomes broken: the error is sticky, as if the server had broken the protocol.
    pub fn transport_error(&mut self, e: Error) -> Error {
        self.fail(e)
    }

    /// Whether the engine is waiting for responses from the server.
    pub fn is_busy(&self) -> bool {
        match self.phase {
            Phase::Startup(_) => true,
            Phase::Ready => !self.requests.is_empty() || !self.send.is_empty(),
            Phase::Closing => !self.send.is_empty(),
            Phase::Closed => false,
        }
    }

    fn fail(&mut self, e: Error) -> Error {
        if self.fatal.is_none() {
            self.fatal = Some(e.clone());
        }
        self.tx_status = TransactionStatus::Unknown;
        self.requests.clear();
        e
    }

    /// Processes the next complete message and returns the event it produces, if any.
    ///
    /// Messages with no event for the caller (authentication, ParameterStatus, notices,
    /// notifications, responses to an abandoned operation) are handled inside and skipped.
    /// Returns `Ok(None)` when no complete message is buffered.
    pub fn poll_event(&mut self) -> Result<Option<Event<'_>>, Error> {
        if let Some(e) = &self.fatal {
            return Err(e.clone());
        }
        let next = loop {
            let frame = match backend::frame(self.recv.unread(), self.max_message_len) {
                Ok(Some(f)) => f,
                Ok(None) => {
                    self.recv.shrink_if_idle();
                    if self.eof && !self.recv.unread().is_empty() {
                        return Err(self.fail(Error::Closed(ClosedReason::UnexpectedEof)));
                    }
                    if self.eof && matches!(self.phase, Phase::Ready) && self.requests.is_empty() {
                        return Err(self.fail(Error::Closed(ClosedReason::ServerClosed)));
                    }
                    break Next::None;
                }
                Err(e) => return Err(self.fail(e.into())),
            };
            if matches!(self.phase, Phase::Closing | Phase::Closed) {
                // After Terminate nothing more matters; drop what arrives.
                self.recv.consume(frame.total_len);
                continue;
            }
            let range = self.recv.consume(frame.total_len);
            let body = range.start + 5..range.end;
            match self.handle(frame.ty, body) {
                Ok(Some(next)) => break next,
                Ok(None) => continue,
                Err(e) => {
                    if e.is_fatal() {
                        return Err(self.fail(e));
                    }
                    return Err(e);
                }
            }
        };
        Ok(match next {
            Next::None => None,
            Next::Owned(e) => Some(e),
            Next::RowDescription => Some(Event::RowDescription(self.columns.as_ref().expect("just set"))),
            Next::DataRow(body) => {
                let body = self.recv.slice(body);
                Some(Event::DataRow(Row::new(self.columns.as_ref(), body, &self.row_ranges)))
            }
            Next::CommandComplete(r) => {
                let tag = std::str::from_utf8(self.recv.slice(r)).unwrap_or("");
                Some(Event::CommandComplete(tag))
            }
            Next::CopyData(r) => Some(Event::CopyData(self.recv.slice(r))),
            Next::FunctionCallResponse(r) => Some(Event::FunctionCallResponse(r.map(|r| self.recv.slice(r)))),
        })
    }

    fn handle(&mut self, ty: u8, body: std::ops::Range<usize>) -> Result<Option<Next>, Error> {
        if ty == b'D' {
            return self.handle_data_row(body);
        }
        // The message borrows the receive buffer while the handler mutates the rest of the
        // engine; moving the buffer out for the duration is two pointer-sized moves.
        let recv = std::mem::take(&mut self.recv);
        let result = backend::decode(ty, recv.slice(body.clone()))
            .map_err(Error::from)
            .and_then(|msg| self.handle_message(ty, body, msg));
        self.recv = recv;
        result
    }

    /// DataRow, the hot path: validated and indexed in one pass, no generic decode.
    fn handle_data_row(&mut self, body: std::ops::Range<usize>) -> Result<Option<Next>, Error> {
        if !matches!(self.phase, Phase::Ready) {
            return Err(ProtocolError::Unexpected { ty: 'D', state: "starting up" }.into());
        }
        let Some(front) = self.requests.front() else {
            return Err(ProtocolError::Unexpected { ty: 'D', state: "idle" }.into());
        };
        // Every execution is described (simple queries always are; pgsans sends Describe with
        // every Execute), so a row is always decoded with its own execution's description.
        let Some(cols) = self.columns.as_ref() else {
            return Err(ProtocolError::Unexpected { ty: 'D', state: "no RowDescription preceded it" }.into());
        };
        backend::data_row_ranges(self.recv.slice(body.clone()), &mut self.row_ranges)?;
        if cols.len() != self.row_ranges.len() {
            return Err(ProtocolError::Malformed {
                message: "DataRow",
                what: "column count differs from RowDescription",
            }
            .into());
        }
        Ok(if front.discard { None } else { Some(Next::DataRow(body)) })
    }

    fn handle_message(
        &mut self,
        ty: u8,
        body: std::ops::Range<usize>,
        msg: BackendMessage<'_>,
    ) -> Result<Option<Next>, Error> {
        // Messages that can arrive at any time.
        match msg {
            BackendMessage::ParameterStatus { name, value } => {
                let name = self.encoding.decode_lossy(name).into_owned();
                let value = self.encoding.decode_lossy(value).into_owned();
                match name.as_str() {
                    "client_encoding" => self.encoding = Encoding::from_name(&value),
                    "search_path" => self.statements.observe_search_path(),
                    _ => {}
                }
                match self.parameters.iter_mut().find(|(k, _)| *k == name) {
                    Some(slot) => slot.1 = value,
                    None => self.parameters.push((name, value)),
                }
                return Ok(None);
            }
            BackendMessage::NoticeResponse(fields) => {
                let notice = DbError::parse_in(fields, self.encoding)?;
                self.push_notice(notice);
                return Ok(None);
            }
            BackendMessage::NotificationResponse { process_id, channel, payload } => {
                self.notifications.push_back(Notification {
                    process_id,
                    channel: self.encoding.decode_lossy(channel).into_owned(),
                    payload: self.encoding.decode_lossy(payload).into_owned(),
                });
                return Ok(None);
            }
            _ => {}
        }
        if let Phase::Startup(_) = self.phase {
            return self.handle_startup(ty, msg).map(|o| o.map(Next::Owned));
        }
        // Ready phase: everything else answers the request at the front of the queue.
        if let BackendMessage::ErrorResponse(fields) = msg {
            let err = DbError::parse_in(fields, self.encoding)?;
            if err.is_fatal() {
                return Err(Error::Db(Box::new(err)));
            }
            if self.requests.is_empty() {
                return Err(ProtocolError::Unexpected { ty: 'E', state: "idle" }.into());
            }
            self.statements.observe_error();
            let discard = self.requests.front().is_some_and(|r| r.discard);
            return Ok(if discard { None } else { Some(Next::Owned(Event::Error(Box::new(err)))) });
        }
        let Some(front) = self.requests.front() else {
            return Err(ProtocolError::Unexpected { ty: ty as char, state: "idle" }.into());
        };
        let discard = front.discard;
        let next = match msg {
            BackendMessage::ReadyForQuery { .. } if front.unsynced => {
                // Only a Sync (or a simple Query) is answered with ReadyForQuery.
                return Err(ProtocolError::Unexpected { ty: 'Z', state: "no Sync was sent" }.into());
            }
            BackendMessage::ReadyForQuery { status } => {
                self.tx_status = match status {
                    b'I' => TransactionStatus::Idle,
                    b'T' => TransactionStatus::InTransaction,
                    b'E' => TransactionStatus::InError,
                    _ => {
                        return Err(ProtocolError::Malformed { message: "ReadyForQuery", what: "unknown status" }.into())
                    }
                };
                self.requests.pop_front();
                self.columns = None;
                self.statements.observe_ready(self.tx_status == TransactionStatus::Idle);
                Next::Owned(Event::ReadyForQuery(self.tx_status))
            }
            BackendMessage::RowDescription(desc) => {
                let raw = desc.raw();
                let encoding = self.encoding;
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
                self.statements.observe_tag(tag, front.search_path);
                let start = body.start;
                Next::CommandComplete(start..start + tag.len())
            }
            BackendMessage::EmptyQueryResponse => Next::Owned(Event::EmptyQueryResponse),
            BackendMessage::ParseComplete => Next::Owned(Event::ParseComplete),
            BackendMessage::BindComplete => Next::Owned(Event::BindComplete),
            BackendMessage::CloseComplete => Next::Owned(Event::CloseComplete),
            BackendMessage::NoData => Next::Owned(Event::NoData),
            BackendMessage::PortalSuspended => Next::Owned(Event::PortalSuspended),
            BackendMessage::ParameterDescription(p) => Next::Owned(Event::ParameterDescription(p.types().collect())),
            BackendMessage::CopyInResponse(c) => {
                // No operation here feeds COPY data yet: refuse it so the server does not wait.
                frontend::copy_fail("COPY FROM STDIN is not supported by this operation", self.send.vec())?;
                Next::Owned(Event::CopyInResponse { format: c.format, column_formats: c.column_formats().collect() })
            }
            BackendMessage::CopyOutResponse(c) => {
                Next::Owned(Event::CopyOutResponse { format: c.format, column_formats: c.column_formats().collect() })
            }
            BackendMessage::CopyData(_) => Next::CopyData(body),
            BackendMessage::CopyDone => Next::Owned(Event::CopyDone),
            BackendMessage::FunctionCallResponse(v) => {
                Next::FunctionCallResponse(v.map(|v| body.end - v.len()..body.end))
            }
            _ => {
                return Err(ProtocolError::Unexpected { ty: ty as char, state: "a query was running" }.into());
            }
        };
        // Responses to an abandoned operation are consumed here and never reach the caller.
        Ok(if discard { None } else { Some(next) })
    }

    fn handle_startup(&mut self, ty: u8, msg: BackendMessage<'_>) -> Result<Option<Event<'static>>, Error> {
        let Phase::Startup(auth) = &mut self.phase else { unreachable!() };
        match msg {
            BackendMessage::Authentication(a) => {
                let state = std::mem::replace(auth, AuthState::Start);
                let next = self.authenticate(state, a)?;
                self.phase = Phase::Startup(next);
                Ok(None)
            }
            BackendMessage::BackendKeyData { process_id, secret_key } => {
                if !matches!(auth, AuthState::Authenticated) {
                    return Err(ProtocolError::Unexpected { ty: 'K', state: "authenticating" }.into());
                }
                if self.protocol_minor == 0 && secret_key.len() != 4 {
                    return Err(ProtocolError::Malformed {
                        message: "BackendKeyData",
                        what: "protocol 3.0 secret key must be 4 bytes",
                    }
                    .into());
                }
                self.backend_key = Some(BackendKey { process_id, secret_key: secret_key.to_vec() });
                Ok(None)
            }
            BackendMessage::NegotiateProtocolVersion(v) => {
                // We ask for 3.0, so a server can only offer 3.0 here (it does so when it does not
                // know a `_pq_.` option); anything newer than asked is a protocol violation.
                if v.newest_minor != 0 {
                    return Err(ProtocolError::UnsupportedVersion(v.newest_minor).into());
                }
                self.protocol_minor = v.newest_minor;
                Ok(None)
            }
            BackendMessage::ErrorResponse(fields) => {
                Err(Error::Db(Box::new(DbError::parse_in(fields, self.encoding)?)))
            }
            BackendMessage::ReadyForQuery { status } => {
                if !matches!(auth, AuthState::Authenticated) {
                    return Err(ProtocolError::Unexpected { ty: 'Z', state: "authenticating" }.into());
                }
                self.tx_status = match status {
                    b'I' => TransactionStatus::Idle,
                    b'T' => TransactionStatus::InTransaction,
                    b'E' => TransactionStatus::InError,
                    _ => {
                        return Err(ProtocolError::Malformed { message: "ReadyForQuery", what: "unknown status" }.into())
                    }
                };
                self.phase = Phase::Ready;
                self.password = None;
                Ok(Some(Event::ReadyForQuery(self.tx_status)))
            }
            _ => Err(ProtocolError::Unexpected { ty: ty as char, state: "starting up" }.into()),
        }
    }

    fn password(&self, method: &'static str) -> Result<&[u8], Error> {
        self.password.as_deref().ok_or(Error::Auth(AuthError::PasswordMissing(method)))
    }

    fn authenticate(&mut self, state: AuthState, a: Authentication<'_>) -> Result<AuthState, Error> {
        let unexpected = |what: &'static str| -> Error { ProtocolError::Unexpected { ty: 'R', state: what }.into() };
        match (state, a) {
            (AuthState::Start | AuthState::SentPassword, Authentication::Ok) => Ok(AuthState::Authenticated),
            (AuthState::Scram(s), Authentication::Ok) => {
                if !s.is_done() {
                    return Err(ProtocolError::Scram(
                        "AuthenticationOk before the server proved it knows the password",
                    )
                    .into());
                }
                Ok(AuthState::Authenticated)
            }
            (AuthState::Start, Authentication::CleartextPassword) => {
                let pw = self.password("password")?.to_vec();
                frontend::password_message(&pw, self.send.vec())?;
                Ok(AuthState::SentPassword)
            }
            (AuthState::Start, Authentication::Md5Password { salt }) => {
                let pw = self.password("MD5")?;
                let hashed = crate::auth::md5_password(&self.user, pw, salt);
                frontend::password_message(hashed.as_bytes(), self.send.vec())?;
                Ok(AuthState::SentPassword)
            }
            (AuthState::Start, Authentication::Sasl { mechanisms }) => {
                let offered: Vec<&str> = mechanisms.iter().collect();
                if !offered.contains(&"SCRAM-SHA-256") {
                    return Err(AuthError::NoCommonMechanism(offered.join(", ")).into());
                }
                let pw = self.password("SCRAM-SHA-256")?;
                // Without TLS there is no channel to bind to.
                let client = ScramClient::new(pw, &self.nonce.0, ChannelBinding::Unsupported);
                frontend::sasl_initial_response(client.mechanism(), client.client_first().as_bytes(), self.send.vec())?;
                Ok(AuthState::Scram(Box::new(client)))
            }
            (AuthState::Scram(mut s), Authentication::SaslContinue { data }) => {
                let reply = s.handle_server_first(data)?;
                frontend::sasl_response(reply.as_bytes(), self.send.vec())?;
                Ok(AuthState::Scram(s))
            }
            (AuthState::Scram(mut s), Authentication::SaslFinal { data }) => {
                s.handle_server_final(data)?;
                Ok(AuthState::Scram(s))
            }
            (AuthState::Start, Authentication::KerberosV5) => {
                Err(ProtocolError::UnsupportedAuth("Kerberos V5".into()).into())
            }
            (AuthState::Start, Authentication::Gss | Authentication::GssContinue { .. }) => {
                Err(ProtocolError::UnsupportedAuth("GSSAPI".into()).into())
            }
            (AuthState::Start, Authentication::Sspi) => Err(ProtocolError::UnsupportedAuth("SSPI".into()).into()),
            (AuthState::Authenticated, _) => Err(unexpected("authenticated")),
            (_, _) => Err(unexpected("authenticating")),
        }
    }

    fn push_notice(&mut self, notice: Notice) {
        if let Some(handler) = &mut self.notice_handler {
            handler(&notice);
            return;
        }
        if self.notice_limit == 0 {
            return;
        }
        while self.notices.len() >= self.notice_limit {
            self.notices.pop_front();
        }
        self.notices.push_back(notice);
    }

    // ----- commands ---------------------------------------------------------------------

    pub(crate) fn check_ready(&self) -> Result<(), Error> {
        if let Some(e) = &self.fatal {
            return Err(e.clone());
        }
        match self.phase {
            Phase::Ready => Ok(()),
            Phase::Startup(_) => Err(UsageError::NotReady("the connection is still starting up").into()),
            Phase::Closing | Phase::Closed => Err(Error::Closed(ClosedReason::ByClient)),
        }
    }

    /// Queues a simple-protocol Query (one or more statements separated by `;`).
    ///
    /// Its responses come out of [`poll_event`](Self::poll_event) in order and end with
    /// [`Event::ReadyForQuery`]. Several queries may be queued before reading any response.
    pub fn simple_query(&mut self, sql: &str) -> Result<(), Error> {
        self.check_ready()?;
        let encoded = self.encode_text(sql)?;
        frontend::query(&encoded, self.send.vec())?;
        self.requests.push_back(Request::new(RequestKind::SimpleQuery, false));
        if crate::statement::mentions_search_path(sql) {
            self.mark_search_path();
        }
        Ok(())
    }

    /// The session's client encoding (UTF8 unless the session changed it).
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// `s` in the client encoding, or a usage error naming the first character it cannot hold.
    pub(crate) fn encode_text<'s>(&self, s: &'s str) -> Result<std::borrow::Cow<'s, [u8]>, Error> {
        self.encoding
            .encode(s)
            .map_err(|character| UsageError::NotEncodable { character, encoding: self.encoding.to_string() }.into())
    }

    /// Appends Parse for `sql` (in the client encoding).
    pub(crate) fn queue_parse(&mut self, name: &str, sql: &str, types: &[u32]) -> Result<(), Error> {
        let encoded = self.encode_text(sql)?;
        frontend::parse(name, &encoded, types, self.send.vec())?;
        Ok(())
    }

    /// Marks the last registered request as one whose SQL may change `search_path`.
    pub(crate) fn mark_search_path(&mut self) {
        if let Some(r) = self.requests.back_mut() {
            r.search_path = true;
        }
    }

    /// Runs `queue`, which appends messages and registers requests; if it fails, everything it
    /// appended and registered is taken back (the statements it would have closed stay due),
    /// so misuse leaves the connection as it was.
    pub(crate) fn queue_atomically<T>(
        &mut self,
        queue: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mark = self.send.vec().len();
        let requests = self.requests.len();
        self.statements.sweep_user();
        let closes = self.statements.to_close.clone();
        let r = queue(self);
        if r.is_err() {
            self.send.vec().truncate(mark);
            self.requests.truncate(requests);
            self.statements.to_close = closes;
        }
        r
    }

    /// Registers an extended-query request (messages up to a Sync) queued with [`send_buf`](Self::send_buf).
    pub(crate) fn push_sync_request(&mut self) {
        self.requests.push_back(Request::new(RequestKind::Sync, false));
    }

    /// Registers messages sent with Flush instead of Sync (an open portal, a statement being
    /// described before its Bind): its ReadyForQuery comes only after
    /// [`sync_open_request`](Self::sync_open_request).
    pub(crate) fn push_unsynced_request(&mut self) {
        self.requests.push_back(Request::new(RequestKind::Sync, true));
    }

    /// Whether the front request is an open portal that this caller may continue.
    pub(crate) fn has_open_portal(&self) -> bool {
        self.requests.len() == 1 && self.requests.front().is_some_and(|r| r.unsynced && !r.discard)
    }

    /// Queues the Sync that ends the open request.
    pub(crate) fn sync_open_request(&mut self) {
        if let Some(r) = self.requests.iter_mut().find(|r| r.unsynced) {
            r.unsynced = false;
            frontend::sync(self.send.vec());
        }
    }

    /// The buffer outgoing messages are appended to.
    pub(crate) fn send_buf(&mut self) -> &mut Vec<u8> {
        self.send.vec()
    }

    /// The type of the next complete message, if it would be delivered to the caller (not
    /// swallowed as part of an abandoned request, and not a message handled inside).
    pub fn peek_message_type(&self) -> Option<u8> {
        if self.fatal.is_some() || !matches!(self.phase, Phase::Ready) {
            return None;
        }
        let frame = backend::frame(self.recv.unread(), self.max_message_len).ok()??;
        let front = self.requests.front()?;
        (!front.discard).then_some(frame.ty)
    }

    /// Marks every outstanding request as abandoned: their remaining responses are read and
    /// dropped inside the engine, so the next operation starts clean. This is what makes a
    /// dropped future or an interrupted call leave the connection usable.
    pub fn abandon_outstanding(&mut self) {
        let mut needs_sync = false;
        for r in &mut self.requests {
            r.discard = true;
            if r.unsynced {
                // An abandoned open portal: end it, or its ReadyForQuery would never come.
                r.unsynced = false;
                needs_sync = true;
            }
        }
        if needs_sync {
            frontend::sync(self.send.vec());
        }
        self.idle_read = false;
    }

    /// While idle, ask to read anyway so that notifications sent by other sessions are received
    /// ([`poll`](Self::poll) answers [`Poll::Read`] instead of [`Poll::Ok`]). Any new operation
    /// turns it off.
    pub fn set_idle_read(&mut self, on: bool) {
        self.idle_read = on;
    }

    /// Sends every notice to `handler` instead of keeping them (psycopg 3's notice handlers).
    pub fn set_notice_handler(&mut self, handler: Option<NoticeHandler>) {
        self.notice_handler = handler;
    }

    pub(crate) fn session(&self) -> &SessionState {
        &self.session
    }

    pub(crate) fn session_mut(&mut self) -> &mut SessionState {
        &mut self.session
    }

    /// Queues Terminate. Once [`transmit`](Self::transmit) is fully written the connection is
    /// closed and the transport closes the socket. Idempotent.
    pub fn terminate(&mut self) {
        match self.phase {
            Phase::Closing | Phase::Closed => {}
            _ => {
                self.requests.clear();
                if self.fatal.is_none() {
                    frontend::terminate(self.send.vec());
                    self.phase = Phase::Closing;
                } else {
                    self.phase = Phase::Closed;
                }
                self.tx_status = TransactionStatus::Unknown;
            }
        }
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

    /// Whether the connection was lost to a fatal error (psycopg2's `closed == 2`).
    pub fn is_broken(&self) -> bool {
        self.fatal.is_some()
    }

    /// psycopg2's `closed`: 0 open, 1 closed by the client, 2 broken (a fatal error).
    pub fn closed(&self) -> u8 {
        if self.fatal.is_some() {
            2
        } else if self.is_closed() {
            1
        } else {
            0
        }
    }

    /// The sticky fatal error, if any.
    pub fn fatal_error(&self) -> Option<&Error> {
        self.fatal.as_ref()
    }

    /// `PQtransactionStatus`: `Active` while a request is outstanding, `Unknown` when not connected.
    pub fn transaction_status(&self) -> TransactionStatus {
        if !self.is_ready() {
            TransactionStatus::Unknown
        } else if !self.requests.is_empty() {
            TransactionStatus::Active
        } else {
            self.tx_status
        }
    }

    /// The transaction status of the last ReadyForQuery, even while a request is outstanding.
    pub fn server_transaction_status(&self) -> TransactionStatus {
        if self.is_ready() {
            self.tx_status
        } else {
            TransactionStatus::Unknown
        }
    }

    /// psycopg2's `status`: READY, BEGIN (a transaction is open, as the server reports it) or
    /// PREPARED (after `tpc_prepare`).
    pub fn connection_status(&self) -> ConnectionStatus {
        match (&self.session.tpc, self.server_transaction_status()) {
            (Some((_, true)), _) => ConnectionStatus::Prepared,
            (_, TransactionStatus::InTransaction | TransactionStatus::InError) => ConnectionStatus::Begin,
            _ => ConnectionStatus::Ready,
        }
    }

    /// Whether each statement commits by itself (no BEGIN is sent for you).
    pub fn autocommit(&self) -> bool {
        self.session.autocommit
    }

    /// The isolation level put on BEGIN (or set as default in autocommit); `None` = server default.
    pub fn isolation_level(&self) -> Option<IsolationLevel> {
        self.session.isolation_level
    }

    /// Read-only setting; `None` = server default.
    pub fn read_only(&self) -> Option<bool> {
        self.session.read_only
    }

    /// Deferrable setting; `None` = server default.
    pub fn deferrable(&self) -> Option<bool> {
        self.session.deferrable
    }

    /// The xid of the current two-phase transaction.
    pub fn tpc_xid(&self) -> Option<&Xid> {
        self.session.tpc.as_ref().map(|(x, _)| x)
    }

    /// The nesting depth of open transaction scopes.
    pub fn transaction_depth(&self) -> usize {
        self.session.scopes
    }

    /// psycopg 3's `prepare_threshold`: after this many executions of the same SQL a statement
    /// is prepared server-side (default 5; `Some(0)` prepares on first use). `None` never
    /// prepares: for transaction-pooling proxies (pgbouncer) where a named statement may not
    /// exist on the next backend.
    pub fn set_prepare_threshold(&mut self, threshold: Option<usize>) {
        self.statements.threshold = threshold;
    }

    /// The current prepare threshold.
    pub fn prepare_threshold(&self) -> Option<usize> {
        self.statements.threshold
    }

    /// How many statements the cache keeps (default 100); the least recently used is evicted
    /// and closed on the server.
    pub fn set_statement_cache_capacity(&mut self, capacity: usize) {
        self.statements.capacity = capacity;
    }

    /// `(cached, prepared server-side)` statement counts.
    pub fn statement_cache_stats(&self) -> (usize, usize) {
        (self.statements.len(), self.statements.prepared_count())
    }

    /// The client encoding the server reported.
    pub fn client_encoding(&self) -> Option<&str> {
        self.parameter_status("client_encoding")
    }

    /// A token to cancel this connection's running query from another thread or task, over a
    /// new connection. `None` before BackendKeyData.
    pub fn cancel_key(&self) -> Option<crate::CancelToken> {
        let key = self.backend_key.as_ref()?;
        Some(crate::CancelToken { process_id: key.process_id, secret_key: key.secret_key.clone() })
    }

    /// The last value the server reported for a run-time parameter (`ParameterStatus`).
    pub fn parameter_status(&self, name: &str) -> Option<&str> {
        self.parameters.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every parameter the server reported, in first-reported order.
    pub fn parameters(&self) -> impl Iterator<Item = (&str, &str)> {
        self.parameters.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `server_version` as an integer the way libpq computes it (15.4 → 150004, 9.6.1 → 90601).
    pub fn server_version(&self) -> i32 {
        self.parameter_status("server_version").map(parse_server_version).unwrap_or(0)
    }

    /// The configuration this connection was made with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// psycopg2's `dsn`: the connection string, with the password shown as `xxx`.
    pub fn dsn(&self) -> String {
        self.config.dsn()
    }

    /// The backend process id and cancel key.
    pub fn backend_key(&self) -> Option<&BackendKey> {
        self.backend_key.as_ref()
    }

    /// The backend process id (0 before BackendKeyData).
    pub fn backend_pid(&self) -> i32 {
        self.backend_key.as_ref().map(|k| k.process_id).unwrap_or(0)
    }

    /// The protocol version in use, as `(3, minor)`.
    pub fn protocol_version(&self) -> (u16, u16) {
        (3, self.protocol_minor)
    }

    /// Notices received so far (oldest first), at most the notice limit.
    pub fn notices(&self) -> impl Iterator<Item = &Notice> {
        self.notices.iter()
    }

    /// Takes the notices received so far.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        self.notices.drain(..).collect()
    }

    /// How many notices to keep; older ones are dropped first. 0 keeps none.
    pub fn set_notice_limit(&mut self, limit: usize) {
        self.notice_limit = limit;
        while self.notices.len() > limit {
            self.notices.pop_front();
        }
    }

    /// Notifications received so far, oldest first.
    pub fn notifications(&self) -> impl Iterator<Item = &Notification> {
        self.notifications.iter()
    }

    /// Takes the notifications received so far.
    pub fn take_notifications(&mut self) -> Vec<Notification> {
        self.notifications.drain(..).collect()
    }
}

/// libpq's `server_version` parsing: `"15.4"` → 150004, `"9.6.1"` → 90601, `"16devel"` → 160000.
pub fn parse_server_version(s: &str) -> i32 {
    let mut nums = [0i32; 3];
    let mut count = 0;
    let mut rest = s;
    while count < 3 {
        let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            break;
        }
        nums[count] = rest[..digits].parse().unwrap_or(0);
        count += 1;
        rest = &rest[digits..];
        match rest.strip_prefix('.') {
            Some(r) => rest = r,
            None => break,
        }
    }
    match count {
        3 => (100 * nums[0] + nums[1]) * 100 + nums[2],
        2 if nums[0] >= 10 => nums[0] * 10000 + nums[1],
        2 => (100 * nums[0] + nums[1]) * 100,
        1 => nums[0] * 10000,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_server_version as v;

    #[test]
    fn server_versions() {
        assert_eq!(v("15.4"), 150004);
        assert_eq!(v("15.18 (Debian 15.18-0+deb12u1)"), 150018);
        assert_eq!(v("9.6.1"), 90601);
        assert_eq!(v("9.6devel"), 90600);
        assert_eq!(v("17beta1"), 170000);
        assert_eq!(v("x"), 0);
    }
}
