//! What a new user ran into, and what psycopg's own tests expect: COPY through a query method,
//! close on a broken connection, cancel after `tpc_prepare`, two-phase commit on a server
//! without it, `set_isolation_level` inside a transaction, a peer that is not PostgreSQL, and
//! autocommit chosen at connect.

use pgsans::SqlState;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use pgsans::{
    Config, ConnectionStatus, Error, ErrorClass, IsolationLevel, ProtocolError, TransactionStatus, UsageError, Xid,
};
use pgsans_tests::*;

async fn connect<R: TestRt>() -> Conn<R> {
    Conn::<R>::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap()
}

fn is_copy_refusal(r: &Result<impl std::fmt::Debug, Error>, direction: &str) -> bool {
    match r {
        Err(e @ Error::Usage(UsageError::CopyNotSupported(d))) => {
            *d == direction && e.class() == Some(ErrorClass::NotSupported) && !e.is_fatal()
        }
        _ => false,
    }
}

pub async fn copy_through_a_query_method_is_refused_and_nothing_hangs<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let t = format!("copy_refused_{}", R::NAME.replace('-', "_"));
    c.set_autocommit(true).await.unwrap();
    c.batch_execute(&format!("DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (v int)")).await.unwrap();
    c.set_autocommit(false).await.unwrap();
    c.execute(format!("INSERT INTO {t} VALUES (1)").as_str(), &[]).await.unwrap();
    // Extended-protocol methods refuse it before sending anything: the transaction goes on.
    let from = format!("COPY {t} FROM STDIN");
    let r = c.execute(from.as_str(), &[]).await;
    assert!(is_copy_refusal(&r, "FROM STDIN"), "{r:?}");
    let r = c.query("COPY (SELECT generate_series(1, 3)) TO STDOUT", &[]).await;
    assert!(is_copy_refusal(&r, "TO STDOUT"), "{r:?}");
    let r = c.prepare(&from).await;
    assert!(is_copy_refusal(&r, "FROM STDIN"), "{r:?}");
    let r = c.portal(" copy (select 1) to stdout", &[], 10).await.map(drop);
    assert!(is_copy_refusal(&r, "TO STDOUT"), "{r:?}");
    let mut p = pgsans::Pipeline::new();
    p.query("SELECT 1", &[]).sync().query(format!("COPY {t} TO STDOUT").as_str(), &[]);
    let r = c.pipeline(p).await;
    assert!(is_copy_refusal(&r, "TO STDOUT"), "{r:?}");
    assert_eq!(c.transaction_status(), TransactionStatus::InTransaction);
    // A COPY to a server-side file is not copy data through the client: it runs (and fails
    // here only for want of privileges on the server's file system, as the server says).
    let r = c.execute(format!("COPY {t} TO '/nonexistent-dir/stdout'").as_str(), &[]).await;
    assert!(matches!(&r, Err(Error::Db(_))), "{r:?}");
    c.rollback().await.unwrap();

    // The simple protocol finds it in the server's answer: the server's copy is ended, the
    // data not silently dropped, and the connection answers next.
    c.set_autocommit(true).await.unwrap();
    let r = c.simple_query("copy (select 1) to stdout").await;
    assert!(is_copy_refusal(&r, "TO STDOUT"), "{r:?}");
    assert_eq!(scalar(&mut c, "SELECT 'after copy out'").await.unwrap().as_deref(), Some("after copy out"));
    let r =
        c.batch_execute(&format!("INSERT INTO {t} VALUES (1); COPY {t} FROM STDIN; INSERT INTO {t} VALUES (2)")).await;
    assert!(is_copy_refusal(&r, "FROM STDIN"), "{r:?}");
    // The refused COPY FROM failed on the server, which ended that implicit transaction.
    assert_eq!(scalar(&mut c, &format!("SELECT count(*) FROM {t}")).await.unwrap().as_deref(), Some("0"));
    // Inside a transaction (the default mode) the server's failed COPY aborts it, as in psycopg2.
    c.set_autocommit(false).await.unwrap();
    c.batch_execute(&format!("INSERT INTO {t} VALUES (5)")).await.unwrap();
    let r = c.simple_query(&from).await;
    assert!(is_copy_refusal(&r, "FROM STDIN"), "{r:?}");
    assert_eq!(c.transaction_status(), TransactionStatus::InError);
    c.rollback().await.unwrap();
    assert_eq!(scalar(&mut c, &format!("SELECT count(*) FROM {t}")).await.unwrap().as_deref(), Some("0"));
    c.rollback().await.unwrap();
}

pub async fn close_after_the_server_broke_the_connection<R: TestRt>() {
    let mut victim: Conn<R> = connect().await;
    let mut admin: Conn<R> = connect().await;
    let pid = victim.backend_pid();
    scalar(&mut admin, &format!("SELECT pg_terminate_backend({pid})")).await.unwrap();
    victim.simple_query("SELECT 1").await.unwrap_err();
    assert_eq!(victim.closed(), 2, "psycopg2: broken");
    victim.close().await.unwrap();
    assert_eq!(victim.closed(), 1, "psycopg2: close() on a broken connection makes closed 1");
    assert!(matches!(victim.simple_query("SELECT 1").await, Err(Error::Closed(_))));
}

pub async fn cancel_after_tpc_prepare_is_misuse<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let xid = Xid::new(3, &format!("cancel-prepared-{}", R::NAME), "b").unwrap();
    c.tpc_begin(xid).await.unwrap();
    c.batch_execute("SELECT 1").await.unwrap();
    assert!(c.cancel_token().is_ok(), "cancel is allowed in a two-phase transaction before prepare");
    c.tpc_prepare().await.unwrap();
    assert_eq!(c.status(), ConnectionStatus::Prepared);
    let err = c.cancel_token().map(drop).expect_err("refused while PREPARED");
    assert!(matches!(err, Error::Usage(UsageError::InvalidState(_))), "{err:?}");
    c.tpc_rollback(None).await.unwrap();
    cancel_after(&c, Duration::ZERO).join().unwrap().unwrap();
    assert_eq!(scalar(&mut c, "SELECT 'ready'").await.unwrap().as_deref(), Some("ready"));
}

pub async fn tpc_prepare_without_server_support_is_not_supported<R: TestRt>() {
    let server = second_server();
    let mut c = Conn::<R>::connect(&server.conninfo(AuthMethod::Trust)).await.unwrap();
    c.tpc_begin(Xid::new(1, &format!("no-2pc-{}", R::NAME), "b").unwrap()).await.unwrap();
    c.batch_execute("SELECT 1").await.unwrap();
    let err = c.tpc_prepare().await.unwrap_err();
    assert_eq!(err.code(), Some(SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE), "{err}");
    assert_eq!(err.class(), Some(ErrorClass::NotSupported), "psycopg 3 raises NotSupportedError");
    // The failed PREPARE TRANSACTION ended the transaction on the server; the two-phase
    // transaction is finished with tpc_rollback, and the connection goes on.
    assert_eq!(c.transaction_status(), TransactionStatus::Idle);
    c.tpc_rollback(None).await.unwrap();
    assert_eq!(c.status(), ConnectionStatus::Ready);
    assert_eq!(scalar(&mut c, "SELECT 'usable'").await.unwrap().as_deref(), Some("usable"));
}

pub async fn set_isolation_level_inside_a_transaction_rolls_it_back<R: TestRt>() {
    let t = format!("isolation_rb_{}", R::NAME.replace('-', "_"));
    let mut observer: Conn<R> = connect().await;
    observer.set_autocommit(true).await.unwrap();
    observer.batch_execute(&format!("DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (v int)")).await.unwrap();
    let mut c: Conn<R> = connect().await;
    c.batch_execute(&format!("INSERT INTO {t} VALUES (1)")).await.unwrap();
    assert_eq!(c.status(), ConnectionStatus::Begin);
    c.set_isolation_level(Some(IsolationLevel::Serializable)).await.unwrap();
    // psycopg2: the transaction is rolled back and the level applies from the next one.
    assert_eq!(c.status(), ConnectionStatus::Ready);
    assert_eq!(c.transaction_status(), TransactionStatus::Idle);
    assert_eq!(scalar(&mut observer, &format!("SELECT count(*) FROM {t}")).await.unwrap().as_deref(), Some("0"));
    assert_eq!(scalar(&mut c, "SHOW transaction_isolation").await.unwrap().as_deref(), Some("serializable"));
    c.rollback().await.unwrap();
    // Inside a scope it stays refused (the scope owns the transaction).
    let mut scope = c.transaction().await.unwrap();
    let r = scope.set_isolation_level(None).await;
    assert!(matches!(r, Err(Error::Usage(UsageError::InvalidState(_)))), "{r:?}");
    scope.rollback().await.unwrap();
}

/// A peer that answers like an HTTP server.
fn http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(2) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    port
}

pub async fn a_peer_that_is_not_postgres_is_named_as_such<R: TestRt>() {
    let port = http_server();
    // With TLS off (the startup packet first) and with the default sslmode.
    for extra in ["sslmode=disable", ""] {
        let err = Conn::<R>::connect(&format!("host=127.0.0.1 port={port} user=x {extra}")).await.err().unwrap();
        assert!(
            matches!(&err, Error::Protocol(ProtocolError::NotPostgres(seen)) if seen.starts_with("HTTP/")),
            "{err:?}"
        );
        assert!(err.to_string().contains("does not speak the PostgreSQL protocol"), "{err}");
    }
}

pub async fn autocommit_chosen_at_connect<R: TestRt>() {
    let conninfo = TestServer::shared().conninfo(AuthMethod::Trust);
    // The default follows psycopg2: a transaction is opened by the first statement.
    let mut c = Conn::<R>::connect(&conninfo).await.unwrap();
    assert!(!c.autocommit());
    c.batch_execute("SELECT 1").await.unwrap();
    assert_eq!(c.transaction_status(), TransactionStatus::InTransaction);
    // psycopg 3's connect(autocommit=True).
    let mut config = Config::parse(&conninfo).unwrap();
    config.autocommit(true);
    let mut c = Conn::<R>::connect_with(&config).await.unwrap();
    assert!(c.autocommit());
    c.batch_execute("SELECT 1").await.unwrap();
    assert_eq!(c.transaction_status(), TransactionStatus::Idle);
    assert_eq!(c.status(), ConnectionStatus::Ready);
    // reset() returns to what was chosen at connect.
    c.set_autocommit(false).await.unwrap();
    c.reset().await.unwrap();
    assert!(c.autocommit(), "reset keeps the autocommit chosen at connect");
}
