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
use crate::extended::{queue_bind, Args, Params, Query, QueryResult};
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
        /// Indexes into `texts`.
        pending: Vec<usize>,
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
    /// The next query to queue: queries are queued while the send buffer is short, so encoding
    /// overlaps the server's work and the buffer stays bounded.
    next: usize,
    /// The distinct SQL texts of the pipeline, and for each query the index of its text here
    /// ([`NO_TEXT`] for prepared statements): worked out once, not per query.
    texts: Vec<Text>,
    item_text: Vec<u32>,
    /// Queries that failed on the client while encoding: their group is aborted on the server by
    /// a Parse that fails in their place, and they report this error.
    poisoned: Vec<(usize, Error)>,
    /// The statement cache's epoch this run's descriptions belong to: when this session's DDL
    /// drops the cache, what the pipeline kept is dropped too.
    epoch: u64,
    /// The describe round trip runs inside `SAVEPOINT pgsans_describe` (in a transaction block).
    savepoint: bool,
    /// The first query that may change the schema (DDL, `SET search_path`, …): the queries after
    /// it are sent without cached descriptions (unnamed, results in the text format), since
    /// they are queued before its effect is known.
    schema_point: Option<usize>,
}

/// How far ahead of the socket the pipeline encodes.
const QUEUE_AHEAD: usize = 256 * 1024;

/// `item_text` of a query given as a prepared [`Statement`](crate::Statement).
const NO_TEXT: u32 = u32::MAX;

/// One distinct (SQL text, parameter types) of a pipeline, and what this run knows of it.
#[derive(Debug)]
struct Text {
    key: Key,
    /// How many queries of the pipeline have it.
    count: usize,
    /// Its description, kept here because the cache may evict it (a pipeline can hold more
    /// distinct texts than the cache).
    described: Option<Arc<Described>>,
    /// The prepared statement this pipeline executes it as, once known, and whether this run
    /// parsed it (its description is then not yet confirmed by the server: describe it).
    prepared: Option<(Arc<Described>, String, bool)>,
    /// It could not be described (it may depend on earlier queries of the pipeline, or be
    /// wrong): sent as it is, the server reports its errors in order.
    blind: bool,
    /// The first query that has it.
    first: usize,
    /// Its SQL may change `search_path`.
    search_path: bool,
}

/// The distinct texts of `pipeline` and each query's index into them. Consecutive queries
/// with the same text — the common case — cost a string comparison, no allocation.
fn index_texts(pipeline: &Pipeline<'_>) -> (Vec<Text>, Vec<u32>) {
    let mut texts: Vec<Text> = Vec::new();
    let mut item_text = Vec::with_capacity(pipeline.items.len());
    let mut by_sql: HashMap<&str, Vec<u32>> = HashMap::new();
    let mut types: Vec<u32> = Vec::new();
    let mut last: Option<(&str, u32)> = None;
    for item in &pipeline.items {
        let Query::Sql(sql) = item.query else {
            item_text.push(NO_TEXT);
            continue;
        };
        types.clear();
        types.extend(pipeline.params_of(item).iter().map(|p| p.natural_type()));
        let id = match last {
            Some((prev, t)) if prev == sql && texts[t as usize].key.1 == types => t,
            _ => {
                let ids = by_sql.entry(sql).or_default();
                match ids.iter().find(|&&t| texts[t as usize].key.1 == types) {
                    Some(&t) => t,
                    None => {
                        let t = texts.len() as u32;
                        let key = (sql.to_owned(), types.clone());
                        let search_path = crate::statement::mentions_search_path(sql);
                        let first = item_text.len();
                        texts.push(Text {
                            key,
                            count: 0,
                            described: None,
                            prepared: None,
                            blind: false,
                            first,
                            search_path,
                        });
                        ids.push(t);
                        t
                    }
                }
            }
        };
        texts[id as usize].count += 1;
        last = Some((sql, id));
        item_text.push(id);
    }
    (texts, item_text)
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
            next: 0,
            texts: Vec::new(),
            item_text: Vec::new(),
            poisoned: Vec::new(),
            epoch: conn.statements.epoch,
            savepoint: false,
            schema_point: pipeline.items.iter().position(|item| match item.query {
                Query::Sql(sql) => crate::statement::may_change_schema(sql),
                Query::Statement(_) => false,
            }),
        };
        if let Some(begin) = crate::session::needs_begin(conn) {
            conn.simple_query(&begin)?;
            op.prefix = 1;
        }
        (op.texts, op.item_text) = index_texts(pipeline);
        // Which SQL texts need describing? (Not those only used after a schema change: they are
        // sent undescribed anyway.)
        let before_change = |t: &Text| op.schema_point.is_none_or(|p| t.first <= p);
        let unknown: Vec<usize> = (0..op.texts.len())
            .filter(|&t| before_change(&op.texts[t]) && !conn.statements.is_described(&op.texts[t].key))
            .collect();
        if unknown.is_empty() {
            op.queue_all(conn)?;
        } else {
            if op.prefix > 0 || conn.server_transaction_status() != crate::TransactionStatus::Idle {
                // In a transaction block a failed Describe would abort the block before the
                // query that fails ever runs: describe inside a savepoint.
                conn.simple_query("SAVEPOINT pgsans_describe")?;
                op.prefix += 1;
                op.savepoint = true;
            }
            op.queue_describes(conn, unknown)?;
        }
        Ok(op)
    }

    fn queue_describes(&mut self, conn: &mut Connection, texts: Vec<usize>) -> Result<(), Error> {
        for &t in &texts {
            let (sql, types) = &self.texts[t].key;
            conn.queue_parse("", sql, types)?;
            let buf = conn.send_buf();
            frontend::describe(Target::Statement, "", buf)?;
            frontend::sync(buf);
            conn.push_sync_request();
        }
        self.phase = Phase::Describing { pending: texts, done: 0, params: None, columns: None, failed: false };
        Ok(())
    }

    /// Checks every query's parameters against its description (count and types), then starts
    /// queueing. Misuse is reported here, before anything of the pipeline is sent.
    fn queue_all(&mut self, conn: &mut Connection) -> Result<(), Error> {
        let pipeline = self.pipeline;
        for text in &mut self.texts {
            if text.described.is_none() {
                text.described = conn.statements.described(&text.key);
            }
        }
        for (k, item) in pipeline.items.iter().enumerate() {
            let params = pipeline.params_of(item);
            let described = match item.query {
                Query::Statement(stmt) => Some(&stmt.0.described),
                Query::Sql(_) => self.texts[self.item_text[k] as usize].described.as_ref(),
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
                conn.push_unsynced_request();
            }
            if self.item_text[i] != NO_TEXT && self.texts[self.item_text[i] as usize].search_path {
                conn.mark_search_path();
            }
            let mark = conn.send_buf().len();
            if let Err(e) = self.queue_item(conn, i) {
                conn.send_buf().truncate(mark);
                // Make the server abort this group here, as it would for a server error.
                conn.queue_parse("", "pgsans: a parameter could not be encoded", &[])?;
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
        let args = Args::Borrowed(params);
        if conn.statements.epoch != self.epoch {
            // This session's DDL dropped the cache (and closes what it prepared): so does this run.
            self.epoch = conn.statements.epoch;
            for text in &mut self.texts {
                text.described = None;
                text.prepared = None;
            }
        }
        match item.query {
            Query::Statement(stmt) => queue_bind(conn, &stmt.0.name, false, &stmt.0.described, &args, 0),
            Query::Sql(sql) => {
                let t = self.item_text[i] as usize;
                let text = &self.texts[t];
                if text.blind || self.schema_point.is_some_and(|p| i > p) {
                    // Parameters as their Rust types declare them, results as text.
                    conn.queue_parse("", sql, &text.key.1)?;
                    let d = Described::new(text.key.1.clone(), None);
                    return queue_bind(conn, "", true, &d, &args, 0);
                }
                if let Some((d, name, parsed_here)) = &text.prepared {
                    return queue_bind(conn, name, *parsed_here, d, &args, 0);
                }
                let repeated = text.count > 1;
                match conn.statements.plan(&text.key) {
                    Plan::Prepared(d, name) => {
                        queue_bind(conn, &name, false, &d, &args, 0)?;
                        self.texts[t].prepared = Some((d, name, false));
                        Ok(())
                    }
                    Plan::PrepareNow(d, name) => self.prepare(conn, t, d, name, &args),
                    Plan::Unnamed(d) if repeated && conn.statements.threshold.is_some() => {
                        let name = conn.statements.new_name("pgsans_c");
                        self.prepare(conn, t, d, name, &args)
                    }
                    Plan::Unnamed(d) => {
                        conn.queue_parse("", sql, &text.key.1)?;
                        queue_bind(conn, "", true, &d, &args, 0)
                    }
                    // Evicted since it was described, never cached (FETCH, EXECUTE), or the
                    // cache holds nothing: use the description this pipeline kept, unnamed.
                    Plan::Describe { .. } => {
                        let d = match &text.described {
                            Some(d) => d.clone(),
                            None => Arc::new(Described::new(text.key.1.clone(), None)),
                        };
                        conn.queue_parse("", sql, &text.key.1)?;
                        queue_bind(conn, "", true, &d, &args, 0)
                    }
                }
            }
        }
    }

    fn prepare(
        &mut self,
        conn: &mut Connection,
        t: usize,
        d: Arc<Described>,
        name: String,
        args: &Args<'_>,
    ) -> Result<(), Error> {
        let text = &mut self.texts[t];
        conn.queue_parse(&name, &text.key.0, &text.key.1)?;
        queue_bind(conn, &name, true, &d, args, 0)?;
        self.preparing.push((text.key.clone(), name.clone()));
        text.prepared = Some((d, name, true));
        Ok(())
    }

    /// The description the server gave the current query's portal: later queries of the same
    /// text choose their formats by it, and so does the statement cache.
    fn observe_columns(&mut self, conn: &mut Connection, columns: Option<&Arc<[crate::row::Column]>>) {
        let at = self.results.len();
        let Some(&t) = self.item_text.get(at).filter(|&&t| t != NO_TEXT) else { return };
        let text = &mut self.texts[t as usize];
        conn.statements.observe_columns(&text.key, columns);
        if let Some(d) = &text.described {
            if !crate::statement::same_columns(d.columns.as_ref(), columns) {
                text.described = Some(Arc::new(Described::new(d.params.clone(), columns.cloned())));
            }
        }
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
                        let text = &mut self.texts[pending[*done]];
                        if *failed {
                            text.blind = true;
                        } else {
                            let d = Arc::new(Described::new(params.take().unwrap_or_default(), columns.take()));
                            text.described = Some(d.clone());
                            conn.statements.insert(text.key.clone(), d, None);
                        }
                        // Keep the descriptions only if no DDL of this session ran meanwhile.
                        self.epoch = conn.statements.epoch;
                        *params = None;
                        *columns = None;
                        *failed = false;
                        *done += 1;
                        if *done == pending.len() {
                            if let Some(e) = self.describe_error.take() {
                                // The automatic BEGIN (or the savepoint) failed.
                                return Err(Error::Db(e));
                            }
                            if self.savepoint {
                                let failed = pending.iter().any(|&t| self.texts[t].blind);
                                conn.simple_query(if failed {
                                    "ROLLBACK TO SAVEPOINT pgsans_describe; RELEASE SAVEPOINT pgsans_describe"
                                } else {
                                    "RELEASE SAVEPOINT pgsans_describe"
                                })?;
                                self.prefix += 1;
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
                    Event::RowDescription(cols) => {
                        let cols = cols.clone();
                        self.observe_columns(conn, Some(&cols));
                        self.current.columns = Some(cols);
                    }
                    Event::NoData => self.observe_columns(conn, None),
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
