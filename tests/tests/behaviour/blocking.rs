//! The blocking `pgsans-std` client's own methods: each is a one-line call into the client
//! written once, so this checks that each is wired to the right one, and the one place the
//! blocking client differs (a dropped transaction scope rolls back before the drop returns).

use pgsans::SqlState;
use std::time::Duration;

use pgsans::{ConnectionStatus, Error, IsolationLevel, Pipeline, SessionChange, Setting, TransactionStatus, Xid};
use pgsans_std::Connection;
use pgsans_tests::{AuthMethod, TestServer};

fn connect() -> Connection {
    Connection::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).unwrap()
}

fn count(c: &mut Connection, table: &str) -> i64 {
    c.query_one(format!("SELECT count(*) FROM {table}").as_str(), &[]).unwrap().get(0).unwrap()
}

#[test]
fn a_dropped_scope_rolls_back_before_the_drop_returns() {
    let mut observer = connect();
    observer.set_autocommit(true).unwrap();
    observer.batch_execute("DROP TABLE IF EXISTS blocking_scope; CREATE TABLE blocking_scope (v int)").unwrap();
    let mut c = connect();
    let early_return = |c: &mut Connection| -> Result<(), Error> {
        let mut tx = c.transaction()?;
        tx.execute("INSERT INTO blocking_scope VALUES (1)", &[])?;
        assert_eq!(tx.status(), ConnectionStatus::Begin);
        tx.execute("SELECT 1 / 0", &[])?; // the `?` drops the scope
        tx.commit()
    };
    assert_eq!(early_return(&mut c).unwrap_err().code(), Some(SqlState::DIVISION_BY_ZERO));
    // psycopg2's `with conn:`: READY and idle at once, not at the next call.
    assert_eq!(c.status(), ConnectionStatus::Ready);
    assert_eq!(c.transaction_status(), TransactionStatus::Idle);
    assert_eq!(count(&mut observer, "blocking_scope"), 0);
    // A committed scope, then a nested one dropped inside it (a savepoint rolled back).
    let mut tx = c.transaction().unwrap();
    tx.execute("INSERT INTO blocking_scope VALUES (2)", &[]).unwrap();
    {
        let mut inner = tx.transaction().unwrap();
        inner.execute("INSERT INTO blocking_scope VALUES (3)", &[]).unwrap();
    }
    assert_eq!(tx.transaction_status(), TransactionStatus::InTransaction);
    tx.commit().unwrap();
    assert_eq!(c.transaction_status(), TransactionStatus::Idle);
    assert_eq!(count(&mut observer, "blocking_scope"), 1);
}

#[test]
fn every_blocking_method_reaches_the_server() {
    let conninfo = TestServer::shared().conninfo(AuthMethod::Trust);
    let mut c = Connection::connect_with(&pgsans::Config::parse(&conninfo).unwrap()).unwrap();
    assert_eq!(c.closed(), 0);
    assert!(c.server_version() >= 150000);
    assert!(c.backend_pid() > 0);
    assert_eq!(c.parameter_status("client_encoding"), Some("UTF8"));
    assert!(c.dsn().contains("user=postgres"));
    assert!(!c.autocommit());
    c.set_autocommit(true).unwrap();
    c.batch_execute("DROP TABLE IF EXISTS blocking_all; CREATE TABLE blocking_all (v int)").unwrap();
    assert_eq!(c.simple_query("SELECT 1; SELECT 2").unwrap().len(), 2);
    assert_eq!(c.simple_query_batch("SELECT 1; SELECT 1/0").unwrap().error.unwrap().code(), SqlState::DIVISION_BY_ZERO);
    let stmt = c.prepare("INSERT INTO blocking_all VALUES ($1)").unwrap();
    assert_eq!(c.execute(&stmt, &[&1i32]).unwrap(), 1);
    let typed = c.prepare_typed("SELECT $1", &[pgsans::types::oid::INT8]).unwrap();
    assert_eq!(c.query_one(&typed, &[&7i64]).unwrap().get::<i64, _>(0).unwrap(), 7);
    assert_eq!(c.query("SELECT generate_series(1, 3)", &[]).unwrap().len(), 3);
    assert_eq!(c.query_result("SELECT 1", &[]).unwrap().tag.as_deref(), Some("SELECT 1"));
    assert!(c.query_opt("SELECT 1 WHERE false", &[]).unwrap().is_none());
    let mut stream = c.query_raw("SELECT generate_series(1, 4)::int4", &[]).unwrap();
    let mut sum = 0;
    while let Some(row) = stream.next().unwrap() {
        sum += row.get::<i32, _>(0).unwrap();
    }
    assert_eq!((sum, stream.rows_affected()), (10, Some(4)));
    drop(stream);
    let mut p = Pipeline::new();
    p.query("SELECT 1", &[]).query("SELECT 2", &[]);
    assert_eq!(c.pipeline(p).unwrap().len(), 2);
    c.set_autocommit(false).unwrap();
    let mut portal = c.portal("SELECT generate_series(1, 5)", &[], 2).unwrap();
    assert_eq!(portal.fetch().unwrap().len(), 2);
    assert!(!portal.is_exhausted());
    portal.close().unwrap();
    c.commit().unwrap();
    c.batch_execute("INSERT INTO blocking_all VALUES (2)").unwrap();
    c.rollback().unwrap();
    c.set_isolation_level(Some(IsolationLevel::RepeatableRead)).unwrap();
    c.set_read_only(Some(true)).unwrap();
    c.set_deferrable(Some(false)).unwrap();
    assert_eq!(c.query_one("SHOW transaction_read_only", &[]).unwrap().get::<&str, _>(0).unwrap(), "on");
    c.rollback().unwrap();
    c.set_session(SessionChange::new().read_only(Setting::Default).isolation_level(Setting::Default)).unwrap();
    let xid = Xid::new(5, "blocking-all", "b").unwrap();
    c.tpc_begin(xid.clone()).unwrap();
    c.batch_execute("INSERT INTO blocking_all VALUES (3)").unwrap();
    c.tpc_prepare().unwrap();
    assert_eq!(c.status(), ConnectionStatus::Prepared);
    c.tpc_rollback(None).unwrap();
    assert!(c.tpc_recover().unwrap().iter().all(|r| r.xid != xid));
    c.rollback().unwrap();
    c.set_client_encoding("LATIN1").unwrap();
    assert_eq!(c.parameter_status("client_encoding"), Some("LATIN1"));
    c.reset().unwrap();
    c.set_prepare_threshold(Some(1));
    c.set_statement_cache_capacity(10);
    c.set_spin_wait(Duration::ZERO);
    c.set_notice_limit(5);
    c.set_notice_handler(None);
    c.set_wait_callback(None);
    c.set_autocommit(true).unwrap();
    c.take_notices();
    c.batch_execute("DO $$ BEGIN RAISE NOTICE 'hello'; END $$; LISTEN blocking_all; NOTIFY blocking_all, 'x'").unwrap();
    let notices = c.take_notices();
    assert!(notices.len() == 1 && notices[0].message().contains("hello"), "{notices:?}");
    let mut got = c.take_notifications();
    if got.is_empty() {
        got = c.wait_for_notifications(Some(Duration::from_secs(5))).unwrap();
    }
    assert_eq!(got[0].payload, "x");
    c.cancel_token().unwrap().cancel().unwrap();
    assert_eq!(c.engine().transaction_status(), TransactionStatus::Idle);
    assert_eq!(c.as_async().engine().backend_pid(), c.backend_pid());
    c.close().unwrap();
    assert_eq!(c.closed(), 1);
}

#[test]
fn copy_with_io_read_and_write() {
    use std::io::{BufRead, Write};
    let mut c = connect();
    c.set_autocommit(true).unwrap();
    c.batch_execute("DROP TABLE IF EXISTS blocking_copy; CREATE TABLE blocking_copy (a int, b text)").unwrap();
    let csv: String = (0..20_000).map(|i| format!("{i},\"name, {i}\"\n")).collect();
    let mut writer = c.copy_in("COPY blocking_copy FROM STDIN (FORMAT csv)").unwrap();
    assert_eq!(std::io::copy(&mut csv.as_bytes(), &mut writer).unwrap(), csv.len() as u64);
    writer.flush().unwrap();
    assert_eq!(writer.finish().unwrap(), 20_000);
    let mut reader = c.copy_out("COPY (SELECT * FROM blocking_copy ORDER BY a) TO STDOUT (FORMAT csv)").unwrap();
    let mut back = Vec::new();
    std::io::copy(&mut reader, &mut back).unwrap();
    assert_eq!(reader.rows(), Some(20_000));
    drop(reader);
    assert_eq!(String::from_utf8(back).unwrap(), csv);
    let reader = c.copy_out("COPY (SELECT a FROM blocking_copy WHERE a < 3 ORDER BY a) TO STDOUT").unwrap();
    assert_eq!(reader.lines().collect::<Result<Vec<_>, _>>().unwrap(), ["0", "1", "2"]);
    // A server error reaches the writer as an io::Error carrying the pgsans error.
    let mut writer = c.copy_in("COPY blocking_copy FROM STDIN (FORMAT csv)").unwrap();
    // (The error comes back while we write; how many writes that takes depends on timing.)
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let err = std::iter::from_fn(|| (std::time::Instant::now() < until).then_some(()))
        .find_map(|_| writer.write_all(b"not a number,x\n").err().or_else(|| writer.flush().err()))
        .expect("the server's error");
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<pgsans::Error>()).expect("a pgsans error");
    assert_eq!(inner.code(), Some(SqlState::INVALID_TEXT_REPRESENTATION));
    drop(writer);
    assert_eq!(c.query_one("SELECT count(*) FROM blocking_copy", &[]).unwrap().get::<i64, _>(0).unwrap(), 20_000);
}

#[test]
fn notifications_as_an_iterator_with_a_timeout() {
    let mut c = connect();
    c.set_autocommit(true).unwrap();
    c.batch_execute("LISTEN blocking_iter").unwrap();
    let mut sender = connect();
    sender.set_autocommit(true).unwrap();
    sender.batch_execute("NOTIFY blocking_iter, 'a'; NOTIFY blocking_iter, 'b'").unwrap();
    sender.batch_execute("NOTIFY blocking_iter, 'c'").unwrap();
    let started = std::time::Instant::now();
    let got: Vec<String> = c.notifications(Some(Duration::from_millis(300))).map(|n| n.unwrap().payload).collect();
    assert_eq!(got, ["a", "b", "c"]);
    assert!(started.elapsed() >= Duration::from_millis(290), "ended by the timeout");
    assert_eq!(c.query_one("SELECT 1", &[]).unwrap().get::<i32, _>(0).unwrap(), 1);
}

#[test]
fn blocking_large_objects_are_read_write_seek_and_cursors_iterate() {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut c = connect();
    let mut lo = c.lobject(0, "rw", 0, None).unwrap();
    lo.write_all(b"0123456789").unwrap();
    assert_eq!(lo.seek(SeekFrom::Start(3)).unwrap(), 3);
    let mut four = [0u8; 4];
    lo.read_exact(&mut four).unwrap();
    assert_eq!(&four, b"3456");
    assert_eq!(lo.seek(SeekFrom::End(-1)).unwrap(), 9);
    let mut rest = Vec::new();
    lo.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"9");
    lo.unlink().unwrap();
    c.rollback().unwrap();
    let opts = pgsans_client::CursorOptions { itersize: 4, ..Default::default() };
    let mut cur = c.declare_cursor("blocking", "SELECT g FROM generate_series(1, 10) g", &[], opts).unwrap();
    let mut seen = Vec::new();
    while let Some(row) = cur.next().unwrap() {
        seen.push(row.get::<i32, _>(0).unwrap());
        assert!(cur.buffered() < 4);
    }
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());
    cur.close().unwrap();
}
