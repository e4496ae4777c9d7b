//! Pipeline mode: many extended queries sent without waiting for each other (libpq's and
//! psycopg 3's pipeline mode).
//!
//! Results come back in order, one per query. After an error, every later query up to the next
//! Sync point is reported as [`Error::PipelineAborted`] and the server skips it; queries after
//! that Sync run normally. While the pipeline is being written the engine also reads
//! ([`Interest::ReadWrite`](crate::Interest::ReadWrite)), so a pipeline of any size never
//! deadlocks against a server that is blocked writing results.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use super::params::{Encoded, Params};
use super::query::{queue_bind, Query, QueryResult};
use super::{Progress, Response};
use crate::error::{Error, UsageError};
use crate::request::event::Event;
use crate::session::conversation::{Conversation, RequestId};
use crate::session::statements::{Described, Key, Plan, Statement};
use crate::types::row::Column;
use crate::wire::codec::frontend::{self, Target};

/// What one query of a pipeline runs: an index into the pipeline's distinct SQL texts, or a
/// prepared statement.
#[derive(Debug, Clone)]
enum ItemQuery {
    Sql(u32),
    Statement(Statement),
}

#[derive(Debug, Clone)]
struct Item {
    query: ItemQuery,
    /// This query's parameters in the pipeline's [`Encoded`] values.
    range: Range<usize>,
    keep_rows: bool,
    /// A Sync follows this query.
    sync_after: bool,
}

/// Queries to send together. Build it, then run it with the connection's `pipeline` method.
/// Parameter values are encoded as they are added, so the pipeline owns everything it sends.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    items: Vec<Item>,
    /// The distinct SQL texts, in order of first use, and what was read in each.
    sqls: Vec<String>,
    facts: Vec<crate::session::sql::SqlFacts>,
    pub(crate) params: Encoded,
    sync_each: bool,
    /// The first parameter that could not be encoded: submitting the pipeline reports it, and
    /// nothing of the pipeline is sent.
    error: Option<Error>,
}

impl Pipeline {
    pub fn new() -> Self {
        Pipeline::default()
    }

    /// The distinct SQL texts it runs.
    pub(crate) fn sqls(&self) -> &[String] {
        &self.sqls
    }

    fn push(&mut self, query: Query<'_>, params: Params<'_>, keep_rows: bool) {
        let index = self.items.len() + 1;
        let (query, encoded) = match query {
            Query::Sql(sql) => {
                // Consecutive queries with the same text (the common case) cost a comparison.
                let t = match self.items.last().map(|i| &i.query) {
                    Some(ItemQuery::Sql(t)) if self.sqls[*t as usize] == sql => *t,
                    _ => match self.sqls.iter().rposition(|s| s == sql) {
                        Some(t) if self.sqls.len() < 64 => t as u32,
                        _ => {
                            self.sqls.push(sql.to_owned());
                            self.facts.push(crate::session::sql::analyze(sql));
                            (self.sqls.len() - 1) as u32
                        }
                    },
                };
                if let Err(e) = super::query::check_facts(&self.facts[t as usize], params.len()) {
                    self.error.get_or_insert(e);
                }
                (ItemQuery::Sql(t), self.params.push(params, None))
            }
            Query::Statement(stmt) => {
                (ItemQuery::Statement(stmt.clone()), self.params.push(params, Some(stmt.params())))
            }
        };
        let range = match encoded {
            Ok(r) => r,
            Err(e) => {
                let e = match e {
                    Error::Usage(UsageError::WrongType { column, rust, pg }) => {
                        UsageError::WrongType { column: format!("{column} of query {index}"), rust, pg }.into()
                    }
                    other => other,
                };
                self.error.get_or_insert(e);
                0..0
            }
        };
        self.items.push(Item { query, range, keep_rows, sync_after: false });
    }

    /// What running it does to the transaction status: a query that ends or opens a block
    /// makes it unknown until the server answers (see [`crate::session::sql::TxEffect`]).
    pub(crate) fn tx_effect(&self) -> crate::session::sql::TxEffect {
        let texts = self.facts.iter().map(|f| f.tx);
        let statements = self.items.iter().filter_map(|i| match &i.query {
            ItemQuery::Statement(s) => Some(s.0.tx),
            ItemQuery::Sql(_) => None,
        });
        if texts.chain(statements).all(|tx| tx == crate::session::sql::TxEffect::Unchanged) {
            crate::session::sql::TxEffect::Unchanged
        } else {
            crate::session::sql::TxEffect::Unknown
        }
    }

    /// Put a Sync after every query, so that an error aborts only its own query. (By default
    /// there is one Sync at the end, plus those added with [`sync`](Self::sync).)
    pub fn sync_each(mut self, on: bool) -> Self {
        self.sync_each = on;
        self
    }

    /// Adds a query whose rows are kept.
    pub fn query<'q>(&mut self, query: impl Into<Query<'q>>, params: Params<'_>) -> &mut Self {
        self.push(query.into(), params, true);
        self
    }

    /// Adds a statement whose rows are only counted.
    pub fn execute<'q>(&mut self, query: impl Into<Query<'q>>, params: Params<'_>) -> &mut Self {
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
        columns: Option<Arc<[Column]>>,
        failed: bool,
    },
    Running,
}

/// How far ahead of the socket the pipeline encodes.
const QUEUE_AHEAD: usize = 256 * 1024;

/// `item_text` of a query given as a prepared [`Statement`].
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
    prepared: Option<(Arc<Described>, crate::session::statements::Name, bool)>,
    /// It could not be described (it may depend on earlier queries of the pipeline, or be
    /// wrong): sent as it is, the server reports its errors in order.
    blind: bool,
    /// The first query that has it.
    first: usize,
    /// Its SQL may change `search_path`.
    search_path: bool,
    /// The result columns its last execution reported (`Some(None)`: NoData); an execution
    /// reporting the same ones again has nothing new to tell the cache.
    observed: Option<Option<Arc<[Column]>>>,
}

/// The distinct (text, types) of `pipeline` and each query's index into them.
fn index_texts(pipeline: &Pipeline) -> (Vec<Text>, Vec<u32>) {
    let mut texts: Vec<Text> = Vec::new();
    let mut item_text = Vec::with_capacity(pipeline.items.len());
    let mut by_sql: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut last: Option<(u32, u32)> = None;
    for (i, item) in pipeline.items.iter().enumerate() {
        let ItemQuery::Sql(sql) = item.query else {
            item_text.push(NO_TEXT);
            continue;
        };
        let range = item.range.clone();
        let same_types = |t: &Text| {
            t.key.1.len() == range.len() && range.clone().zip(&t.key.1).all(|(p, oid)| pipeline.params.oid(p) == *oid)
        };
        let id = match last {
            Some((prev, t)) if prev == sql && same_types(&texts[t as usize]) => t,
            _ => {
                let ids = by_sql.entry(sql).or_default();
                match ids.iter().find(|&&t| same_types(&texts[t as usize])) {
                    Some(&t) => t,
                    None => {
                        let t = texts.len() as u32;
                        let text = &pipeline.sqls[sql as usize];
                        let key = (text.clone(), pipeline.params.types(range.clone()));
                        let search_path = crate::session::statements::mentions_search_path(text);
                        texts.push(Text {
                            key,
                            count: 0,
                            described: None,
                            prepared: None,
                            blind: false,
                            first: i,
                            search_path,
                            observed: None,
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

/// The state machine that runs a [`Pipeline`].
#[derive(Debug)]
pub(crate) struct PipelineMachine {
    pipeline: Pipeline,
    phase: Phase,
    /// Results so far, in order.
    results: Vec<Result<QueryResult, Error>>,
    current: QueryResult,
    /// The query that failed in the current Sync group: the rest of the group is skipped.
    failed: Option<usize>,
    /// Statements this pipeline prepared: key -> name (marked prepared at ParseComplete).
    preparing: Vec<(Key, crate::session::statements::Name)>,
    /// The next query to queue: queries are queued while the send buffer is short, so encoding
    /// overlaps the server's work and the buffer stays bounded.
    next: usize,
    texts: Vec<Text>,
    item_text: Vec<u32>,
    /// Queries that could not be bound (a string the client encoding cannot hold): their group
    /// is aborted on the server by a Parse that fails in their place, and they report this.
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

impl PipelineMachine {
    /// Starts the pipeline. Misuse (a value that could not be encoded, a wrong parameter count
    /// or type for a described text) is reported before anything of it is queued. `in_block`:
    /// a transaction block is open or being opened for it.
    pub(crate) fn start(
        mut pipeline: Pipeline,
        id: RequestId,
        in_block: bool,
        conv: &mut Conversation,
    ) -> Result<PipelineMachine, Error> {
        if let Some(e) = pipeline.error.take() {
            return Err(e);
        }
        let schema_point = pipeline.items.iter().position(|item| match item.query {
            ItemQuery::Sql(t) => crate::session::statements::may_change_schema(&pipeline.sqls[t as usize]),
            ItemQuery::Statement(_) => false,
        });
        let (texts, item_text) = index_texts(&pipeline);
        let mut op = PipelineMachine {
            results: Vec::with_capacity(pipeline.items.len()),
            pipeline,
            phase: Phase::Running,
            current: QueryResult::default(),
            failed: None,
            preparing: Vec::new(),
            next: 0,
            texts,
            item_text,
            poisoned: Vec::new(),
            epoch: conv.statements.epoch,
            savepoint: false,
            schema_point,
        };
        // Which SQL texts need describing? (Not those only used after a schema change: they are
        // sent undescribed anyway.)
        let before_change = |t: &Text| op.schema_point.is_none_or(|p| t.first <= p);
        let unknown: Vec<usize> = (0..op.texts.len())
            .filter(|&t| before_change(&op.texts[t]) && !conv.statements.is_described(&op.texts[t].key))
            .collect();
        if unknown.is_empty() {
            op.queue_all(id, conv)?;
        } else {
            if in_block {
                // In a transaction block a failed Describe would abort the block before the
                // query that fails ever runs: describe inside a savepoint.
                conv.queue_prefix(id, "SAVEPOINT pgsans_describe", false)?;
                op.savepoint = true;
            }
            for &t in &unknown {
                let (sql, types) = &op.texts[t].key;
                conv.queue_parse("", sql, types)?;
                frontend::describe(Target::Statement, "", conv.buf())?;
                frontend::sync(conv.buf());
                conv.push_sync(id);
            }
            op.phase = Phase::Describing { pending: unknown, done: 0, params: None, columns: None, failed: false };
        }
        Ok(op)
    }

    /// Checks every query's parameters against its description (count and types), then starts
    /// queueing.
    fn queue_all(&mut self, id: RequestId, conv: &mut Conversation) -> Result<(), Error> {
        for text in &mut self.texts {
            if text.described.is_none() {
                text.described = conv.statements.described(&text.key);
            }
        }
        for (k, item) in self.pipeline.items.iter().enumerate() {
            let described = match &item.query {
                ItemQuery::Statement(stmt) => Some(&stmt.0.described),
                ItemQuery::Sql(_) => self.texts[self.item_text[k] as usize].described.as_ref(),
            };
            if let Some(d) = described {
                if d.params.len() != item.range.len() {
                    return Err(UsageError::ParameterCount { expected: d.params.len(), given: item.range.len() }.into());
                }
            }
        }
        conv.flush_closes()?;
        self.phase = Phase::Running;
        self.queue_more(id, conv)
    }

    /// Still describing: its queries are queued when the description is in, and nothing may be
    /// queued behind it meanwhile (it would run before them, and might sit behind an open
    /// point of its own that an error leaves the server skipping).
    pub(crate) fn describing(&self) -> bool {
        matches!(self.phase, Phase::Describing { .. })
    }

    /// Queues queries until the send buffer holds [`QUEUE_AHEAD`] bytes or all are queued.
    pub(crate) fn queue_more(&mut self, id: RequestId, conv: &mut Conversation) -> Result<(), Error> {
        if !matches!(self.phase, Phase::Running) {
            return Ok(());
        }
        let n = self.pipeline.items.len();
        while self.next < n && conv.send.pending().len() < QUEUE_AHEAD {
            let i = self.next;
            if i == 0 || self.ends_group(i - 1) {
                // A new Sync group: register it now, responses may come before its Sync.
                conv.push_unsynced(id);
            }
            if self.item_text[i] != NO_TEXT && self.texts[self.item_text[i] as usize].search_path {
                conv.mark_search_path();
            }
            let mark = conv.buf().len();
            if let Err(e) = self.queue_item(conv, i) {
                conv.buf().truncate(mark);
                // Make the server abort this group here, as it would for a server error.
                conv.queue_parse("", "pgsans: a parameter could not be bound", &[])?;
                self.poisoned.push((i, e));
            }
            if self.ends_group(i) {
                conv.sync_open(id);
            }
            self.next += 1;
        }
        Ok(())
    }

    fn queue_item(&mut self, conv: &mut Conversation, i: usize) -> Result<(), Error> {
        if conv.statements.epoch != self.epoch {
            // This session's DDL dropped the cache (and closes what it prepared): so does this run.
            self.epoch = conv.statements.epoch;
            for text in &mut self.texts {
                text.described = None;
                text.prepared = None;
            }
        }
        let item = &self.pipeline.items[i];
        let (params, range) = (&self.pipeline.params, item.range.clone());
        match &item.query {
            ItemQuery::Statement(stmt) => queue_bind(conv, &stmt.0.name, false, &stmt.0.described, params, range, 0),
            ItemQuery::Sql(_) => {
                let t = self.item_text[i] as usize;
                let text = &self.texts[t];
                let sql = text.key.0.as_str();
                if text.blind || self.schema_point.is_some_and(|p| i > p) {
                    // Parameters as their Rust types declare them, results as text.
                    conv.queue_parse("", sql, &text.key.1)?;
                    let d = Described::new(text.key.1.clone(), None);
                    return queue_bind(conv, "", true, &d, params, range, 0);
                }
                if let Some((d, name, parsed_here)) = &text.prepared {
                    return queue_bind(conv, name, *parsed_here, d, params, range, 0);
                }
                let repeated = text.count > 1;
                match conv.statements.plan(&text.key) {
                    Plan::Prepared(d, name) => {
                        queue_bind(conv, &name, false, &d, params, range, 0)?;
                        self.texts[t].prepared = Some((d, name, false));
                        Ok(())
                    }
                    Plan::PrepareNow(d, name) => self.prepare(conv, t, d, name, range),
                    Plan::Unnamed(d) if repeated && conv.statements.threshold.is_some() => {
                        let name = conv.statements.new_name("pgsans_c");
                        self.prepare(conv, t, d, name, range)
                    }
                    Plan::Unnamed(d) => {
                        conv.queue_parse("", sql, &text.key.1)?;
                        queue_bind(conv, "", true, &d, params, range, 0)
                    }
                    // Evicted since it was described, never cached (FETCH, EXECUTE), or the
                    // cache holds nothing: use the description this pipeline kept, unnamed.
                    Plan::Describe { .. } => {
                        let d = match &text.described {
                            Some(d) => d.clone(),
                            None => Arc::new(Described::new(text.key.1.clone(), None)),
                        };
                        conv.queue_parse("", sql, &text.key.1)?;
                        queue_bind(conv, "", true, &d, params, range, 0)
                    }
                }
            }
        }
    }

    fn prepare(
        &mut self,
        conv: &mut Conversation,
        t: usize,
        d: Arc<Described>,
        name: crate::session::statements::Name,
        range: Range<usize>,
    ) -> Result<(), Error> {
        let text = &mut self.texts[t];
        conv.queue_parse(&name, &text.key.0, &text.key.1)?;
        queue_bind(conv, &name, true, &d, &self.pipeline.params, range, 0)?;
        self.preparing.push((text.key.clone(), name.clone()));
        text.prepared = Some((d, name, true));
        Ok(())
    }

    /// The description the server gave the current query's portal: later queries of the same
    /// text choose their formats by it, and so does the statement cache.
    fn observe_columns(&mut self, conv: &mut Conversation, columns: Option<&Arc<[Column]>>) {
        let at = self.results.len();
        let Some(&t) = self.item_text.get(at).filter(|&&t| t != NO_TEXT) else { return };
        let text = &mut self.texts[t as usize];
        let seen = match (&text.observed, columns) {
            (Some(Some(a)), Some(b)) => Arc::ptr_eq(a, b),
            (Some(None), None) => true,
            _ => false,
        };
        if seen {
            return;
        }
        text.observed = Some(columns.cloned());
        conv.statements.observe_columns(&text.key, columns);
        if let Some(d) = &text.described {
            if !crate::session::statements::same_columns(d.columns.as_ref(), columns) {
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

    pub(crate) fn on_event(
        &mut self,
        ev: Event<'_>,
        id: RequestId,
        conv: &mut Conversation,
    ) -> Result<Progress, Error> {
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
                        conv.statements.insert(text.key.clone(), d, None);
                    }
                    // Fresh from the server: whatever the cache went through before is behind us.
                    self.epoch = conv.statements.epoch;
                    *params = None;
                    *columns = None;
                    *failed = false;
                    *done += 1;
                    if *done == pending.len() {
                        if self.savepoint {
                            let failed = pending.iter().any(|&t| self.texts[t].blind);
                            conv.queue_prefix(
                                id,
                                if failed {
                                    "ROLLBACK TO SAVEPOINT pgsans_describe; RELEASE SAVEPOINT pgsans_describe"
                                } else {
                                    "RELEASE SAVEPOINT pgsans_describe"
                                },
                                false,
                            )?;
                        }
                        if let Err(e) = self.queue_all(id, conv) {
                            return Ok(Progress::Done(Err(e)));
                        }
                    }
                }
                _ => {}
            },
            Phase::Running => match ev {
                Event::ParseComplete if !self.preparing.is_empty() => {
                    let (key, name) = self.preparing.remove(0);
                    conv.statements.mark_prepared(&key, name);
                }
                Event::RowDescription(cols) => {
                    let cols = cols.clone();
                    self.observe_columns(conv, Some(&cols));
                    self.current.columns = Some(cols);
                }
                Event::NoData => self.observe_columns(conv, None),
                Event::DataRow(row) if self.pipeline.items.get(self.results.len()).is_some_and(|i| i.keep_rows) => {
                    self.current.rows.push(row.to_owned());
                }
                Event::CommandComplete(tag) => {
                    let at = self.results.len();
                    let mut r = std::mem::take(&mut self.current);
                    match self.poisoned.iter().position(|(i, _)| *i == at) {
                        // A COPY TO STDOUT whose data was dropped.
                        Some(p) => {
                            let e = self.poisoned.remove(p).1;
                            self.finish_item(Err(e));
                        }
                        None => {
                            r.tag = Some(tag.into());
                            self.finish_item(Ok(r));
                        }
                    }
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
                ev @ (Event::CopyInResponse { .. } | Event::CopyOutResponse { .. }) => {
                    // Reported in place of the server's error (COPY FROM) or tag (COPY TO).
                    let e = super::query::refuse_copy(&ev);
                    self.poisoned.push((self.results.len(), e));
                }
                Event::ReadyForQuery(_) => {
                    if let Some(failed) = self.failed.take() {
                        self.abort_group(failed);
                    }
                    if self.results.len() >= self.pipeline.items.len() {
                        return Ok(Progress::Done(Ok(Response::Pipeline(std::mem::take(&mut self.results)))));
                    }
                }
                _ => {}
            },
        }
        Ok(Progress::Pending)
    }
}
