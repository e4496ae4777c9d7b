//! Startup, authentication, simple query, status, notices, notifications, close.

use pgsans::SqlState;
use pgsans::{Error, TransactionStatus};
use pgsans_tests::*;

fn server() -> &'static TestServer {
    TestServer::shared()
}

/// A superuser connection in autocommit mode (these tests manage transactions by hand).
async fn trust<R: TestRt>() -> Conn<R> {
    let mut c: Conn<R> = Conn::<R>::connect(&server().conninfo(AuthMethod::Trust))
        .await
        .unwrap_or_else(|e| panic!("{}: connect: {e}", R::NAME));
    c.set_autocommit(true).await.unwrap();
    c
}

pub async fn every_auth_method_over_tcp<R: TestRt>() {
    for method in AuthMethod::ALL {
        let mut c = Conn::<R>::connect(&server().conninfo(method)).await.unwrap_or_else(|e| panic!("{method:?}: {e}"));
        assert_eq!(scalar(&mut c, "SELECT current_user").await.unwrap().as_deref(), Some(method.user()));
        // (That each method really was the one used is shown by wrong_password_is_a_typed_error:
        // pg_hba answers each of these users with its own method.)
        let pid = scalar(&mut c, "SELECT pg_backend_pid()").await.unwrap().unwrap();
        assert_eq!(c.engine().backend_pid().to_string(), pid, "BackendKeyData matches the server");
        c.close().await.unwrap();
    }
}

pub async fn every_auth_method_over_unix_socket<R: TestRt>() {
    for method in AuthMethod::ALL {
        let mut c =
            Conn::<R>::connect(&server().unix_conninfo(method)).await.unwrap_or_else(|e| panic!("{method:?}: {e}"));
        assert_eq!(scalar(&mut c, "SELECT current_user").await.unwrap().as_deref(), Some(method.user()));
        // A Unix-socket backend has no client address.
        assert_eq!(scalar(&mut c, "SELECT inet_client_addr()").await.unwrap(), None);
        c.close().await.unwrap();
    }
}

pub async fn url_connection_string<R: TestRt>() {
    for method in AuthMethod::ALL {
        let mut c = Conn::<R>::connect(&server().url(method)).await.unwrap_or_else(|e| panic!("{method:?}: {e}"));
        assert_eq!(scalar(&mut c, "SELECT current_user").await.unwrap().as_deref(), Some(method.user()));
        assert_eq!(scalar(&mut c, "SELECT inet_client_addr()::text").await.unwrap().as_deref(), Some("127.0.0.1/32"));
        if let Some(pw) = method.password() {
            let dsn = c.engine().dsn();
            assert!(!dsn.contains(pw) && dsn.contains("password=xxx"), "{dsn}");
        }
    }
}

pub async fn wrong_password_is_a_typed_error<R: TestRt>() {
    for method in [AuthMethod::Password, AuthMethod::Md5, AuthMethod::Scram] {
        let conninfo = server().conninfo(method).replace(method.password().unwrap(), "wrong");
        let err =
            Conn::<R>::connect(&conninfo).await.err().unwrap_or_else(|| panic!("{method:?}: wrong password accepted"));
        assert_eq!(err.code(), Some(SqlState::INVALID_PASSWORD), "{method:?}: {err}");
        assert!(err.as_db_error().unwrap().message().contains(method.user()), "{err}");
        // Missing password entirely: refused on the client side, before a password is sent.
        let conninfo = server().conninfo(method).replace(&format!(" password={}", method.password().unwrap()), "");
        let err = Conn::<R>::connect(&format!("{conninfo} passfile=/nonexistent")).await.err().unwrap();
        assert!(matches!(err, Error::Auth(pgsans::AuthError::PasswordMissing(_))), "{method:?}: {err:?}");
    }
}

pub async fn unknown_user_and_database<R: TestRt>() {
    let base = server().conninfo(AuthMethod::Trust);
    let err = Conn::<R>::connect(&base.replace("user=postgres", "user=nobody_here")).await.err().unwrap();
    assert_eq!(err.code(), Some(SqlState::INVALID_AUTHORIZATION_SPECIFICATION), "{err}");
    let err = Conn::<R>::connect(&base.replace("dbname=postgres", "dbname=no_such_db")).await.err().unwrap();
    assert_eq!(err.code(), Some(SqlState::INVALID_CATALOG_NAME), "{err}");
    assert!(err.to_string().contains("no_such_db"));
}

pub async fn multi_statement_results<R: TestRt>() {
    let mut c = trust::<R>().await;
    let results = c
        .simple_query(
            "CREATE TEMP TABLE t (id int, name text); \
             INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c'); \
             UPDATE t SET name = upper(name) WHERE id > 1; \
             SELECT id, name FROM t ORDER BY id; \
             DELETE FROM t WHERE id = 3; ;",
        )
        .await
        .unwrap();
    let tags: Vec<_> = results.iter().map(|r| r.command_tag().unwrap().to_owned()).collect();
    assert_eq!(tags, ["CREATE TABLE", "INSERT 0 3", "UPDATE 2", "SELECT 3", "DELETE 1"]);
    assert_eq!(results[1].rows_affected(), Some(3));
    assert_eq!(results[0].rows_affected(), None);
    let select = &results[3];
    assert_eq!(select.columns().iter().map(|c| c.name()).collect::<Vec<_>>(), ["id", "name"]);
    assert_eq!(select.columns()[0].type_oid(), 23);
    let names: Vec<_> = select.rows().iter().map(|r| r.text("name").unwrap().unwrap().into_owned()).collect();
    assert_eq!(names, ["a", "B", "C"]);

    let empty = c.simple_query("").await.unwrap();
    assert_eq!(empty.len(), 1);
    assert!(empty[0].is_empty_query());

    // A large result crosses many reads.
    let results = c.simple_query("SELECT i, repeat('x', i % 100) FROM generate_series(1, 20000) i").await.unwrap();
    assert_eq!(results[0].rows().len(), 20000);
    assert_eq!(results[0].rows()[19999].text(0).unwrap().as_deref(), Some("20000"));
    c.batch_execute("SELECT generate_series(1, 1000)").await.unwrap();
}

pub async fn null_is_distinct_from_empty<R: TestRt>() {
    let mut c = trust::<R>().await;
    let results = c.simple_query("SELECT NULL::text, ''::text, 'héllo ✓ 🐘'::text").await.unwrap();
    let row = &results[0].rows()[0];
    assert_eq!(row.get_str(0).unwrap(), None);
    assert_eq!(row.get_str(1).unwrap(), Some(""));
    assert_eq!(row.get_str(2).unwrap(), Some("héllo ✓ 🐘"));
    assert!(matches!(row.get_str(3), Err(Error::Usage(pgsans::UsageError::NoSuchColumn(_)))));
}

pub async fn error_mid_batch<R: TestRt>() {
    let mut c = trust::<R>().await;
    let batch = c.simple_query_batch("SELECT 1; SELECT 1/0; SELECT 2").await.unwrap();
    assert_eq!(batch.results.len(), 1);
    assert_eq!(batch.results[0].rows()[0].text(0).unwrap().as_deref(), Some("1"));
    let err = batch.error.unwrap();
    assert_eq!(err.code(), SqlState::DIVISION_BY_ZERO);
    assert_eq!(err.message(), "division by zero");
    let err = c.simple_query("SELECT 1; SELECT nope").await.unwrap_err();
    assert_eq!(err.code(), Some(SqlState::UNDEFINED_COLUMN));
    assert_eq!(err.as_db_error().unwrap().position(), Some(18));
    // The connection is fine afterwards.
    assert_eq!(scalar(&mut c, "SELECT 3").await.unwrap().as_deref(), Some("3"));
    assert_eq!(c.engine().transaction_status(), TransactionStatus::Idle);
}

pub async fn transaction_status_tracking<R: TestRt>() {
    let mut c = trust::<R>().await;
    assert_eq!(c.engine().transaction_status(), TransactionStatus::Idle);
    c.batch_execute("BEGIN").await.unwrap();
    assert_eq!(c.engine().transaction_status(), TransactionStatus::InTransaction);
    let err = c.batch_execute("SELECT 1/0").await.unwrap_err();
    assert_eq!(err.code(), Some(SqlState::DIVISION_BY_ZERO));
    assert_eq!(c.engine().transaction_status(), TransactionStatus::InError);
    let err = c.batch_execute("SELECT 1").await.unwrap_err();
    assert_eq!(err.code(), Some(SqlState::IN_FAILED_SQL_TRANSACTION));
    let results = c.simple_query("COMMIT").await.unwrap();
    assert_eq!(results[0].command_tag(), Some("ROLLBACK"));
    assert_eq!(c.engine().transaction_status(), TransactionStatus::Idle);
}

pub async fn notices_are_collected<R: TestRt>() {
    let mut c = trust::<R>().await;
    c.batch_execute("DO $$ BEGIN RAISE NOTICE 'first'; RAISE WARNING 'second' USING HINT = 'h'; END $$").await.unwrap();
    let notices: Vec<_> = c.engine().notices().cloned().collect();
    assert_eq!(notices.len(), 2);
    assert_eq!(notices[0].message(), "first");
    assert_eq!(notices[0].severity(), "NOTICE");
    assert_eq!(notices[1].message(), "second");
    assert_eq!(notices[1].severity(), "WARNING");
    assert_eq!(notices[1].hint(), Some("h"));
    // More than the limit keeps the newest 50.
    c.batch_execute("DO $$ BEGIN FOR i IN 1..60 LOOP RAISE NOTICE 'n%', i; END LOOP; END $$").await.unwrap();
    let notices: Vec<_> = c.engine().notices().map(|n| n.message().to_owned()).collect();
    assert_eq!(notices.len(), 50);
    assert_eq!(notices[0], "n11");
    assert_eq!(notices[49], "n60");
}

pub async fn notifications_from_another_connection<R: TestRt>() {
    let mut listener = trust::<R>().await;
    let mut sender = trust::<R>().await;
    let channel = format!("chan_{}", R::NAME.replace('-', "_"));
    listener.batch_execute(&format!("LISTEN {channel}")).await.unwrap();
    sender.batch_execute(&format!("NOTIFY {channel}, 'hello ✓'; NOTIFY {channel}")).await.unwrap();
    // The notifications arrive with the listener's next exchange.
    listener.batch_execute("SELECT 1").await.unwrap();
    let got = listener.take_notifications();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].channel, channel);
    assert_eq!(got[0].payload, "hello ✓");
    assert_eq!(got[1].payload, "");
    assert_eq!(got[0].process_id, sender.engine().backend_pid());
    // Own notifications too.
    listener.batch_execute(&format!("NOTIFY {channel}, 'self'")).await.unwrap();
    let got = listener.take_notifications();
    assert_eq!(got[0].payload, "self");
    assert_eq!(got[0].process_id, listener.engine().backend_pid());
}

pub async fn parameter_status_and_server_version<R: TestRt>() {
    let mut c = trust::<R>().await;
    let e = c.engine();
    assert_eq!(e.parameter_status("client_encoding"), Some("UTF8"));
    assert_eq!(e.parameter_status("server_encoding"), Some("UTF8"));
    let v = e.server_version();
    let reported = scalar(&mut c, "SHOW server_version_num").await.unwrap().unwrap();
    assert_eq!(v, reported.parse::<i32>().unwrap());
    c.batch_execute("SET application_name = 'renamed'").await.unwrap();
    assert_eq!(c.engine().parameter_status("application_name"), Some("renamed"));
    assert_eq!(c.engine().parameter_status("no_such_parameter"), None);
    assert_eq!(c.engine().protocol_version(), (3, 0));
    let pid = scalar(&mut c, "SELECT pg_backend_pid()").await.unwrap().unwrap();
    assert_eq!(c.engine().backend_pid().to_string(), pid);
}

pub async fn startup_parameters_reach_the_server<R: TestRt>() {
    let conninfo = format!(
        "{} application_name=pgsans_{} options='-c search_path=pg_catalog -c statement_timeout=1234'",
        server().conninfo(AuthMethod::Trust),
        R::NAME.replace('-', "_")
    );
    let mut c = Conn::<R>::connect(&conninfo).await.unwrap();
    assert_eq!(
        scalar(&mut c, "SHOW application_name").await.unwrap(),
        Some(format!("pgsans_{}", R::NAME.replace('-', "_")))
    );
    assert_eq!(scalar(&mut c, "SHOW search_path").await.unwrap().as_deref(), Some("pg_catalog"));
    assert_eq!(scalar(&mut c, "SHOW statement_timeout").await.unwrap().as_deref(), Some("1234ms"));
    assert_eq!(scalar(&mut c, "SHOW client_encoding").await.unwrap().as_deref(), Some("UTF8"));
    let activity =
        scalar(&mut c, "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()").await.unwrap();
    assert_eq!(activity, Some(format!("pgsans_{}", R::NAME.replace('-', "_"))));
}

pub async fn close_is_idempotent_and_final<R: TestRt>() {
    let mut c = trust::<R>().await;
    let pid = c.engine().backend_pid();
    c.close().await.unwrap();
    c.close().await.unwrap();
    assert!(c.engine().is_closed());
    assert_eq!(c.engine().closed(), 1, "psycopg2: closed by the client");
    assert!(matches!(c.simple_query("SELECT 1").await, Err(Error::Closed(_))));
    assert_eq!(c.engine().transaction_status(), TransactionStatus::Unknown);
    // The server saw the Terminate: the backend goes away.
    let mut other = trust::<R>().await;
    let mut gone = false;
    for _ in 0..100 {
        if scalar(&mut other, &format!("SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}"))
            .await
            .unwrap()
            .as_deref()
            == Some("0")
        {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(gone, "backend {pid} still there after close");
}

pub async fn server_terminating_the_backend_breaks_the_connection<R: TestRt>() {
    let mut victim = trust::<R>().await;
    let mut admin = trust::<R>().await;
    let pid = victim.engine().backend_pid();
    assert_eq!(scalar(&mut admin, &format!("SELECT pg_terminate_backend({pid})")).await.unwrap().as_deref(), Some("t"));
    // The next exchange sees FATAL 57P01 (or the closed socket, if the error was lost in the race).
    let err = victim.simple_query("SELECT 1").await.unwrap_err();
    assert!(err.code() == Some(SqlState::ADMIN_SHUTDOWN) || matches!(err, Error::Closed(_) | Error::Io(_)), "{err:?}");
    assert!(err.is_fatal());
    assert!(victim.engine().is_broken());
    assert_eq!(victim.engine().closed(), 2, "psycopg2: broken");
    // Sticky: the same error again, no panic, no hang.
    let again = victim.simple_query("SELECT 1").await.unwrap_err();
    assert_eq!(again.to_string(), err.to_string());
    assert_eq!(victim.engine().transaction_status(), TransactionStatus::Unknown);
    victim.close().await.unwrap();
}

pub async fn bad_input_is_refused_before_sending<R: TestRt>() {
    let mut c = trust::<R>().await;
    let err = c.simple_query("SELECT 'a\0b'").await.unwrap_err();
    assert!(matches!(err, Error::Usage(pgsans::UsageError::NulInString(_))), "{err:?}");
    assert_eq!(scalar(&mut c, "SELECT 'still fine'").await.unwrap().as_deref(), Some("still fine"));
    for bad in ["host=x port=notaport", "nonsense", "postgresql://[::1/x", "user=a sslmode=sometimes"] {
        let err = Conn::<R>::connect(bad).await.err().unwrap();
        assert!(matches!(err, Error::Config(_)), "{bad}: {err:?}");
    }
}

pub async fn dropped_operation_leaves_the_connection_usable<R: TestRt>() {
    let mut c = trust::<R>().await;
    // Dropped while the server is still sleeping, twice in a row, then mid-result.
    let finished = abandon_after(&mut c, "SELECT pg_sleep(0.3), 'stale'", std::time::Duration::from_millis(50))
        .await
        .expect("only instantiated for transports whose operations can be dropped");
    assert!(!finished, "the timer fired first");
    assert_eq!(
        abandon_after(&mut c, "SELECT pg_sleep(0.3), 'stale again'", std::time::Duration::from_millis(50)).await,
        Some(false)
    );
    // The next query gets its own result, not the abandoned ones' (drained inside the engine).
    assert_eq!(scalar(&mut c, "SELECT 'fresh'").await.unwrap().as_deref(), Some("fresh"));
    assert_eq!(
        abandon_after(&mut c, "SELECT i FROM generate_series(1, 3000000) i", std::time::Duration::from_millis(100))
            .await,
        Some(false)
    );
    let rows = c.simple_query("SELECT 1 AS a; SELECT 2 AS b").await.unwrap();
    assert_eq!(rows[1].columns()[0].name(), "b");
    assert_eq!(c.engine().transaction_status(), TransactionStatus::Idle);
}

/// A fake server that answers any query with `rows` one-column rows, all written at once, so
/// the client always finds data waiting.
fn flooding_server(rows: usize) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let msg = |ty: u8, body: &[u8]| {
        let mut m = vec![ty];
        m.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        m.extend_from_slice(body);
        m
    };
    let mut reply = msg(b'T', &[&1u16.to_be_bytes()[..], b"n\0", &[0u8; 18]].concat());
    let row = msg(b'D', &[&1u16.to_be_bytes()[..], &1i32.to_be_bytes(), b"7"].concat());
    for _ in 0..rows {
        reply.extend_from_slice(&row);
    }
    reply.extend(msg(b'C', b"SELECT\0"));
    reply.extend(msg(b'Z', b"I"));
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else { return };
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let mut hello = msg(b'R', &0i32.to_be_bytes());
        hello.extend(msg(b'Z', b"I"));
        // The answer follows the greeting at once: it fills the client's socket buffer
        // before the query is even sent, and the writer keeps it full.
        hello.extend_from_slice(&reply);
        let _ = s.write_all(&hello);
        let _ = s.read(&mut buf);
    });
    port
}

pub async fn long_results_let_other_tasks_run<R: TestRt>() {
    // 3M rows that are always there to read: the read loop never has to wait, and must still
    // let the executor run a timer (smol and async-std have no budget of their own).
    let port = flooding_server(3_000_000);
    let mut c = Conn::<R>::connect(&format!("host=127.0.0.1 port={port} user=x sslmode=disable")).await.unwrap();
    let started = std::time::Instant::now();
    let finished = abandon_after(&mut c, "SELECT flood", std::time::Duration::from_millis(30))
        .await
        .expect("only instantiated for transports with an executor to share");
    assert!(!finished, "the query ran to its end ({:?}) before a 30 ms timer could fire", started.elapsed());
    assert!(started.elapsed() < std::time::Duration::from_millis(1000), "{:?}", started.elapsed());
}
