//! Extended-query operations: prepare, query (collect, stream or count) with typed
//! parameters, binary results for the types pgsans knows.
//!
//! A query whose SQL was never seen costs two round trips (Parse + Describe + Flush, then
//! Bind + Describe + Execute + Sync, one Parse in all): the first learns the parameter and
//! column types, so parameters are encoded for the right server types and each result column
//! is requested in binary exactly when pgsans can decode it. The description is cached: later
//! executions are one round trip, and after `prepare_threshold` executions the statement is
//! prepared server-side (no re-parse). Every execution describes its portal and its rows are
//! decoded with that description; the cached one only chooses the Bind's formats (see the
//! statement cache in `statement.rs` for what keeps it current).

use std::sync::Arc;

use crate::codec::frontend::{self, Target};
use crate::connection::{Connection, Event, TransactionStatus};
use crate::error::{DbError, Error, UsageError};
use crate::op::Operation;
use crate::row::{Column, OwnedRow};
use crate::statement::{Described, Key, Plan, Statement, StatementInner};
use crate::types::{binary_supported, ToSql};

/// Parameters of a query: values borrowed for the duration of the operation.
pub type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// Parameters encoded up front, each as its Rust type declares it (strings as text), so an
/// operation can outlive the borrowed values. Valid whatever the server describes: the Parse
/// declares those same types, and text is accepted for the ones left to the server.
#[derive(Debug, Clone, Default)]
pub(crate) struct PreEncoded {
    oids: Vec<u32>,
    formats: Vec<i16>,
    values: Vec<Option<Vec<u8>>>,
}

/// Names a parameter in a type error.
fn parameter_error(i: usize, e: Error) -> Error {
    match e {
        Error::Usage(UsageError::WrongType { rust, pg, .. }) => {
            UsageError::WrongType { column: format!("parameter ${}", i + 1), rust, pg }.into()
        }
        other => other,
    }
}

impl PreEncoded {
    pub(crate) fn new(params: Params<'_>) -> Result<PreEncoded, Error> {
        let mut pre = PreEncoded::default();
        for (i, p) in params.iter().enumerate() {
            let oid = p.natural_type();
            let binary = oid != 0 && p.binary(oid);
            let mut bytes = Vec::new();
            let null = p.encode(oid, &mut bytes).map_err(|e| parameter_error(i, e))?;
            pre.oids.push(oid);
            pre.formats.push(binary as i16);
            pre.values.push(match null {
                crate::types::IsNull::Yes => None,
                crate::types::IsNull::No => Some(bytes),
            });
        }
        Ok(pre)
    }
}

/// A query's parameter values: borrowed and encoded for the described types at Bind, or
/// encoded when the operation started.
#[derive(Debug)]
pub(crate) enum Args<'p> {
    Borrowed(Params<'p>),
    Encoded(PreEncoded),
}

impl Args<'_> {
    fn len(&self) -> usize {
        match self {
            Args::Borrowed(p) => p.len(),
            Args::Encoded(e) => e.values.len(),
        }
    }

    /// The types to declare in Parse when the query does not say: each value's own type.
    fn natural_types(&self) -> Vec<u32> {
        match self {
            Args::Borrowed(p) => p.iter().map(|p| p.natural_type()).collect(),
            Args::Encoded(e) => e.oids.clone(),
        }
    }
}

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
    pub tag: Option<String>,
}

impl QueryResult {
    /// Rows affected or returned, from the command tag.
    pub fn rows_affected(&self) -> u64 {
        self.tag.as_deref().and_then(crate::row::rows_affected).unwrap_or(0)
    }
}

impl QueryStep {
    /// The result of a finished (or suspended) query.
    pub fn into_result(self) -> Result<QueryResult, Error> {
        match self {
            QueryStep::Done(r) | QueryStep::Suspended(r) => Ok(r),
            QueryStep::Row => Err(crate::ProtocolError::Unexpected { ty: 'D', state: "collecting a result" }.into()),
        }
    }
}

/// How an [`ExtendedQuery`] hands out rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Keep every row in the result.
    Collect,
    /// Stop before each DataRow ([`QueryStep::Row`]) so the caller reads it from the engine
    /// without a copy.
    Stream,
    /// Only count rows (the tag).
    Count,
}

/// What [`ExtendedQuery`] reports.
#[derive(Debug)]
pub enum QueryStep {
    /// A DataRow is next: take it with [`Connection::poll_event`] (it borrows the receive
    /// buffer), then keep driving.
    Row,
    /// The query finished.
    Done(QueryResult),
    /// A portal returned its row limit and has more ([`PortalFetch`] continues it).
    Suspended(QueryResult),
}

#[derive(Debug)]
enum State {
    /// Parse + Describe(statement) + Flush are out; the Bind follows the description.
    Describing {
        params: Option<Vec<u32>>,
        prepared_as: Option<String>,
    },
    Executing,
}

/// One query through the extended protocol; see the module docs.
pub struct ExtendedQuery<'p> {
    args: Args<'p>,
    key: Option<Key>,
    /// Name of the statement being executed ("" = unnamed).
    name: String,
    described: Option<Arc<Described>>,
    /// The Bind's formats came from the statement cache (not from a description of this run).
    from_cache: bool,
    /// A named Parse whose ParseComplete marks the statement prepared.
    parse_named: Option<String>,
    state: State,
    mode: Mode,
    /// Requests queued ahead of this one whose events are not results (the automatic BEGIN;
    /// ROLLBACK + BEGIN on a retry).
    prefix: usize,
    /// The automatic BEGIN this operation queued.
    began: Option<String>,
    result: QueryResult,
    error: Option<Box<DbError>>,
    /// Misuse found once the statement was described (parameters that do not fit its types).
    refused: Option<Error>,
    retried: bool,
    /// Rows per Execute for an open portal (0: all, with Sync).
    max_rows: i32,
}

impl std::fmt::Debug for ExtendedQuery<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtendedQuery").field("name", &self.name).field("state", &self.state).finish_non_exhaustive()
    }
}

/// Queues Close for statements the cache evicted or the user dropped; their CloseComplete
/// arrives inside the next request and is ignored.
pub(crate) fn flush_closes(conn: &mut Connection) -> Result<(), Error> {
    conn.statements.sweep_user();
    let names = std::mem::take(&mut conn.statements.to_close);
    for name in names {
        frontend::close(Target::Statement, &name, conn.send_buf())?;
    }
    Ok(())
}

/// The result formats for `columns`: binary where pgsans decodes the type, one code for all
/// when they agree (which also survives a change in the column count).
fn result_formats(columns: Option<&Arc<[Column]>>) -> Vec<i16> {
    match columns {
        None => Vec::new(),
        Some(cols) => {
            let formats: Vec<i16> = cols.iter().map(|c| binary_supported(c.type_oid()) as i16).collect();
            if formats.iter().all(|f| *f == formats[0]) && !formats.is_empty() {
                vec![formats[0]]
            } else {
                formats
            }
        }
    }
}

/// Appends Bind + Describe(portal) + Execute for statement `name`, the parameters encoded for
/// `described`'s types (and the client encoding). The portal is described, so that its rows
/// are decoded with that description, never with a cached one — except for a statement
/// prepared server-side by an earlier request that returns no rows: the server refuses to run
/// it if that changed (`cached plan must not change result type`), so it cannot send rows
/// nobody described. (`parsed_here`: the statement is parsed in this request, unnamed or
/// named, and is always described.) The caller adds Sync or Flush.
pub(crate) fn queue_bind(
    conn: &mut Connection,
    name: &str,
    parsed_here: bool,
    described: &Described,
    args: &Args<'_>,
    max_rows: i32,
) -> Result<(), Error> {
    if described.params.len() != args.len() {
        return Err(UsageError::ParameterCount { expected: described.params.len(), given: args.len() }.into());
    }
    let encoding = conn.encoding();
    let formats = result_formats(described.columns.as_ref());
    let buf = conn.send_buf();
    match args {
        Args::Borrowed(params) => {
            let param_formats: Vec<i16> =
                params.iter().zip(&described.params).map(|(p, oid)| p.binary(*oid) as i16).collect();
            frontend::bind_encoded::<Error>(
                "",
                name,
                &param_formats,
                params.len(),
                |i, out| {
                    let start = out.len();
                    let oid = described.params[i];
                    let null = params[i].encode(oid, out).map_err(|e| parameter_error(i, e))?;
                    crate::types::transcode_param(encoding, oid, param_formats[i], out, start)?;
                    Ok(null)
                },
                &formats,
                buf,
            )?;
        }
        Args::Encoded(pre) => {
            frontend::bind_encoded::<Error>(
                "",
                name,
                &pre.formats,
                pre.values.len(),
                |i, out| {
                    Ok(match &pre.values[i] {
                        None => crate::types::IsNull::Yes,
                        Some(v) => {
                            let start = out.len();
                            out.extend_from_slice(v);
                            crate::types::transcode_param(encoding, pre.oids[i], pre.formats[i], out, start)?;
                            crate::types::IsNull::No
                        }
                    })
                },
                &formats,
                buf,
            )?;
        }
    }
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
        ("0A000", Some("RevalidateCachedQuery")) => prepared,
        ("08P01", Some("PortalSetResultFormat")) => true,
        _ => false,
    }
}

impl<'p> ExtendedQuery<'p> {
    /// Opens a portal that returns at most `max_rows` rows per fetch ([`PortalFetch`]).
    pub fn start_portal(
        conn: &mut Connection,
        query: Query<'_>,
        params: Params<'p>,
        max_rows: i32,
    ) -> Result<Self, Error> {
        if max_rows <= 0 {
            return Err(UsageError::InvalidArgument("a portal needs a row limit above 0".into()).into());
        }
        Self::start_with(conn, query, Args::Borrowed(params), Mode::Collect, max_rows)
    }

    /// Like [`start`](Self::start) in [`Mode::Collect`], but the parameters are encoded at once
    /// and the operation borrows nothing: for callers that keep the operation across calls (the
    /// polling connection).
    pub fn start_owned(conn: &mut Connection, sql: &str, params: Params<'_>) -> Result<ExtendedQuery<'static>, Error> {
        let pre = PreEncoded::new(params)?;
        ExtendedQuery::start_with(conn, Query::Sql(sql), Args::Encoded(pre), Mode::Collect, 0)
    }

    /// Queues the query. Nothing is queued if it fails (misuse, a parameter that does not fit).
    pub fn start(conn: &mut Connection, query: Query<'_>, params: Params<'p>, mode: Mode) -> Result<Self, Error> {
        Self::start_with(conn, query, Args::Borrowed(params), mode, 0)
    }

    fn start_with(
        conn: &mut Connection,
        query: Query<'_>,
        args: Args<'p>,
        mode: Mode,
        max_rows: i32,
    ) -> Result<Self, Error> {
        crate::session::check_not_prepared(conn, "execute")?;
        conn.check_ready()?;
        conn.abandon_outstanding();
        conn.queue_atomically(|conn| Self::queue(conn, query, args, mode, max_rows))
    }

    fn queue(
        conn: &mut Connection,
        query: Query<'_>,
        args: Args<'p>,
        mode: Mode,
        max_rows: i32,
    ) -> Result<Self, Error> {
        let mut q = ExtendedQuery {
            args,
            key: None,
            name: String::new(),
            described: None,
            from_cache: false,
            parse_named: None,
            state: State::Executing,
            mode,
            prefix: 0,
            began: None,
            result: QueryResult::default(),
            error: None,
            refused: None,
            retried: false,
            max_rows,
        };
        if let Some(begin) = crate::session::needs_begin(conn) {
            conn.simple_query(&begin)?;
            q.prefix = 1;
            q.began = Some(begin);
        }
        flush_closes(conn)?;
        match query {
            Query::Statement(stmt) => {
                let epoch = conn.statements.dealloc_epoch;
                let reparse = stmt.0.needs_parse(epoch);
                if reparse {
                    // DEALLOCATE or DISCARD ALL ran since it was parsed: parse it again.
                    frontend::close(Target::Statement, &stmt.0.name, conn.send_buf())?;
                    conn.queue_parse(&stmt.0.name, &stmt.0.sql, &stmt.0.described.params)?;
                }
                q.name = stmt.0.name.clone();
                queue_bind(conn, &q.name, reparse, &stmt.0.described, &q.args, max_rows)?;
                q.end_request(conn);
                q.described = Some(stmt.0.described.clone());
                if reparse {
                    stmt.0.mark_parsed(epoch);
                }
            }
            Query::Sql(sql) => {
                let key: Key = (sql.to_owned(), q.args.natural_types());
                q.queue_sql(conn, &key)?;
                q.key = Some(key);
            }
        }
        Ok(q)
    }

    /// Queues SQL text as the statement cache plans it.
    fn queue_sql(&mut self, conn: &mut Connection, key: &Key) -> Result<(), Error> {
        let search_path = crate::statement::mentions_search_path(&key.0);
        match conn.statements.plan(key) {
            Plan::Describe { prepare_as } => {
                // Parse + Describe, then (at the description) Bind: one Parse, one round trip
                // more. Flush, not Sync, keeps the unnamed statement ours until the Bind, even
                // behind a transaction-pooling proxy.
                let name = prepare_as.clone().unwrap_or_default();
                conn.queue_parse(&name, &key.0, &key.1)?;
                frontend::describe(Target::Statement, &name, conn.send_buf())?;
                frontend::flush(conn.send_buf());
                conn.push_unsynced_request();
                self.state = State::Describing { params: None, prepared_as: prepare_as };
            }
            Plan::Unnamed(d) => {
                conn.queue_parse("", &key.0, &key.1)?;
                queue_bind(conn, "", true, &d, &self.args, self.max_rows)?;
                self.end_request(conn);
                self.described = Some(d);
                self.from_cache = true;
            }
            Plan::PrepareNow(d, name) => {
                conn.queue_parse(&name, &key.0, &key.1)?;
                queue_bind(conn, &name, true, &d, &self.args, self.max_rows)?;
                self.end_request(conn);
                self.parse_named = Some(name.clone());
                self.name = name;
                self.described = Some(d);
                self.from_cache = true;
            }
            Plan::Prepared(d, name) => {
                queue_bind(conn, &name, false, &d, &self.args, self.max_rows)?;
                self.end_request(conn);
                self.name = name;
                self.described = Some(d);
                self.from_cache = true;
            }
        }
        if search_path {
            conn.mark_search_path();
        }
        Ok(())
    }

    /// Ends the messages of a new request: Sync, or Flush for a portal that stays open.
    fn end_request(&self, conn: &mut Connection) {
        if self.max_rows > 0 {
            frontend::flush(conn.send_buf());
            conn.push_unsynced_request();
        } else {
            frontend::sync(conn.send_buf());
            conn.push_sync_request();
        }
    }

    /// The statement is described: cache it and queue Bind + Execute in the open request.
    fn finish_describe(&mut self, conn: &mut Connection, columns: Option<Arc<[Column]>>) -> Result<(), Error> {
        let State::Describing { params, prepared_as } = std::mem::replace(&mut self.state, State::Executing) else {
            unreachable!("called in Describing")
        };
        let described = Arc::new(Described::new(params.unwrap_or_default(), columns));
        let key = self.key.clone().expect("SQL queries have a key");
        conn.statements.insert(key, described.clone(), prepared_as.clone());
        self.name = prepared_as.unwrap_or_default();
        self.described = Some(described.clone());
        let name = self.name.clone();
        let queued = conn.queue_atomically(|conn| queue_bind(conn, &name, true, &described, &self.args, self.max_rows));
        if self.max_rows > 0 && queued.is_ok() {
            frontend::flush(conn.send_buf());
        } else {
            // The Sync ends the request whether the Bind went out or not (parameters that do
            // not fit the described types: reported at its ReadyForQuery).
            conn.sync_open_request();
        }
        queued
    }
}

impl ExtendedQuery<'_> {
    /// After a stale-description error at this ReadyForQuery: describe again and run once
    /// more, if nothing can have happened in between — outside a transaction block, or in
    /// the block this operation began (rolled back and begun again).
    fn retry_stale(&mut self, conn: &mut Connection, e: &DbError, status: TransactionStatus) -> Result<bool, Error> {
        let Some(key) = self.key.clone() else { return Ok(false) };
        if !self.from_cache || !is_stale(e, !self.name.is_empty()) {
            return Ok(false);
        }
        conn.statements.invalidate(&key);
        let began = self.began.clone();
        let restart = match (status, &began) {
            (TransactionStatus::Idle, _) => None,
            (TransactionStatus::InError, Some(begin)) => Some(begin.clone()),
            _ => return Ok(false),
        };
        if self.retried || self.result.tag.is_some() {
            return Ok(false);
        }
        self.retried = true;
        conn.queue_atomically(|conn| {
            if let Some(begin) = &restart {
                conn.simple_query("ROLLBACK")?;
                conn.simple_query(begin)?;
            }
            flush_closes(conn)?;
            self.name.clear();
            self.from_cache = false;
            self.result = QueryResult::default();
            self.queue_sql(conn, &key)
        })?;
        if restart.is_some() {
            self.prefix = 2;
        }
        Ok(true)
    }
}

impl Operation for ExtendedQuery<'_> {
    type Output = QueryStep;

    fn drive(&mut self, conn: &mut Connection) -> Result<Option<QueryStep>, Error> {
        loop {
            if self.prefix == 0
                && self.mode == Mode::Stream
                && matches!(self.state, State::Executing)
                && self.error.is_none()
                && conn.peek_message_type() == Some(b'D')
            {
                return Ok(Some(QueryStep::Row));
            }
            let Some(ev) = conn.poll_event()? else { return Ok(None) };
            if crate::connection::consume_prefix(&mut self.prefix, &ev, &mut self.error) {
                continue;
            }
            match (&mut self.state, ev) {
                (state, Event::Error(e)) => {
                    self.error.get_or_insert(e);
                    if self.max_rows > 0 || matches!(state, State::Describing { .. }) {
                        // The server skips to the next Sync: send it.
                        conn.sync_open_request();
                    }
                    *state = State::Executing;
                }
                (State::Describing { params, .. }, Event::ParameterDescription(types)) => *params = Some(types),
                (State::Describing { .. }, Event::RowDescription(cols)) => {
                    let cols = cols.clone();
                    if let Err(e) = self.finish_describe(conn, Some(cols)) {
                        self.refused(e);
                    }
                }
                (State::Describing { .. }, Event::NoData) => {
                    if let Err(e) = self.finish_describe(conn, None) {
                        self.refused(e);
                    }
                }
                (State::Describing { .. }, _) => {}
                (State::Executing, Event::ParseComplete) => {
                    if let (Some(name), Some(key)) = (self.parse_named.take(), &self.key) {
                        conn.statements.mark_prepared(key, name);
                    }
                }
                (State::Executing, Event::RowDescription(cols)) => {
                    let cols = cols.clone();
                    if let Some(key) = &self.key {
                        conn.statements.observe_columns(key, Some(&cols));
                    }
                    self.result.columns = Some(cols);
                }
                (State::Executing, Event::NoData) => {
                    if let Some(key) = &self.key {
                        conn.statements.observe_columns(key, None);
                    }
                }
                (State::Executing, Event::DataRow(row)) => match self.mode {
                    Mode::Collect => self.result.rows.push(row.to_owned()),
                    Mode::Stream | Mode::Count => {}
                },
                (State::Executing, Event::CommandComplete(tag)) => {
                    self.result.tag = Some(tag.to_owned());
                    if self.max_rows > 0 {
                        // The portal is exhausted: end it.
                        conn.sync_open_request();
                    }
                }
                (State::Executing, Event::PortalSuspended) => {
                    return Ok(Some(QueryStep::Suspended(std::mem::take(&mut self.result))));
                }
                (State::Executing, Event::ReadyForQuery(status)) => {
                    if let Some(e) = self.refused.take() {
                        return Err(e);
                    }
                    if let Some(e) = self.error.take() {
                        if self.retry_stale(conn, &e, status)? {
                            continue;
                        }
                        return Err(Error::Db(e));
                    }
                    return Ok(Some(QueryStep::Done(std::mem::take(&mut self.result))));
                }
                (State::Executing, _) => {}
            }
        }
    }
}

impl ExtendedQuery<'_> {
    /// Parameters did not fit the described types: reported at the request's ReadyForQuery.
    fn refused(&mut self, e: Error) {
        self.state = State::Executing;
        self.refused = Some(e);
    }
}

/// `prepare`: Parse + Describe + Sync under a new name; the [`Statement`] it returns can be
/// executed any number of times in one round trip each.
pub struct Prepare {
    name: String,
    sql: String,
    params: Option<Vec<u32>>,
    columns: Option<Arc<[Column]>>,
    error: Option<Box<DbError>>,
}

impl Prepare {
    /// `types` fixes parameter types (0 or missing entries: inferred by the server).
    pub fn start(conn: &mut Connection, sql: &str, types: &[u32]) -> Result<Prepare, Error> {
        crate::session::check_not_prepared(conn, "prepare")?;
        conn.check_ready()?;
        conn.abandon_outstanding();
        let name = conn.statements.new_name("pgsans_s");
        conn.queue_atomically(|conn| {
            flush_closes(conn)?;
            conn.queue_parse(&name, sql, types)?;
            let buf = conn.send_buf();
            frontend::describe(Target::Statement, &name, buf)?;
            frontend::sync(buf);
            conn.push_sync_request();
            Ok(())
        })?;
        Ok(Prepare { name, sql: sql.to_owned(), params: None, columns: None, error: None })
    }
}

impl Operation for Prepare {
    type Output = Statement;
    fn drive(&mut self, conn: &mut Connection) -> Result<Option<Statement>, Error> {
        while let Some(ev) = conn.poll_event()? {
            match ev {
                Event::ParameterDescription(t) => self.params = Some(t),
                Event::RowDescription(c) => self.columns = Some(c.clone()),
                Event::Error(e) => {
                    self.error.get_or_insert(e);
                }
                Event::ReadyForQuery(_) => {
                    if let Some(e) = self.error.take() {
                        return Err(Error::Db(e));
                    }
                    let inner = Arc::new(StatementInner::new(
                        std::mem::take(&mut self.name),
                        std::mem::take(&mut self.sql),
                        Arc::new(Described::new(self.params.take().unwrap_or_default(), self.columns.take())),
                        conn.statements.dealloc_epoch,
                    ));
                    conn.statements.register_user(&inner);
                    return Ok(Some(Statement(inner)));
                }
                _ => {}
            }
        }
        Ok(None)
    }
}

/// Continues an open portal: the next `max_rows` rows ([`QueryStep::Suspended`]), or the last
/// ones ([`QueryStep::Done`]).
#[derive(Debug)]
pub struct PortalFetch {
    columns: Option<Arc<[Column]>>,
    result: QueryResult,
    error: Option<Box<DbError>>,
}

impl PortalFetch {
    /// `columns` are the portal's (from its first batch).
    pub fn start(conn: &mut Connection, max_rows: i32, columns: Option<Arc<[Column]>>) -> Result<PortalFetch, Error> {
        conn.check_ready()?;
        if !conn.has_open_portal() {
            return Err(UsageError::InvalidState("the portal is closed".into()).into());
        }
        let buf = conn.send_buf();
        frontend::execute("", max_rows.max(1), buf)?;
        frontend::flush(buf);
        Ok(PortalFetch {
            columns: columns.clone(),
            result: QueryResult { columns, ..QueryResult::default() },
            error: None,
        })
    }

    /// Ends an open portal early (Sync); the operation completes at its ReadyForQuery.
    pub fn close(conn: &mut Connection) -> Result<PortalFetch, Error> {
        conn.check_ready()?;
        conn.sync_open_request();
        Ok(PortalFetch { columns: None, result: QueryResult::default(), error: None })
    }
}

impl Operation for PortalFetch {
    type Output = QueryStep;
    fn drive(&mut self, conn: &mut Connection) -> Result<Option<QueryStep>, Error> {
        while let Some(ev) = conn.poll_event()? {
            match ev {
                Event::DataRow(row) => self.result.rows.push(row.to_owned()),
                Event::PortalSuspended => {
                    let columns = self.columns.clone();
                    let r = std::mem::replace(&mut self.result, QueryResult { columns, ..QueryResult::default() });
                    return Ok(Some(QueryStep::Suspended(r)));
                }
                Event::CommandComplete(tag) => {
                    self.result.tag = Some(tag.to_owned());
                    conn.sync_open_request();
                }
                Event::Error(e) => {
                    self.error.get_or_insert(e);
                    conn.sync_open_request();
                }
                Event::ReadyForQuery(_) => {
                    if let Some(e) = self.error.take() {
                        return Err(Error::Db(e));
                    }
                    return Ok(Some(QueryStep::Done(std::mem::take(&mut self.result))));
                }
                _ => {}
            }
        }
        Ok(None)
    }
}
