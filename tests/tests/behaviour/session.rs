//! psycopg2 connection semantics: status, transactions, session characteristics, scopes,
//! two-phase commit, reset, cancel, notices, notifications, diagnostics, information.

use std::time::{Duration, Instant};

use pgsans::{
    ConnectionStatus, Error, ErrorClass, IsolationLevel, SessionChange, Setting, TransactionStatus, UsageError, Xid,
};
use pgsans_tests::{AuthMethod, Client, ScopeEnd, TestServer};

fn connect<C: Client>() -> C {
    C::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).unwrap()
}

fn autocommit<C: Client>() -> C {
    let mut c: C = connect();
    c.set_autocommit(true).unwrap();
    c
}

/// A fresh table for one test (names differ per transport so tests run in parallel).
fn table<C: Client>(name: &str) -> String {
    let t = format!("{name}_{}", C::NAME.replace('-', "_"));
    autocommit::<C>().batch_execute(&format!("DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (v int)")).unwrap();
    t
}

fn count<C: Client>(observer: &mut C, table: &str) -> String {
    observer.scalar(&format!("SELECT count(*) FROM {table}")).unwrap().unwrap()
}

fn is_misuse(r: Result<(), Error>) -> bool {
    matches!(r, Err(Error::Usage(UsageError::InvalidState(_))))
}

pub fn default_mode_opens_a_transaction<C: Client>() {
    let t = table::<C>("deflt");
    let mut c: C = connect();
    let mut observer: C = autocommit();
    assert!(!c.engine().autocommit());
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Ready);
    c.batch_execute(&format!("INSERT INTO {t} VALUES (1)")).unwrap();
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Begin);
    assert_eq!(c.engine().transaction_status(), TransactionStatus::InTransaction);
    // The server agrees: the backend is idle in a transaction, and others see nothing yet.
    let state = observer
        .scalar(&format!("SELECT state FROM pg_stat_activity WHERE pid = {}", c.engine().backend_pid()))
        .unwrap();
    assert_eq!(state.as_deref(), Some("idle in transaction"));
    assert_eq!(count(&mut observer, &t), "0");
    c.rollback().unwrap();
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Ready);
    assert_eq!(count(&mut observer, &t), "0");
    c.batch_execute(&format!("INSERT INTO {t} VALUES (2)")).unwrap();
    c.commit().unwrap();
    assert_eq!(count(&mut observer, &t), "1");
    // commit/rollback with no transaction open send nothing and succeed.
    c.commit().unwrap();
    c.rollback().unwrap();
    // A failed transaction: InError until rollback.
    assert!(c.batch_execute("SELECT 1/0").is_err());
    assert_eq!(c.engine().transaction_status(), TransactionStatus::InError);
    assert_eq!(c.batch_execute("SELECT 1").unwrap_err().code(), Some("25P02"));
    c.rollback().unwrap();
    assert_eq!(c.scalar("SELECT 5").unwrap().as_deref(), Some("5"));
}

pub fn autocommit_mode<C: Client>() {
    let t = table::<C>("autoc");
    let mut c: C = connect();
    let mut observer: C = autocommit();
    c.set_autocommit(true).unwrap();
    c.batch_execute(&format!("INSERT INTO {t} VALUES (1)")).unwrap();
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Ready);
    assert_eq!(count(&mut observer, &t), "1");
    // Back to transactions; switching inside one is a misuse error that changes nothing.
    c.set_autocommit(false).unwrap();
    c.batch_execute(&format!("INSERT INTO {t} VALUES (2)")).unwrap();
    assert!(is_misuse(c.set_autocommit(true)));
    assert!(!c.engine().autocommit());
    assert_eq!(c.engine().transaction_status(), TransactionStatus::InTransaction);
    c.commit().unwrap();
    assert_eq!(count(&mut observer, &t), "2");
}

pub fn isolation_levels_ride_on_begin<C: Client>() {
    let mut c: C = connect();
    for (level, shown) in [
        (IsolationLevel::ReadUncommitted, "read uncommitted"),
        (IsolationLevel::ReadCommitted, "read committed"),
        (IsolationLevel::RepeatableRead, "repeatable read"),
        (IsolationLevel::Serializable, "serializable"),
    ] {
        c.set_session(SessionChange::new().isolation_level(Setting::Value(level))).unwrap();
        assert_eq!(c.engine().isolation_level(), Some(level));
        assert_eq!(c.scalar("SHOW transaction_isolation").unwrap().as_deref(), Some(shown));
        // Only the transaction: the session default is untouched.
        assert_eq!(c.scalar("SHOW default_transaction_isolation").unwrap().as_deref(), Some("read committed"));
        c.rollback().unwrap();
    }
    c.set_session(
        SessionChange::new()
            .isolation_level(Setting::Value(IsolationLevel::Serializable))
            .read_only(Setting::Value(true))
            .deferrable(Setting::Value(true)),
    )
    .unwrap();
    let shown = c
        .scalar(
            "SELECT current_setting('transaction_isolation') || ' ' || current_setting('transaction_read_only') \
             || ' ' || current_setting('transaction_deferrable')",
        )
        .unwrap();
    assert_eq!(shown.as_deref(), Some("serializable on on"));
    assert_eq!(c.batch_execute("CREATE TEMP TABLE nope (a int)").unwrap_err().code(), Some("25006"));
    c.rollback().unwrap();
    // DEFAULT puts them back.
    c.set_session(
        SessionChange::new().isolation_level(Setting::Default).read_only(Setting::Default).deferrable(Setting::Default),
    )
    .unwrap();
    assert_eq!(c.scalar("SHOW transaction_read_only").unwrap().as_deref(), Some("off"));
    assert_eq!(c.scalar("SHOW transaction_isolation").unwrap().as_deref(), Some("read committed"));
    c.rollback().unwrap();
}

pub fn characteristics_in_autocommit_use_session_defaults<C: Client>() {
    let mut c: C = connect();
    c.set_session(
        SessionChange::new()
            .autocommit(true)
            .isolation_level(Setting::Value(IsolationLevel::RepeatableRead))
            .read_only(Setting::Value(true)),
    )
    .unwrap();
    assert_eq!(c.scalar("SHOW default_transaction_isolation").unwrap().as_deref(), Some("repeatable read"));
    assert_eq!(c.scalar("SHOW default_transaction_read_only").unwrap().as_deref(), Some("on"));
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Ready);
    // Leaving autocommit resets the session defaults: BEGIN carries them from now on.
    c.set_autocommit(false).unwrap();
    assert_eq!(c.scalar("SHOW default_transaction_isolation").unwrap().as_deref(), Some("read committed"));
    assert_eq!(c.scalar("SHOW transaction_isolation").unwrap().as_deref(), Some("repeatable read"));
    c.rollback().unwrap();
}

pub fn set_session_inside_a_transaction_is_misuse<C: Client>() {
    let mut c: C = connect();
    c.batch_execute("SELECT 1").unwrap();
    let before = (c.engine().isolation_level(), c.engine().read_only(), c.engine().autocommit());
    assert!(is_misuse(c.set_session(SessionChange::new().read_only(Setting::Value(true)))));
    assert!(is_misuse(
        c.set_session(SessionChange::new().isolation_level(Setting::Value(IsolationLevel::Serializable)))
    ));
    assert_eq!(before, (c.engine().isolation_level(), c.engine().read_only(), c.engine().autocommit()));
    assert_eq!(c.engine().transaction_status(), TransactionStatus::InTransaction);
    c.rollback().unwrap();
}

pub fn transaction_scopes<C: Client>() {
    let t = table::<C>("scope");
    let mut observer: C = autocommit();
    for mode_autocommit in [false, true] {
        let mut c: C = connect();
        c.set_autocommit(mode_autocommit).unwrap();
        observer.batch_execute(&format!("TRUNCATE {t}")).unwrap();
        c.in_scope(&format!("INSERT INTO {t} VALUES (1)"), ScopeEnd::Commit).unwrap();
        assert_eq!(c.engine().transaction_status(), TransactionStatus::Idle);
        assert_eq!(count(&mut observer, &t), "1");
        c.in_scope(&format!("INSERT INTO {t} VALUES (2)"), ScopeEnd::Rollback).unwrap();
        assert_eq!(count(&mut observer, &t), "1");
        // Dropped without an end: rolled back before the next operation.
        c.in_scope(&format!("INSERT INTO {t} VALUES (3)"), ScopeEnd::Drop).unwrap();
        assert_eq!(c.scalar(&format!("SELECT count(*) FROM {t}")).unwrap().as_deref(), Some("1"));
        c.rollback().unwrap();
        // Savepoints: the inner rollback keeps the outer work.
        c.in_nested_scope(
            &format!("INSERT INTO {t} VALUES (10)"),
            &format!("INSERT INTO {t} VALUES (11)"),
            ScopeEnd::Rollback,
            ScopeEnd::Commit,
        )
        .unwrap();
        assert_eq!(
            observer.scalar(&format!("SELECT string_agg(v::text, ',' ORDER BY v) FROM {t}")).unwrap().as_deref(),
            Some("1,10")
        );
        c.in_nested_scope(
            &format!("INSERT INTO {t} VALUES (20)"),
            &format!("INSERT INTO {t} VALUES (21)"),
            ScopeEnd::Commit,
            ScopeEnd::Rollback,
        )
        .unwrap();
        c.in_nested_scope(
            &format!("INSERT INTO {t} VALUES (30)"),
            &format!("INSERT INTO {t} VALUES (31)"),
            ScopeEnd::Drop,
            ScopeEnd::Commit,
        )
        .unwrap();
        assert_eq!(
            observer.scalar(&format!("SELECT string_agg(v::text, ',' ORDER BY v) FROM {t}")).unwrap().as_deref(),
            Some("1,10,30"),
            "autocommit={mode_autocommit}"
        );
        assert_eq!(c.engine().transaction_depth(), 0);
    }
}

pub fn two_phase_commit_cycle<C: Client>() {
    let t = table::<C>("tpc");
    let mut c: C = connect();
    let mut other: C = autocommit();
    let xid = Xid::new(42, &format!("gtrid-{}", C::NAME), "bqual").unwrap();
    c.tpc_begin(xid.clone()).unwrap();
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Begin);
    assert_eq!(c.engine().tpc_xid(), Some(&xid));
    c.batch_execute(&format!("INSERT INTO {t} VALUES (1)")).unwrap();
    c.tpc_prepare().unwrap();
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Prepared);
    assert_eq!(c.engine().transaction_status(), TransactionStatus::Idle, "PREPARE TRANSACTION ends the block");
    // Nothing may run now but tpc_commit / tpc_rollback.
    assert!(is_misuse(c.batch_execute("SELECT 1")));
    assert!(is_misuse(c.commit()));
    assert!(is_misuse(c.rollback()));
    assert!(is_misuse(c.tpc_prepare()));
    assert!(is_misuse(c.tpc_begin(Xid::new(1, "x", "y").unwrap())));
    assert!(matches!(c.tpc_recover(), Err(Error::Usage(_))));
    assert!(is_misuse(c.set_autocommit(true)));
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Prepared);
    // Another session sees the prepared transaction.
    let found = other.tpc_recover().unwrap();
    let rec = found.iter().find(|r| r.xid == xid).expect("recovered");
    assert_eq!(rec.database, "postgres");
    assert_eq!(rec.owner, "postgres");
    assert!(!rec.prepared.is_empty());
    assert_eq!(count(&mut other, &t), "0");
    c.tpc_commit(None).unwrap();
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Ready);
    assert_eq!(c.engine().tpc_xid(), None);
    assert_eq!(count(&mut other, &t), "1");
    assert!(other.tpc_recover().unwrap().iter().all(|r| r.xid != xid));

    // One-phase: tpc_commit before prepare is a plain COMMIT; tpc_rollback likewise.
    c.tpc_begin(Xid::new(7, "one-phase", C::NAME).unwrap()).unwrap();
    c.batch_execute(&format!("INSERT INTO {t} VALUES (2)")).unwrap();
    c.tpc_commit(None).unwrap();
    c.tpc_begin(Xid::new(7, "one-phase-rb", C::NAME).unwrap()).unwrap();
    c.batch_execute(&format!("INSERT INTO {t} VALUES (3)")).unwrap();
    c.tpc_rollback(None).unwrap();
    assert_eq!(count(&mut other, &t), "2");
}

pub fn two_phase_recovery_from_another_connection<C: Client>() {
    let t = table::<C>("tpcrec");
    let mut c: C = connect();
    let xid = Xid::new(9, &format!("recover-{}", C::NAME), "b").unwrap();
    c.tpc_begin(xid.clone()).unwrap();
    c.batch_execute(&format!("INSERT INTO {t} VALUES (1)")).unwrap();
    c.tpc_prepare().unwrap();
    // reset() keeps the prepared transaction on the server.
    c.reset().unwrap();
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Ready);
    drop(c);
    let mut other: C = connect();
    let status_before = other.engine().connection_status();
    let found = other.tpc_recover().unwrap();
    assert_eq!(other.engine().connection_status(), status_before, "recover leaves the status alone");
    let rec = found.into_iter().find(|r| r.xid == xid).expect("prepared transaction survives reset");
    assert_eq!(rec.xid.format_id(), Some(9));
    // Finishing by xid is only allowed outside a transaction.
    other.batch_execute("SELECT 1").unwrap();
    assert!(is_misuse(other.tpc_commit(Some(&rec.xid))));
    other.rollback().unwrap();
    other.tpc_rollback(Some(&rec.xid)).unwrap();
    assert_eq!(count(&mut other, &t), "0");
    other.rollback().unwrap(); // the count above opened a transaction (not autocommit)
                               // Unknown xid: the server's error (42704).
    assert_eq!(other.tpc_commit(Some(&rec.xid)).unwrap_err().code(), Some("42704"));
}

pub fn two_phase_misuse<C: Client>() {
    let mut c: C = connect();
    assert!(is_misuse(c.tpc_prepare()));
    assert!(is_misuse(c.tpc_commit(None)));
    assert!(is_misuse(c.tpc_rollback(None)));
    c.batch_execute("SELECT 1").unwrap();
    assert!(is_misuse(c.tpc_begin(Xid::new(1, "a", "b").unwrap())), "inside a transaction");
    c.rollback().unwrap();
    c.set_autocommit(true).unwrap();
    assert!(is_misuse(c.tpc_begin(Xid::new(1, "a", "b").unwrap())), "in autocommit mode");
    c.set_autocommit(false).unwrap();
    c.tpc_begin(Xid::new(1, &format!("misuse-{}", C::NAME), "b").unwrap()).unwrap();
    assert!(is_misuse(c.commit()), "commit during a two-phase transaction");
    assert!(is_misuse(c.rollback()));
    c.tpc_rollback(None).unwrap();
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Ready);
}

pub fn reset_restores_the_session<C: Client>() {
    let mut c: C = connect();
    c.set_autocommit(true).unwrap();
    c.batch_execute("CREATE TEMP TABLE scratch (a int); SET statement_timeout = 777; PREPARE p AS SELECT 1").unwrap();
    c.set_session(SessionChange::new().read_only(Setting::Value(true)).autocommit(false)).unwrap();
    c.batch_execute("SELECT 1").unwrap();
    assert_eq!(c.engine().transaction_status(), TransactionStatus::InTransaction);
    c.reset().unwrap();
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Ready);
    assert!(!c.engine().autocommit());
    assert_eq!(c.engine().read_only(), None);
    c.set_autocommit(true).unwrap();
    assert_eq!(c.scalar("SHOW statement_timeout").unwrap().as_deref(), Some("0"));
    assert_eq!(c.batch_execute("SELECT * FROM scratch").unwrap_err().code(), Some("42P01"));
    assert_eq!(c.batch_execute("EXECUTE p").unwrap_err().code(), Some("26000"));
    assert_eq!(c.scalar("SHOW default_transaction_read_only").unwrap().as_deref(), Some("off"));
}

pub fn cancel_a_running_query<C: Client>() {
    let mut c: C = connect();
    let canceller = c.cancel_after(Duration::from_millis(300));
    let started = Instant::now();
    let err = c.batch_execute("SELECT pg_sleep(10)").unwrap_err();
    let took = started.elapsed();
    canceller.join().unwrap().unwrap();
    assert_eq!(err.code(), Some("57014"), "{err}");
    assert_eq!(err.class(), Some(ErrorClass::QueryCanceled));
    assert!(took < Duration::from_secs(2), "cancel took {took:?}");
    // The connection is usable: roll back the failed transaction and go on.
    c.rollback().unwrap();
    assert_eq!(c.scalar("SELECT 'alive'").unwrap().as_deref(), Some("alive"));
    // Cancelling while idle is harmless.
    c.cancel_after(Duration::ZERO).join().unwrap().unwrap();
    assert_eq!(c.scalar("SELECT 1").unwrap().as_deref(), Some("1"));
}

pub fn notifications_while_idle<C: Client>() {
    let mut listener: C = autocommit();
    let channel = format!("idle_{}", C::NAME.replace('-', "_"));
    listener.batch_execute(&format!("LISTEN {channel}")).unwrap();
    // Nothing comes: an empty answer after the timeout, and the connection is fine.
    let t = Instant::now();
    assert!(listener.wait_for_notifications(Some(Duration::from_millis(200))).unwrap().is_empty());
    assert!(t.elapsed() >= Duration::from_millis(190));
    assert_eq!(listener.scalar("SELECT 2").unwrap().as_deref(), Some("2"));
    // A notification sent while the listener is idle wakes it.
    let conninfo = TestServer::shared().conninfo(AuthMethod::Trust);
    let ch = channel.clone();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        let mut s = pgsans_std::Connection::connect(&conninfo).unwrap();
        s.set_autocommit(true).unwrap();
        s.batch_execute(&format!("NOTIFY {ch}, 'wake up'")).unwrap();
    });
    let got = listener.wait_for_notifications(Some(Duration::from_secs(10))).unwrap();
    sender.join().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].channel, channel);
    assert_eq!(got[0].payload, "wake up");
}

pub fn notices_limit_and_order<C: Client>() {
    let mut c: C = autocommit();
    c.batch_execute("DO $$ BEGIN FOR i IN 1..60 LOOP RAISE NOTICE 'n%', i; END LOOP; END $$").unwrap();
    let notices: Vec<String> = c.engine().notices().map(|n| n.message().to_owned()).collect();
    assert_eq!(notices.len(), 50);
    assert_eq!(notices.first().map(String::as_str), Some("n11"));
    assert_eq!(notices.last().map(String::as_str), Some("n60"));
}

pub fn every_error_field<C: Client>() {
    let mut c: C = autocommit();
    let schema = format!("diag_{}", C::NAME.replace('-', "_"));
    c.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
         CREATE TABLE {schema}.items (id int PRIMARY KEY, qty int NOT NULL CONSTRAINT qty_positive CHECK (qty > 0));
         CREATE DOMAIN {schema}.posint AS int CONSTRAINT posint_check CHECK (VALUE > 0);
         INSERT INTO {schema}.items VALUES (1, 1)"
    ))
    .unwrap();
    // NOT NULL: schema, table, column.
    let e = c.batch_execute(&format!("INSERT INTO {schema}.items VALUES (2, NULL)")).unwrap_err();
    let d = e.as_db_error().unwrap();
    assert_eq!(
        (d.code(), d.schema(), d.table(), d.column()),
        ("23502", Some(schema.as_str()), Some("items"), Some("qty"))
    );
    assert_eq!(d.class(), ErrorClass::Integrity);
    assert!(d.detail().unwrap().contains("Failing row contains"));
    assert!(d.file().is_some() && d.line().is_some() && d.routine().is_some());
    assert_eq!(d.severity(), "ERROR");
    assert_eq!(d.severity_nonlocalized(), Some("ERROR"));
    // CHECK: constraint name.
    let e = c.batch_execute(&format!("INSERT INTO {schema}.items VALUES (3, -1)")).unwrap_err();
    assert_eq!(e.as_db_error().unwrap().constraint(), Some("qty_positive"));
    // UNIQUE: detail.
    let e = c.batch_execute(&format!("INSERT INTO {schema}.items VALUES (1, 5)")).unwrap_err();
    let d = e.as_db_error().unwrap();
    assert_eq!((d.code(), d.constraint()), ("23505", Some("items_pkey")));
    assert_eq!(d.detail(), Some("Key (id)=(1) already exists."));
    // Domain: data type name.
    let e = c.batch_execute(&format!("SELECT (-5)::{schema}.posint")).unwrap_err();
    let d = e.as_db_error().unwrap();
    assert_eq!((d.code(), d.datatype(), d.schema()), ("23514", Some("posint"), Some(schema.as_str())));
    // Syntax error: position.
    let e = c.batch_execute("SELECT 1 2").unwrap_err();
    assert_eq!((e.code(), e.as_db_error().unwrap().position()), (Some("42601"), Some(10)));
    assert_eq!(e.class(), Some(ErrorClass::Programming));
    // PL/pgSQL: hint, context, internal query and position.
    let e = c
        .batch_execute("DO $$ BEGIN RAISE EXCEPTION 'boom' USING HINT = 'try again', DETAIL = 'd'; END $$")
        .unwrap_err();
    let d = e.as_db_error().unwrap();
    assert_eq!((d.code(), d.message(), d.hint(), d.detail()), ("P0001", "boom", Some("try again"), Some("d")));
    assert!(d.where_().unwrap().contains("PL/pgSQL"));
    let e = c.batch_execute("DO $$ BEGIN EXECUTE 'SELECT 1 2'; END $$").unwrap_err();
    let d = e.as_db_error().unwrap();
    assert_eq!(d.internal_query(), Some("SELECT 1 2"));
    assert_eq!(d.internal_position(), Some(10));
    // Data and serialization classes.
    assert_eq!(c.batch_execute("SELECT 'x'::int").unwrap_err().class(), Some(ErrorClass::Data));
    assert_eq!(
        c.batch_execute("DO $$ BEGIN RAISE SQLSTATE '40001'; END $$").unwrap_err().class(),
        Some(ErrorClass::TransactionRollback)
    );
    c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).unwrap();
}

pub fn connection_information<C: Client>() {
    let server = TestServer::shared();
    let conninfo = server.conninfo(AuthMethod::Scram);
    let mut c = C::connect(&conninfo).unwrap();
    let dsn = c.engine().dsn();
    assert!(dsn.contains("password=xxx") && !dsn.contains("scrampass"), "{dsn}");
    let params = c.engine().config().dsn_parameters();
    assert!(params.iter().all(|(k, _)| *k != "password"));
    assert!(params.contains(&("user", "scram_user")));
    assert_eq!(c.engine().protocol_version(), (3, 0));
    assert_eq!(c.engine().client_encoding(), Some("UTF8"));
    let v = c.engine().server_version();
    assert_eq!(
        v / 10000,
        c.engine().parameter_status("server_version").unwrap().split('.').next().unwrap().parse::<i32>().unwrap()
    );
    c.set_client_encoding("latin1").unwrap();
    assert_eq!(c.engine().client_encoding(), Some("LATIN1"));
    c.set_client_encoding("UTF8").unwrap();
    assert_eq!(c.engine().client_encoding(), Some("UTF8"));
    assert!(matches!(c.set_client_encoding("'; DROP"), Err(Error::Db(_)) | Err(Error::Usage(_))));
    c.rollback().unwrap();
    assert_eq!(c.scalar("SELECT 1").unwrap().as_deref(), Some("1"));
}
