//! Extended-query operations: prepare, query (collect, stream or count) with typed
//! parameters, binary results for the types pgsans knows.
//!
//! A query whose SQL was never seen costs two round trips (Parse + Describe + Sync, then
//! Bind + Describe + Execute + Sync): the first learns the parameter and column types, so
//! parameters are encoded for the right server types and each result column is requested in
//! binary exactly when pgsans can decode it. The description is cached: later executions are
//! one round trip, and after `prepare_threshold` executions the statement is prepared
//! server-side (no re-parse).

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
    formats: Vec<i16>,
    values: Vec<Option<Vec<u8>>>,
}

impl PreEncoded {
    pub(crate) fn new(params: Params<'_>) -> Result<PreEncoded, Error> {
        let mut pre = PreEncoded::default();
        for (i, p) in params.iter().enumerate() {
            let oid = p.natural_type();
            let binary = oid != 0 && p.binary(oid);
            let mut bytes = Vec::new();
            let null = p.encode(oid, &mut bytes).map_err(|e| match e {
                Error::Usage(UsageError::WrongType { rust, pg, .. }) => {
                    UsageError::WrongType { column: format!("parameter ${}", i + 1), rust, pg }.into()
                }
                other => other,
            })?;
            pre.formats.push(binary as i16);
            pre.values.push(match null {
                crate::types::IsNull::Yes => None,
                crate::types::IsNull::No => Some(bytes),
            });
        }
        Ok(pre)
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
    Describing { params: Option<Vec<u32>>, columns: Option<Arc<[Column]>>, prepared_as: Option<String> },
    Executing,
}

/// One query through the extended protocol; see the module docs.
pub struct ExtendedQuery<'p> {
    params: Params<'p>,
    key: Option<Key>,
    /// Name of the statement being executed ("" = unnamed).
    name: String,
    described: Option<Arc<Described>>,
    /// A named Parse whose ParseComplete marks the statement prepared.
    parse_named: Option<String>,
    state: State,
    mode: Mode,
    prefix: usize,
    result: QueryResult,
    error: Option<Box<DbError>>,
    retried: bool,
    /// Rows per Execute for an open portal (0: all, with Sync).
    max_rows: i32,
    /// Parameters encoded at start (`start_owned`): used instead of `params` after a Describe.
    pre: Option<PreEncoded>,
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

/// The result formats for `columns`: binary where pgsans decodes the type.
fn result_formats(columns: Option<&Arc<[Column]>>) -> Vec<i16> {
    match columns {
        None => Vec::new(),
        Some(cols) => {
            let formats: Vec<i16> = cols.iter().map(|c| binary_supported(c.type_oid()) as i16).collect();
            // One code for all when they agree: a shorter Bind.
            if formats.iter().all(|f| *f == formats[0]) && !formats.is_empty() {
                vec![formats[0]]
            } else {
                formats
            }
        }
    }
}

/// Appends Bind + Describe(portal) + Execute + Sync for statement `name`; with `max_rows > 0`,
/// Flush instead of Sync, leaving the portal open.
pub(crate) fn queue_execute(
    conn: &mut Connection,
    name: &str,
    described: &Described,
    params: Params<'_>,
    max_rows: i32,
) -> Result<(), Error> {
    if max_rows > 0 {
        queue_bind_execute(conn, name, described, params, max_rows, true)?;
        frontend::flush(conn.send_buf());
        conn.push_unsynced_request(None);
        return Ok(());
    }
    // A named statement cannot change its result shape without the server refusing it
    // ("cached plan must not change result type"), so its rows can use the cached columns and
    // skip the per-execution Describe. The unnamed statement is re-parsed: describe it.
    let describe = name.is_empty();
    queue_bind_execute(conn, name, described, params, max_rows, describe)?;
    frontend::sync(conn.send_buf());
    conn.push_sync_request_with_columns(if describe { None } else { described.result_columns.clone() });
    Ok(())
}

/// Bind (from pre-encoded parameters) + Describe(portal) + Execute + Sync.
fn queue_execute_pre_encoded(
    conn: &mut Connection,
    name: &str,
    described: &Described,
    pre: &PreEncoded,
) -> Result<(), Error> {
    if described.params.len() != pre.values.len() {
        return Err(UsageError::ParameterCount { expected: described.params.len(), given: pre.values.len() }.into());
    }
    let formats = result_formats(described.columns.as_ref());
    let describe = name.is_empty();
    let buf = conn.send_buf();
    frontend::bind_encoded::<Error>(
        "",
        name,
        &pre.formats,
        pre.values.len(),
        |i, out| {
            Ok(match &pre.values[i] {
                None => crate::types::IsNull::Yes,
                Some(v) => {
                    out.extend_from_slice(v);
                    crate::types::IsNull::No
                }
            })
        },
        &formats,
        buf,
    )?;
    if describe {
        frontend::describe(Target::Portal, "", buf)?;
    }
    frontend::execute("", 0, buf)?;
    frontend::sync(buf);
    conn.push_sync_request_with_columns(if describe { None } else { described.result_columns.clone() });
    Ok(())
}

/// Bind + Describe(portal) + Execute without a Sync (pipelines add their own Sync points). A
/// named statement that returns no rows skips the Describe.
pub(crate) fn queue_execute_no_sync(
    conn: &mut Connection,
    name: &str,
    described: &Described,
    params: Params<'_>,
) -> Result<(), Error> {
    let describe = name.is_empty() || described.columns.is_some();
    queue_bind_execute(conn, name, described, params, 0, describe)
}

fn queue_bind_execute(
    conn: &mut Connection,
    name: &str,
    described: &Described,
    params: Params<'_>,
    max_rows: i32,
    describe: bool,
) -> Result<(), Error> {
    if described.params.len() != params.len() {
        return Err(UsageError::ParameterCount { expected: described.params.len(), given: params.len() }.into());
    }
    let param_formats: Vec<i16> = params.iter().zip(&described.params).map(|(p, oid)| p.binary(*oid) as i16).collect();
    let formats = result_formats(described.columns.as_ref());
    let buf = conn.send_buf();
    frontend::bind_encoded::<Error>(
        "",
        name,
        &param_formats,
        params.len(),
        |i, out| {
            params[i].encode(described.params[i], out).map_err(|e| match e {
                Error::Usage(UsageError::WrongType { rust, pg, .. }) => {
                    UsageError::WrongType { column: format!("parameter ${}", i + 1), rust, pg }.into()
                }
                other => other,
            })
        },
        &formats,
        buf,
    )?;
    if describe {
        frontend::describe(Target::Portal, "", buf)?;
    }
    frontend::execute("", max_rows, buf)?;
    Ok(())
}

fn queue_describe(conn: &mut Connection, name: &str, sql: &str, types: &[u32]) -> Result<(), Error> {
    let buf = conn.send_buf();
    frontend::parse(name, sql, types, buf)?;
    frontend::describe(Target::Statement, name, buf)?;
    frontend::sync(buf);
    conn.push_sync_request();
    Ok(())
}

/// The message that comes with SQLSTATE 0A000 when a prepared statement's result type
/// changed under it (e.g. `ALTER TABLE`): re-prepare and retry.
fn is_stale_plan(e: &DbError) -> bool {
    e.code() == "0A000" && e.message().contains("cached plan must not change result type")
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
        Self::start_with(conn, query, params, Mode::Collect, max_rows, None)
    }

    /// Like [`start`](Self::start) in [`Mode::Collect`], but the parameters are encoded at once
    /// and the operation borrows nothing: for callers that keep the operation across calls (the
    /// polling connection).
    pub fn start_owned(conn: &mut Connection, sql: &str, params: Params<'_>) -> Result<ExtendedQuery<'static>, Error> {
        let pre = PreEncoded::new(params)?;
        let key: Key = (sql.to_owned(), params.iter().map(|p| p.natural_type()).collect());
        // A cached description fixes the types: encode for them now, like `start` does.
        if conn.statements.is_described(&key) {
            let mut op = ExtendedQuery::start(conn, Query::Sql(sql), params, Mode::Collect)?;
            return Ok(ExtendedQuery {
                params: &[],
                key: op.key.take(),
                name: std::mem::take(&mut op.name),
                described: op.described.take(),
                parse_named: op.parse_named.take(),
                state: std::mem::replace(&mut op.state, State::Executing),
                mode: Mode::Collect,
                prefix: op.prefix,
                result: std::mem::take(&mut op.result),
                error: None,
                // A retry would have to encode again for new types: report the error instead.
                retried: true,
                max_rows: 0,
                pre: None,
            });
        }
        let op: ExtendedQuery<'static> =
            ExtendedQuery::start_with(conn, Query::Sql(sql), &[], Mode::Collect, 0, Some(key.1)).map(|mut op| {
                op.pre = Some(pre);
                op
            })?;
        Ok(op)
    }

    /// Queues the query. Nothing is queued if it fails (misuse, a parameter that does not fit).
    pub fn start(conn: &mut Connection, query: Query<'_>, params: Params<'p>, mode: Mode) -> Result<Self, Error> {
        Self::start_with(conn, query, params, mode, 0, None)
    }

    /// `types`: the parameter types to declare, when `params` are not given (pre-encoded).
    fn start_with(
        conn: &mut Connection,
        query: Query<'_>,
        params: Params<'p>,
        mode: Mode,
        max_rows: i32,
        types: Option<Vec<u32>>,
    ) -> Result<Self, Error> {
        crate::session::check_not_prepared(conn, "execute")?;
        conn.check_ready()?;
        conn.abandon_outstanding();
        conn.queue_atomically(|conn| Self::queue(conn, query, params, mode, max_rows, types))
    }

    fn queue(
        conn: &mut Connection,
        query: Query<'_>,
        params: Params<'p>,
        mode: Mode,
        max_rows: i32,
        types: Option<Vec<u32>>,
    ) -> Result<Self, Error> {
        let mut prefix = 0;
        if let Some(begin) = crate::session::needs_begin(conn) {
            conn.simple_query(&begin)?;
            prefix = 1;
        }
        flush_closes(conn)?;
        let mut q = ExtendedQuery {
            params,
            key: None,
            name: String::new(),
            described: None,
            parse_named: None,
            state: State::Executing,
            mode,
            prefix,
            result: QueryResult::default(),
            error: None,
            retried: false,
            max_rows,
            pre: None,
        };
        match query {
            Query::Statement(stmt) => {
                q.name = stmt.0.name.clone();
                queue_execute(conn, &q.name, &stmt.0.described, params, max_rows)?;
                q.result.columns = stmt.0.described.result_columns.clone();
                q.described = Some(stmt.0.described.clone());
            }
            Query::Sql(sql) => {
                let types = types.unwrap_or_else(|| params.iter().map(|p| p.natural_type()).collect());
                let key: Key = (sql.to_owned(), types);
                match conn.statements.plan(&key) {
                    Plan::Describe { prepare_as } => {
                        let name = prepare_as.clone().unwrap_or_default();
                        queue_describe(conn, &name, sql, &key.1)?;
                        q.state = State::Describing { params: None, columns: None, prepared_as: prepare_as };
                    }
                    Plan::Unnamed(d) => {
                        frontend::parse("", sql, &key.1, conn.send_buf())?;
                        queue_execute(conn, "", &d, params, max_rows)?;
                        q.described = Some(d);
                    }
                    Plan::PrepareNow(d, name) => {
                        frontend::parse(&name, sql, &key.1, conn.send_buf())?;
                        queue_execute(conn, &name, &d, params, max_rows)?;
                        q.result.columns = d.result_columns.clone();
                        q.parse_named = Some(name.clone());
                        q.name = name;
                        q.described = Some(d);
                    }
                    Plan::Prepared(d, name) => {
                        queue_execute(conn, &name, &d, params, max_rows)?;
                        q.result.columns = d.result_columns.clone();
                        q.name = name;
                        q.described = Some(d);
                    }
                }
                q.key = Some(key);
            }
        }
        Ok(q)
    }

    fn finish_describe(&mut self, conn: &mut Connection) -> Result<(), Error> {
        let State::Describing { params, columns, prepared_as } = std::mem::replace(&mut self.state, State::Executing)
        else {
            unreachable!("called in Describing")
        };
        let described = Arc::new(Described::new(params.unwrap_or_default(), columns));
        let key = self.key.clone().expect("SQL queries have a key");
        conn.statements.insert(key.clone(), described.clone(), prepared_as.clone());
        self.name = prepared_as.unwrap_or_default();
        self.described = Some(described.clone());
        // Nothing may stay queued if the parameters do not fit the described types.
        conn.queue_atomically(|conn| self.queue_after_describe(conn, &key, described))
    }

    fn queue_after_describe(
        &mut self,
        conn: &mut Connection,
        key: &Key,
        described: Arc<Described>,
    ) -> Result<(), Error> {
        if self.name.is_empty() {
            // Parse again rather than rely on the unnamed statement surviving: behind a
            // transaction-pooling proxy the next Sync may reach another backend.
            frontend::parse("", &key.0, &key.1, conn.send_buf())?;
        }
        let name = self.name.clone();
        if !name.is_empty() {
            self.result.columns = described.result_columns.clone();
        }
        match &self.pre {
            Some(pre) => queue_execute_pre_encoded(conn, &name, &described, pre),
            None => queue_execute(conn, &name, &described, self.params, self.max_rows),
        }
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
                (_, Event::Error(e)) => {
                    self.error.get_or_insert(e);
                    if self.max_rows > 0 {
                        // The server waits for a Sync after an error in an open portal.
                        conn.sync_open_request();
                    }
                }
                (State::Describing { params, .. }, Event::ParameterDescription(types)) => *params = Some(types),
                (State::Describing { columns, .. }, Event::RowDescription(cols)) => *columns = Some(cols.clone()),
                (State::Describing { .. }, Event::ReadyForQuery(_)) => {
                    if let Some(e) = self.error.take() {
                        return Err(Error::Db(e));
                    }
                    self.finish_describe(conn)?;
                }
                (State::Describing { .. }, _) => {}
                (State::Executing, Event::ParseComplete) => {
                    if let (Some(name), Some(key)) = (self.parse_named.take(), &self.key) {
                        conn.statements.mark_prepared(key, name);
                    }
                }
                (State::Executing, Event::RowDescription(cols)) => {
                    let cols = cols.clone();
                    if let (Some(key), Some(d)) = (&self.key, &self.described) {
                        let changed = match &d.columns {
                            Some(old) => {
                                old.len() != cols.len()
                                    || old.iter().zip(cols.iter()).any(|(a, b)| a.type_oid() != b.type_oid())
                            }
                            None => true,
                        };
                        if changed {
                            conn.statements.update_columns(key, Some(cols.clone()));
                        }
                    }
                    self.result.columns = Some(cols);
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
                    if let Some(e) = self.error.take() {
                        let stale = is_stale_plan(&e) && !self.name.is_empty();
                        if stale {
                            if let Some(key) = &self.key {
                                conn.statements.invalidate(key);
                                if !self.retried && status == TransactionStatus::Idle {
                                    // Re-describe and run again, once.
                                    self.retried = true;
                                    flush_closes(conn)?;
                                    let key = key.clone();
                                    queue_describe(conn, "", &key.0, &key.1)?;
                                    self.name.clear();
                                    self.result = QueryResult::default();
                                    self.state = State::Describing { params: None, columns: None, prepared_as: None };
                                    continue;
                                }
                            }
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
        flush_closes(conn)?;
        let name = conn.statements.new_name("pgsans_s");
        conn.queue_atomically(|conn| queue_describe(conn, &name, sql, types))?;
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
                    let inner = Arc::new(StatementInner {
                        name: std::mem::take(&mut self.name),
                        sql: std::mem::take(&mut self.sql),
                        described: Arc::new(Described::new(
                            self.params.take().unwrap_or_default(),
                            self.columns.take(),
                        )),
                    });
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
