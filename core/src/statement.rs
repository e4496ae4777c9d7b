//! Prepared statements and the automatic statement cache (psycopg 3's `prepare_threshold`).

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use crate::row::Column;

/// What the server said about a statement: its parameter types and result columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub params: Vec<u32>,
    /// `None` when the statement returns no rows (NoData).
    pub columns: Option<Arc<[Column]>>,
    /// The columns with the formats pgsans asks for (binary where it decodes the type): what
    /// rows carry when no per-execution RowDescription is requested.
    pub(crate) result_columns: Option<Arc<[Column]>>,
}

impl Described {
    pub fn new(params: Vec<u32>, columns: Option<Arc<[Column]>>) -> Described {
        let result_columns = columns.as_ref().map(|cols| {
            cols.iter()
                .map(|c| c.with_format(crate::types::binary_supported(c.type_oid()) as i16))
                .collect::<Vec<_>>()
                .into()
        });
        Described { params, columns, result_columns }
    }
}

#[derive(Debug)]
pub(crate) struct StatementInner {
    pub(crate) name: String,
    pub(crate) sql: String,
    pub(crate) described: Arc<Described>,
}

/// A statement prepared on the server with [`prepare`](crate::extended::Prepare). Cheap to
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

#[derive(Debug)]
struct Entry {
    uses: usize,
    described: Arc<Described>,
    prepared: Option<String>,
    last_used: u64,
}

/// What the cache says about a query about to run.
#[derive(Debug)]
pub(crate) enum Plan {
    /// Never described: Parse + Describe first (named when preparing right away).
    Describe { prepare_as: Option<String> },
    /// Described; run it unnamed (Parse + Bind + Execute in one round trip).
    Unnamed(Arc<Described>),
    /// Described and due for preparation: Parse under this name, then execute it.
    PrepareNow(Arc<Described>, String),
    /// Prepared on the server under this name.
    Prepared(Arc<Described>, String),
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
    user: Vec<(String, Weak<StatementInner>)>,
    /// Server-side statements to close with the next request.
    pub(crate) to_close: Vec<String>,
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
        }
    }
}

impl StatementCache {
    pub(crate) fn new_name(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }

    /// Decides how to run `key` and counts the use.
    pub(crate) fn plan(&mut self, key: &Key) -> Plan {
        self.clock += 1;
        let clock = self.clock;
        let threshold = self.threshold;
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
    pub(crate) fn insert(&mut self, key: Key, described: Arc<Described>, prepared: Option<String>) {
        if self.capacity == 0 {
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

    pub(crate) fn mark_prepared(&mut self, key: &Key, name: String) {
        match self.entries.get_mut(key) {
            Some(e) => {
                if let Some(old) = e.prepared.replace(name) {
                    self.to_close.push(old);
                }
            }
            None => self.to_close.push(name),
        }
    }

    /// Updates the columns of a cached statement whose result type changed on the server.
    pub(crate) fn update_columns(&mut self, key: &Key, columns: Option<Arc<[Column]>>) {
        if let Some(e) = self.entries.get_mut(key) {
            e.described = Arc::new(Described::new(e.described.params.clone(), columns));
        }
    }

    /// Forgets a statement (its server-side copy is closed with the next request).
    pub(crate) fn invalidate(&mut self, key: &Key) {
        if let Some(e) = self.entries.remove(key) {
            self.to_close.extend(e.prepared);
        }
    }

    /// Forgets everything (after DISCARD ALL, which deallocates every prepared statement).
    pub(crate) fn clear_after_discard(&mut self) {
        self.entries.clear();
        self.user.clear();
        self.to_close.clear();
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
