//! Pipeline mode: many extended queries sent without waiting for each other (libpq's and
//! psycopg 3's pipeline mode).
//!
//! Results come back in order, one per query. After an error, every later query up to the next
//! Sync point is reported as [`Error::PipelineAborted`] and the server skips it; queries after
//! that Sync run normally. While the pipeline is being written the engine also reads
//! ([`Poll::ReadWrite`](crate::Poll::ReadWrite)), so a pipeline of any size never deadlocks
//! against a server that is blocked writing results.

use std::collections::HashMap;
use std::sync::Arc;

use crate::codec::frontend::{self, Target};
use crate::connection::{Connection, Event};
use crate::error::{DbError, Error, UsageError};
use crate::extended::{queue_execute_no_sync, Params, Query, QueryResult};
use crate::op::Operation;
use crate::statement::{Described, Key, Plan};
use crate::types::ToSql;

#[derive(Debug)]
struct Item<'p> {
    query: Query<'p>,
    /// This query's parameters: `params[range]` of the pipeline.
    range: std::ops::Range<usize>,
    keep_rows: bool,
    /// A Sync follows this query.
    sync_after: bool,
}

/// Queries to send together. Build it, then run it with the connection's `pipeline` method.
/// It holds references to the parameter values (not to the slices they came in).
#[derive(Debug, Default)]
pub struct Pipeline<'p> {
    items: Vec<Item<'p>>,
    params: Vec<&'p (dyn ToSql + Sync)>,
    sync_each: bool,
}

impl<'p> Pipeline<'p> {
    pub fn new() -> Self {
        Pipeline { items: Vec::new(), params: Vec::new(), sync_each: false }
    }

    fn push(&mut self, query: Query<'p>, params: &[&'p (dyn ToSql + Sync)], keep_rows: bool) {
        let start = self.params.len();
        self.params.extend_from_slice(params);
        self.items.push(Item { query, range: start..self.params.len(), keep_rows, sync_after: false });
    }

    fn params_of(&self, item: &Item<'p>) -> Params<'_> {
        &self.params[item.range.clone()]
    }

    /// Put a Sync after every query, so that an error aborts only its own query. (By default
    /// there is one Sync at the end, plus those added with [`sync`](Self::sync).)
    pub fn sync_each(mut self, on: bool) -> Self {
        self.sync_each = on;
        self
    }

    /// Adds a query whose rows are kept.
    pub fn query(&mut self, query: impl Into<Query<'p>>, params: &[&'p (dyn ToSql + Sync)]) -> &mut Self {
        self.push(query.into(), params, true);
        self
    }

    /// Adds a statement whose rows are only counted.
    pub fn execute(&mut self, query: impl Into<Query<'p>>, params: &[&'p (dyn ToSql + Sync)]) -> &mut Self {
        self.push(query.into(), params, false);
        self
    }

    /// Adds a Sync point after the last query added: an error before it does not abort the
    /// queries after it.
    pub fn sync(&mut self) -> &mut Self {
        if let Some(last) = self.items.last_mut() {
            last.sync_after = true;
        }
        self
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[derive(Debug)]
enum Phase {
    /// Describing the SQL texts the cache does not know: one round trip for all of them, each
    /// in its own Sync so that one failure does not hide the others.
    Describing {
        pending: Vec<Key>,
        done: usize,
        params: Option<Vec<u32>>,
        columns: Option<Arc<[crate::row::Column]>>,
        failed: bool,
    },
    Running,
}

/// The operation that runs a [`Pipeline`].
#[derive(Debug)]
pub struct RunPipeline<'a, 'p> {
    pipeline: &'a Pipeline<'p>,
    phase: Phase,
    prefix: usize,
    /// Results so far, in order.
    results: Vec<Result<QueryResult, Error>>,
    current: QueryResult,
    /// The query that failed in the current Sync group: the rest of the group is skipped.
    failed: Option<usize>,
    /// Statements this pipeline prepared: key -> name (marked prepared at ParseComplete).
    preparing: Vec<(Key, String)>,
    describe_error: Option<Box<DbError>>,
    /// Texts that could not be described (they may depend on earlier queries of the pipeline,
    /// or be wrong): sent as they are, the server reports their errors in order.
    blind: Vec<Key>,
    /// The next query to queue: queries are queued while the send buffer is short, so encoding
    /// overlaps the server's work and the buffer stays bounded.
    next: usize,
    /// Statements prepared by this pipeline: key -> (description, name).
    names: HashMap<Key, (Arc<Described>, String)>,
    /// The descriptions this pipeline relies on, kept here because the cache may evict them
    /// (a pipeline can hold more distinct texts than the cache).
    described: HashMap<Key, Arc<Described>>,
    counts: HashMap<Key, usize>,
    /// Queries that failed on the client while encoding: their group is aborted on the server by
    /// a Parse that fails in their place, and they report this error.
    poisoned: Vec<(usize, Error)>,
}

/// How far ahead of the socket the pipeline encodes.
const QUEUE_AHEAD: usize = 256 * 1024;

fn key_of(sql: &str, params: Params<'_>) -> Key {
    (sql.to_owned(), params.iter().map(|p| p.natural_type()).collect())
}

impl<'a, 'p> RunPipeline<'a, 'p> {
    /// Starts the pipeline. Misuse (a wrong parameter count or type) is reported before
    /// anything is queued.
    pub fn start(conn: &mut Connection, pipeline: &'a Pipeline<'p>) -> Result<Self, Error> {
        crate::session::check_not_prepared(conn, "pipeline")?;
        conn.check_ready()?;
        conn.abandon_outstanding();
        conn.queue_atomically(|conn| Self::start_inner(conn, pipeline))
    }

    fn start_inner(conn: &mut Connection, pipeline: &'a Pipeline<'p>) -> Result<Self, Error> {
        let mut op = RunPipeline {
            pipeline,
            phase: Phase::Running,
            prefix: 0,
            results: Vec::with_capacity(pipeline.items.len()),
            current: QueryResult::default(),
            failed: None,
            preparing: Vec::new(),
            describe_error: None,
            blind: Vec::new(),
            next: 0,
            names: HashMap::new(),
            described: HashMap::new(),
            counts: HashMap::new(),
            poisoned: Vec::new(),
        };
        if let Some(begin) = crate::session::needs_begin(conn) {
            conn.simple_query(&begin)?;
            op.prefix = 1;
        }
        // Which SQL texts need describing?
        let mut unknown: Vec<Key> = Vec::new();
        for item in &pipeline.items {
            if let Query::Sql(sql) = item.query {
                let key = key_of(sql, pipeline.params_of(item));
                if !conn.statements.is_described(&key) && !unknown.contains(&key) {
                    unknown.push(key);
                }
            }
        }
        if unknown.is_empty() {
            op.queue_all(conn)?;
        } else {
            op.queue_describes(conn, unknown)?;
        }
        Ok(op)
    }

    fn queue_describes(&mut self, conn: &mut Connection, keys: Vec<Key>) -> Result<(), Error> {
        for (sql, types) in &keys {
            let buf = conn.send_buf();
            frontend::parse("", sql, types, buf)?;
            frontend::describe(Target::Statement, "", buf)?;
            frontend::sync(buf);
            conn.push_sync_request();
        }
        self.phase = Phase::Describing { pending: keys, done: 0, params: None, columns: None, failed: false };
        Ok(())
    }

    /// Checks every query's parameters against its description (count and types), then starts
    /// queueing. Misuse is reported here, before anything of the pipeline is sent.
    fn queue_all(&mut self, conn: &mut Connection) -> Result<(), Error> {
        let pipeline = self.pipeline;
        for (k, item) in pipeline.items.iter().enumerate() {
            let params = pipeline.params_of(item);
            let described = match item.query {
                Query::Statement(stmt) => Some(stmt.0.described.clone()),
                Query::Sql(sql) => {
                    let key = key_of(sql, params);
                    *self.counts.entry(key.clone()).or_default() += 1;
                    let d = self.described.get(&key).cloned().or_else(|| conn.statements.described(&key));
                    if let Some(d) = &d {
                        self.described.insert(key, d.clone());
                    }
                    d
                }
            };
            if let Some(d) = described {
                if d.params.len() != params.len() {
                    return Err(UsageError::ParameterCount { expected: d.params.len(), given: params.len() }.into());
                }
                for (i, (p, oid)) in params.iter().zip(&d.params).enumerate() {
                    if !p.accepts_type(*oid) {
                        return Err(UsageError::WrongType {
                            column: format!("parameter ${} of query {}", i + 1, k + 1),
                            rust: "the given value",
                            pg: crate::types::type_name(*oid),
                        }
                        .into());
                    }
                }
            }
        }
        crate::extended::flush_closes(conn)?;
        self.phase = Phase::Running;
        self.queue_more(conn)
    }

    /// Queues queries until the send buffer holds [`QUEUE_AHEAD`] bytes or all are queued.
    fn queue_more(&mut self, conn: &mut Connection) -> Result<(), Error> {
        let n = self.pipeline.items.len();
        while self.next < n && conn.transmit().len() < QUEUE_AHEAD {
            let i = self.next;
            if i == 0 || self.ends_group(i - 1) {
                // A new Sync group: register it now, responses may come before its Sync.
                conn.push_unsynced_request(None);
            }
            let mark = conn.send_buf().len();
            if let Err(e) = self.queue_item(conn, i) {
                conn.send_buf().truncate(mark);
                // Make the server abort this group here, as it would for a server error.
                frontend::parse("", "pgsans: a parameter could not be encoded", &[], conn.send_buf())?;
                self.poisoned.push((i, e));
            }
            if self.ends_group(i) {
                conn.sync_open_request();
            }
            self.next += 1;
        }
        Ok(())
    }

    fn queue_item(&mut self, conn: &mut Connection, i: usize) -> Result<(), Error> {
        let pipeline = self.pipeline;
        let item = &pipeline.items[i];
        let params = pipeline.params_of(item);
        match item.query {
            Query::Statement(stmt) => queue_execute_no_sync(conn, &stmt.0.name, &stmt.0.described, params),
            Query::Sql(sql) => {
                let key = key_of(sql, params);
                if self.blind.contains(&key) {
                    // Parameters as their Rust types declare them, results as text.
                    frontend::parse("", sql, &key.1, conn.send_buf())?;
                    let d = Described::new(key.1.clone(), None);
                    return queue_execute_no_sync(conn, "", &d, params);
                }
                if let Some((d, name)) = self.names.get(&key) {
                    let (d, name) = (d.clone(), name.clone());
                    return queue_execute_no_sync(conn, &name, &d, params);
                }
                let repeated = self.counts.get(&key).copied().unwrap_or(0) > 1;
                match conn.statements.plan(&key) {
                    Plan::Prepared(d, name) => {
                        queue_execute_no_sync(conn, &name, &d, params)?;
                        self.names.insert(key, (d, name));
                        Ok(())
                    }
                    Plan::PrepareNow(d, name) => self.prepare(conn, key, d, name, params),
                    Plan::Unnamed(d) if repeated && conn.statements.threshold.is_some() => {
                        let name = conn.statements.new_name("pgsans_c");
                        self.prepare(conn, key, d, name, params)
                    }
                    Plan::Unnamed(d) => {
                        frontend::parse("", sql, &key.1, conn.send_buf())?;
                        queue_execute_no_sync(conn, "", &d, params)
                    }
                    // Evicted since it was described (or the cache holds nothing): use the
                    // description this pipeline kept, unnamed.
                    Plan::Describe { .. } => {
                        let d = self
                            .described
                            .get(&key)
                            .cloned()
                            .unwrap_or_else(|| Arc::new(Described::new(key.1.clone(), None)));
                        frontend::parse("", sql, &key.1, conn.send_buf())?;
                        queue_execute_no_sync(conn, "", &d, params)
                    }
                }
            }
        }
    }

    fn prepare(
        &mut self,
        conn: &mut Connection,
        key: Key,
        d: Arc<Described>,
        name: String,
        params: Params<'_>,
    ) -> Result<(), Error> {
        frontend::parse(&name, &key.0, &key.1, conn.send_buf())?;
        queue_execute_no_sync(conn, &name, &d, params)?;
        self.preparing.push((key.clone(), name.clone()));
        self.names.insert(key, (d, name));
        Ok(())
    }

    fn finish_item(&mut self, r: Result<QueryResult, Error>) {
        self.results.push(r);
        self.current = QueryResult::default();
    }

    fn ends_group(&self, i: usize) -> bool {
        self.pipeline.items[i].sync_after || self.pipeline.sync_each || i + 1 == self.pipeline.items.len()
    }

    /// After the query at `failed` failed: the rest of its Sync group was skipped.
    fn abort_group(&mut self, failed: usize) {
        let mut end = failed;
        while !self.ends_group(end) {
            end += 1;
        }
        while self.results.len() <= end {
            self.results.push(Err(Error::PipelineAborted));
        }
    }
}

impl Operation for RunPipeline<'_, '_> {
    /// One result per query, in order.
    type Output = Vec<Result<QueryResult, Error>>;

    fn drive(&mut self, conn: &mut Connection) -> Result<Option<Self::Output>, Error> {
        let r = self.drive_events(conn)?;
        if matches!(self.phase, Phase::Running) && self.next < self.pipeline.items.len() {
            self.queue_more(conn)?;
        }
        Ok(r)
    }
}

impl RunPipeline<'_, '_> {
    fn drive_events(&mut self, conn: &mut Connection) -> Result<Option<Vec<Result<QueryResult, Error>>>, Error> {
        while let Some(ev) = conn.poll_event()? {
            if crate::connection::consume_prefix(&mut self.prefix, &ev, &mut self.describe_error) {
                continue;
            }
            match &mut self.phase {
                Phase::Describing { pending, done, params, columns, failed } => match ev {
                    Event::ParameterDescription(types) => *params = Some(types),
                    Event::RowDescription(cols) => *columns = Some(cols.clone()),
                    Event::Error(_) => *failed = true,
                    Event::ReadyForQuery(_) => {
                        let key = pending[*done].clone();
                        if *failed {
                            self.blind.push(key);
                        } else {
                            let d = Arc::new(Described::new(params.take().unwrap_or_default(), columns.take()));
                            self.described.insert(key.clone(), d.clone());
                            conn.statements.insert(key, d, None);
                        }
                        *params = None;
                        *columns = None;
                        *failed = false;
                        *done += 1;
                        if *done == pending.len() {
                            if let Some(e) = self.describe_error.take() {
                                // The automatic BEGIN failed.
                                return Err(Error::Db(e));
                            }
                            self.queue_all(conn)?;
                        }
                    }
                    _ => {}
                },
                Phase::Running => match ev {
                    Event::ParseComplete if !self.preparing.is_empty() => {
                        let (key, name) = self.preparing.remove(0);
                        conn.statements.mark_prepared(&key, name);
                    }
                    Event::RowDescription(cols) => self.current.columns = Some(cols.clone()),
                    Event::DataRow(row) if self.pipeline.items.get(self.results.len()).is_some_and(|i| i.keep_rows) => {
                        self.current.rows.push(row.to_owned());
                    }
                    Event::CommandComplete(tag) => {
                        let mut r = std::mem::take(&mut self.current);
                        r.tag = Some(tag.to_owned());
                        self.finish_item(Ok(r));
                    }
                    Event::EmptyQueryResponse => {
                        let r = std::mem::take(&mut self.current);
                        self.finish_item(Ok(r));
                    }
                    Event::Error(e) => {
                        let at = self.results.len();
                        self.failed = Some(at);
                        let err = match self.poisoned.iter().position(|(i, _)| *i == at) {
                            Some(p) => self.poisoned.remove(p).1,
                            None => Error::Db(e),
                        };
                        self.finish_item(Err(err));
                    }
                    Event::ReadyForQuery(_) => {
                        if let Some(failed) = self.failed.take() {
                            self.abort_group(failed);
                        }
                        if self.results.len() >= self.pipeline.items.len() {
                            return Ok(Some(std::mem::take(&mut self.results)));
                        }
                    }
                    _ => {}
                },
            }
        }
        Ok(None)
    }
}
