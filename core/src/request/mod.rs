//! Requests: what a caller asks the engine for, as owned values, and the state machine that
//! carries out each kind — a simple query, an extended query (collected, streamed, counted or
//! opened as a portal), a prepare, a pipeline, a psycopg2 session command, a wait for
//! notifications.
//!
//! A request owns everything it sends (parameters are encoded when it is made), so any number
//! can be submitted and queued; each gets a [`RequestId`] and its own [`Response`].

mod command;
mod copy;
pub(crate) mod event;
mod listen;
pub(crate) mod params;
mod pipeline;
mod query;
pub(crate) mod replication;
mod simple;

use crate::error::Error;
use crate::request::event::Event;
use crate::session::conversation::{Conversation, RequestId};
use crate::session::statements::Statement;
use crate::session::{Command, RecoveredXid};
use crate::types::row::{ResultSet, SimpleBatch};

pub use copy::{CopyDirection, CopyFormat, CopyResult};
pub use params::Params;
pub use pipeline::Pipeline;
pub use query::{Mode, Query, QueryResult};

use command::CommandMachine;
use copy::CopyMachine;
use listen::ListenMachine;
use pipeline::PipelineMachine;
use query::{FetchMachine, PrepareMachine, QueryMachine, QuerySpec};
use replication::ReplicationMachine;
use simple::SimpleMachine;

/// A request to the engine. Build it with one of the constructors; submit it with
/// [`Connection::submit`](crate::Connection::submit).
#[derive(Debug, Clone)]
pub struct Request(Kind);

#[derive(Debug, Clone)]
enum Kind {
    /// `internal`: pgsans' own statement, never preceded by the automatic BEGIN.
    Simple {
        sql: String,
        keep_rows: bool,
        stream: bool,
        internal: bool,
    },
    Query(QuerySpec),
    Prepare {
        sql: String,
        types: Vec<u32>,
    },
    Fetch {
        portal: RequestId,
        max_rows: i32,
        columns: Option<std::sync::Arc<[crate::Column]>>,
    },
    Pipeline(Pipeline),
    Command(Command),
    WaitNotifications,
    Copy {
        sql: String,
        direction: CopyDirection,
    },
    Replication {
        sql: String,
    },
}

/// What a request is: see [`Request::summary`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestSummary<'r> {
    pub kind: &'static str,
    /// The first keyword of its SQL (`SELECT`, `INSERT` …) or the command's name.
    pub operation: &'r str,
    pub sql: Option<&'r str>,
    /// The server-side name of the prepared statement it runs.
    pub statement: Option<&'r str>,
    /// Queries in it (a pipeline's count).
    pub queries: usize,
}

impl Request {
    /// One or more `;`-separated statements through the simple protocol: one result set per
    /// statement ([`Response::Batch`]).
    pub fn simple(sql: impl Into<String>) -> Request {
        Request(Kind::Simple { sql: sql.into(), keep_rows: true, stream: false, internal: false })
    }

    /// Like [`simple`](Self::simple), with the rows streamed: the engine stops before each
    /// one for [`take_row`](crate::Connection::take_row) (text format, with the columns of its
    /// own statement); the response holds the statements' tags, without rows. Memory stays
    /// bounded whatever the number of rows.
    pub fn simple_stream(sql: impl Into<String>) -> Request {
        Request(Kind::Simple { sql: sql.into(), keep_rows: false, stream: true, internal: false })
    }

    /// Like [`simple`](Self::simple), the rows counted by the server and not kept
    /// (tokio-postgres' `batch_execute`).
    pub fn batch(sql: impl Into<String>) -> Request {
        Request(Kind::Simple { sql: sql.into(), keep_rows: false, stream: false, internal: false })
    }

    /// An extended query with `$n` parameters ([`Response::Query`]). The parameters are
    /// encoded now: as their Rust types declare them for SQL text, for the statement's types
    /// for a prepared statement (a value that does not fit is an error here).
    pub fn query<'q>(query: impl Into<Query<'q>>, params: Params<'_>, mode: Mode) -> Result<Request, Error> {
        Ok(Request(Kind::Query(QuerySpec::new(query.into(), params, mode, 0)?)))
    }

    /// Looks up the types `oids` in `pg_catalog` ([`Connection::type_lookup_sql`](crate::Connection::type_lookup_sql)):
    /// a [`Response::Query`] whose rows are read with [`Type::from_row`](crate::types::Type::from_row).
    /// It never opens a transaction (no automatic BEGIN outside autocommit): it reads the
    /// catalogue inside the one the caller is in, if any.
    pub fn type_lookup(sql: &str, oids: &[u32]) -> Result<Request, Error> {
        let oids = oids.to_vec();
        let mut spec = QuerySpec::new(Query::Sql(sql), &[&oids], Mode::Collect, 0)?;
        spec.internal = true;
        Ok(Request(Kind::Query(spec)))
    }

    /// `CLOSE` of the server-side cursor `name` (quoted here), never preceded by the automatic
    /// BEGIN: closing a `WITH HOLD` cursor after its transaction must not open another
    /// ([`Response::Batch`]).
    pub fn close_cursor(name: &str) -> Result<Request, Error> {
        // A simple Query: sent whole at once, so it runs even when nobody waits for it.
        let sql = format!("CLOSE {}", crate::session::sql::quote_ident(name));
        Ok(Request(Kind::Simple { sql, keep_rows: false, stream: false, internal: true }))
    }

    /// [`query`](Self::query) with the parameters encoded into `buffer`.
    pub(crate) fn query_in<'q>(
        query: impl Into<Query<'q>>,
        params: Params<'_>,
        mode: Mode,
        buffer: params::Encoded,
    ) -> Result<Request, Error> {
        Ok(Request(Kind::Query(QuerySpec::with_buffer(query.into(), params, mode, 0, buffer)?)))
    }

    /// Opens a portal that returns at most `max_rows` rows at a time: the first batch comes as
    /// [`Response::Suspended`] (more to fetch) or [`Response::Query`] (that was all).
    pub fn portal<'q>(query: impl Into<Query<'q>>, params: Params<'_>, max_rows: i32) -> Result<Request, Error> {
        if max_rows <= 0 {
            return Err(crate::UsageError::InvalidArgument("a portal needs a row limit above 0".into()).into());
        }
        Ok(Request(Kind::Query(QuerySpec::new(query.into(), params, Mode::Collect, max_rows)?)))
    }

    /// The next `max_rows` rows of the portal opened (or last fetched) by request `portal`;
    /// `max_rows` 0 closes it. `columns` are the portal's, for the result.
    pub fn fetch(portal: RequestId, max_rows: i32, columns: Option<std::sync::Arc<[crate::Column]>>) -> Request {
        Request(Kind::Fetch { portal, max_rows, columns })
    }

    /// Prepares a statement server-side ([`Response::Prepared`]); `types` fixes parameter types
    /// (0 or missing entries: inferred by the server).
    pub fn prepare(sql: impl Into<String>, types: &[u32]) -> Request {
        Request(Kind::Prepare { sql: sql.into(), types: types.to_vec() })
    }

    /// `COPY … FROM STDIN`: once [`input_format`](crate::Connection::input_format) is
    /// `Some`, send the data with [`send_data`](crate::Connection::send_data) and end with
    /// [`finish_data`](crate::Connection::finish_data) (or `fail_data`); answered with
    /// [`Response::Copy`].
    pub fn copy_in(sql: impl Into<String>) -> Request {
        Request(Kind::Copy { sql: sql.into(), direction: CopyDirection::In })
    }

    /// `COPY … TO STDOUT`: take the data with
    /// [`take_data`](crate::Connection::take_data); answered with [`Response::Copy`].
    pub fn copy_out(sql: impl Into<String>) -> Request {
        Request(Kind::Copy { sql: sql.into(), direction: CopyDirection::Out })
    }

    /// A replication stream: `sql` is `START_REPLICATION …` (logical or physical), run on a
    /// replication connection (`replication=database` or `true`). Take its messages with
    /// [`take_replication`](crate::Connection::take_replication), report progress with
    /// [`send_standby_status`](crate::Connection::send_standby_status), end it with
    /// [`stop_replication`](crate::Connection::stop_replication); answered with
    /// [`Response::ReplicationEnded`]. Nothing else may be submitted while it runs.
    pub fn start_replication(sql: impl Into<String>) -> Request {
        Request(Kind::Replication { sql: sql.into() })
    }

    /// Runs a pipeline ([`Response::Pipeline`]).
    pub fn pipeline(pipeline: Pipeline) -> Request {
        Request(Kind::Pipeline(pipeline))
    }

    /// A psycopg2 session command ([`Response::Command`], [`Response::Recovered`]).
    pub fn command(command: Command) -> Request {
        Request(Kind::Command(command))
    }

    /// Completes, while the connection is otherwise idle, once at least one notification has
    /// arrived ([`Response::NotificationsArrived`]); the notifications stay queued for
    /// [`take_notifications`](crate::Connection::take_notifications) /
    /// [`take_notification`](crate::Connection::take_notification), so none is lost by a
    /// caller that takes only some.
    pub fn wait_notifications() -> Request {
        Request(Kind::WaitNotifications)
    }

    /// What the psycopg2 rules call this request when refusing it.
    pub(crate) fn runs_sql(&self) -> Option<&'static str> {
        match &self.0 {
            Kind::Simple { .. } | Kind::Query(_) => Some("execute"),
            // A fetch continues (or closes) a portal that already ran: refusing it would leave
            // the portal open, and everything queued behind it waiting, for good.
            Kind::Fetch { .. } => None,
            Kind::Copy { .. } => Some("copy"),
            Kind::Replication { .. } => Some("start_replication"),
            Kind::Prepare { .. } => Some("prepare"),
            Kind::Pipeline(_) => Some("pipeline"),
            Kind::Command(_) | Kind::WaitNotifications => None,
        }
    }

    /// What the request is, for logs and traces: its kind (`query`, `simple query`, `prepare`,
    /// `fetch`, `pipeline`, `command`, `notifications`, `copy`), its operation (the first SQL
    /// keyword, or the command's name), its SQL text if it has one (a prepared statement's
    /// text), the server-side statement name, and a pipeline's query count.
    pub fn summary(&self) -> RequestSummary<'_> {
        fn of_sql<'s>(kind: &'static str, sql: &'s str) -> RequestSummary<'s> {
            RequestSummary {
                kind,
                operation: crate::session::sql::first_keyword(sql),
                sql: Some(sql),
                statement: None,
                queries: 1,
            }
        }
        match &self.0 {
            Kind::Simple { sql, .. } => of_sql("simple query", sql),
            Kind::Query(spec) => match &spec.target {
                query::Target_::Sql(sql) => of_sql("query", sql),
                query::Target_::Statement(stmt) => {
                    RequestSummary { statement: Some(stmt.name()), ..of_sql("query", stmt.sql()) }
                }
            },
            Kind::Prepare { sql, .. } => of_sql("prepare", sql),
            Kind::Copy { sql, .. } => of_sql("copy", sql),
            Kind::Replication { sql } => of_sql("replication", sql),
            Kind::Pipeline(p) => {
                RequestSummary { kind: "pipeline", operation: "PIPELINE", sql: None, statement: None, queries: p.len() }
            }
            Kind::Fetch { .. } => {
                RequestSummary { kind: "fetch", operation: "FETCH", sql: None, statement: None, queries: 1 }
            }
            Kind::WaitNotifications => {
                RequestSummary { kind: "notifications", operation: "LISTEN", sql: None, statement: None, queries: 0 }
            }
            Kind::Command(c) => {
                RequestSummary { kind: "command", operation: c.name(), sql: None, statement: None, queries: 1 }
            }
        }
    }

    /// The types of parameters whose values were encoded as another type — a domain's base
    /// type, if the connection's type catalogue knows the domain. A client makes sure they
    /// are known ([`Connection::type_lookup_request`](crate::Connection::type_lookup_request))
    /// before submitting it; `None` (the usual case) when there are none.
    pub fn retyped_params(&self) -> Option<Vec<u32>> {
        match &self.0 {
            Kind::Query(spec) => spec.params.retyped(),
            Kind::Pipeline(p) => p.params.retyped(),
            _ => None,
        }
    }

    /// Whether its SQL may run `COPY … FROM STDIN` without being a COPY request (a simple
    /// query, an extended query or a pipeline naming it): the server would take whatever is
    /// queued behind it as copy data, so the engine queues nothing behind it until it is
    /// answered, and ends the copy it did not ask for with CopyFail.
    pub(crate) fn may_copy_in(&self) -> bool {
        // Without allocating: this runs for every request submitted.
        fn has(sql: &str, word: &[u8]) -> bool {
            sql.as_bytes().windows(word.len()).any(|w| w.eq_ignore_ascii_case(word))
        }
        fn risky(sql: &str) -> bool {
            has(sql, b"stdin") && has(sql, b"copy")
        }
        match &self.0 {
            Kind::Simple { sql, .. } => risky(sql),
            Kind::Query(spec) => match &spec.target {
                query::Target_::Sql(sql) => risky(sql),
                query::Target_::Statement(stmt) => risky(stmt.sql()),
            },
            Kind::Pipeline(p) => p.sqls().iter().any(|s| risky(s)),
            // A COPY TO STDOUT request whose SQL turns out to copy in.
            Kind::Copy { sql, .. } => risky(sql),
            _ => false,
        }
    }

    /// Whether it may need the automatic BEGIN (a fetch continues a portal that already did).
    pub(crate) fn may_begin(&self) -> bool {
        match &self.0 {
            Kind::Query(spec) => !spec.internal,
            Kind::Simple { internal, .. } => !internal,
            Kind::Pipeline(_) | Kind::Copy { .. } => true,
            _ => false,
        }
    }

    /// What running it does to the transaction status, as far as its SQL tells (commands and
    /// simple queries: each statement is judged as it is queued).
    pub(crate) fn tx_effect(&self) -> crate::session::sql::TxEffect {
        use crate::session::sql::TxEffect;
        match &self.0 {
            Kind::Query(spec) => spec.tx,
            Kind::Pipeline(p) => p.tx_effect(),
            _ => TxEffect::Unchanged,
        }
    }

    /// Whether what it sends depends on the transaction status the server will be in when it
    /// arrives: a session command (planned by the rules), or SQL that may need the automatic
    /// BEGIN. Such a request waits in the engine while that status is unknown.
    pub(crate) fn depends_on_tx(&self, autocommit: bool) -> bool {
        match &self.0 {
            Kind::Command(_) => true,
            _ => !autocommit && self.runs_sql().is_some() && self.may_begin(),
        }
    }

    /// Whether, abandoned before its response, it may leave work running on the server that a
    /// cancel request could stop (not a session command, which must run to its end, nor a
    /// wait for notifications).
    pub fn runs_on_server(&self) -> bool {
        !matches!(self.0, Kind::Command(_) | Kind::WaitNotifications)
    }

    pub(crate) fn command_ref(&self) -> Option<&Command> {
        match &self.0 {
            Kind::Command(c) => Some(c),
            _ => None,
        }
    }

    pub(crate) fn is_fetch(&self) -> bool {
        matches!(self.0, Kind::Fetch { .. })
    }

    /// The portal a fetch continues.
    pub(crate) fn fetch_portal(&self) -> Option<RequestId> {
        match self.0 {
            Kind::Fetch { portal, .. } => Some(portal),
            _ => None,
        }
    }
}

/// What a finished request produced.
#[derive(Debug)]
#[non_exhaustive]
pub enum Response {
    /// A simple query: the result set of each statement up to the first error, and that error.
    Batch(SimpleBatch),
    /// An extended query ran to completion (a portal: its last batch).
    Query(QueryResult),
    /// A portal returned its row limit and has more.
    Suspended(QueryResult),
    /// A prepared statement.
    Prepared(Statement),
    /// One result per query of a pipeline, in order.
    Pipeline(Vec<Result<QueryResult, Error>>),
    /// A session command: the result sets of its statements.
    Command(Vec<ResultSet>),
    /// `tpc_recover`.
    Recovered(Vec<RecoveredXid>),
    /// Notifications are waiting to be taken (the answer to [`Request::wait_notifications`]).
    NotificationsArrived,
    /// A COPY finished.
    Copy(CopyResult),
    /// A replication stream ended.
    ReplicationEnded(crate::replication::ReplicationEnd),
}

impl Response {
    fn unexpected(&self) -> Error {
        crate::Error::Internal(format!("unexpected response {self:?}"))
    }

    pub fn into_batch(self) -> Result<SimpleBatch, Error> {
        match self {
            Response::Batch(b) => Ok(b),
            other => Err(other.unexpected()),
        }
    }

    /// The result of a query, finished or suspended.
    pub fn into_query(self) -> Result<QueryResult, Error> {
        match self {
            Response::Query(r) | Response::Suspended(r) => Ok(r),
            other => Err(other.unexpected()),
        }
    }

    pub fn into_statement(self) -> Result<Statement, Error> {
        match self {
            Response::Prepared(s) => Ok(s),
            other => Err(other.unexpected()),
        }
    }

    pub fn into_pipeline(self) -> Result<Vec<Result<QueryResult, Error>>, Error> {
        match self {
            Response::Pipeline(r) => Ok(r),
            other => Err(other.unexpected()),
        }
    }

    pub fn into_result_sets(self) -> Result<Vec<ResultSet>, Error> {
        match self {
            Response::Command(r) => Ok(r),
            other => Err(other.unexpected()),
        }
    }

    pub fn into_recovered(self) -> Result<Vec<RecoveredXid>, Error> {
        match self {
            Response::Recovered(r) => Ok(r),
            other => Err(other.unexpected()),
        }
    }

    pub fn into_copy(self) -> Result<CopyResult, Error> {
        match self {
            Response::Copy(c) => Ok(c),
            other => Err(other.unexpected()),
        }
    }

    pub fn into_replication_end(self) -> Result<crate::replication::ReplicationEnd, Error> {
        match self {
            Response::ReplicationEnded(e) => Ok(e),
            other => Err(other.unexpected()),
        }
    }
}

/// How a request is doing after an event.
#[derive(Debug)]
pub(crate) enum Progress {
    Pending,
    Done(Result<Response, Error>),
}

/// What a request in flight needs from the engine now: the one interface between the engine
/// and the request kinds (with [`Machine::on_event`], [`Machine::on_abandon`] and
/// [`Machine::on_idle`]). A new kind of request is a new file in `request/` that answers these;
/// the engine knows no kind by name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Wants {
    /// Stop before each message of its own of this type (`b'D'`: DataRow, `b'd'`: CopyData)
    /// so that the caller takes it, borrowed from the receive buffer.
    pub(crate) stop_before: Option<u8>,
    /// Read nothing more for it until the caller has acted (what was already received stays
    /// unread, as if it had not arrived yet).
    pub(crate) caller_first: bool,
    /// Nothing else may be submitted while it runs: why (the server would take it as part of
    /// this request).
    pub(crate) exclusive: Option<&'static str>,
    /// It has no sync points of its own and waits for what the server sends unasked
    /// (notifications): read while it waits, and ask [`Machine::on_idle`] after each input.
    pub(crate) idle_input: bool,
}

/// Data a caller gives a request that takes some.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CallerData<'a> {
    Bytes(&'a [u8]),
    /// The end of the data.
    End,
    /// The data is abandoned, with this message.
    Fail(&'a str),
}

/// What becomes of a request nobody waits for any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Abandoned {
    /// Its answers are read and dropped.
    Discard,
    /// It runs to its end — its effect on the session must apply — and only its response is
    /// dropped; `undo_scope`: a transaction scope it opens is closed again at once (its guard
    /// was never handed out).
    Detach { undo_scope: bool },
}

/// The state machine of a request in flight.
#[derive(Debug)]
pub(crate) enum Machine {
    Simple(SimpleMachine),
    /// Not boxed: a query is the request made most often, and this saves it an allocation.
    Query(QueryMachine),
    Prepare(PrepareMachine),
    Fetch(FetchMachine),
    Pipeline(Box<PipelineMachine>),
    Command(CommandMachine),
    Copy(CopyMachine),
    Listen(ListenMachine),
    Replication(ReplicationMachine),
}

/// A request just submitted: running, or answered at once (a setting only stored). Returned once
/// per request and moved straight on: its size costs a copy, boxing would cost an allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Started {
    Running(Machine),
    Done(Response),
}

impl Machine {
    /// Queues `request`'s messages (after the automatic BEGIN, `began`, if the engine sent
    /// one). On error the engine takes back everything queued.
    pub(crate) fn start(
        request: Request,
        id: RequestId,
        began: Option<String>,
        in_block: bool,
        plan: Option<crate::session::rules::Plan>,
        conv: &mut Conversation,
    ) -> Result<Started, Error> {
        Ok(Started::Running(match request.0 {
            Kind::Simple { sql, keep_rows, stream, .. } => {
                Machine::Simple(SimpleMachine::start(&sql, keep_rows, stream, id, conv)?)
            }
            Kind::Query(spec) => Machine::Query(QueryMachine::start(spec, id, began, conv)?),
            Kind::Prepare { sql, types } => Machine::Prepare(PrepareMachine::start(&sql, &types, id, conv)?),
            Kind::Fetch { portal, max_rows, columns } => {
                Machine::Fetch(FetchMachine::start(portal, max_rows, columns, id, conv)?)
            }
            Kind::Pipeline(p) => Machine::Pipeline(Box::new(PipelineMachine::start(p, id, in_block, conv)?)),
            Kind::Command(_) => {
                let Some(plan) = plan else {
                    return Err(Error::Internal("a session command was not planned".into()));
                };
                match CommandMachine::start(plan, id, conv)? {
                    Ok(m) => Machine::Command(m),
                    Err(response) => return Ok(Started::Done(response)),
                }
            }
            Kind::WaitNotifications => Machine::Listen(ListenMachine),
            Kind::Copy { sql, direction } => Machine::Copy(CopyMachine::start(&sql, direction, id, conv)?),
            Kind::Replication { sql } => Machine::Replication(ReplicationMachine::start(&sql, id, conv)?),
        }))
    }

    /// An event of one of this request's sync points. `Err` is fatal to the connection.
    pub(crate) fn on_event(
        &mut self,
        ev: Event<'_>,
        id: RequestId,
        conv: &mut Conversation,
    ) -> Result<Progress, Error> {
        if matches!(ev, Event::CopyBothResponse { .. }) && !matches!(self, Machine::Replication(_)) {
            // A stream nobody asked for would never end: the server is out of step.
            return Err(crate::error::ProtocolError::Unexpected {
                ty: 'W',
                state: "a request that is not a replication stream was running",
            }
            .into());
        }
        if matches!(ev, Event::CopyInResponse { .. }) && !matches!(self, Machine::Copy(c) if c.takes_copy_in()) {
            // The server waits for data nobody will send: end its copy at once.
            conv.end_copy_in()?;
        }
        Ok(match self {
            Machine::Simple(m) => m.on_event(ev),
            Machine::Query(m) => m.on_event(ev, id, conv)?,
            Machine::Prepare(m) => m.on_event(ev, conv),
            Machine::Fetch(m) => m.on_event(ev, id, conv),
            Machine::Pipeline(m) => m.on_event(ev, id, conv)?,
            Machine::Command(m) => m.on_event(ev, conv),
            Machine::Copy(m) => m.on_event(ev),
            Machine::Listen(_) => Progress::Pending,
            Machine::Replication(m) => m.on_event(ev, conv),
        })
    }

    /// What it needs from the engine now (see [`Wants`]).
    pub(crate) fn wants(&self) -> Wants {
        match self {
            Machine::Query(q) if q.streams() => Wants { stop_before: Some(b'D'), ..Wants::default() },
            Machine::Simple(s) if s.streams() => Wants { stop_before: Some(b'D'), ..Wants::default() },
            Machine::Copy(c) => c.wants(),
            Machine::Listen(l) => l.wants(),
            Machine::Replication(r) => r.wants(),
            _ => Wants::default(),
        }
    }

    /// Its parameter buffer, once it is finished: the engine keeps it for the next request.
    pub(crate) fn take_params(&mut self) -> Option<params::Encoded> {
        match self {
            Machine::Query(q) => Some(q.take_params()),
            _ => None,
        }
    }

    /// Nobody waits for it any more; what it sends first (a COPY IN's CopyFail) is queued here.
    pub(crate) fn on_abandon(&mut self, id: RequestId, conv: &mut Conversation) -> Abandoned {
        match self {
            Machine::Command(c) => Abandoned::Detach { undo_scope: c.opens_scope() },
            Machine::Copy(c) => {
                c.abandon(id, conv);
                Abandoned::Discard
            }
            Machine::Replication(r) => {
                // The server streams until told to stop: CopyDone now, the rest is drained.
                r.stop(conv);
                Abandoned::Discard
            }
            _ => Abandoned::Discard,
        }
    }

    /// After each input the engine has processed, for a request that waits for what the
    /// server sends unasked ([`Wants::idle_input`]): its response, once it has one.
    pub(crate) fn on_idle(&mut self, conv: &Conversation) -> Option<Result<Response, Error>> {
        match self {
            Machine::Listen(l) => l.on_idle(conv),
            _ => None,
        }
    }

    /// Data from the caller for a request that takes some (COPY FROM STDIN): `Some(fail)`
    /// ends it (`fail`: abandon it with that message). A misuse error for any other request.
    pub(crate) fn caller_data(&mut self, data: CallerData<'_>, conv: &mut Conversation) -> Result<(), Error> {
        match (self, data) {
            (Machine::Copy(c), CallerData::Bytes(bytes)) => c.send(bytes, conv),
            (Machine::Copy(c), CallerData::End) => c.end(None, conv),
            (Machine::Copy(c), CallerData::Fail(message)) => c.end(Some(message), conv),
            _ => {
                Err(crate::UsageError::InvalidState("this request takes no data (no COPY is in progress)".into())
                    .into())
            }
        }
    }

    /// The format of the data a request takes from the caller, while it waits for some.
    pub(crate) fn input_format(&self) -> Option<&CopyFormat> {
        match self {
            Machine::Copy(c) => c.in_format(),
            _ => None,
        }
    }

    /// The format of the data a request hands the caller, once announced.
    pub(crate) fn output_format(&self) -> Option<&CopyFormat> {
        match self {
            Machine::Copy(c) => c.out_format(),
            _ => None,
        }
    }

    /// Whether it will queue the rest of its messages once answers come (a pipeline describing
    /// its SQL first): nothing is queued behind it until then.
    pub(crate) fn queues_later(&self) -> bool {
        matches!(self, Machine::Pipeline(p) if p.describing())
    }

    /// The replication stream, if it is one.
    pub(crate) fn replication(&mut self) -> Option<&mut ReplicationMachine> {
        match self {
            Machine::Replication(r) => Some(r),
            _ => None,
        }
    }

    /// Whether it is a session command: what is planned after it depends on its outcome.
    pub(crate) fn is_session_command(&self) -> bool {
        matches!(self, Machine::Command(_))
    }

    /// Queues more of what it sends, as the send buffer drains (pipelines).
    pub(crate) fn queue_more(&mut self, id: RequestId, conv: &mut Conversation) -> Result<(), Error> {
        match self {
            Machine::Pipeline(p) => p.queue_more(id, conv),
            _ => Ok(()),
        }
    }
}
