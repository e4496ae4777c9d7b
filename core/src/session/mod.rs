//! psycopg2's connection semantics: the value types (status, isolation level, session
//! characteristics, two-phase transaction ids) and the session state the engine keeps. Which
//! command is allowed when, and what it does, is `session/rules.rs` — one table, in one file.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::error::UsageError;

pub(crate) mod conversation;
pub(crate) mod rules;
pub(crate) mod sql;
pub use sql::quote_ident;
pub(crate) mod statements;
pub(crate) mod status;
pub(crate) mod syncs;

pub use rules::Command;

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

/// What psycopg2's legacy `set_isolation_level` takes: a level, the server's default (`None`
/// in psycopg2, `ISOLATION_LEVEL_DEFAULT`), or autocommit (`ISOLATION_LEVEL_AUTOCOMMIT`, 0),
/// which that method mixes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyIsolationLevel {
    /// `ISOLATION_LEVEL_AUTOCOMMIT`: autocommit on, the isolation level kept.
    Autocommit,
    /// `ISOLATION_LEVEL_DEFAULT`: the server's default level, autocommit off.
    Default,
    /// A level, autocommit off.
    Level(IsolationLevel),
}

impl LegacyIsolationLevel {
    /// psycopg2's constants: `None` (DEFAULT), 0 (AUTOCOMMIT), 1 (READ COMMITTED), 2
    /// (REPEATABLE READ), 3 (SERIALIZABLE), 4 (READ UNCOMMITTED).
    pub fn from_psycopg2(level: Option<i32>) -> Result<LegacyIsolationLevel, UsageError> {
        Ok(match level {
            None => LegacyIsolationLevel::Default,
            Some(0) => LegacyIsolationLevel::Autocommit,
            Some(n) => LegacyIsolationLevel::Level(
                IsolationLevel::from_psycopg2(n)
                    .map_err(|_| UsageError::InvalidArgument("isolation_level must be between 0 and 4".into()))?,
            ),
        })
    }
}

impl From<IsolationLevel> for LegacyIsolationLevel {
    fn from(level: IsolationLevel) -> Self {
        LegacyIsolationLevel::Level(level)
    }
}

impl From<Option<IsolationLevel>> for LegacyIsolationLevel {
    fn from(level: Option<IsolationLevel>) -> Self {
        level.map_or(LegacyIsolationLevel::Default, LegacyIsolationLevel::Level)
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

/// One argument of `set_session`: leave it, reset it to the server default, or set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Setting<T> {
    #[default]
    Unchanged,
    /// The server's default (`DEFAULT` in psycopg2).
    Default,
    Value(T),
}

/// The arguments of `set_session`; build with the setters.
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
    /// The autocommit mode chosen at connect ([`Config::autocommit`](crate::Config::autocommit)):
    /// what `reset()` returns to.
    pub(crate) default_autocommit: bool,
}

impl SessionState {
    /// The state of a new connection: psycopg2's default (a transaction opened for you)
    /// unless autocommit was chosen at connect.
    pub(crate) fn new(autocommit: bool) -> SessionState {
        SessionState { autocommit, default_autocommit: autocommit, ..SessionState::default() }
    }

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

/// A standard-conforming SQL string literal.
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
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
