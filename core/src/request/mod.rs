//! Requests: what a caller asks the engine for, as owned values, and the state machine that
//! carries out each kind — a simple query, an extended query (collected, streamed, counted or
//! opened as a portal), a prepare, a pipeline, a psycopg2 session command, a wait for
//! notifications.
//!
//! A request owns everything it sends (parameters are encoded when it is made), so any number
//! can be submitted and queued; each gets a [`RequestId`] and its own [`Response`].

mod copy;
mod params;
mod pipeline;
mod query;
mod simple;

use crate::error::Error;
use crate::event::Event;
use crate::row::{ResultSet, SimpleBatch};
use crate::session::{Command, RecoveredXid};
use crate::shared::{RequestId, Shared};
use crate::statement::Statement;

pub use copy::{CopyDirection, CopyFormat, CopyResult};
pub use params::Params;
pub use pipeline::Pipeline;
pub use query::{Mode, Query, QueryResult};

pub(crate) use copy::CopyMachine;
use pipeline::PipelineMachine;
use query::{FetchMachine, PrepareMachine, QueryMachine, QuerySpec};
use simple::{CommandMachine, SimpleMachine};

/// A request to the engine. Build it with one of the constructors; submit it with
/// [`Connection::submit`](crate::Connection::submit).
#[derive(Debug, Clone)]
pub struct Request(Kind);

#[derive(Debug, Clone)]
enum Kind {
    Simple { sql: String, keep_rows: bool, stream: bool },
    Query(QuerySpec),
    Prepare { sql: String, types: Vec<u32> },
    Fetch { portal: RequestId, max_rows: i32, columns: Option<std::sync::Arc<[crate::Column]>> },
    Pipeline(Pipeline),
    Command(Command),
    WaitNotifications,
    Copy { sql: String, direction: CopyDirection },
}

impl Request {
    /// One or more `;`-separated statements through the simple protocol: one result set per
    /// statement ([`Response::Batch`]).
    pub fn simple(sql: impl Into<String>) -> Request {
        Request(Kind::Simple { sql: sql.into(), keep_rows: true, stream: false })
    }

    /// Like [`simple`](Self::simple), with the rows streamed: the engine stops before each
    /// one for [`take_row`](crate::Connection::take_row) (text format, with the columns of its
    /// own statement); the response holds the statements' tags, without rows. Memory stays
    /// bounded whatever the number of rows.
    pub fn simple_stream(sql: impl Into<String>) -> Request {
        Request(Kind::Simple { sql: sql.into(), keep_rows: false, stream: true })
    }

    /// Like [`simple`](Self::simple), the rows counted by the server and not kept
    /// (tokio-postgres' `batch_execute`).
    pub fn batch(sql: impl Into<String>) -> Request {
        Request(Kind::Simple { sql: sql.into(), keep_rows: false, stream: false })
    }

    /// An extended query with `$n` parameters ([`Response::Query`]). The parameters are
    /// encoded now: as their Rust types declare them for SQL text, for the statement's types
    /// for a prepared statement (a value that does not fit is an error here).
    pub fn query<'q>(query: impl Into<Query<'q>>, params: Params<'_>, mode: Mode) -> Result<Request, Error> {
        Ok(Request(Kind::Query(QuerySpec::new(query.into(), params, mode, 0)?)))
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

    /// `COPY … FROM STDIN`: once [`copy_in_format`](crate::Connection::copy_in_format) is
    /// `Some`, send the data with [`copy_send`](crate::Connection::copy_send) and end with
    /// [`copy_finish`](crate::Connection::copy_finish) (or `copy_abort`); answered with
    /// [`Response::Copy`].
    pub fn copy_in(sql: impl Into<String>) -> Request {
        Request(Kind::Copy { sql: sql.into(), direction: CopyDirection::In })
    }

    /// `COPY … TO STDOUT`: take the data with
    /// [`take_copy_data`](crate::Connection::take_copy_data); answered with [`Response::Copy`].
    pub fn copy_out(sql: impl Into<String>) -> Request {
        Request(Kind::Copy { sql: sql.into(), direction: CopyDirection::Out })
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
            Kind::Simple { .. } | Kind::Query(_) | Kind::Fetch { .. } => Some("execute"),
            Kind::Copy { .. } => Some("copy"),
            Kind::Prepare { .. } => Some("prepare"),
            Kind::Pipeline(_) => Some("pipeline"),
            Kind::Command(_) | Kind::WaitNotifications => None,
        }
    }

    /// Whether it may need the automatic BEGIN (a fetch continues a portal that already did).
    pub(crate) fn may_begin(&self) -> bool {
        matches!(self.0, Kind::Simple { .. } | Kind::Query(_) | Kind::Pipeline(_) | Kind::Copy { .. })
    }

    /// What running it does to the transaction status, as far as its SQL tells (commands and
    /// simple queries: each statement is judged as it is queued).
    pub(crate) fn tx_effect(&self) -> crate::sql::TxEffect {
        use crate::sql::{transaction_effect, TxEffect};
        match &self.0 {
            Kind::Query(spec) => match &spec.target {
                query::Target_::Sql(sql) => transaction_effect(sql),
                query::Target_::Statement(s) => transaction_effect(s.sql()),
            },
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
}

/// How a request is doing after an event.
#[derive(Debug)]
pub(crate) enum Progress {
    Pending,
    Done(Result<Response, Error>),
}

/// The state machine of a request in flight.
#[derive(Debug)]
pub(crate) enum Machine {
    Simple(SimpleMachine),
    Query(Box<QueryMachine>),
    Prepare(PrepareMachine),
    Fetch(FetchMachine),
    Pipeline(Box<PipelineMachine>),
    Command(CommandMachine),
    Copy(CopyMachine),
    /// Waiting for notifications: no messages of its own.
    Listen,
}

/// A request just submitted: running, or answered at once (a setting only stored).
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
        shared: &mut Shared,
    ) -> Result<Started, Error> {
        Ok(Started::Running(match request.0 {
            Kind::Simple { sql, keep_rows, stream } => {
                Machine::Simple(SimpleMachine::start(&sql, keep_rows, stream, id, shared)?)
            }
            Kind::Query(spec) => Machine::Query(Box::new(QueryMachine::start(spec, id, began, shared)?)),
            Kind::Prepare { sql, types } => Machine::Prepare(PrepareMachine::start(&sql, &types, id, shared)?),
            Kind::Fetch { portal, max_rows, columns } => {
                Machine::Fetch(FetchMachine::start(portal, max_rows, columns, id, shared)?)
            }
            Kind::Pipeline(p) => Machine::Pipeline(Box::new(PipelineMachine::start(p, id, in_block, shared)?)),
            Kind::Command(_) => {
                let plan = plan.expect("the engine plans commands");
                match CommandMachine::start(plan, id, shared)? {
                    Ok(m) => Machine::Command(m),
                    Err(response) => return Ok(Started::Done(response)),
                }
            }
            Kind::WaitNotifications => Machine::Listen,
            Kind::Copy { sql, direction } => Machine::Copy(CopyMachine::start(&sql, direction, id, shared)?),
        }))
    }

    /// An event of one of this request's sync points. `Err` is fatal to the connection.
    pub(crate) fn on_event(&mut self, ev: Event<'_>, id: RequestId, shared: &mut Shared) -> Result<Progress, Error> {
        Ok(match self {
            Machine::Simple(m) => m.on_event(ev),
            Machine::Query(m) => m.on_event(ev, id, shared)?,
            Machine::Prepare(m) => m.on_event(ev, shared),
            Machine::Fetch(m) => m.on_event(ev, id, shared),
            Machine::Pipeline(m) => m.on_event(ev, id, shared)?,
            Machine::Command(m) => m.on_event(ev, shared),
            Machine::Copy(m) => m.on_event(ev),
            Machine::Listen => Progress::Pending,
        })
    }

    /// Whether the engine stops before each DataRow for the caller to take it.
    pub(crate) fn streams(&self) -> bool {
        match self {
            Machine::Query(q) => q.streams(),
            Machine::Simple(s) => s.streams(),
            _ => false,
        }
    }

    /// Whether the engine stops before each CopyData for the caller to take it.
    pub(crate) fn streams_copy(&self) -> bool {
        matches!(self, Machine::Copy(c) if c.streams())
    }

    /// The COPY this is, if it is one.
    pub(crate) fn copy(&mut self) -> Option<&mut CopyMachine> {
        match self {
            Machine::Copy(c) => Some(c),
            _ => None,
        }
    }

    pub(crate) fn copy_ref(&self) -> Option<&CopyMachine> {
        match self {
            Machine::Copy(c) => Some(c),
            _ => None,
        }
    }

    /// Whether the engine must wait for the caller before reading more for it.
    pub(crate) fn waits_for_caller(&self) -> bool {
        matches!(self, Machine::Copy(c) if c.waits_for_caller())
    }

    /// Whether it waits for notifications.
    pub(crate) fn listens(&self) -> bool {
        matches!(self, Machine::Listen)
    }

    /// Whether it is a session command (its effect on the session applies when it is answered).
    pub(crate) fn is_command(&self) -> bool {
        matches!(self, Machine::Command(_))
    }

    /// A session command that must be undone if nobody waits for it any more: a transaction
    /// scope opened for a guard that was never handed out (its future was dropped).
    pub(crate) fn undo_when_detached(&self) -> bool {
        matches!(self, Machine::Command(c) if c.opens_scope())
    }

    /// Queues more of what it sends, as the send buffer drains (pipelines).
    pub(crate) fn queue_more(&mut self, id: RequestId, shared: &mut Shared) -> Result<(), Error> {
        match self {
            Machine::Pipeline(p) => p.queue_more(id, shared),
            _ => Ok(()),
        }
    }
}
