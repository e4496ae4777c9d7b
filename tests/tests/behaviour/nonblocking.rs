//! psycopg2's asynchronous connections (custom event loops) and wait callbacks (green threads).

use pgsans::SqlState;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pgsans::{Config, Error, UsageError};
use pgsans_std::{Connection, Interest, Poll, PollingConnection, WaitRequest};
use pgsans_tests::{AuthMethod, TestServer};

#[path = "../../examples/event_loop.rs"]
#[allow(dead_code)]
mod event_loop;

fn conninfo() -> String {
    TestServer::shared().conninfo(AuthMethod::Scram)
}

/// Blocks in poll(2) until the polling connection says Ok.
fn drive(conn: &mut PollingConnection) -> Result<(), Error> {
    loop {
        match conn.poll()? {
            Poll::Ok => return Ok(()),
            wanted => conn.wait_blocking(wanted)?,
        }
    }
}

#[test]
fn one_thread_drives_100_connections_with_mio() {
    let t = event_loop::run(&conninfo(), 100, 5).unwrap();
    assert_eq!(t.queries, 500);
    assert_eq!(t.rows, 500);
    assert_eq!(t.wrong_answers, 0);
    assert_eq!(t.distinct_backends, 100, "each connection has its own backend");
}

#[test]
fn polling_connection_protocol() {
    let mut conn = PollingConnection::connect_start(&conninfo()).unwrap();
    assert!(conn.is_executing(), "connecting counts as executing");
    let early = conn.execute("SELECT 1").unwrap_err();
    assert!(
        matches!(early, Error::Usage(UsageError::InvalidState(ref m)) if m.contains("connection attempt")),
        "{early:?}"
    );
    drive(&mut conn).unwrap();
    assert!(!conn.is_executing());
    assert!(conn.engine().backend_pid() > 0);
    assert!(conn.engine().autocommit(), "asynchronous connections are in autocommit mode");

    conn.execute("SELECT pg_sleep(0.05), 'done'").unwrap();
    assert!(conn.is_executing());
    let second = conn.execute("SELECT 2").unwrap_err();
    assert!(matches!(second, Error::Usage(UsageError::InvalidState(_))), "{second:?}");
    drive(&mut conn).unwrap();
    let batch = conn.take_result().unwrap().unwrap();
    assert_eq!(batch.results[0].rows()[0].text(1).unwrap().as_deref(), Some("done"));
    assert!(conn.take_result().is_none());

    // With parameters: encoded at once; results in binary for the types pgsans decodes.
    for i in 0..3i32 {
        let label = format!("n{i}");
        conn.execute_params("SELECT $1::int4 * 2, $2::text, $3::int8", &[&i, &label, &None::<i64>]).unwrap();
        drop(label); // the values need not outlive the call
        drive(&mut conn).unwrap();
        let r = conn.take_query_result().unwrap().unwrap();
        assert_eq!(r.rows[0].get::<i32, _>(0).unwrap(), i * 2);
        assert_eq!(r.rows[0].get::<String, _>(1).unwrap(), format!("n{i}"));
        assert_eq!(r.rows[0].get::<Option<i64>, _>(2).unwrap(), None);
        assert_eq!(r.columns.as_ref().unwrap()[0].format(), 1, "execution {i}");
    }
    conn.execute_params("SELECT 1 / $1::int4", &[&0i32]).unwrap();
    drive(&mut conn).unwrap();
    assert_eq!(conn.take_query_result().unwrap().unwrap_err().code(), Some(SqlState::DIVISION_BY_ZERO));

    // A failing statement: the results before it and its error; the connection goes on.
    conn.execute("SELECT 1; SELECT 1/0").unwrap();
    drive(&mut conn).unwrap();
    let batch = conn.take_result().unwrap().unwrap();
    assert_eq!(batch.results.len(), 1);
    assert_eq!(batch.error.unwrap().code(), SqlState::DIVISION_BY_ZERO);

    // Idle polling collects notifications sent by other sessions.
    conn.execute("LISTEN polling_chan").unwrap();
    drive(&mut conn).unwrap();
    conn.take_result().unwrap().unwrap();
    let mut other = Connection::connect(&conninfo()).unwrap();
    other.set_autocommit(true).unwrap();
    other.batch_execute("NOTIFY polling_chan, 'ping'").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while got.is_empty() && Instant::now() < deadline {
        conn.wait_blocking(Poll::Read).unwrap();
        assert_eq!(conn.poll().unwrap(), Poll::Ok, "idle poll answers Ok");
        got = conn.take_notifications();
    }
    assert_eq!(got[0].payload, "ping");

    // Cancel works from another thread while the event loop polls.
    let token = conn.cancel_token().unwrap();
    conn.execute("SELECT pg_sleep(10)").unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        token.cancel()
    });
    drive(&mut conn).unwrap();
    t.join().unwrap().unwrap();
    assert_eq!(conn.take_result().unwrap().unwrap().error.unwrap().code(), SqlState::QUERY_CANCELED);

    conn.close_start();
    drive(&mut conn).unwrap();
    assert!(conn.engine().is_closed());
    assert!(conn.execute("SELECT 1").is_err());
}

#[test]
fn polling_connection_reports_connect_failure() {
    // A port nobody listens on: the error comes from poll(), typed, not a panic or a hang.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut conn = PollingConnection::connect_start(&format!("host=127.0.0.1 port={port} user=x")).unwrap();
    let err = drive(&mut conn).unwrap_err();
    assert!(matches!(err, Error::Io(ref e) if e.kind() == std::io::ErrorKind::ConnectionRefused), "{err:?}");
    assert!(conn.poll().is_err(), "sticky");
}

fn is_nonblocking(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    rustix::fs::fcntl_getfl(fd).unwrap().contains(rustix::fs::OFlags::NONBLOCK)
}

#[test]
fn the_client_only_blocks_inside_the_wait_callback() {
    let waits: Arc<Mutex<Vec<(Interest, bool)>>> = Arc::default();
    let inside = Arc::new(Mutex::new(Duration::ZERO));
    let (w, i) = (waits.clone(), inside.clone());
    let callback = move |req: WaitRequest<'_>| -> std::io::Result<()> {
        w.lock().unwrap().push((req.interest, is_nonblocking(req.fd)));
        let t = Instant::now();
        let r = req.wait_with_poll();
        *i.lock().unwrap() += t.elapsed();
        r
    };
    let mut config = Config::parse(&conninfo()).unwrap();
    // A spin limit far above the query's half second: with a callback the client must still
    // never spin (a green-thread runtime's other coroutines would starve).
    config.spin_wait(Duration::from_secs(10));
    let started = Instant::now();
    let mut conn = Connection::connect_with_wait(&config, Some(Box::new(callback))).unwrap();
    let connect_waits = waits.lock().unwrap().len();
    assert!(connect_waits >= 2, "connect and authentication waited through the callback");
    assert_eq!(waits.lock().unwrap()[0].0, Interest::Write, "the first wait is the TCP connect");
    let before = *inside.lock().unwrap();
    let t = Instant::now();
    assert_eq!(conn.scalar_text("SELECT pg_sleep(0.5)::text || 'x'").as_deref(), Some("x"));
    let query_time = t.elapsed();
    let waited = *inside.lock().unwrap() - before;
    // The half second the server slept was spent inside the callback, not in a blocking read.
    assert!(waited >= Duration::from_millis(450), "waited {waited:?} of {query_time:?} in the callback");
    assert!(waits.lock().unwrap().iter().all(|(_, nonblocking)| *nonblocking), "socket always non-blocking");
    assert!(started.elapsed() >= query_time);
}

trait ScalarText {
    fn scalar_text(&mut self, sql: &str) -> Option<String>;
}
impl ScalarText for Connection {
    fn scalar_text(&mut self, sql: &str) -> Option<String> {
        let r = self.simple_query(sql).unwrap();
        r[0].rows()[0].text(0).unwrap().map(std::borrow::Cow::into_owned)
    }
}

#[test]
fn a_failing_callback_closes_the_connection_but_sql_errors_do_not() {
    let config = Config::parse(&conninfo()).unwrap();
    let fail = Arc::new(AtomicUsize::new(0));
    let f = fail.clone();
    let callback = move |req: WaitRequest<'_>| -> std::io::Result<()> {
        if f.load(Ordering::SeqCst) == 1 {
            return Err(std::io::Error::other("interrupted by the scheduler"));
        }
        req.wait_with_poll()
    };
    let mut conn = Connection::connect_with_wait(&config, Some(Box::new(callback))).unwrap();
    conn.set_autocommit(true).unwrap();
    // A server error is just an error.
    assert_eq!(conn.batch_execute("SELECT 1/0").unwrap_err().code(), Some(SqlState::DIVISION_BY_ZERO));
    assert_eq!(conn.closed(), 0);
    assert_eq!(conn.scalar_text("SELECT 'ok'").as_deref(), Some("ok"));
    // The callback's error propagates and closes the connection.
    fail.store(1, Ordering::SeqCst);
    let err = conn.simple_query("SELECT pg_sleep(0.2)").unwrap_err();
    assert!(err.to_string().contains("interrupted by the scheduler"), "{err}");
    assert!(conn.engine().is_closed());
    fail.store(0, Ordering::SeqCst);
    assert!(conn.simple_query("SELECT 1").is_err(), "stays closed");
}

#[test]
fn process_wide_wait_callback() {
    // Counts waits of connections made while it is installed; harmless to other tests.
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    pgsans_std::set_wait_callback(Some(Arc::new(move || {
        let c = c.clone();
        Box::new(move |req: WaitRequest<'_>| {
            c.fetch_add(1, Ordering::SeqCst);
            req.wait_with_poll()
        })
    })));
    let mut conn = Connection::connect(&conninfo());
    pgsans_std::set_wait_callback(None);
    let conn = conn.as_mut().unwrap();
    let before = count.load(Ordering::SeqCst);
    assert!(before > 0);
    conn.simple_query("SELECT pg_sleep(0.05)").unwrap();
    assert!(count.load(Ordering::SeqCst) > before);
    assert!(pgsans_std::get_wait_callback().is_none());
}

/// A wait callback for `may` coroutines: parks the coroutine on may's reactor. The
/// registration is made on the first wait and lives as long as the connection.
fn may_waiter() -> Box<dyn pgsans_std::Wait> {
    struct Fd(std::os::fd::RawFd);
    impl std::os::fd::AsRawFd for Fd {
        fn as_raw_fd(&self) -> std::os::fd::RawFd {
            self.0
        }
    }
    let mut registered: Option<may::io::CoIo<Fd>> = None;
    Box::new(move |req: WaitRequest<'_>| -> std::io::Result<()> {
        use may::io::WaitIo;
        if registered.as_ref().is_none_or(|co| std::os::fd::AsRawFd::as_raw_fd(co) != req.raw_fd()) {
            registered = Some(may::io::CoIo::new(Fd(req.raw_fd())).map_err(|e| std::io::Error::other(e.to_string()))?);
        }
        registered.as_ref().expect("registered").wait_io();
        Ok(())
    })
}

#[test]
#[allow(unsafe_code)] // may's spawn is unsafe: coroutines must not use thread-locals across yields
fn fifty_coroutines_on_two_threads() {
    let conninfo = conninfo();
    may::config().set_workers(2).set_stack_size(0x40000);
    let done = Arc::new(AtomicUsize::new(0));
    let threads = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let started = Instant::now();
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let (conninfo, done, threads) = (conninfo.clone(), done.clone(), threads.clone());
            unsafe {
                may::coroutine::spawn(move || {
                    let config = Config::parse(&conninfo).unwrap();
                    let mut conn = Connection::connect_with_wait(&config, Some(may_waiter())).unwrap();
                    // Every coroutine sleeps 0.3 s on the server: run serially that is 15 s.
                    let r = conn.simple_query(&format!("SELECT {i}, pg_sleep(0.3)")).unwrap();
                    assert_eq!(r[0].rows()[0].text(0).unwrap().as_deref(), Some(i.to_string().as_str()));
                    threads.lock().unwrap().insert(std::thread::current().id());
                    conn.close().unwrap();
                    done.fetch_add(1, Ordering::SeqCst);
                })
            }
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(done.load(Ordering::SeqCst), 50);
    assert!(threads.lock().unwrap().len() <= 2, "ran on may's two workers");
    // Concurrent, not serial: 50 x 0.3 s of server sleep overlapped.
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

/// COPY on polling connections: ten of them on one mio loop, each copying 20,000 rows in
/// (gathered into chunks, given as the connection has room) and back out.
#[test]
fn copy_on_polling_connections_with_mio() {
    use mio::unix::SourceFd;
    use mio::{Events, Interest as MioInterest, Token};
    use std::os::fd::AsRawFd;

    #[derive(PartialEq, Debug)]
    enum Phase {
        Connecting,
        Creating,
        CopyingIn,
        Ending,
        CopyingOut,
        Done,
    }
    struct Slot {
        conn: PollingConnection,
        phase: Phase,
        next_row: i64,
        copied_in: u64,
        sum_out: i64,
        rows_out: u64,
        registered: Option<MioInterest>,
    }
    const ROWS: i64 = 20_000;
    let mut poll = mio::Poll::new().unwrap();
    let mut events = Events::with_capacity(64);
    let mut slots: Vec<Slot> = (0..10)
        .map(|_| Slot {
            conn: PollingConnection::connect_start(&conninfo()).unwrap(),
            phase: Phase::Connecting,
            next_row: 0,
            copied_in: 0,
            sum_out: 0,
            rows_out: 0,
            registered: None,
        })
        .collect();
    // Advances one slot until it must wait; registers what it waits for.
    let advance = |slot: &mut Slot, token: usize, poll: &mio::Poll| loop {
        let wanted = slot.conn.poll().unwrap();
        if wanted != Poll::Ok {
            let interest = match wanted {
                Poll::Read => MioInterest::READABLE,
                Poll::Write => MioInterest::WRITABLE,
                _ => MioInterest::READABLE | MioInterest::WRITABLE,
            };
            let fd = slot.conn.as_raw_fd();
            match slot.registered {
                Some(i) if i == interest => {}
                Some(_) => poll.registry().reregister(&mut SourceFd(&fd), Token(token), interest).unwrap(),
                None => poll.registry().register(&mut SourceFd(&fd), Token(token), interest).unwrap(),
            }
            slot.registered = Some(interest);
            return;
        }
        match slot.phase {
            Phase::Connecting => {
                slot.conn.execute("CREATE TEMP TABLE polled (a int8, b text)").unwrap();
                slot.phase = Phase::Creating;
            }
            Phase::Creating => {
                slot.conn.take_result().unwrap().unwrap();
                slot.conn.copy_in_start("COPY polled FROM STDIN").unwrap();
                slot.phase = Phase::CopyingIn;
            }
            Phase::CopyingIn => {
                assert!(slot.conn.take_copy_result().is_none(), "no early end");
                if slot.next_row == ROWS {
                    slot.conn.copy_end().unwrap();
                    slot.phase = Phase::Ending;
                    continue;
                }
                let mut chunk = String::new();
                let end = (slot.next_row + 1000).min(ROWS);
                for i in slot.next_row..end {
                    chunk.push_str(&format!("{i}\trow {i}\n"));
                }
                slot.next_row = end;
                slot.conn.copy_put(chunk.as_bytes()).unwrap();
            }
            Phase::Ending => {
                slot.copied_in = slot.conn.take_copy_result().unwrap().unwrap().rows;
                slot.conn.copy_out_start("COPY polled TO STDOUT").unwrap();
                slot.phase = Phase::CopyingOut;
            }
            Phase::CopyingOut => {
                while let Some(chunk) = slot.conn.copy_get().unwrap() {
                    let line = std::str::from_utf8(chunk).unwrap();
                    slot.sum_out += line.split('\t').next().unwrap().parse::<i64>().unwrap();
                }
                if let Some(r) = slot.conn.take_copy_result() {
                    slot.rows_out = r.unwrap().rows;
                    slot.phase = Phase::Done;
                    return;
                }
            }
            Phase::Done => return,
        }
    };
    for (i, slot) in slots.iter_mut().enumerate() {
        advance(slot, i, &poll);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while slots.iter().any(|s| s.phase != Phase::Done) {
        assert!(Instant::now() < deadline, "the loop did not finish");
        poll.poll(&mut events, Some(Duration::from_secs(5))).unwrap();
        for ev in events.iter() {
            let i = ev.token().0;
            advance(&mut slots[i], i, &poll);
        }
    }
    for s in &slots {
        assert_eq!((s.copied_in, s.rows_out, s.sum_out), (ROWS as u64, ROWS as u64, (0..ROWS).sum::<i64>()));
    }
}

#[test]
fn polling_copy_errors_and_abort() {
    let mut conn = PollingConnection::connect_start(&conninfo()).unwrap();
    drive(&mut conn).unwrap();
    conn.execute("CREATE TEMP TABLE polled_errors (a int)").unwrap();
    drive(&mut conn).unwrap();
    conn.take_result().unwrap().unwrap();
    // Bad data: the server's error is the copy's result.
    conn.copy_in_start("COPY polled_errors FROM STDIN").unwrap();
    drive(&mut conn).unwrap();
    conn.copy_put(b"1\nnot a number\n").unwrap();
    let err = loop {
        drive(&mut conn).unwrap();
        if let Some(r) = conn.take_copy_result() {
            break r.unwrap_err();
        }
        match conn.copy_end() {
            Ok(()) => {}
            Err(_) => continue, // the server already ended it: its error comes next
        }
    };
    assert_eq!(err.code(), Some(SqlState::INVALID_TEXT_REPRESENTATION));
    // An abort: the server confirms with 57014; nothing copied; the connection goes on.
    conn.copy_in_start("COPY polled_errors FROM STDIN").unwrap();
    drive(&mut conn).unwrap();
    conn.copy_put(b"1\n").unwrap();
    conn.copy_abort("no thanks").unwrap();
    drive(&mut conn).unwrap();
    assert_eq!(conn.take_copy_result().unwrap().unwrap_err().code(), Some(SqlState::QUERY_CANCELED));
    assert!(!conn.is_executing());
    conn.execute("SELECT count(*) FROM polled_errors").unwrap();
    drive(&mut conn).unwrap();
    assert_eq!(conn.take_result().unwrap().unwrap().results[0].rows()[0].text(0).unwrap().as_deref(), Some("0"));
}

#[test]
fn polling_connection_over_tls() {
    let server = TestServer::shared();
    let info = format!(
        "host=localhost port={} user=postgres dbname=postgres sslmode=verify-full sslrootcert={}",
        server.port,
        server.tls.ca.display()
    );
    let mut conn = PollingConnection::connect_start(&info).unwrap();
    drive(&mut conn).unwrap();
    assert!(conn.engine().ssl_in_use());
    conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").unwrap();
    drive(&mut conn).unwrap();
    assert_eq!(conn.take_result().unwrap().unwrap().results[0].rows()[0].text(0).unwrap().as_deref(), Some("t"));
    // COPY through TLS on the polling connection.
    conn.execute("CREATE TEMP TABLE polled_tls (a int)").unwrap();
    drive(&mut conn).unwrap();
    conn.take_result().unwrap().unwrap();
    conn.copy_in_start("COPY polled_tls FROM STDIN").unwrap();
    drive(&mut conn).unwrap();
    let rows: String = (0..10_000).map(|i| format!("{i}\n")).collect();
    conn.copy_put(rows.as_bytes()).unwrap();
    drive(&mut conn).unwrap();
    conn.copy_end().unwrap();
    drive(&mut conn).unwrap();
    assert_eq!(conn.take_copy_result().unwrap().unwrap().rows, 10_000);
    // SCRAM bound to the channel, and a downgrade refused.
    let scram = format!(
        "host=localhost port={} user=scram_user password=scrampass dbname=postgres sslmode=verify-full \
         sslrootcert={} channel_binding=require",
        server.port,
        server.tls.ca.display()
    );
    let mut conn = PollingConnection::connect_start(&scram).unwrap();
    drive(&mut conn).unwrap();
    assert!(conn.engine().ssl_in_use());
    let md5 = scram.replace("scram_user password=scrampass", "md5_user password=md5pass");
    let mut conn = PollingConnection::connect_start(&md5).unwrap();
    let err = drive(&mut conn).expect_err("MD5 does not bind");
    assert!(matches!(err, pgsans::Error::Auth(pgsans::AuthError::ChannelBinding(_))), "{err:?}");
}

/// Connects with a polling connection and asks the server whether it is a standby.
fn polled_in_recovery(info: &str) -> Result<bool, pgsans::Error> {
    let mut conn = PollingConnection::connect_start(info)?;
    drive(&mut conn)?;
    conn.execute("SELECT pg_is_in_recovery()")?;
    drive(&mut conn)?;
    let batch = conn.take_result().unwrap()?;
    Ok(batch.results[0].rows()[0].text(0).unwrap().as_deref() == Some("t"))
}

#[test]
fn polling_connection_tries_hosts_as_libpq() {
    let (p, s) = (TestServer::shared().port, pgsans_tests::standby_server().port);
    let info = |ports: [u16; 2], extra: &str| {
        format!(
            "host=localhost,localhost port={},{} user=postgres dbname=postgres sslmode=disable {extra}",
            ports[0], ports[1]
        )
    };
    assert!(!polled_in_recovery(&info([s, p], "target_session_attrs=read-write")).unwrap());
    assert!(polled_in_recovery(&info([p, s], "target_session_attrs=standby")).unwrap());
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    assert!(!polled_in_recovery(&info([dead, p], "target_session_attrs=prefer-standby")).unwrap());
    let err = polled_in_recovery(&info([p, p], "target_session_attrs=standby")).unwrap_err();
    assert!(matches!(err, pgsans::Error::TargetSessionAttrs { .. }), "{err:?}");
    // libpq's second attempts: prefer falls back to plaintext for a user refused over TLS,
    // allow goes to TLS for a user refused in plaintext.
    let one = |user: &str, mode: &str| format!("host=localhost port={p} user={user} dbname=postgres sslmode={mode}");
    let mut conn = PollingConnection::connect_start(&one("nossl_user", "prefer")).unwrap();
    drive(&mut conn).unwrap();
    assert!(!conn.engine().ssl_in_use());
    let mut conn = PollingConnection::connect_start(&one("ssl_only_user", "allow")).unwrap();
    drive(&mut conn).unwrap();
    assert!(conn.engine().ssl_in_use());
    let mut conn = PollingConnection::connect_start(&one("ssl_only_user", "disable")).unwrap();
    assert_eq!(drive(&mut conn).unwrap_err().code(), Some(SqlState::INVALID_AUTHORIZATION_SPECIFICATION));
    // libpq's TCP options on the polled socket.
    let mut conn =
        PollingConnection::connect_start(&format!("{} keepalives_idle=11", one("postgres", "disable"))).unwrap();
    drive(&mut conn).unwrap();
    let fd = std::os::fd::AsFd::as_fd(&conn);
    let s = socket2::SockRef::from(&fd);
    assert!(s.keepalive().unwrap());
    assert_eq!(s.tcp_keepalive_time().unwrap(), Duration::from_secs(11));
}

#[test]
fn polling_connection_direct_tls_and_protocol_3_2() {
    let pg18 = pgsans_tests::pg18_server();
    let info = format!(
        "host=localhost port={} user=postgres dbname=postgres sslmode=verify-full sslrootcert={} \
         sslnegotiation=direct max_protocol_version=3.2",
        pg18.port,
        pg18.tls.ca.display()
    );
    let mut conn = PollingConnection::connect_start(&info).unwrap();
    drive(&mut conn).unwrap();
    assert!(conn.engine().ssl_in_use());
    assert_eq!(conn.engine().protocol_version(), (3, 2));
    conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").unwrap();
    drive(&mut conn).unwrap();
    assert_eq!(conn.take_result().unwrap().unwrap().results[0].rows()[0].text(0).unwrap().as_deref(), Some("t"));
}
