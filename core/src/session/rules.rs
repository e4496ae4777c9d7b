//! psycopg2's rules, all in one place (h11's `_state.py` is the model): which command is
//! allowed in which state, what it sends, and what it changes once the server has answered.
//!
//! The state is the connection status — READY, BEGIN (the server reports a transaction, open
//! or failed) or PREPARED (after `tpc_prepare`) — plus autocommit, the open transaction scopes
//! and the two-phase xid. A command is refused with [`UsageError::InvalidState`] before
//! anything is queued, or planned: the statements to send and the [`Effect`] to apply when
//! they succeed.
//!
//! | command | READY | BEGIN | PREPARED | inside a scope |
//! |---|---|---|---|---|
//! | query, prepare, pipeline | `BEGIN` first unless autocommit | runs | refused | runs |
//! | `commit` / `rollback` | nothing to send | `COMMIT` / `ROLLBACK` | refused | refused |
//! | `set_session`, `set_autocommit`, `set_read_only`, `set_deferrable` | stored (`SET default_transaction_*` in autocommit) | refused | refused | refused |
//! | `set_isolation_level` (legacy) | as `set_session`, autocommit off | `ROLLBACK` first | refused | refused |
//! | `transaction()` scope | `BEGIN` | `SAVEPOINT` | refused | `SAVEPOINT` |
//! | `tpc_begin` | `BEGIN` (refused in autocommit) | refused | refused | refused |
//! | `tpc_prepare` | refused (no xid) | `PREPARE TRANSACTION` | refused | — |
//! | `tpc_commit(None)` / `tpc_rollback(None)` | refused (no xid) | `COMMIT` / `ROLLBACK` | `COMMIT PREPARED` / `ROLLBACK PREPARED` | — |
//! | `tpc_commit(xid)` / `tpc_rollback(xid)` | `… PREPARED xid` | refused | refused | refused |
//! | `tpc_recover` | runs, status unchanged | runs | refused | runs |
//! | `reset` | `DISCARD ALL` | `ROLLBACK; DISCARD ALL` | `DISCARD ALL` (the prepared transaction stays) | scopes dropped |
//! | `set_client_encoding` | `SET client_encoding` | runs | refused | runs |
//! | `cancel` | harmless | cancels | refused | cancels |

use crate::error::UsageError;
use crate::session::status::TransactionStatus;
use crate::session::{
    quote_literal, ConnectionStatus, IsolationLevel, LegacyIsolationLevel, SessionChange, SessionState, Setting, Xid,
};

/// A psycopg2 connection-level command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `commit()`.
    Commit,
    /// `rollback()`.
    Rollback,
    /// `set_session(…)` and the property setters (`autocommit`, `read_only`, `deferrable`).
    SetSession(SessionChange),
    /// psycopg2's legacy `set_isolation_level`: rolls back an open transaction, then sets the
    /// level with autocommit off — or, for `ISOLATION_LEVEL_AUTOCOMMIT`, turns autocommit on
    /// and keeps the level.
    SetIsolationLevel(LegacyIsolationLevel),
    /// Opens a transaction scope: `BEGIN`, or `SAVEPOINT` when a transaction is open.
    BeginScope,
    /// Ends the innermost scope: `COMMIT` / `RELEASE SAVEPOINT`, or the rollback.
    EndScope {
        commit: bool,
    },
    TpcBegin(Xid),
    TpcPrepare,
    /// `tpc_commit()`: the current two-phase transaction (`None`) or a recovered one.
    TpcCommit(Option<Xid>),
    /// `tpc_rollback()`.
    TpcRollback(Option<Xid>),
    /// `tpc_recover()`: the prepared transactions on the server.
    TpcRecover,
    /// `reset()`: roll back, `DISCARD ALL`, default session characteristics.
    Reset,
    /// `set_client_encoding(name)`.
    SetClientEncoding(String),
}

impl Command {
    /// The command's name (psycopg2's method), for logs and traces.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Commit => "COMMIT",
            Command::Rollback => "ROLLBACK",
            Command::SetSession(_) => "SET SESSION",
            Command::SetIsolationLevel(_) => "SET ISOLATION LEVEL",
            Command::BeginScope => "BEGIN",
            Command::EndScope { commit: true } => "END SCOPE (COMMIT)",
            Command::EndScope { commit: false } => "END SCOPE (ROLLBACK)",
            Command::TpcBegin(_) => "TPC BEGIN",
            Command::TpcPrepare => "PREPARE TRANSACTION",
            Command::TpcCommit(_) => "COMMIT PREPARED",
            Command::TpcRollback(_) => "ROLLBACK PREPARED",
            Command::TpcRecover => "TPC RECOVER",
            Command::Reset => "RESET",
            Command::SetClientEncoding(_) => "SET CLIENT ENCODING",
        }
    }
}

/// What changes in the session once a command's statements succeed.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    Nothing,
    Store(SessionState),
    TpcBegun(Xid),
    TpcPrepared,
    TpcEnded,
    ScopeOpened { began: bool },
    ScopeClosed,
    Reset,
}

/// How a command's result is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reading {
    /// The result sets of the statements.
    ResultSets,
    /// `pg_prepared_xacts` rows as recovered xids.
    Recovered,
    /// `PREPARE TRANSACTION`: "prepared transactions are disabled" (55000) is psycopg 3's
    /// NotSupportedError.
    TpcPrepare,
}

/// What the rules decided for a command.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Sent as simple queries, in order.
    pub(crate) statements: Vec<String>,
    pub(crate) effect: Effect,
    /// The effect applies even if a statement fails (COMMIT ends the transaction either way).
    pub(crate) effect_on_error: bool,
    pub(crate) reading: Reading,
}

impl Plan {
    fn new(statements: Vec<String>, effect: Effect) -> Plan {
        Plan { statements, effect, effect_on_error: false, reading: Reading::ResultSets }
    }
    fn always(mut self) -> Plan {
        self.effect_on_error = true;
        self
    }
}

fn misuse(msg: impl Into<String>) -> UsageError {
    UsageError::InvalidState(msg.into())
}

/// psycopg2's `status` for this session and the server's last transaction status.
pub(crate) fn connection_status(s: &SessionState, tx: TransactionStatus) -> ConnectionStatus {
    match (&s.tpc, tx) {
        (Some((_, true)), _) => ConnectionStatus::Prepared,
        (_, TransactionStatus::InTransaction | TransactionStatus::InError) => ConnectionStatus::Begin,
        _ => ConnectionStatus::Ready,
    }
}

/// The rule for a query (simple or extended), a prepare, a pipeline: refused after
/// `tpc_prepare`; otherwise the `BEGIN` to send first, if psycopg2 would send one (not in
/// autocommit, no transaction open when the query arrives — `tx` is the status the engine
/// predicts from the work queued before it, our own BEGINs included).
pub(crate) fn before_query(what: &str, s: &SessionState, tx: TransactionStatus) -> Result<Option<String>, UsageError> {
    if connection_status(s, tx) == ConnectionStatus::Prepared {
        return Err(misuse(format!("{what} cannot be used with a prepared two-phase transaction")));
    }
    Ok((!s.autocommit && tx == TransactionStatus::Idle && s.tpc.is_none()).then(|| s.begin_statement()))
}

/// `cancel`: refused after `tpc_prepare` (psycopg2 and psycopg 3).
pub(crate) fn before_cancel(s: &SessionState, tx: TransactionStatus) -> Result<(), UsageError> {
    if connection_status(s, tx) == ConnectionStatus::Prepared {
        return Err(misuse("cancel cannot be used with a prepared two-phase transaction"));
    }
    Ok(())
}

/// The table: what `cmd` sends in this state and what it changes, or why it is refused.
pub(crate) fn plan(cmd: &Command, s: &SessionState, tx: TransactionStatus) -> Result<Plan, UsageError> {
    let status = connection_status(s, tx);
    let idle = tx == TransactionStatus::Idle;
    let nothing = || Plan::new(Vec::new(), Effect::Nothing);
    Ok(match cmd {
        Command::Commit | Command::Rollback => {
            let (what, sql) = if *cmd == Command::Commit { ("commit", "COMMIT") } else { ("rollback", "ROLLBACK") };
            if s.tpc.is_some() {
                return Err(misuse(format!("{what} cannot be used during a two-phase transaction")));
            }
            if s.scopes > 0 {
                return Err(misuse(format!(
                    "explicit {what}() forbidden within a transaction scope: end the scope instead"
                )));
            }
            if idle {
                nothing()
            } else {
                Plan::new(vec![sql.into()], Effect::Nothing).always()
            }
        }
        Command::SetSession(change) => {
            if status != ConnectionStatus::Ready || s.scopes > 0 {
                return Err(misuse("set_session cannot be used inside a transaction"));
            }
            session_change(s, change, Vec::new())
        }
        Command::SetIsolationLevel(level) => {
            if status == ConnectionStatus::Prepared {
                return Err(misuse("set_isolation_level cannot be used with a prepared two-phase transaction"));
            }
            if s.scopes > 0 {
                return Err(misuse("set_isolation_level cannot be used inside a transaction scope"));
            }
            // psycopg2 rolls back first, then sets the level with autocommit off (or turns
            // autocommit on, keeping the level).
            let first = if idle { Vec::new() } else { vec!["ROLLBACK".to_owned()] };
            let change = match level {
                LegacyIsolationLevel::Autocommit => SessionChange::new().autocommit(true),
                LegacyIsolationLevel::Default => {
                    SessionChange::new().autocommit(false).isolation_level(Setting::Default)
                }
                LegacyIsolationLevel::Level(l) => {
                    SessionChange::new().autocommit(false).isolation_level(Setting::Value(*l))
                }
            };
            session_change(s, &change, first)
        }
        Command::BeginScope => {
            if status == ConnectionStatus::Prepared {
                return Err(misuse("transaction scopes cannot be used with a prepared two-phase transaction"));
            }
            if idle {
                if s.scopes > 0 {
                    return Err(misuse("the transaction of the enclosing scope has ended"));
                }
                Plan::new(vec![s.begin_statement()], Effect::ScopeOpened { began: true })
            } else {
                Plan::new(vec![format!("SAVEPOINT pgsans_sp_{}", s.scopes + 1)], Effect::ScopeOpened { began: false })
            }
        }
        Command::EndScope { commit } => {
            if s.scopes == 0 {
                return Err(misuse("no transaction scope is open"));
            }
            let depth = s.scopes;
            let statements = if depth == 1 && s.scope_began {
                vec![if *commit { "COMMIT".into() } else { "ROLLBACK".into() }]
            } else if *commit {
                vec![format!("RELEASE SAVEPOINT pgsans_sp_{depth}")]
            } else {
                vec![format!("ROLLBACK TO SAVEPOINT pgsans_sp_{depth}"), format!("RELEASE SAVEPOINT pgsans_sp_{depth}")]
            };
            Plan::new(statements, Effect::ScopeClosed).always()
        }
        Command::TpcBegin(xid) => {
            if status != ConnectionStatus::Ready || s.tpc.is_some() || s.scopes > 0 {
                return Err(misuse("tpc_begin cannot be used inside a transaction"));
            }
            if s.autocommit {
                return Err(misuse("tpc_begin can't be called in autocommit mode"));
            }
            Plan::new(vec![s.begin_statement()], Effect::TpcBegun(xid.clone()))
        }
        Command::TpcPrepare => match &s.tpc {
            None => return Err(misuse("prepare must be called inside a two-phase transaction")),
            Some((_, true)) => return Err(misuse("tpc_prepare cannot be used with a prepared two-phase transaction")),
            Some((xid, false)) => {
                let mut p = Plan::new(
                    vec![format!("PREPARE TRANSACTION {}", quote_literal(&xid.to_string()))],
                    Effect::TpcPrepared,
                );
                p.reading = Reading::TpcPrepare;
                p
            }
        },
        Command::TpcCommit(xid) | Command::TpcRollback(xid) => {
            let commit = matches!(cmd, Command::TpcCommit(_));
            let (what, verb) = if commit { ("tpc_commit", "COMMIT") } else { ("tpc_rollback", "ROLLBACK") };
            match xid {
                None => match &s.tpc {
                    None => {
                        return Err(misuse(format!(
                            "{what} with no parameter must be called in a two-phase transaction"
                        )))
                    }
                    Some((_, false)) => Plan::new(vec![verb.to_owned()], Effect::TpcEnded),
                    Some((xid, true)) => Plan::new(
                        vec![format!("{verb} PREPARED {}", quote_literal(&xid.to_string()))],
                        Effect::TpcEnded,
                    ),
                },
                Some(xid) => {
                    if status != ConnectionStatus::Ready || s.tpc.is_some() || s.scopes > 0 {
                        return Err(misuse(format!("{what} with a xid must be called outside a transaction")));
                    }
                    Plan::new(vec![format!("{verb} PREPARED {}", quote_literal(&xid.to_string()))], Effect::Nothing)
                }
            }
        }
        Command::TpcRecover => {
            if status == ConnectionStatus::Prepared {
                return Err(misuse("tpc_recover cannot be used with a prepared two-phase transaction"));
            }
            let mut p = Plan::new(
                vec!["SELECT gid, prepared, owner, database FROM pg_catalog.pg_prepared_xacts ORDER BY prepared".into()],
                Effect::Nothing,
            );
            p.reading = Reading::Recovered;
            p
        }
        Command::Reset => {
            let mut statements = Vec::new();
            if !idle {
                statements.push("ROLLBACK".to_owned());
            }
            statements.push("DISCARD ALL".to_owned());
            Plan::new(statements, Effect::Reset).always()
        }
        Command::SetClientEncoding(encoding) => {
            if status == ConnectionStatus::Prepared {
                return Err(misuse("set_client_encoding cannot be used with a prepared two-phase transaction"));
            }
            let name: String = encoding.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if name.is_empty() {
                return Err(UsageError::InvalidArgument(format!("invalid encoding name: {encoding:?}")));
            }
            if !crate::encoding::Encoding::from_name(&name).is_supported() {
                return Err(UsageError::InvalidArgument(format!(
                    "pgsans cannot convert text from and to the client encoding {encoding:?}"
                )));
            }
            Plan::new(vec![format!("SET client_encoding TO '{name}'")], Effect::Nothing)
        }
    })
}

/// `set_session` (and the legacy `set_isolation_level` after its `first` statements): in
/// autocommit mode the characteristics given are applied with `SET default_transaction_*`;
/// leaving autocommit resets those; otherwise they are only stored and ride on the next BEGIN.
fn session_change(old: &SessionState, change: &SessionChange, first: Vec<String>) -> Plan {
    let mut new = old.clone();
    let autocommit = change.autocommit.unwrap_or(old.autocommit);
    new.autocommit = autocommit;
    let mut sql = first;
    fn setting<T: Copy>(
        setting: Setting<T>,
        field: &mut Option<T>,
        guc: &str,
        render: impl Fn(T) -> String,
        autocommit: bool,
        sql: &mut Vec<String>,
    ) {
        match setting {
            Setting::Unchanged => {}
            Setting::Default => {
                *field = None;
                if autocommit {
                    sql.push(format!("SET {guc} TO DEFAULT"));
                }
            }
            Setting::Value(v) => {
                *field = Some(v);
                if autocommit {
                    sql.push(format!("SET {guc} TO '{}'", render(v)));
                }
            }
        }
    }
    let on_off = |b: bool| if b { "on" } else { "off" }.to_owned();
    let level = |v: IsolationLevel| v.as_sql().to_owned();
    setting(
        change.isolation_level,
        &mut new.isolation_level,
        "default_transaction_isolation",
        level,
        autocommit,
        &mut sql,
    );
    setting(change.read_only, &mut new.read_only, "default_transaction_read_only", on_off, autocommit, &mut sql);
    setting(change.deferrable, &mut new.deferrable, "default_transaction_deferrable", on_off, autocommit, &mut sql);
    if old.autocommit && !autocommit {
        // Leaving autocommit: undo what was applied with SET; BEGIN carries them from now on.
        for (was, guc) in [
            (old.isolation_level.is_some(), "default_transaction_isolation"),
            (old.read_only.is_some(), "default_transaction_read_only"),
            (old.deferrable.is_some(), "default_transaction_deferrable"),
        ] {
            if was {
                sql.push(format!("SET {guc} TO DEFAULT"));
            }
        }
    }
    Plan::new(sql, Effect::Store(new))
}

/// Applies a command's effect once its statements have been answered.
pub(crate) fn apply(effect: Effect, s: &mut SessionState) {
    match effect {
        Effect::Nothing => {}
        Effect::Store(new) => *s = new,
        Effect::TpcBegun(xid) => s.tpc = Some((xid, false)),
        Effect::TpcPrepared => {
            if let Some((_, prepared)) = &mut s.tpc {
                *prepared = true;
            }
        }
        Effect::TpcEnded => s.tpc = None,
        Effect::ScopeOpened { began } => {
            if s.scopes == 0 {
                s.scope_began = began;
            }
            s.scopes += 1;
        }
        Effect::ScopeClosed => s.scopes = s.scopes.saturating_sub(1),
        Effect::Reset => *s = SessionState::new(s.default_autocommit),
    }
}

/// A scope guard dropped without commit or rollback: its rollback, to send without waiting.
/// The scope is closed at once (its statements' answers are drained by the engine).
pub(crate) fn abandon_scope(s: &mut SessionState, tx: TransactionStatus) -> Option<Vec<String>> {
    let p = plan(&Command::EndScope { commit: false }, s, tx).ok()?;
    apply(p.effect, s);
    Some(p.statements)
}

#[cfg(test)]
mod tests {
    use super::*;
    use TransactionStatus::{Idle, InError, InTransaction};

    fn refused(cmd: Command, s: &SessionState, tx: TransactionStatus) -> bool {
        matches!(plan(&cmd, s, tx), Err(UsageError::InvalidState(_)))
    }

    #[test]
    fn the_table() {
        let mut s = SessionState::default();
        assert_eq!(before_query("execute", &s, Idle).unwrap().as_deref(), Some("BEGIN"));
        assert_eq!(before_query("execute", &s, InTransaction).unwrap(), None);
        assert!(plan(&Command::Commit, &s, Idle).unwrap().statements.is_empty());
        assert_eq!(plan(&Command::Rollback, &s, InError).unwrap().statements, ["ROLLBACK"]);
        assert!(refused(Command::SetSession(SessionChange::new().autocommit(true)), &s, InTransaction));
        let p = plan(&Command::SetIsolationLevel(IsolationLevel::Serializable.into()), &s, InTransaction).unwrap();
        assert_eq!(p.statements, ["ROLLBACK"]);
        apply(p.effect, &mut s);
        assert_eq!((s.isolation_level, s.autocommit), (Some(IsolationLevel::Serializable), false));
        let xid = Xid::new(1, "g", "b").unwrap();
        apply(plan(&Command::TpcBegin(xid.clone()), &s, Idle).unwrap().effect, &mut s);
        assert!(refused(Command::Commit, &s, InTransaction));
        apply(plan(&Command::TpcPrepare, &s, InTransaction).unwrap().effect, &mut s);
        assert_eq!(connection_status(&s, Idle), ConnectionStatus::Prepared);
        assert!(before_query("execute", &s, Idle).is_err());
        assert!(before_cancel(&s, Idle).is_err());
        assert!(refused(Command::TpcRecover, &s, Idle));
        assert_eq!(plan(&Command::TpcCommit(None), &s, Idle).unwrap().statements, ["COMMIT PREPARED '1_Zw==_Yg=='"]);
        let mut a = SessionState { autocommit: true, ..SessionState::default() };
        assert!(refused(Command::TpcBegin(xid), &a, Idle), "not in autocommit");
        let p = plan(&Command::BeginScope, &a, Idle).unwrap();
        assert_eq!(p.statements, ["BEGIN"]);
        apply(p.effect, &mut a);
        assert_eq!(plan(&Command::BeginScope, &a, InTransaction).unwrap().statements, ["SAVEPOINT pgsans_sp_2"]);
        assert!(refused(Command::Commit, &a, InTransaction), "inside a scope");
        assert_eq!(abandon_scope(&mut a, InTransaction).unwrap(), ["ROLLBACK"]);
        assert_eq!(a.scopes, 0);
    }

    #[test]
    fn characteristics_in_autocommit_use_session_defaults() {
        let s = SessionState { autocommit: true, ..SessionState::default() };
        let change = SessionChange::new().read_only(Setting::Value(true)).deferrable(Setting::Default);
        let p = plan(&Command::SetSession(change), &s, Idle).unwrap();
        assert_eq!(
            p.statements,
            ["SET default_transaction_read_only TO 'on'", "SET default_transaction_deferrable TO DEFAULT"]
        );
        let Effect::Store(new) = p.effect else { panic!() };
        let p = plan(&Command::SetSession(SessionChange::new().autocommit(false)), &new, Idle).unwrap();
        assert_eq!(p.statements, ["SET default_transaction_read_only TO DEFAULT"]);
    }
}
