//! psycopg2 connection semantics: status, transactions, session characteristics, scopes,
//! two-phase commit, reset, cancel, notices, notifications, diagnostics, information.

use pgsans::SqlState;
use std::time::{Duration, Instant};

use pgsans::{
    ConnectionStatus, Error, ErrorClass, IsolationLevel, SessionChange, Setting, TransactionStatus, UsageError, Xid,
};
use pgsans_tests::*;

async fn connect<R: TestRt>() -> Conn<R> {
    Conn::<R>::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap()
}

async fn autocommit<R: TestRt>() -> Conn<R> {
    let mut c: Conn<R> = connect().await;
    c.set_autocommit(true).await.unwrap();
    c
}

/// A fresh table for one test (names differ per transport so tests run in parallel).
async fn table<R: TestRt>(name: &str) -> String {
    let t = format!("{name}_{}", R::NAME.replace('-', "_"));
    autocommit::<R>()
        .await
        .batch_execute(&format!("DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (v int)"))
        .await
        .unwrap();
    t
}

async fn count<R: TestRt>(observer: &mut Conn<R>, table: &str) -> String {
    scalar(observer, &format!("SELECT count(*) FROM {table}")).await.unwrap().unwrap()
}

fn is_misuse(r: Result<(), Error>) -> bool {
    matches!(r, Err(Error::Usage(UsageError::InvalidState(_))))
}

pub async fn default_mode_opens_a_transaction<R: TestRt>() {
    let t = table::<R>("deflt").await;
    let mut c: Conn<R> = connect().await;
    let mut observer: Conn<R> = autocommit().await;
    assert!(!c.engine().autocommit());
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Ready);
    c.batch_execute(&format!("INSERT INTO {t} VALUES (1)")).await.unwrap();
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Begin);
    assert_eq!(c.engine().transaction_status(), TransactionStatus::InTransaction);
    // The server agrees: the backend is idle in a transaction, and others see nothing yet.
    let state =
        scalar(&mut observer, &format!("SELECT state FROM pg_stat_activity WHERE pid = {}", c.engine().backend_pid()))
            .await
            .unwrap();
    assert_eq!(state.as_deref(), Some("idle in transaction"));
    assert_eq!(count(&mut observer, &t).await, "0");
    c.rollback().await.unwrap();
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Ready);
    assert_eq!(count(&mut observer, &t).await, "0");
    c.batch_execute(&format!("INSERT INTO {t} VALUES (2)")).await.unwrap();
    c.commit().await.unwrap();
    assert_eq!(count(&mut observer, &t).await, "1");
    // commit/rollback with no transaction open send nothing and succeed.
    c.commit().await.unwrap();
    c.rollback().await.unwrap();
    // A failed transaction: InError until rollback.
    assert!(c.batch_execute("SELECT 1/0").await.is_err());
    assert_eq!(c.engine().transaction_status(), TransactionStatus::InError);
    assert_eq!(c.batch_execute("SELECT 1").await.unwrap_err().code(), Some(SqlState::IN_FAILED_SQL_TRANSACTION));
    c.rollback().await.unwrap();
    assert_eq!(scalar(&mut c, "SELECT 5").await.unwrap().as_deref(), Some("5"));
}

pub async fn autocommit_mode<R: TestRt>() {
    let t = table::<R>("autoc").await;
    let mut c: Conn<R> = connect().await;
    let mut observer: Conn<R> = autocommit().await;
    c.set_autocommit(true).await.unwrap();
    c.batch_execute(&format!("INSERT INTO {t} VALUES (1)")).await.unwrap();
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Ready);
    assert_eq!(count(&mut observer, &t).await, "1");
    // Back to transactions; switching inside one is a misuse error that changes nothing.
    c.set_autocommit(false).await.unwrap();
    c.batch_execute(&format!("INSERT INTO {t} VALUES (2)")).await.unwrap();
    assert!(is_misuse(c.set_autocommit(true).await));
    assert!(!c.engine().autocommit());
    assert_eq!(c.engine().transaction_status(), TransactionStatus::InTransaction);
    c.commit().await.unwrap();
    assert_eq!(count(&mut observer, &t).await, "2");
}

pub async fn isolation_levels_ride_on_begin<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    for (level, shown) in [
        (IsolationLevel::ReadUncommitted, "read uncommitted"),
        (IsolationLevel::ReadCommitted, "read committed"),
        (IsolationLevel::RepeatableRead, "repeatable read"),
        (IsolationLevel::Serializable, "serializable"),
    ] {
        c.set_session(SessionChange::new().isolation_level(Setting::Value(level))).await.unwrap();
        assert_eq!(c.engine().isolation_level(), Some(level));
        assert_eq!(scalar(&mut c, "SHOW transaction_isolation").await.unwrap().as_deref(), Some(shown));
        // Only the transaction: the session default is untouched.
        assert_eq!(
            scalar(&mut c, "SHOW default_transaction_isolation").await.unwrap().as_deref(),
            Some("read committed")
        );
        c.rollback().await.unwrap();
    }
    c.set_session(
        SessionChange::new()
            .isolation_level(Setting::Value(IsolationLevel::Serializable))
            .read_only(Setting::Value(true))
            .deferrable(Setting::Value(true)),
    )
    .await
    .unwrap();
    let shown = scalar(
        &mut c,
        "SELECT current_setting('transaction_isolation') || ' ' || current_setting('transaction_read_only') \
             || ' ' || current_setting('transaction_deferrable')",
    )
    .await
    .unwrap();
    assert_eq!(shown.as_deref(), Some("serializable on on"));
    assert_eq!(
        c.batch_execute("CREATE TEMP TABLE nope (a int)").await.unwrap_err().code(),
        Some(SqlState::READ_ONLY_SQL_TRANSACTION)
    );
    c.rollback().await.unwrap();
    // DEFAULT puts them back.
    c.set_session(
        SessionChange::new().isolation_level(Setting::Default).read_only(Setting::Default).deferrable(Setting::Default),
    )
    .await
    .unwrap();
    assert_eq!(scalar(&mut c, "SHOW transaction_read_only").await.unwrap().as_deref(), Some("off"));
    assert_eq!(scalar(&mut c, "SHOW transaction_isolation").await.unwrap().as_deref(), Some("read committed"));
    c.rollback().await.unwrap();
}

pub async fn characteristics_in_autocommit_use_session_defaults<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    c.set_session(
        SessionChange::new()
            .autocommit(true)
            .isolation_level(Setting::Value(IsolationLevel::RepeatableRead))
            .read_only(Setting::Value(true)),
    )
    .await
    .unwrap();
    assert_eq!(scalar(&mut c, "SHOW default_transaction_isolation").await.unwrap().as_deref(), Some("repeatable read"));
    assert_eq!(scalar(&mut c, "SHOW default_transaction_read_only").await.unwrap().as_deref(), Some("on"));
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Ready);
    // Leaving autocommit resets the session defaults: BEGIN carries them from now on.
    c.set_autocommit(false).await.unwrap();
    assert_eq!(scalar(&mut c, "SHOW default_transaction_isolation").await.unwrap().as_deref(), Some("read committed"));
    assert_eq!(scalar(&mut c, "SHOW transaction_isolation").await.unwrap().as_deref(), Some("repeatable read"));
    c.rollback().await.unwrap();
}

pub async fn set_session_inside_a_transaction_is_misuse<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    c.batch_execute("SELECT 1").await.unwrap();
    let before = (c.engine().isolation_level(), c.engine().read_only(), c.engine().autocommit());
    assert!(is_misuse(c.set_session(SessionChange::new().read_only(Setting::Value(true))).await));
    assert!(is_misuse(
        c.set_session(SessionChange::new().isolation_level(Setting::Value(IsolationLevel::Serializable))).await
    ));
    assert_eq!(before, (c.engine().isolation_level(), c.engine().read_only(), c.engine().autocommit()));
    assert_eq!(c.engine().transaction_status(), TransactionStatus::InTransaction);
    c.rollback().await.unwrap();
}

pub async fn transaction_scopes<R: TestRt>() {
    let t = table::<R>("scope").await;
    let mut observer: Conn<R> = autocommit().await;
    for mode_autocommit in [false, true] {
        let mut c: Conn<R> = connect().await;
        c.set_autocommit(mode_autocommit).await.unwrap();
        observer.batch_execute(&format!("TRUNCATE {t}")).await.unwrap();
        in_scope(&mut c, &format!("INSERT INTO {t} VALUES (1)"), ScopeEnd::Commit).await.unwrap();
        assert_eq!(c.engine().transaction_status(), TransactionStatus::Idle);
        assert_eq!(count(&mut observer, &t).await, "1");
        in_scope(&mut c, &format!("INSERT INTO {t} VALUES (2)"), ScopeEnd::Rollback).await.unwrap();
        assert_eq!(count(&mut observer, &t).await, "1");
        // Dropped without an end: rolled back before the next operation.
        in_scope(&mut c, &format!("INSERT INTO {t} VALUES (3)"), ScopeEnd::Drop).await.unwrap();
        assert_eq!(scalar(&mut c, &format!("SELECT count(*) FROM {t}")).await.unwrap().as_deref(), Some("1"));
        c.rollback().await.unwrap();
        // Savepoints: the inner rollback keeps the outer work.
        in_nested_scope(
            &mut c,
            &format!("INSERT INTO {t} VALUES (10)"),
            &format!("INSERT INTO {t} VALUES (11)"),
            ScopeEnd::Rollback,
            ScopeEnd::Commit,
        )
        .await
        .unwrap();
        assert_eq!(
            scalar(&mut observer, &format!("SELECT string_agg(v::text, ',' ORDER BY v) FROM {t}"))
                .await
                .unwrap()
                .as_deref(),
            Some("1,10")
        );
        in_nested_scope(
            &mut c,
            &format!("INSERT INTO {t} VALUES (20)"),
            &format!("INSERT INTO {t} VALUES (21)"),
            ScopeEnd::Commit,
            ScopeEnd::Rollback,
        )
        .await
        .unwrap();
        in_nested_scope(
            &mut c,
            &format!("INSERT INTO {t} VALUES (30)"),
            &format!("INSERT INTO {t} VALUES (31)"),
            ScopeEnd::Drop,
            ScopeEnd::Commit,
        )
        .await
        .unwrap();
        assert_eq!(
            scalar(&mut observer, &format!("SELECT string_agg(v::text, ',' ORDER BY v) FROM {t}"))
                .await
                .unwrap()
                .as_deref(),
            Some("1,10,30"),
            "autocommit={mode_autocommit}"
        );
        assert_eq!(c.engine().transaction_depth(), 0);
    }
}

pub async fn two_phase_commit_cycle<R: TestRt>() {
    let t = table::<R>("tpc").await;
    let mut c: Conn<R> = connect().await;
    let mut other: Conn<R> = autocommit().await;
    let xid = Xid::new(42, &format!("gtrid-{}", R::NAME), "bqual").unwrap();
    c.tpc_begin(xid.clone()).await.unwrap();
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Begin);
    assert_eq!(c.engine().tpc_xid(), Some(&xid));
    c.batch_execute(&format!("INSERT INTO {t} VALUES (1)")).await.unwrap();
    c.tpc_prepare().await.unwrap();
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Prepared);
    assert_eq!(c.engine().transaction_status(), TransactionStatus::Idle, "PREPARE TRANSACTION ends the block");
    // Nothing may run now but tpc_commit / tpc_rollback.
    assert!(is_misuse(c.batch_execute("SELECT 1").await));
    assert!(is_misuse(c.commit().await));
    assert!(is_misuse(c.rollback().await));
    assert!(is_misuse(c.tpc_prepare().await));
    assert!(is_misuse(c.tpc_begin(Xid::new(1, "x", "y").unwrap()).await));
    assert!(matches!(c.tpc_recover().await, Err(Error::Usage(_))));
    assert!(is_misuse(c.set_autocommit(true).await));
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Prepared);
    // Another session sees the prepared transaction.
    let found = other.tpc_recover().await.unwrap();
    let rec = found.iter().find(|r| r.xid == xid).expect("recovered");
    assert_eq!(rec.database, "postgres");
    assert_eq!(rec.owner, "postgres");
    assert!(!rec.prepared.is_empty());
    assert_eq!(count(&mut other, &t).await, "0");
    c.tpc_commit(None).await.unwrap();
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Ready);
    assert_eq!(c.engine().tpc_xid(), None);
    assert_eq!(count(&mut other, &t).await, "1");
    assert!(other.tpc_recover().await.unwrap().iter().all(|r| r.xid != xid));

    // One-phase: tpc_commit before prepare is a plain COMMIT; tpc_rollback likewise.
    c.tpc_begin(Xid::new(7, "one-phase", R::NAME).unwrap()).await.unwrap();
    c.batch_execute(&format!("INSERT INTO {t} VALUES (2)")).await.unwrap();
    c.tpc_commit(None).await.unwrap();
    c.tpc_begin(Xid::new(7, "one-phase-rb", R::NAME).unwrap()).await.unwrap();
    c.batch_execute(&format!("INSERT INTO {t} VALUES (3)")).await.unwrap();
    c.tpc_rollback(None).await.unwrap();
    assert_eq!(count(&mut other, &t).await, "2");
}

pub async fn two_phase_recovery_from_another_connection<R: TestRt>() {
    let t = table::<R>("tpcrec").await;
    let mut c: Conn<R> = connect().await;
    let xid = Xid::new(9, &format!("recover-{}", R::NAME), "b").unwrap();
    c.tpc_begin(xid.clone()).await.unwrap();
    c.batch_execute(&format!("INSERT INTO {t} VALUES (1)")).await.unwrap();
    c.tpc_prepare().await.unwrap();
    // reset() keeps the prepared transaction on the server.
    c.reset().await.unwrap();
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Ready);
    drop(c);
    let mut other: Conn<R> = connect().await;
    let status_before = other.engine().connection_status();
    let found = other.tpc_recover().await.unwrap();
    assert_eq!(other.engine().connection_status(), status_before, "recover leaves the status alone");
    let rec = found.into_iter().find(|r| r.xid == xid).expect("prepared transaction survives reset");
    assert_eq!(rec.xid.format_id(), Some(9));
    // Finishing by xid is only allowed outside a transaction.
    other.batch_execute("SELECT 1").await.unwrap();
    assert!(is_misuse(other.tpc_commit(Some(&rec.xid)).await));
    other.rollback().await.unwrap();
    other.tpc_rollback(Some(&rec.xid)).await.unwrap();
    assert_eq!(count(&mut other, &t).await, "0");
    other.rollback().await.unwrap(); // the count above opened a transaction (not autocommit)
                                     // Unknown xid: the server's error (42704).
    assert_eq!(other.tpc_commit(Some(&rec.xid)).await.unwrap_err().code(), Some(SqlState::UNDEFINED_OBJECT));
}

pub async fn two_phase_misuse<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    assert!(is_misuse(c.tpc_prepare().await));
    assert!(is_misuse(c.tpc_commit(None).await));
    assert!(is_misuse(c.tpc_rollback(None).await));
    c.batch_execute("SELECT 1").await.unwrap();
    assert!(is_misuse(c.tpc_begin(Xid::new(1, "a", "b").unwrap()).await), "inside a transaction");
    c.rollback().await.unwrap();
    c.set_autocommit(true).await.unwrap();
    assert!(is_misuse(c.tpc_begin(Xid::new(1, "a", "b").unwrap()).await), "in autocommit mode");
    c.set_autocommit(false).await.unwrap();
    c.tpc_begin(Xid::new(1, &format!("misuse-{}", R::NAME), "b").unwrap()).await.unwrap();
    assert!(is_misuse(c.commit().await), "commit during a two-phase transaction");
    assert!(is_misuse(c.rollback().await));
    c.tpc_rollback(None).await.unwrap();
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Ready);
}

pub async fn reset_restores_the_session<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    c.set_autocommit(true).await.unwrap();
    c.batch_execute("CREATE TEMP TABLE scratch (a int); SET statement_timeout = 777; PREPARE p AS SELECT 1")
        .await
        .unwrap();
    c.set_session(SessionChange::new().read_only(Setting::Value(true)).autocommit(false)).await.unwrap();
    c.batch_execute("SELECT 1").await.unwrap();
    assert_eq!(c.engine().transaction_status(), TransactionStatus::InTransaction);
    c.reset().await.unwrap();
    assert_eq!(c.engine().connection_status(), ConnectionStatus::Ready);
    assert!(!c.engine().autocommit());
    assert_eq!(c.engine().read_only(), None);
    c.set_autocommit(true).await.unwrap();
    assert_eq!(scalar(&mut c, "SHOW statement_timeout").await.unwrap().as_deref(), Some("0"));
    assert_eq!(c.batch_execute("SELECT * FROM scratch").await.unwrap_err().code(), Some(SqlState::UNDEFINED_TABLE));
    assert_eq!(c.batch_execute("EXECUTE p").await.unwrap_err().code(), Some(SqlState::INVALID_SQL_STATEMENT_NAME));
    assert_eq!(scalar(&mut c, "SHOW default_transaction_read_only").await.unwrap().as_deref(), Some("off"));
}

pub async fn cancel_a_running_query<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let canceller = cancel_after(&c, Duration::from_millis(300));
    let started = Instant::now();
    let err = c.batch_execute("SELECT pg_sleep(10)").await.unwrap_err();
    let took = started.elapsed();
    canceller.join().unwrap().unwrap();
    assert_eq!(err.code(), Some(SqlState::QUERY_CANCELED), "{err}");
    assert_eq!(err.class(), Some(ErrorClass::QueryCanceled));
    assert!(took < Duration::from_secs(2), "cancel took {took:?}");
    // The connection is usable: roll back the failed transaction and go on.
    c.rollback().await.unwrap();
    assert_eq!(scalar(&mut c, "SELECT 'alive'").await.unwrap().as_deref(), Some("alive"));
    // Cancelling while idle is harmless.
    cancel_after(&c, Duration::ZERO).join().unwrap().unwrap();
    assert_eq!(scalar(&mut c, "SELECT 1").await.unwrap().as_deref(), Some("1"));
}

pub async fn notifications_while_idle<R: TestRt>() {
    let mut listener: Conn<R> = autocommit().await;
    let channel = format!("idle_{}", R::NAME.replace('-', "_"));
    listener.batch_execute(&format!("LISTEN {channel}")).await.unwrap();
    // Nothing comes: an empty answer after the timeout, and the connection is fine.
    let t = Instant::now();
    assert!(listener.wait_for_notifications(Some(Duration::from_millis(200))).await.unwrap().is_empty());
    assert!(t.elapsed() >= Duration::from_millis(190));
    assert_eq!(scalar(&mut listener, "SELECT 2").await.unwrap().as_deref(), Some("2"));
    // A notification sent while the listener is idle wakes it.
    let conninfo = TestServer::shared().conninfo(AuthMethod::Trust);
    let ch = channel.clone();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        let mut s = pgsans_std::Connection::connect(&conninfo).unwrap();
        s.set_autocommit(true).unwrap();
        s.batch_execute(&format!("NOTIFY {ch}, 'wake up'")).unwrap();
    });
    let got = listener.wait_for_notifications(Some(Duration::from_secs(10))).await.unwrap();
    sender.join().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].channel, channel);
    assert_eq!(got[0].payload, "wake up");
}

pub async fn notices_limit_and_order<R: TestRt>() {
    let mut c: Conn<R> = autocommit().await;
    c.batch_execute("DO $$ BEGIN FOR i IN 1..60 LOOP RAISE NOTICE 'n%', i; END LOOP; END $$").await.unwrap();
    let notices: Vec<String> = c.engine().notices().map(|n| n.message().to_owned()).collect();
    assert_eq!(notices.len(), 50);
    assert_eq!(notices.first().map(String::as_str), Some("n11"));
    assert_eq!(notices.last().map(String::as_str), Some("n60"));
}

pub async fn every_error_field<R: TestRt>() {
    let mut c: Conn<R> = autocommit().await;
    let schema = format!("diag_{}", R::NAME.replace('-', "_"));
    c.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
         CREATE TABLE {schema}.items (id int PRIMARY KEY, qty int NOT NULL CONSTRAINT qty_positive CHECK (qty > 0));
         CREATE DOMAIN {schema}.posint AS int CONSTRAINT posint_check CHECK (VALUE > 0);
         INSERT INTO {schema}.items VALUES (1, 1)"
    ))
    .await
    .unwrap();
    // NOT NULL: schema, table, column.
    let e = c.batch_execute(&format!("INSERT INTO {schema}.items VALUES (2, NULL)")).await.unwrap_err();
    let d = e.as_db_error().unwrap();
    assert_eq!(
        (d.code(), d.schema(), d.table(), d.column()),
        (SqlState::NOT_NULL_VIOLATION, Some(schema.as_str()), Some("items"), Some("qty"))
    );
    assert_eq!(d.class(), ErrorClass::Integrity);
    assert!(d.detail().unwrap().contains("Failing row contains"));
    assert!(d.file().is_some() && d.line().is_some() && d.routine().is_some());
    assert_eq!(d.severity(), "ERROR");
    assert_eq!(d.severity_nonlocalized(), Some("ERROR"));
    // CHECK: constraint name.
    let e = c.batch_execute(&format!("INSERT INTO {schema}.items VALUES (3, -1)")).await.unwrap_err();
    assert_eq!(e.as_db_error().unwrap().constraint(), Some("qty_positive"));
    // UNIQUE: detail.
    let e = c.batch_execute(&format!("INSERT INTO {schema}.items VALUES (1, 5)")).await.unwrap_err();
    let d = e.as_db_error().unwrap();
    assert_eq!((d.code(), d.constraint()), (SqlState::UNIQUE_VIOLATION, Some("items_pkey")));
    assert_eq!(d.detail(), Some("Key (id)=(1) already exists."));
    // Domain: data type name.
    let e = c.batch_execute(&format!("SELECT (-5)::{schema}.posint")).await.unwrap_err();
    let d = e.as_db_error().unwrap();
    assert_eq!(
        (d.code(), d.datatype(), d.schema()),
        (SqlState::CHECK_VIOLATION, Some("posint"), Some(schema.as_str()))
    );
    // Syntax error: position.
    let e = c.batch_execute("SELECT 1 2").await.unwrap_err();
    assert_eq!((e.code(), e.as_db_error().unwrap().position()), (Some(SqlState::SYNTAX_ERROR), Some(10)));
    assert_eq!(e.class(), Some(ErrorClass::Programming));
    // PL/pgSQL: hint, context, internal query and position.
    let e = c
        .batch_execute("DO $$ BEGIN RAISE EXCEPTION 'boom' USING HINT = 'try again', DETAIL = 'd'; END $$")
        .await
        .unwrap_err();
    let d = e.as_db_error().unwrap();
    assert_eq!(
        (d.code(), d.message(), d.hint(), d.detail()),
        (SqlState::RAISE_EXCEPTION, "boom", Some("try again"), Some("d"))
    );
    assert!(d.where_().unwrap().contains("PL/pgSQL"));
    let e = c.batch_execute("DO $$ BEGIN EXECUTE 'SELECT 1 2'; END $$").await.unwrap_err();
    let d = e.as_db_error().unwrap();
    assert_eq!(d.internal_query(), Some("SELECT 1 2"));
    assert_eq!(d.internal_position(), Some(10));
    // Data and serialization classes.
    assert_eq!(c.batch_execute("SELECT 'x'::int").await.unwrap_err().class(), Some(ErrorClass::Data));
    assert_eq!(
        c.batch_execute("DO $$ BEGIN RAISE SQLSTATE '40001'; END $$").await.unwrap_err().class(),
        Some(ErrorClass::TransactionRollback)
    );
    c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}

pub async fn connection_information<R: TestRt>() {
    let server = TestServer::shared();
    let conninfo = server.conninfo(AuthMethod::Scram);
    let mut c = Conn::<R>::connect(&conninfo).await.unwrap();
    let dsn = c.engine().dsn();
    assert!(dsn.contains("password=xxx") && !dsn.contains("scrampass"), "{dsn}");
    let params = c.engine().dsn_parameters();
    assert!(params.iter().all(|(k, _)| *k != "password"));
    assert!(params.contains(&("user".to_owned(), "scram_user".to_owned())));
    assert_eq!(c.engine().protocol_version(), (3, 0));
    assert_eq!(c.engine().client_encoding(), Some("UTF8"));
    let v = c.engine().server_version();
    assert_eq!(
        v / 10000,
        c.engine().parameter_status("server_version").unwrap().split('.').next().unwrap().parse::<i32>().unwrap()
    );
    c.set_client_encoding("latin1").await.unwrap();
    assert_eq!(c.engine().client_encoding(), Some("LATIN1"));
    c.set_client_encoding("UTF8").await.unwrap();
    assert_eq!(c.engine().client_encoding(), Some("UTF8"));
    assert!(matches!(c.set_client_encoding("'; DROP").await, Err(Error::Db(_)) | Err(Error::Usage(_))));
    c.rollback().await.unwrap();
    assert_eq!(scalar(&mut c, "SELECT 1").await.unwrap().as_deref(), Some("1"));
}

pub async fn call_timeout_cancels_on_the_server<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    c.set_autocommit(true).await.unwrap();
    c.set_call_timeout(Some(Duration::from_millis(300)));
    let started = Instant::now();
    let err = c.query("SELECT pg_sleep(5)", &[]).await.unwrap_err();
    assert!(matches!(err, Error::Timeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    // The server stopped the query: the next call is answered at once, with its own result.
    let started = Instant::now();
    assert_eq!(scalar(&mut c, "SELECT 'next'").await.unwrap().as_deref(), Some("next"));
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    // Within the limit, nothing changes; a finished call is never reported as a timeout.
    assert_eq!(c.execute("SELECT pg_sleep(0.05)", &[]).await.unwrap(), 1);
    // In a transaction block the cancelled statement aborts the transaction.
    c.set_autocommit(false).await.unwrap();
    assert!(matches!(c.batch_execute("SELECT pg_sleep(5)").await, Err(Error::Timeout)));
    assert_eq!(c.transaction_status(), TransactionStatus::InError);
    c.rollback().await.unwrap();
    c.set_call_timeout(None);
    assert_eq!(scalar(&mut c, "SELECT 'no limit'").await.unwrap().as_deref(), Some("no limit"));
    c.rollback().await.unwrap();
}

pub async fn streams_of_rows_and_notifications<R: TestRt>() {
    use futures_lite::StreamExt;
    let mut c: Conn<R> = autocommit().await;
    // Rows as a Stream: StreamExt works.
    let rows: Vec<_> = c
        .query_raw("SELECT i::int4 FROM generate_series(1, 1000) i", &[])
        .await
        .unwrap()
        .into_stream()
        .map(|r| r.unwrap().get::<i32, _>(0).unwrap())
        .filter(|i| i % 100 == 0)
        .collect()
        .await;
    assert_eq!(rows, (1..=10).map(|i| i * 100).collect::<Vec<i32>>());
    let failed: Vec<_> = c
        .query_raw("SELECT 1 / (2 - i) FROM generate_series(1, 3) i", &[])
        .await
        .unwrap()
        .into_stream()
        .collect()
        .await;
    assert_eq!(failed.len(), 2, "one row, then the error ends the stream");
    assert_eq!(failed[1].as_ref().unwrap_err().code(), Some(SqlState::DIVISION_BY_ZERO));
    // Notifications as a Stream.
    let channel = format!("stream_{}", R::NAME.replace('-', "_"));
    c.batch_execute(&format!("LISTEN {channel}")).await.unwrap();
    let mut sender: Conn<R> = autocommit().await;
    sender.batch_execute(&format!("NOTIFY {channel}, 'one'; NOTIFY {channel}, 'two'")).await.unwrap();
    sender.batch_execute(&format!("NOTIFY {channel}, 'three'")).await.unwrap();
    let got: Vec<String> = c.notifications().take(3).map(|n| n.unwrap().payload).collect().await;
    assert_eq!(got, ["one", "two", "three"]);
    // A handler sees notifications as they arrive during any operation.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    c.set_notification_handler(Some(Box::new(move |n| s.lock().unwrap().push(n.payload.clone()))));
    let conninfo = TestServer::shared().conninfo(AuthMethod::Trust);
    let ch = channel.clone();
    let notifier = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        let mut s = pgsans_std::Connection::connect(&conninfo).unwrap();
        s.set_autocommit(true).unwrap();
        s.batch_execute(&format!("NOTIFY {ch}, 'during'")).unwrap();
    });
    // Notifications are delivered between statements: the sleep is followed by another.
    c.batch_execute("SELECT pg_sleep(0.5)").await.unwrap();
    notifier.join().unwrap();
    c.batch_execute("SELECT 1").await.unwrap();
    assert_eq!(*seen.lock().unwrap(), ["during"]);
    assert!(c.take_notifications().is_empty(), "the handler took it");
}
