//! Extended-protocol requests: a query (collected, streamed, counted, or opened as a portal
//! fetched in batches), a prepare, and the fetches and close of an open portal.
//!
//! A query whose SQL was never seen costs two round trips (Parse + Describe + Flush, then
//! Bind + Describe + Execute + Sync, one Parse in all): the first learns the parameter and
//! column types, so each result column is requested in binary exactly when pgsans can decode
//! it. The description is cached: later executions are one round trip, and after
//! `prepare_threshold` executions the statement is prepared server-side (no re-parse). Every
//! execution describes its portal and its rows are decoded with that description; the cached
//! one only chooses the Bind's formats (see the statement cache in `statement.rs` for what
//! keeps it current).

use std::ops::Range;
use std::sync::Arc;

use super::params::{Encoded, Params};
use super::{Progress, Response};
use crate::error::{DbError, Error, SqlState, UsageError};
use crate::request::event::Event;
use crate::session::conversation::{Conversation, RequestId};
use crate::session::statements::{Described, Key, Name, Plan, Statement, StatementInner};
use crate::session::status::TransactionStatus;
use crate::types::row::{Column, OwnedRow};
use crate::wire::codec::frontend::{self, Target};

/// What a query runs: SQL text (described and cached automatically) or a prepared statement.
#[derive(Debug, Clone, Copy)]
pub enum Query<'q> {
    Sql(&'q str),
    Statement(&'q Statement),
}

impl<'q> From<&'q str> for Query<'q> {
    fn from(s: &'q str) -> Self {
        Query::Sql(s)
    }
}

impl<'q> From<&'q String> for Query<'q> {
    fn from(s: &'q String) -> Self {
        Query::Sql(s)
    }
}

impl<'q> From<&'q Statement> for Query<'q> {
    fn from(s: &'q Statement) -> Self {
        Query::Statement(s)
    }
}

/// The rows and command tag of one query.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryResult {
    pub columns: Option<Arc<[Column]>>,
    pub rows: Vec<OwnedRow>,
    /// The command tag (`SELECT 3`, `INSERT 0 1`); `None` for an empty query.
    pub tag: Option<crate::types::row::CommandTag>,
}

impl QueryResult {
    /// Rows affected or returned, from the command tag.
    pub fn rows_affected(&self) -> u64 {
        self.tag.as_deref().and_then(crate::types::row::rows_affected).unwrap_or(0)
    }
}

/// How a query hands out its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Keep every row in the result.
    Collect,
    /// The engine stops before each DataRow so the caller takes it with
    /// [`Connection::take_row`](crate::Connection::take_row), borrowed from the receive buffer.
    Stream,
    /// Only count rows (the tag).
    Count,
}

/// What a query runs, owned.
#[derive(Debug, Clone)]
pub(crate) enum Target_ {
    Sql(String),
    Statement(Statement),
}

/// A query as requested.
#[derive(Debug, Clone)]
pub(crate) struct QuerySpec {
    pub(crate) target: Target_,
    pub(crate) params: Encoded,
    pub(crate) mode: Mode,
    /// Rows per Execute for a portal (0: all, with Sync).
    pub(crate) max_rows: i32,
    /// What it does to the transaction status, as far as its text tells.
    pub(crate) tx: crate::session::sql::TxEffect,
    /// pgsans' own query (a type lookup): never preceded by the automatic BEGIN.
    pub(crate) internal: bool,
}

impl QuerySpec {
    pub(crate) fn new(query: Query<'_>, params: Params<'_>, mode: Mode, max_rows: i32) -> Result<QuerySpec, Error> {
        QuerySpec::with_buffer(query, params, mode, max_rows, Encoded::default())
    }

    /// [`new`](Self::new), encoding the parameters into `encoded` (an empty buffer kept from
    /// an earlier request).
    pub(crate) fn with_buffer(
        query: Query<'_>,
        params: Params<'_>,
        mode: Mode,
        max_rows: i32,
        mut encoded: Encoded,
    ) -> Result<QuerySpec, Error> {
        let target = match query {
            Query::Sql(sql) => {
                let facts = crate::session::sql::analyze(sql);
                check_facts(&facts, params.len())?;
                encoded.push(params, None)?;
                (Target_::Sql(sql.to_owned()), facts.tx)
            }
            Query::Statement(stmt) => {
                encoded.push(params, Some(stmt.params()))?;
                (Target_::Statement(stmt.clone()), stmt.0.tx)
            }
        };
        let (target, tx) = target;
        Ok(QuerySpec { target, params: encoded, mode, max_rows, tx, internal: false })
    }
}

/// What is refused of a text before anything is sent: a COPY through the client (see
/// [`refuse_copy_text`]), and more values than the highest `$n` it refers to (the server would
/// accept the extra parameters' types in Parse and ignore the values). Too few are refused once
/// the statement is described.
pub(crate) fn check_facts(facts: &crate::session::sql::SqlFacts, given: usize) -> Result<(), Error> {
    if let Some(direction) = facts.copy {
        return Err(UsageError::CopyNotSupported(direction).into());
    }
    let highest = facts.highest_param as usize;
    if given > highest {
        return Err(UsageError::ParameterCount { expected: highest, given }.into());
    }
    Ok(())
}

/// Appends Bind + Describe(portal) + Execute for statement `name` with the parameters
/// `params[range]` (re-encoded into the client encoding where they carry text). The portal is
/// described, so that its rows are decoded with that description, never with a cached one —
/// except for a statement prepared server-side by an earlier request that returns no rows: the
/// server refuses to run it if that changed (`cached plan must not change result type`), so it
/// cannot send rows nobody described. (`parsed_here`: the statement is parsed in this request,
/// unnamed or named, and is always described.) The caller adds Sync or Flush.
pub(crate) fn queue_bind(
    conv: &mut Conversation,
    name: &str,
    parsed_here: bool,
    described: &Described,
    params: &Encoded,
    range: Range<usize>,
    max_rows: i32,
) -> Result<(), Error> {
    if described.params.len() != range.len() {
        return Err(UsageError::ParameterCount { expected: described.params.len(), given: range.len() }.into());
    }
    for (k, i) in range.clone().enumerate() {
        let (given, wanted) = (params.oid(i), described.params[k]);
        // A value encoded as its own type for a parameter of a type it does not take: right
        // only when that type is a domain over it.
        let wire = params.wire(i);
        let domain_mismatch = wire != given && conv.statements.types.wire_type(wanted) != wire;
        if (given != 0 && given != wanted) || domain_mismatch {
            return Err(UsageError::WrongType {
                column: format!("parameter ${}", k + 1),
                rust: if domain_mismatch { "a value of another type" } else { "a value encoded for another type" },
                pg: crate::types::type_name(wanted),
            }
            .into());
        }
    }
    let encoding = conv.encoding;
    let formats: &[i16] =
        if conv.binary_results && described.columns.is_some() { &[1] } else { described.result_formats() };
    let param_formats: smallvec::SmallVec<[i16; 16]> = range.clone().map(|i| params.format(i)).collect();
    let buf = conv.buf();
    frontend::bind_encoded::<Error>(
        "",
        name,
        &param_formats,
        range.len(),
        |k, out| {
            let i = range.start + k;
            Ok(match params.value(i) {
                None => crate::types::IsNull::Yes,
                Some(v) => {
                    let start = out.len();
                    out.extend_from_slice(v);
                    crate::types::transcode_param(encoding, params.wire(i), params.format(i), out, start)?;
                    crate::types::IsNull::No
                }
            })
        },
        formats,
        buf,
    )?;
    if name.is_empty() || parsed_here || described.columns.is_some() {
        frontend::describe(Target::Portal, "", buf)?;
    }
    frontend::execute("", max_rows, buf)?;
    Ok(())
}

/// A statement the server refused because a cached description was stale: `0A000 cached plan
/// must not change result type` for a statement the cache prepared, or `08P01 bind message has
/// N result formats but query has M columns` for per-column formats chosen from a cached
/// description. Recognised by SQLSTATE and the reporting routine, not by message text (which
/// may be translated).
fn is_stale(e: &DbError, prepared: bool) -> bool {
    match (e.code(), e.routine()) {
        (SqlState::FEATURE_NOT_SUPPORTED, Some("RevalidateCachedQuery")) => prepared,
        (SqlState::PROTOCOL_VIOLATION, Some("PortalSetResultFormat")) => true,
        _ => false,
    }
}

#[derive(Debug)]
enum State {
    /// Parse + Describe(statement) + Flush are out; the Bind follows the description.
    Describing {
        params: Option<Vec<u32>>,
        prepared_as: Option<Name>,
    },
    Executing,
}

/// The state machine of one extended query.
#[derive(Debug)]
pub(crate) struct QueryMachine {
    spec: QuerySpec,
    key: Option<Key>,
    /// Name of the statement being executed (`None`: unnamed).
    name: Option<Name>,
    /// The Bind's formats came from the statement cache (not from a description of this run).
    from_cache: bool,
    /// A named Parse whose ParseComplete marks the statement prepared.
    parse_named: Option<Name>,
    state: State,
    /// The automatic BEGIN sent for this query, if it opened the transaction.
    began: Option<String>,
    result: QueryResult,
    error: Option<Box<DbError>>,
    /// Misuse found once the statement was described (parameters that do not fit its types).
    refused: Option<Error>,
    retried: bool,
}

impl QueryMachine {
    /// Queues the query (after the automatic BEGIN, `began`, if the engine sent one).
    pub(crate) fn start(
        spec: QuerySpec,
        id: RequestId,
        began: Option<String>,
        conv: &mut Conversation,
    ) -> Result<QueryMachine, Error> {
        let mut q = QueryMachine {
            spec,
            key: None,
            name: None,
            from_cache: false,
            parse_named: None,
            state: State::Executing,
            began,
            result: QueryResult::default(),
            error: None,
            refused: None,
            retried: false,
        };
        conv.flush_closes()?;
        match &q.spec.target {
            Target_::Statement(stmt) => {
                let stmt = stmt.clone();
                let epoch = conv.statements.dealloc_epoch;
                let reparse = stmt.0.needs_parse(epoch);
                if reparse {
                    // DEALLOCATE or DISCARD ALL ran since it was parsed: parse it again.
                    frontend::close(Target::Statement, &stmt.0.name, conv.buf())?;
                    conv.queue_parse(&stmt.0.name, &stmt.0.sql, &stmt.0.described.params)?;
                }
                q.name = Some(stmt.0.name.clone());
                let all = q.spec.params.all();
                queue_bind(conv, q.name(), reparse, &stmt.0.described, &q.spec.params, all, q.spec.max_rows)?;
                q.end_request(id, conv);
                if reparse {
                    stmt.0.mark_parsed(epoch);
                }
            }
            Target_::Sql(sql) => {
                let key: Key = (sql.clone(), q.spec.params.types(q.spec.params.all()));
                q.queue_sql(id, conv, &key)?;
                q.key = Some(key);
            }
        }
        Ok(q)
    }

    /// Queues SQL text as the statement cache plans it.
    fn queue_sql(&mut self, id: RequestId, conv: &mut Conversation, key: &Key) -> Result<(), Error> {
        let all = self.spec.params.all();
        let max_rows = self.spec.max_rows;
        match conv.statements.plan(key) {
            Plan::Describe { prepare_as } => {
                // Parse + Describe, then (at the description) Bind: one Parse, one round trip
                // more. Flush, not Sync, keeps the unnamed statement ours until the Bind, even
                // behind a transaction-pooling proxy.
                let name = prepare_as.as_deref().unwrap_or_default();
                conv.queue_parse(name, &key.0, &key.1)?;
                frontend::describe(Target::Statement, name, conv.buf())?;
                frontend::flush(conv.buf());
                conv.push_unsynced(id);
                self.state = State::Describing { params: None, prepared_as: prepare_as };
            }
            Plan::Unnamed(d) => {
                conv.queue_parse("", &key.0, &key.1)?;
                queue_bind(conv, "", true, &d, &self.spec.params, all, max_rows)?;
                self.end_request(id, conv);
                self.from_cache = true;
            }
            Plan::PrepareNow(d, name) => {
                conv.queue_parse(&name, &key.0, &key.1)?;
                queue_bind(conv, &name, true, &d, &self.spec.params, all, max_rows)?;
                self.end_request(id, conv);
                self.parse_named = Some(name.clone());
                self.name = Some(name);
                self.from_cache = true;
            }
            Plan::Prepared(d, name) => {
                queue_bind(conv, &name, false, &d, &self.spec.params, all, max_rows)?;
                self.end_request(id, conv);
                self.name = Some(name);
                self.from_cache = true;
            }
        }
        if crate::session::statements::mentions_search_path(&key.0) {
            conv.mark_search_path();
        }
        Ok(())
    }

    /// The name of the statement being executed ("": unnamed).
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// Ends the messages of a new sync point: Sync, or Flush for a portal that stays open.
    fn end_request(&self, id: RequestId, conv: &mut Conversation) {
        if self.spec.max_rows > 0 {
            frontend::flush(conv.buf());
            conv.push_unsynced(id);
        } else {
            frontend::sync(conv.buf());
            conv.push_sync(id);
        }
    }

    /// The statement is described: cache it and queue Bind + Execute in the open sync point.
    fn finish_describe(&mut self, id: RequestId, conv: &mut Conversation, columns: Option<Arc<[Column]>>) {
        let State::Describing { params, prepared_as } = std::mem::replace(&mut self.state, State::Executing) else {
            unreachable!("called in Describing")
        };
        let described = Arc::new(Described::new(params.unwrap_or_default(), columns));
        // SQL queries have a key; without one the description is simply not cached.
        if let Some(key) = self.key.clone() {
            conv.statements.insert(key, described.clone(), prepared_as.clone());
        }
        self.name = prepared_as;
        let mark = conv.buf().len();
        let all = self.spec.params.all();
        let queued = queue_bind(conv, self.name(), true, &described, &self.spec.params, all, self.spec.max_rows);
        if let Err(e) = queued {
            // Parameters that do not fit the described types: nothing of the Bind goes out;
            // the Sync ends the sync point and the misuse is reported at its ReadyForQuery.
            conv.buf().truncate(mark);
            self.refused = Some(e);
            conv.sync_open(id);
        } else if self.spec.max_rows > 0 {
            frontend::flush(conv.buf());
        } else {
            conv.sync_open(id);
        }
    }

    /// After a stale-description error at this ReadyForQuery: describe again and run once
    /// more, if nothing can have happened in between — outside a transaction block, or in
    /// the block this query began (rolled back and begun again).
    fn retry_stale(
        &mut self,
        id: RequestId,
        conv: &mut Conversation,
        e: &DbError,
        status: TransactionStatus,
    ) -> Result<bool, Error> {
        let Some(key) = self.key.clone() else { return Ok(false) };
        if !self.from_cache || !is_stale(e, self.name.is_some()) {
            return Ok(false);
        }
        conv.statements.invalidate(&key);
        let restart = match (status, &self.began) {
            (TransactionStatus::Idle, _) => None,
            (TransactionStatus::InError, Some(begin)) => Some(begin.clone()),
            _ => return Ok(false),
        };
        if self.retried || self.result.tag.is_some() {
            return Ok(false);
        }
        self.retried = true;
        let mark = (conv.buf().len(), conv.syncs.len());
        let queued = (|| {
            if let Some(begin) = &restart {
                conv.queue_prefix(id, "ROLLBACK", false)?;
                conv.queue_prefix(id, begin, true)?;
            }
            conv.flush_closes()?;
            self.name = None;
            self.from_cache = false;
            self.result = QueryResult::default();
            self.queue_sql(id, conv, &key)
        })();
        if let Err(e) = queued {
            conv.buf().truncate(mark.0);
            conv.syncs.truncate(mark.1);
            return Err(e);
        }
        Ok(true)
    }

    /// Takes its parameter buffer (it is finished) for the next request.
    pub(crate) fn take_params(&mut self) -> Encoded {
        std::mem::take(&mut self.spec.params)
    }

    /// Whether the engine stops before each DataRow for the caller to take it.
    pub(crate) fn streams(&self) -> bool {
        self.spec.mode == Mode::Stream && matches!(self.state, State::Executing) && self.error.is_none()
    }

    pub(crate) fn on_event(
        &mut self,
        ev: Event<'_>,
        id: RequestId,
        conv: &mut Conversation,
    ) -> Result<Progress, Error> {
        match (&mut self.state, ev) {
            (state, Event::Error(e)) => {
                self.error.get_or_insert(e);
                if self.spec.max_rows > 0 || matches!(state, State::Describing { .. }) {
                    // The server skips to the next Sync: send it.
                    conv.sync_open(id);
                }
                *state = State::Executing;
            }
            (State::Describing { params, .. }, Event::ParameterDescription(types)) => *params = Some(types),
            (State::Describing { .. }, Event::RowDescription(cols)) => {
                let cols = cols.clone();
                self.finish_describe(id, conv, Some(cols));
            }
            (State::Describing { .. }, Event::NoData) => self.finish_describe(id, conv, None),
            (State::Describing { .. }, _) => {}
            (State::Executing, Event::ParseComplete) => {
                if let (Some(name), Some(key)) = (self.parse_named.take(), &self.key) {
                    conv.statements.mark_prepared(key, name);
                }
            }
            (State::Executing, Event::RowDescription(cols)) => {
                let cols = cols.clone();
                if let Some(key) = &self.key {
                    conv.statements.observe_columns(key, Some(&cols));
                }
                self.result.columns = Some(cols);
            }
            (State::Executing, Event::NoData) => {
                if let Some(key) = &self.key {
                    conv.statements.observe_columns(key, None);
                }
            }
            (State::Executing, Event::DataRow(row)) => {
                if self.spec.mode == Mode::Collect {
                    self.result.rows.push(row.to_owned())
                }
            }
            (State::Executing, Event::CommandComplete(tag)) => {
                self.result.tag = Some(tag.into());
                if self.spec.max_rows > 0 {
                    // The portal is exhausted: end it.
                    conv.sync_open(id);
                }
            }
            (State::Executing, Event::PortalSuspended) => {
                return Ok(Progress::Done(Ok(Response::Suspended(std::mem::take(&mut self.result)))));
            }
            (State::Executing, Event::ReadyForQuery(status)) => {
                if let Some(e) = self.refused.take() {
                    return Ok(Progress::Done(Err(e)));
                }
                if let Some(e) = self.error.take() {
                    if self.retry_stale(id, conv, &e, status)? {
                        return Ok(Progress::Pending);
                    }
                    return Ok(Progress::Done(Err(Error::Db(e))));
                }
                return Ok(Progress::Done(Ok(Response::Query(std::mem::take(&mut self.result)))));
            }
            (State::Executing, ev @ (Event::CopyInResponse { .. } | Event::CopyOutResponse { .. })) => {
                self.refused.get_or_insert_with(|| refuse_copy(&ev));
            }
            (State::Executing, _) => {}
        }
        Ok(Progress::Pending)
    }
}

/// COPY through a query method, found in the server's answer (a simple query, or text that
/// slipped past [`refuse_copy_text`]): the engine has ended the copy (CopyFail for COPY FROM
/// STDIN, which the server answers with an error that aborts an open transaction; COPY TO
/// STDOUT's data is read and dropped); the request reports this error instead of a result
/// that would hide either.
pub(crate) fn refuse_copy(ev: &Event<'_>) -> Error {
    let direction = match ev {
        Event::CopyInResponse { .. } => "FROM STDIN",
        _ => "TO STDOUT",
    };
    UsageError::CopyNotSupported(direction).into()
}

/// Refuses, before anything is sent, SQL for the extended protocol that would copy data
/// through the client.
pub(crate) fn refuse_copy_text(sql: &str) -> Result<(), Error> {
    match crate::session::sql::copy_through_client(sql) {
        Some(direction) => Err(UsageError::CopyNotSupported(direction).into()),
        None => Ok(()),
    }
}

/// `prepare`: Parse + Describe + Sync under a new name; the [`Statement`] it returns can be
/// executed any number of times in one round trip each.
#[derive(Debug)]
pub(crate) struct PrepareMachine {
    name: Name,
    sql: String,
    params: Option<Vec<u32>>,
    columns: Option<Arc<[Column]>>,
    error: Option<Box<DbError>>,
}

impl PrepareMachine {
    /// `types` fixes parameter types (0 or missing entries: inferred by the server).
    pub(crate) fn start(
        sql: &str,
        types: &[u32],
        id: RequestId,
        conv: &mut Conversation,
    ) -> Result<PrepareMachine, Error> {
        refuse_copy_text(sql)?;
        let name = conv.statements.new_name("pgsans_s");
        conv.flush_closes()?;
        conv.queue_parse(&name, sql, types)?;
        frontend::describe(Target::Statement, &name, conv.buf())?;
        frontend::sync(conv.buf());
        conv.push_sync(id);
        Ok(PrepareMachine { name, sql: sql.to_owned(), params: None, columns: None, error: None })
    }

    pub(crate) fn on_event(&mut self, ev: Event<'_>, conv: &mut Conversation) -> Progress {
        match ev {
            Event::ParameterDescription(t) => self.params = Some(t),
            Event::RowDescription(c) => self.columns = Some(c.clone()),
            Event::Error(e) => {
                self.error.get_or_insert(e);
            }
            Event::ReadyForQuery(_) => {
                if let Some(e) = self.error.take() {
                    return Progress::Done(Err(Error::Db(e)));
                }
                let inner = Arc::new(StatementInner::new(
                    self.name.clone(),
                    std::mem::take(&mut self.sql),
                    Arc::new(Described::new(self.params.take().unwrap_or_default(), self.columns.take())),
                    conv.statements.dealloc_epoch,
                ));
                conv.statements.register_user(&inner);
                return Progress::Done(Ok(Response::Prepared(Statement(inner))));
            }
            _ => {}
        }
        Progress::Pending
    }
}

/// Continues an open portal: the next `max_rows` rows ([`Response::Suspended`]), or the last
/// ones ([`Response::Query`]); or ends it early.
#[derive(Debug)]
pub(crate) struct FetchMachine {
    result: QueryResult,
    error: Option<Box<DbError>>,
}

impl FetchMachine {
    /// Takes over the portal's open sync point from `portal` (the request that opened it or
    /// fetched last) and queues Execute + Flush, or the Sync that closes it (`max_rows` 0).
    pub(crate) fn start(
        portal: RequestId,
        max_rows: i32,
        columns: Option<Arc<[Column]>>,
        id: RequestId,
        conv: &mut Conversation,
    ) -> Result<FetchMachine, Error> {
        if !conv.syncs.adopt_open(portal, id) {
            return Err(UsageError::InvalidState("the portal is closed".into()).into());
        }
        if max_rows > 0 {
            frontend::execute("", max_rows, conv.buf())?;
            frontend::flush(conv.buf());
        } else {
            conv.sync_open(id);
        }
        Ok(FetchMachine { result: QueryResult { columns, ..QueryResult::default() }, error: None })
    }

    pub(crate) fn on_event(&mut self, ev: Event<'_>, id: RequestId, conv: &mut Conversation) -> Progress {
        match ev {
            Event::DataRow(row) => self.result.rows.push(row.to_owned()),
            Event::PortalSuspended => {
                let columns = self.result.columns.clone();
                let r = std::mem::replace(&mut self.result, QueryResult { columns, ..QueryResult::default() });
                return Progress::Done(Ok(Response::Suspended(r)));
            }
            Event::CommandComplete(tag) => {
                self.result.tag = Some(tag.into());
                conv.sync_open(id);
            }
            Event::Error(e) => {
                self.error.get_or_insert(e);
                conv.sync_open(id);
            }
            Event::ReadyForQuery(_) => {
                if let Some(e) = self.error.take() {
                    return Progress::Done(Err(Error::Db(e)));
                }
                return Progress::Done(Ok(Response::Query(std::mem::take(&mut self.result))));
            }
            _ => {}
        }
        Progress::Pending
    }
}
