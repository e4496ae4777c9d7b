//! Prepared statements and the automatic statement cache (psycopg 3's `prepare_threshold`).
//!
//! # What the cache may and may not do
//!
//! A cached description only chooses the result formats of the next Bind (binary where pgsans
//! decodes the type) and the parameter types to encode for. It never decodes: every execution
//! asks the server to describe its portal, and rows are decoded with that RowDescription. So a
//! stale description can cost an error, never wrong data.
//!
//! To avoid those errors the cache follows this session's schema and session changes, from the
//! command tags the server reports (h11's rule: the engine sees every message, so it is the
//! one place that can): DDL (`CREATE …`, `ALTER …`, `DROP …`), `DO` and `CALL` (which may run
//! DDL), `DISCARD …`, `DEALLOCATE …`, a `ROLLBACK` or failed implicit transaction that undoes
//! DDL, `SET` / `RESET` of `search_path` all drop every cached description and close the
//! statements the cache prepared. After `DEALLOCATE` or `DISCARD ALL` the statements of
//! [`prepare`](crate::extended::Prepare) are parsed again, under the same name, before their
//! next use. Texts whose result depends on session state rather than on the text (`FETCH`,
//! `MOVE`, `EXECUTE`) are never cached.
//!
//! What remains possible is a change by *another* session (or by a function this session calls)
//! that the tags do not show. Rows are still decoded correctly; but a statement the cache
//! prepared server-side then fails with `0A000 cached plan must not change result type`, and
//! a Bind whose per-column formats no longer match the column count fails with `08P01`. Outside
//! a transaction block pgsans drops the entry and retries once, transparently; in a block whose
//! first statement it is, it rolls back and retries with a new BEGIN; later in a block the error
//! is returned (the server has aborted the transaction). libpq's unnamed statements cannot hit
//! the first error; `prepare_threshold = None` gives the same guarantee.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use crate::types::row::Column;

/// What the server said about a statement: its parameter types and result columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub params: Vec<u32>,
    /// `None` when the statement returns no rows (NoData).
    pub columns: Option<Arc<[Column]>>,
    /// The Bind's result formats for these columns (chosen once, not per execution).
    result_formats: Box<[i16]>,
}

impl Described {
    pub fn new(params: Vec<u32>, columns: Option<Arc<[Column]>>) -> Described {
        let result_formats = result_formats(columns.as_ref());
        Described { params, columns, result_formats }
    }

    /// The result formats a Bind asks for: binary where pgsans decodes the type, one code for
    /// all when they agree (which also survives a change in the column count).
    pub(crate) fn result_formats(&self) -> &[i16] {
        &self.result_formats
    }
}

fn result_formats(columns: Option<&Arc<[Column]>>) -> Box<[i16]> {
    match columns {
        None => Box::default(),
        Some(cols) => {
            let formats: Vec<i16> = cols.iter().map(|c| crate::types::binary_supported(c.type_oid()) as i16).collect();
            if !formats.is_empty() && formats.iter().all(|f| *f == formats[0]) {
                Box::new([formats[0]])
            } else {
                formats.into()
            }
        }
    }
}

/// Whether two descriptions have the same columns (formats aside).
pub(crate) fn same_columns(a: Option<&Arc<[Column]>>, b: Option<&Arc<[Column]>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            Arc::ptr_eq(a, b) || (a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.same_shape(y)))
        }
        _ => false,
    }
}

#[derive(Debug)]
pub(crate) struct StatementInner {
    pub(crate) name: Name,
    pub(crate) sql: String,
    pub(crate) described: Arc<Described>,
    /// What running it does to the transaction status (read from its text once).
    pub(crate) tx: crate::session::sql::TxEffect,
    /// The connection's deallocation epoch when it was last parsed on the server: behind the
    /// current one, it must be parsed again before it is executed.
    pub(crate) parsed_epoch: AtomicU64,
}

impl StatementInner {
    pub(crate) fn new(name: Name, sql: String, described: Arc<Described>, epoch: u64) -> Self {
        let tx = crate::session::sql::transaction_effect(&sql);
        StatementInner { name, sql, described, tx, parsed_epoch: AtomicU64::new(epoch) }
    }

    /// Whether the server may have deallocated it since it was parsed.
    pub(crate) fn needs_parse(&self, dealloc_epoch: u64) -> bool {
        self.parsed_epoch.load(Ordering::Relaxed) < dealloc_epoch
    }

    pub(crate) fn mark_parsed(&self, dealloc_epoch: u64) {
        self.parsed_epoch.store(dealloc_epoch, Ordering::Relaxed);
    }
}

fn keyword_in(sql: &str, words: &[&str]) -> bool {
    let k = crate::session::sql::first_keyword(sql);
    words.iter().any(|w| w.eq_ignore_ascii_case(k))
}

/// Texts whose result columns depend on session state (a cursor, a SQL-level prepared
/// statement), not on the text: never cached.
pub(crate) fn depends_on_session(sql: &str) -> bool {
    keyword_in(sql, &["FETCH", "MOVE", "EXECUTE"])
}

/// Texts that may change the schema or what names resolve to: in a pipeline, the queries after
/// one are sent without cached descriptions.
pub(crate) fn may_change_schema(sql: &str) -> bool {
    keyword_in(
        sql,
        &[
            "CREATE",
            "ALTER",
            "DROP",
            "DO",
            "CALL",
            "DISCARD",
            "DEALLOCATE",
            "ROLLBACK",
            "SET",
            "RESET",
            "IMPORT",
            "REASSIGN",
            "PREPARE",
            "DECLARE",
            "CLOSE",
            "ABORT",
        ],
    ) || mentions_search_path(sql)
}

/// Whether a text may change `search_path` (`SET`, `RESET`, `set_config(…)`): its completion
/// drops the cache.
pub(crate) fn mentions_search_path(sql: &str) -> bool {
    let b = sql.as_bytes();
    let ident = |i: usize| b.get(i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
    memchr::memchr_iter(b'_', b).any(|i| {
        i >= 6
            && b[i - 6..i].eq_ignore_ascii_case(b"search")
            && b.get(i + 1..i + 5).is_some_and(|p| p.eq_ignore_ascii_case(b"path"))
            && !(i >= 7 && ident(i - 7))
            && !ident(i + 5)
    }) || keyword_in(sql, &["RESET"]) && sql.to_ascii_uppercase().contains("ALL")
}

/// What a command tag means for the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagEffect {
    None,
    /// The schema may have changed.
    Schema,
    /// Prepared statements may have been deallocated (and the schema may have changed).
    Deallocate,
    Rollback,
}

fn tag_effect(tag: &[u8]) -> TagEffect {
    let word = tag.split(|&b| b == b' ').next().unwrap_or(b"");
    match word {
        b"CREATE" | b"ALTER" | b"DROP" | b"DO" | b"CALL" | b"IMPORT" | b"REASSIGN" => TagEffect::Schema,
        b"DISCARD" if tag == b"DISCARD ALL" => TagEffect::Deallocate,
        b"DISCARD" => TagEffect::Schema,
        b"DEALLOCATE" => TagEffect::Deallocate,
        b"ROLLBACK" if tag == b"ROLLBACK" => TagEffect::Rollback,
        _ => TagEffect::None,
    }
}

/// A statement prepared on the server with [`Request::prepare`](crate::Request::prepare). Cheap to
/// clone. When the last clone is dropped the server-side statement is closed with the next
/// operation on the connection.
#[derive(Debug, Clone)]
pub struct Statement(pub(crate) Arc<StatementInner>);

impl Statement {
    /// The server-side name.
    pub fn name(&self) -> &str {
        &self.0.name
    }
    pub fn sql(&self) -> &str {
        &self.0.sql
    }
    /// Parameter type OIDs.
    pub fn params(&self) -> &[u32] {
        &self.0.described.params
    }
    /// Result columns (empty for statements that return no rows).
    pub fn columns(&self) -> &[Column] {
        self.0.described.columns.as_deref().unwrap_or(&[])
    }
}

/// Cache key: the SQL text and the parameter types the client declared for it.
pub(crate) type Key = (String, Vec<u32>);

/// A server-side statement name, shared (not copied) by the cache, statements and requests.
pub(crate) type Name = Arc<str>;

#[derive(Debug)]
struct Entry {
    uses: usize,
    described: Arc<Described>,
    prepared: Option<Name>,
    last_used: u64,
}

/// What the cache says about a query about to run.
#[derive(Debug)]
pub(crate) enum Plan {
    /// Never described: Parse + Describe first (named when preparing right away).
    Describe { prepare_as: Option<Name> },
    /// Described; run it unnamed (Parse + Bind + Execute in one round trip).
    Unnamed(Arc<Described>),
    /// Described and due for preparation: Parse under this name, then execute it.
    PrepareNow(Arc<Described>, Name),
    /// Prepared on the server under this name.
    Prepared(Arc<Described>, Name),
}

impl Plan {
    #[cfg(test)]
    fn is_describe(&self) -> bool {
        matches!(self, Plan::Describe { .. })
    }
}

/// The per-connection cache of described and prepared statements.
#[derive(Debug)]
pub(crate) struct StatementCache {
    entries: HashMap<Key, Entry>,
    clock: u64,
    pub(crate) capacity: usize,
    /// Executions before a statement is prepared server-side; `None` never prepares.
    pub(crate) threshold: Option<usize>,
    next_id: u64,
    user: Vec<(Name, Weak<StatementInner>)>,
    /// Server-side statements to close with the next request.
    pub(crate) to_close: Vec<Name>,
    /// Bumped whenever every cached description is dropped: an operation in flight must not
    /// reuse what it looked up before (a pipeline).
    pub(crate) epoch: u64,
    /// Bumped when the server may have deallocated prepared statements: user statements
    /// parsed before are parsed again before their next use.
    pub(crate) dealloc_epoch: u64,
    /// This session changed the schema since the last time it was idle outside a transaction:
    /// a rollback (or a failed implicit transaction) may undo it.
    schema_changed_in_transaction: bool,
    /// An error was reported since the last ReadyForQuery.
    error_in_request: bool,
    /// The types looked up for this session: dropped with the cached descriptions.
    pub(crate) types: crate::types::catalogue::Catalogue,
}

impl Default for StatementCache {
    fn default() -> Self {
        StatementCache {
            entries: HashMap::new(),
            clock: 0,
            capacity: 100,
            threshold: Some(5),
            next_id: 0,
            user: Vec::new(),
            to_close: Vec::new(),
            epoch: 0,
            dealloc_epoch: 0,
            schema_changed_in_transaction: false,
            error_in_request: false,
            types: Default::default(),
        }
    }
}

impl StatementCache {
    pub(crate) fn new_name(&mut self, prefix: &str) -> Name {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id).into()
    }

    /// Decides how to run `key` and counts the use.
    pub(crate) fn plan(&mut self, key: &Key) -> Plan {
        self.clock += 1;
        let clock = self.clock;
        let threshold = self.threshold;
        if depends_on_session(&key.0) {
            return Plan::Describe { prepare_as: None };
        }
        let Some(e) = self.entries.get_mut(key) else {
            let prepare_as = (threshold == Some(0)).then(|| self.new_name("pgsans_c"));
            return Plan::Describe { prepare_as };
        };
        e.uses += 1;
        e.last_used = clock;
        match (&e.prepared, threshold) {
            (Some(name), _) => Plan::Prepared(e.described.clone(), name.clone()),
            (None, Some(t)) if e.uses >= t => {
                let d = e.described.clone();
                Plan::PrepareNow(d, self.new_name("pgsans_c"))
            }
            (None, _) => Plan::Unnamed(e.described.clone()),
        }
    }

    /// Whether `key` was described before (without counting a use).
    pub(crate) fn is_described(&self, key: &Key) -> bool {
        self.entries.contains_key(key)
    }

    /// The description of `key`, without counting a use.
    pub(crate) fn described(&self, key: &Key) -> Option<Arc<Described>> {
        self.entries.get(key).map(|e| e.described.clone())
    }

    /// Stores a description (and the prepared name, if the Parse was named).
    pub(crate) fn insert(&mut self, key: Key, described: Arc<Described>, prepared: Option<Name>) {
        if self.capacity == 0 || depends_on_session(&key.0) {
            if let Some(name) = prepared {
                self.to_close.push(name);
            }
            return;
        }
        while self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            let oldest = self.entries.iter().min_by_key(|(_, e)| e.last_used).map(|(k, _)| k.clone());
            let Some(oldest) = oldest else { break };
            if let Some(e) = self.entries.remove(&oldest) {
                self.to_close.extend(e.prepared);
            }
        }
        self.clock += 1;
        let old = self.entries.insert(key, Entry { uses: 1, described, prepared, last_used: self.clock });
        if let Some(old) = old {
            self.to_close.extend(old.prepared);
        }
    }

    pub(crate) fn mark_prepared(&mut self, key: &Key, name: Name) {
        match self.entries.get_mut(key) {
            Some(e) => {
                if let Some(old) = e.prepared.replace(name) {
                    self.to_close.push(old);
                }
            }
            None => self.to_close.push(name),
        }
    }

    /// Takes the columns an execution was described with: the next Bind chooses its formats
    /// for them. (Cheap when they are the same `Arc` as last time, which the engine arranges
    /// for identical RowDescriptions.)
    pub(crate) fn observe_columns(&mut self, key: &Key, columns: Option<&Arc<[Column]>>) {
        if let Some(e) = self.entries.get_mut(key) {
            let same_arc = match (&e.described.columns, columns) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            if !same_arc {
                e.described = Arc::new(Described::new(e.described.params.clone(), columns.cloned()));
            }
        }
    }

    /// Forgets a statement (its server-side copy is closed with the next request).
    pub(crate) fn invalidate(&mut self, key: &Key) {
        if let Some(e) = self.entries.remove(key) {
            self.to_close.extend(e.prepared);
        }
    }

    /// Drops every cached description and closes what the cache prepared.
    pub(crate) fn invalidate_all(&mut self) {
        self.types.clear();
        for (_, e) in self.entries.drain() {
            self.to_close.extend(e.prepared);
        }
        self.epoch += 1;
    }

    /// A CommandComplete tag of this session. `search_path`: the request's text may have
    /// changed `search_path`.
    pub(crate) fn observe_tag(&mut self, tag: &[u8], search_path: bool) {
        let effect = match tag_effect(tag) {
            TagEffect::None if search_path => TagEffect::Schema,
            e => e,
        };
        match effect {
            TagEffect::None => {}
            TagEffect::Schema => {
                self.schema_changed_in_transaction = true;
                self.invalidate_all();
            }
            TagEffect::Deallocate => {
                self.schema_changed_in_transaction = true;
                // Closing a statement that no longer exists is not an error: close them all.
                self.invalidate_all();
                self.dealloc_epoch += 1;
            }
            TagEffect::Rollback => {
                if self.schema_changed_in_transaction {
                    self.invalidate_all();
                }
            }
        }
    }

    /// A ParameterStatus for `search_path` (reported by PostgreSQL 18 and later).
    pub(crate) fn observe_search_path(&mut self) {
        self.schema_changed_in_transaction = true;
        self.invalidate_all();
    }

    /// An ErrorResponse of this session.
    pub(crate) fn observe_error(&mut self) {
        self.error_in_request = true;
    }

    /// A ReadyForQuery: `idle` outside a transaction block. A failed implicit transaction
    /// (a pipeline's Sync group, a multi-statement query) took its DDL back with it.
    pub(crate) fn observe_ready(&mut self, idle: bool) {
        if idle {
            if self.error_in_request && self.schema_changed_in_transaction {
                self.invalidate_all();
            }
            self.schema_changed_in_transaction = false;
        }
        self.error_in_request = false;
    }

    pub(crate) fn register_user(&mut self, stmt: &Arc<StatementInner>) {
        self.user.push((stmt.name.clone(), Arc::downgrade(stmt)));
    }

    /// Queues Close for user statements whose last handle was dropped.
    pub(crate) fn sweep_user(&mut self) {
        let mut i = 0;
        while i < self.user.len() {
            if self.user[i].1.strong_count() == 0 {
                let (name, _) = self.user.swap_remove(i);
                self.to_close.push(name);
            } else {
                i += 1;
            }
        }
    }

    /// How many statements are prepared server-side by the cache.
    pub(crate) fn prepared_count(&self) -> usize {
        self.entries.values().filter(|e| e.prepared.is_some()).count()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords() {
        assert!(depends_on_session("execute q(1)"));
        assert!(!depends_on_session("SELECT 'FETCH'"));
        assert!(mentions_search_path("SET search_path TO a"));
        assert!(mentions_search_path("select set_config('SEARCH_PATH', 'x', false)"));
        assert!(mentions_search_path("RESET ALL"));
        assert!(!mentions_search_path("SELECT research_pathology FROM t"));
        assert!(may_change_schema("alter table t add c int"));
        assert!(!may_change_schema("INSERT INTO t VALUES (1)"));
    }

    #[test]
    fn tags_drop_the_cache() {
        let mut c = StatementCache::default();
        let key: Key = ("SELECT 1".into(), vec![]);
        c.insert(key.clone(), Arc::new(Described::new(vec![], None)), Some("s1".into()));
        c.observe_tag(b"SELECT 1", false);
        assert_eq!(c.len(), 1);
        c.observe_tag(b"ALTER TABLE", false);
        assert_eq!((c.len(), c.to_close.as_slice(), c.epoch), (0, &[Name::from("s1")][..], 1));
        c.observe_ready(true);
        c.insert(key.clone(), Arc::new(Described::new(vec![], None)), None);
        c.observe_tag(b"ROLLBACK", false);
        assert_eq!(c.len(), 1, "no DDL in this transaction: a rollback changes nothing");
        c.observe_tag(b"SET", true);
        assert_eq!(c.len(), 0, "SET search_path");
        c.insert(key.clone(), Arc::new(Described::new(vec![], None)), None);
        c.observe_tag(b"ROLLBACK", false);
        assert_eq!(c.len(), 0, "the rollback undid the SET");
        c.observe_ready(true);
        c.insert(key.clone(), Arc::new(Described::new(vec![], None)), None);
        c.observe_tag(b"DEALLOCATE ALL", false);
        assert_eq!((c.len(), c.dealloc_epoch), (0, 1));
        // DDL in an implicit transaction that then fails.
        c.observe_ready(true);
        c.observe_tag(b"CREATE TABLE", false);
        c.insert(key.clone(), Arc::new(Described::new(vec![], None)), None);
        c.observe_error();
        c.observe_ready(true);
        assert_eq!(c.len(), 0);
        assert!(c.plan(&("FETCH 1 FROM c".into(), vec![])).is_describe());
    }
}
