//! psycopg2's connection semantics: autocommit, session characteristics, transaction scopes,
//! two-phase commit, reset, and the commands that carry them out.
//!
//! Each public function checks the connection's state, reports misuse as
//! [`UsageError::InvalidState`] *before* anything is queued, and returns a [`Command`]: an
//! [`Operation`] that runs one or more SQL statements and, if they succeed, updates the
//! session state. Transports run it like any other operation.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::connection::{Connection, Event, TransactionStatus};
use crate::error::{Error, UsageError};
use crate::op::Operation;
use crate::row::{OwnedRow, ResultSet};

/// psycopg2's connection status (`STATUS_READY`, `STATUS_BEGIN`, `STATUS_PREPARED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// Not in a transaction.
    Ready,
    /// In a transaction block (including a failed one).
    Begin,
    /// A two-phase transaction was prepared; only `tpc_commit` / `tpc_rollback` may follow.
    Prepared,
}

/// A transaction isolation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationLevel {
    ReadUncommitted,
    ReadCommitted,
    RepeatableRead,
    Serializable,
}

impl IsolationLevel {
    /// The SQL spelling: `READ COMMITTED`, …
    pub fn as_sql(self) -> &'static str {
        match self {
            IsolationLevel::ReadUncommitted => "READ UNCOMMITTED",
            IsolationLevel::ReadCommitted => "READ COMMITTED",
            IsolationLevel::RepeatableRead => "REPEATABLE READ",
            IsolationLevel::Serializable => "SERIALIZABLE",
        }
    }
    /// psycopg2's integer constants (1 = READ COMMITTED … 4 = READ UNCOMMITTED).
    pub fn from_psycopg2(level: i32) -> Result<IsolationLevel, UsageError> {
        Ok(match level {
            1 => IsolationLevel::ReadCommitted,
            2 => IsolationLevel::RepeatableRead,
            3 => IsolationLevel::Serializable,
            4 => IsolationLevel::ReadUncommitted,
            _ => return Err(UsageError::InvalidArgument("isolation_level must be between 1 and 4".into())),
        })
    }
}

impl std::str::FromStr for IsolationLevel {
    type Err = UsageError;
    /// Case-insensitive: `read committed`, `REPEATABLE READ`, …
    fn from_str(s: &str) -> Result<Self, UsageError> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "READ UNCOMMITTED" => IsolationLevel::ReadUncommitted,
            "READ COMMITTED" => IsolationLevel::ReadCommitted,
            "REPEATABLE READ" => IsolationLevel::RepeatableRead,
            "SERIALIZABLE" => IsolationLevel::Serializable,
            _ => return Err(UsageError::InvalidArgument(format!("bad value for isolation_level: '{s}'"))),
        })
    }
}

/// One argument of [`set_session`]: leave it, reset it to the server default, or set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Setting<T> {
    #[default]
    Unchanged,
    /// The server's default (`DEFAULT` in psycopg2).
    Default,
    Value(T),
}

/// The arguments of [`set_session`]; build with the setters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionChange {
    pub isolation_level: Setting<IsolationLevel>,
    pub read_only: Setting<bool>,
    pub deferrable: Setting<bool>,
    pub autocommit: Option<bool>,
}

impl SessionChange {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn isolation_level(mut self, v: Setting<IsolationLevel>) -> Self {
        self.isolation_level = v;
        self
    }
    pub fn read_only(mut self, v: Setting<bool>) -> Self {
        self.read_only = v;
        self
    }
    pub fn deferrable(mut self, v: Setting<bool>) -> Self {
        self.deferrable = v;
        self
    }
    pub fn autocommit(mut self, v: bool) -> Self {
        self.autocommit = Some(v);
        self
    }
}

/// A two-phase-commit transaction id: `(format_id, gtrid, bqual)`, or a plain transaction id
/// (`format_id` is `None`) for a gid not made by an XA-style client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Xid {
    format_id: Option<i32>,
    gtrid: String,
    bqual: Option<String>,
}

fn check_component(name: &str, s: &str) -> Result<(), UsageError> {
    if s.chars().count() > 64 {
        return Err(UsageError::InvalidArgument(format!("{name} must be a string no longer than 64 characters")));
    }
    if !s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(UsageError::InvalidArgument(format!("{name} must contain only printable characters.")));
    }
    Ok(())
}

impl Xid {
    /// An XA-style id, with psycopg2's limits: `format_id` non-negative, `gtrid` and `bqual` at
    /// most 64 printable ASCII characters.
    pub fn new(format_id: i32, gtrid: &str, bqual: &str) -> Result<Xid, UsageError> {
        if format_id < 0 {
            return Err(UsageError::InvalidArgument("format_id must be a non-negative 32-bit integer".into()));
        }
        check_component("gtrid", gtrid)?;
        check_component("bqual", bqual)?;
        Ok(Xid { format_id: Some(format_id), gtrid: gtrid.to_owned(), bqual: Some(bqual.to_owned()) })
    }

    /// Parses the pgjdbc / psycopg2 string form `{format_id}_{base64(gtrid)}_{base64(bqual)}`.
    /// Anything else becomes a plain transaction id holding the string unchanged, as psycopg2 does.
    pub fn from_string(s: &str) -> Xid {
        Self::parse_xa(s).unwrap_or_else(|| Xid { format_id: None, gtrid: s.to_owned(), bqual: None })
    }

    fn parse_xa(s: &str) -> Option<Xid> {
        let mut parts = s.split('_');
        let (f, g, b) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || f.is_empty() || !f.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let format_id: i32 = f.parse().ok()?;
        let gtrid = String::from_utf8(B64.decode(g).ok()?).ok()?;
        let bqual = String::from_utf8(B64.decode(b).ok()?).ok()?;
        Xid::new(format_id, &gtrid, &bqual).ok()
    }

    /// A plain transaction id (the gid as given).
    pub fn plain(gid: &str) -> Xid {
        Xid { format_id: None, gtrid: gid.to_owned(), bqual: None }
    }

    pub fn format_id(&self) -> Option<i32> {
        self.format_id
    }
    pub fn gtrid(&self) -> &str {
        &self.gtrid
    }
    pub fn bqual(&self) -> Option<&str> {
        self.bqual.as_deref()
    }
}

impl std::fmt::Display for Xid {
    /// The gid sent to PostgreSQL.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.format_id, &self.bqual) {
            (Some(id), Some(bqual)) => write!(f, "{id}_{}_{}", B64.encode(&self.gtrid), B64.encode(bqual)),
            _ => f.write_str(&self.gtrid),
        }
    }
}

/// A prepared transaction found by `tpc_recover`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredXid {
    pub xid: Xid,
    /// When it was prepared, as the server printed it.
    pub prepared: String,
    pub owner: String,
    pub database: String,
}

/// The session state the engine keeps for these semantics.
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionState {
    pub(crate) autocommit: bool,
    pub(crate) isolation_level: Option<IsolationLevel>,
    pub(crate) read_only: Option<bool>,
    pub(crate) deferrable: Option<bool>,
    pub(crate) tpc: Option<(Xid, bool)>,
    /// Nesting depth of transaction scopes; > 0 forbids explicit commit/rollback.
    pub(crate) scopes: usize,
    /// The outermost scope opened its own BEGIN (so it ends with COMMIT, not RELEASE).
    pub(crate) scope_began: bool,
}

impl SessionState {
    /// The BEGIN that psycopg2 sends before the first statement of a transaction.
    pub(crate) fn begin_statement(&self) -> String {
        let mut s = String::from("BEGIN");
        if let Some(level) = self.isolation_level {
            s.push_str(" ISOLATION LEVEL ");
            s.push_str(level.as_sql());
        }
        match self.read_only {
            Some(true) => s.push_str(" READ ONLY"),
            Some(false) => s.push_str(" READ WRITE"),
            None => {}
        }
        match self.deferrable {
            Some(true) => s.push_str(" DEFERRABLE"),
            Some(false) => s.push_str(" NOT DEFERRABLE"),
            None => {}
        }
        s
    }
}

/// What a [`Command`] does to the session state once its statements succeed.
#[derive(Debug)]
enum After {
    Nothing,
    Store(SessionState),
    TpcBegun(Xid),
    TpcPrepared,
    TpcEnded,
    ScopeOpened { began: bool },
    ScopeClosed,
    Reset,
}

/// Runs a list of statements (queued together as simple queries) and then applies its effect on
/// the session. Fails with the first error; the statements after an error still run (that is
/// what `reset` relies on) but their errors are not reported.
#[derive(Debug)]
pub struct Command {
    remaining: usize,
    collected: crate::op::ResultSets,
    after: After,
    /// Apply `after` even if a statement failed (commit: the transaction is over either way).
    after_on_error: bool,
}

impl Command {
    fn start(conn: &mut Connection, statements: &[&str], after: After) -> Result<Command, Error> {
        conn.abandon_outstanding();
        for sql in statements {
            conn.simple_query(sql)?;
        }
        Ok(Command { remaining: statements.len(), collected: Default::default(), after, after_on_error: false })
    }
}

impl Operation for Command {
    /// The results of the statements, in order.
    type Output = Vec<ResultSet>;
    fn drive(&mut self, conn: &mut Connection) -> Result<Option<Vec<ResultSet>>, Error> {
        if self.remaining == 0 {
            // Nothing to send (e.g. set_session that only stores values): apply and finish.
            apply(conn, std::mem::replace(&mut self.after, After::Nothing));
            return Ok(Some(Vec::new()));
        }
        while let Some(ev) = conn.poll_event()? {
            if let Some(Event::ReadyForQuery(_)) = self.collected.take(ev, true) {
                self.remaining -= 1;
                if self.remaining == 0 {
                    let after = std::mem::replace(&mut self.after, After::Nothing);
                    if self.collected.error.is_none() || self.after_on_error {
                        apply(conn, after);
                    }
                    return match self.collected.error.take() {
                        Some(e) => Err(Error::Db(e)),
                        None => Ok(Some(std::mem::take(&mut self.collected.results))),
                    };
                }
            }
        }
        Ok(None)
    }
}

fn apply(conn: &mut Connection, after: After) {
    let s = conn.session_mut();
    match after {
        After::Nothing => {}
        After::Store(new) => *s = new,
        After::TpcBegun(xid) => s.tpc = Some((xid, false)),
        After::TpcPrepared => {
            if let Some((_, prepared)) = &mut s.tpc {
                *prepared = true;
            }
        }
        After::TpcEnded => s.tpc = None,
        After::ScopeOpened { began } => {
            if s.scopes == 0 {
                s.scope_began = began;
            }
            s.scopes += 1;
        }
        After::ScopeClosed => s.scopes = s.scopes.saturating_sub(1),
        // DISCARD ALL deallocated every prepared statement: the engine saw its tag.
        After::Reset => *s = SessionState::default(),
    }
}

fn misuse(msg: impl Into<String>) -> Error {
    UsageError::InvalidState(msg.into()).into()
}

fn check_open(conn: &Connection) -> Result<(), Error> {
    conn.check_ready()
}

fn noop(conn: &mut Connection) -> Result<Command, Error> {
    Command::start(conn, &[], After::Nothing)
}

/// `commit()`: COMMIT if a transaction is open; nothing otherwise.
pub fn commit(conn: &mut Connection) -> Result<Command, Error> {
    end_transaction(conn, "commit", "COMMIT")
}

/// `rollback()`: ROLLBACK if a transaction is open; nothing otherwise.
pub fn rollback(conn: &mut Connection) -> Result<Command, Error> {
    end_transaction(conn, "rollback", "ROLLBACK")
}

fn end_transaction(conn: &mut Connection, what: &str, sql: &str) -> Result<Command, Error> {
    check_open(conn)?;
    if conn.session().tpc.is_some() {
        return Err(misuse(format!("{what} cannot be used during a two-phase transaction")));
    }
    if conn.session().scopes > 0 {
        return Err(misuse(format!("explicit {what}() forbidden within a transaction scope: end the scope instead")));
    }
    if conn.server_transaction_status() == TransactionStatus::Idle {
        return noop(conn);
    }
    let mut c = Command::start(conn, &[sql], After::Nothing)?;
    c.after_on_error = true;
    Ok(c)
}

/// psycopg2's `set_session`. Inside a transaction it is a misuse error that changes nothing.
///
/// In autocommit mode (after the change) the explicitly given characteristics are applied with
/// `SET default_transaction_*`; switching autocommit off resets the ones that were set that way;
/// otherwise they are only stored and ride on the next `BEGIN`.
pub fn set_session(conn: &mut Connection, change: SessionChange) -> Result<Command, Error> {
    check_open(conn)?;
    if conn.connection_status() != ConnectionStatus::Ready || conn.session().scopes > 0 {
        return Err(misuse("set_session cannot be used inside a transaction"));
    }
    let old = conn.session().clone();
    let mut new = old.clone();
    let autocommit = change.autocommit.unwrap_or(old.autocommit);
    new.autocommit = autocommit;
    let mut sql: Vec<String> = Vec::new();
    macro_rules! field {
        ($setting:expr, $field:ident, $guc:literal, $render:expr) => {
            match $setting {
                Setting::Unchanged => {}
                Setting::Default => {
                    new.$field = None;
                    if autocommit {
                        sql.push(format!("SET {} TO DEFAULT", $guc));
                    }
                }
                Setting::Value(v) => {
                    new.$field = Some(v);
                    if autocommit {
                        sql.push(format!("SET {} TO '{}'", $guc, $render(v)));
                    }
                }
            }
        };
    }
    let on_off = |b: bool| if b { "on" } else { "off" };
    field!(change.isolation_level, isolation_level, "default_transaction_isolation", |v: IsolationLevel| v.as_sql());
    field!(change.read_only, read_only, "default_transaction_read_only", on_off);
    field!(change.deferrable, deferrable, "default_transaction_deferrable", on_off);
    if old.autocommit && !autocommit {
        // Leaving autocommit: undo what was applied with SET; BEGIN carries them from now on.
        if old.isolation_level.is_some() {
            sql.push("SET default_transaction_isolation TO DEFAULT".into());
        }
        if old.read_only.is_some() {
            sql.push("SET default_transaction_read_only TO DEFAULT".into());
        }
        if old.deferrable.is_some() {
            sql.push("SET default_transaction_deferrable TO DEFAULT".into());
        }
    }
    let refs: Vec<&str> = sql.iter().map(String::as_str).collect();
    Command::start(conn, &refs, After::Store(new))
}

/// Opens a transaction scope (psycopg 3's `transaction()`): `BEGIN` (with the session
/// characteristics) when no transaction is open, else `SAVEPOINT`. Works in autocommit mode too.
pub fn begin_scope(conn: &mut Connection) -> Result<Command, Error> {
    check_open(conn)?;
    if conn.connection_status() == ConnectionStatus::Prepared {
        return Err(misuse("transaction scopes cannot be used with a prepared two-phase transaction"));
    }
    let depth = conn.session().scopes;
    if conn.server_transaction_status() == TransactionStatus::Idle {
        if depth > 0 {
            return Err(misuse("the transaction of the enclosing scope has ended"));
        }
        let begin = conn.session().begin_statement();
        Command::start(conn, &[&begin], After::ScopeOpened { began: true })
    } else {
        let sp = format!("SAVEPOINT pgsans_sp_{}", depth + 1);
        Command::start(conn, &[&sp], After::ScopeOpened { began: false })
    }
}

/// Ends the innermost transaction scope: `commit == true` commits (COMMIT or RELEASE SAVEPOINT),
/// otherwise it rolls back (ROLLBACK or ROLLBACK TO SAVEPOINT + RELEASE).
pub fn end_scope(conn: &mut Connection, commit: bool) -> Result<Command, Error> {
    check_open(conn)?;
    let s = conn.session();
    if s.scopes == 0 {
        return Err(misuse("no transaction scope is open"));
    }
    let depth = s.scopes;
    let outermost_began = depth == 1 && s.scope_began;
    let statements: Vec<String> = if outermost_began {
        vec![if commit { "COMMIT".into() } else { "ROLLBACK".into() }]
    } else if commit {
        vec![format!("RELEASE SAVEPOINT pgsans_sp_{depth}")]
    } else {
        vec![format!("ROLLBACK TO SAVEPOINT pgsans_sp_{depth}"), format!("RELEASE SAVEPOINT pgsans_sp_{depth}")]
    };
    let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
    let mut c = Command::start(conn, &refs, After::ScopeClosed)?;
    c.after_on_error = true;
    Ok(c)
}

/// Queues the rollback of the innermost scope without waiting: for a scope guard dropped
/// without being ended (its bytes go out ahead of the next operation, whose start drains the
/// responses).
pub fn abandon_scope(conn: &mut Connection) {
    if let Ok(cmd) = end_scope(conn, false) {
        drop(cmd);
        conn.abandon_outstanding();
        let s = conn.session_mut();
        s.scopes = s.scopes.saturating_sub(1);
    }
}

/// `tpc_begin(xid)`: only when no transaction is open and not in autocommit mode.
pub fn tpc_begin(conn: &mut Connection, xid: Xid) -> Result<Command, Error> {
    check_open(conn)?;
    if conn.connection_status() != ConnectionStatus::Ready || conn.session().tpc.is_some() {
        return Err(misuse("tpc_begin cannot be used inside a transaction"));
    }
    if conn.session().autocommit {
        return Err(misuse("tpc_begin can't be called in autocommit mode"));
    }
    let begin = conn.session().begin_statement();
    Command::start(conn, &[&begin], After::TpcBegun(xid))
}

/// `tpc_prepare()`: `PREPARE TRANSACTION`; the connection is then PREPARED.
pub fn tpc_prepare(conn: &mut Connection) -> Result<Command, Error> {
    check_open(conn)?;
    let gid = match &conn.session().tpc {
        None => return Err(misuse("prepare must be called inside a two-phase transaction")),
        Some((_, true)) => return Err(misuse("tpc_prepare cannot be used with a prepared two-phase transaction")),
        Some((xid, false)) => xid.to_string(),
    };
    let sql = format!("PREPARE TRANSACTION {}", quote_literal(&gid));
    Command::start(conn, &[&sql], After::TpcPrepared)
}

/// `tpc_commit(None)` / `tpc_rollback(None)` end the current two-phase transaction (one-phase
/// COMMIT/ROLLBACK before prepare); with an xid they finish a prepared transaction found by
/// recovery, outside any transaction.
pub fn tpc_finish(conn: &mut Connection, xid: Option<&Xid>, commit: bool) -> Result<Command, Error> {
    check_open(conn)?;
    let what = if commit { "tpc_commit" } else { "tpc_rollback" };
    let verb = if commit { "COMMIT" } else { "ROLLBACK" };
    match xid {
        None => {
            let sql = match &conn.session().tpc {
                None => {
                    return Err(misuse(format!("{what} with no parameter must be called in a two-phase transaction")))
                }
                Some((_, false)) => verb.to_owned(),
                Some((xid, true)) => format!("{verb} PREPARED {}", quote_literal(&xid.to_string())),
            };
            Command::start(conn, &[&sql], After::TpcEnded)
        }
        Some(xid) => {
            if conn.connection_status() != ConnectionStatus::Ready || conn.session().tpc.is_some() {
                return Err(misuse(format!("{what} with a xid must be called outside a transaction")));
            }
            let sql = format!("{verb} PREPARED {}", quote_literal(&xid.to_string()));
            Command::start(conn, &[&sql], After::Nothing)
        }
    }
}

/// `tpc_recover()`: the prepared transactions on the server (all databases), leaving the
/// connection's status as it was.
pub fn tpc_recover(conn: &mut Connection) -> Result<Recover, Error> {
    check_open(conn)?;
    if conn.connection_status() == ConnectionStatus::Prepared {
        return Err(misuse("tpc_recover cannot be used with a prepared two-phase transaction"));
    }
    Ok(Recover(Command::start(
        conn,
        &["SELECT gid, prepared, owner, database FROM pg_catalog.pg_prepared_xacts ORDER BY prepared"],
        After::Nothing,
    )?))
}

/// The operation returned by [`tpc_recover`].
#[derive(Debug)]
pub struct Recover(Command);

impl Operation for Recover {
    type Output = Vec<RecoveredXid>;
    fn drive(&mut self, conn: &mut Connection) -> Result<Option<Vec<RecoveredXid>>, Error> {
        let Some(results) = self.0.drive(conn)? else { return Ok(None) };
        let text = |r: &OwnedRow, i: usize| r.text(i).unwrap_or_default().to_owned();
        Ok(Some(
            results
                .into_iter()
                .flat_map(|rs| rs.rows)
                .map(|r| RecoveredXid {
                    xid: Xid::from_string(&text(&r, 0)),
                    prepared: text(&r, 1),
                    owner: text(&r, 2),
                    database: text(&r, 3),
                })
                .collect(),
        ))
    }
}

/// `reset()`: abort any transaction, `DISCARD ALL`, and return the session characteristics to
/// their defaults (autocommit off). A prepared two-phase transaction stays on the server.
pub fn reset(conn: &mut Connection) -> Result<Command, Error> {
    check_open(conn)?;
    let mut statements = Vec::new();
    if conn.server_transaction_status() != TransactionStatus::Idle {
        statements.push("ROLLBACK");
    }
    statements.push("DISCARD ALL");
    let mut c = Command::start(conn, &statements, After::Reset)?;
    c.after_on_error = true;
    Ok(c)
}

/// `set_client_encoding`: `SET client_encoding`; the server confirms with ParameterStatus, and
/// from then on SQL text and text parameters are sent, and names, messages and text values
/// read, in that encoding (see [`Encoding`](crate::encoding::Encoding)).
pub fn set_client_encoding(conn: &mut Connection, encoding: &str) -> Result<Command, Error> {
    check_open(conn)?;
    if conn.connection_status() == ConnectionStatus::Prepared {
        return Err(misuse("set_client_encoding cannot be used with a prepared two-phase transaction"));
    }
    let name: String = encoding.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    if name.is_empty() {
        return Err(UsageError::InvalidArgument(format!("invalid encoding name: {encoding:?}")).into());
    }
    if !crate::encoding::Encoding::from_name(&name).is_supported() {
        return Err(UsageError::InvalidArgument(format!(
            "pgsans cannot convert text from and to the client encoding {encoding:?}"
        ))
        .into());
    }
    Command::start(conn, &[&format!("SET client_encoding TO '{name}'")], After::Nothing)
}

/// The statements of a user query, preceded by `BEGIN` when psycopg2 would send one: not in
/// autocommit mode and no transaction open.
pub(crate) fn needs_begin(conn: &Connection) -> Option<String> {
    let s = conn.session();
    (!s.autocommit && conn.server_transaction_status() == TransactionStatus::Idle && s.tpc.is_none())
        .then(|| s.begin_statement())
}

/// A standard-conforming SQL string literal.
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Errors a query gets when the connection is PREPARED.
pub(crate) fn check_not_prepared(conn: &Connection, what: &str) -> Result<(), Error> {
    if conn.connection_status() == ConnectionStatus::Prepared {
        return Err(misuse(format!("{what} cannot be used with a prepared two-phase transaction")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xid_string_forms() {
        let x = Xid::new(42, "gtrid", "bqual").unwrap();
        assert_eq!(x.to_string(), "42_Z3RyaWQ=_YnF1YWw=");
        assert_eq!(Xid::from_string("42_Z3RyaWQ=_YnF1YWw="), x);
        assert_eq!(Xid::new(0, "", "").unwrap().to_string(), "0__");
        let plain = Xid::from_string("99_xxx_yyy");
        assert_eq!(plain.format_id(), None);
        assert_eq!(plain.to_string(), "99_xxx_yyy");
        assert_eq!(Xid::from_string("hello").gtrid(), "hello");
        assert!(Xid::new(-1, "a", "b").is_err());
        assert!(Xid::new(1, &"x".repeat(65), "b").is_err());
        assert!(Xid::new(1, "tab\there", "b").is_err());
    }

    #[test]
    fn begin_statement() {
        let mut s = SessionState::default();
        assert_eq!(s.begin_statement(), "BEGIN");
        s.isolation_level = Some(IsolationLevel::Serializable);
        s.read_only = Some(true);
        s.deferrable = Some(true);
        assert_eq!(s.begin_statement(), "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY DEFERRABLE");
        s.read_only = Some(false);
        s.deferrable = Some(false);
        s.isolation_level = None;
        assert_eq!(s.begin_statement(), "BEGIN READ WRITE NOT DEFERRABLE");
        assert_eq!("repeatable read".parse::<IsolationLevel>().unwrap(), IsolationLevel::RepeatableRead);
        assert!("sometimes".parse::<IsolationLevel>().is_err());
    }
}
