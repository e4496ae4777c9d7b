//! The backend killed (`pg_terminate_backend`) at every kind of point — mid-query in a
//! transaction, mid row stream, mid COPY in and out, mid-pipeline, between `tpc_prepare` and
//! `tpc_commit`: a typed fatal error, the connection broken, no hang, and nothing half done.

use std::time::Duration;

use pgsans::{Error, Xid};
use pgsans_tests::*;

async fn connect<R: TestRt>() -> Conn<R> {
    Conn::<R>::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap()
}

/// Terminates backend `pid` from another connection after `delay`, on a thread of its own.
fn kill_after(pid: i32, delay: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        let mut admin = pgsans_std::Connection::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).unwrap();
        admin.set_autocommit(true).unwrap();
        admin.simple_query(&format!("SELECT pg_terminate_backend({pid})")).unwrap();
    })
}

/// What a killed backend's client sees: the server's FATAL 57P01, or the closed socket when
/// that message was lost in the race; fatal, and the connection broken for good.
fn assert_killed<R: TestRt>(what: &str, c: &Conn<R>, e: &Error) {
    let ok = e.code() == Some(pgsans::SqlState::ADMIN_SHUTDOWN) || matches!(e, Error::Closed(_) | Error::Io(_));
    assert!(ok, "{what}: {e:?}");
    assert!(e.is_fatal(), "{what}: {e:?}");
    assert!(c.is_broken(), "{what}: the connection is broken");
}

async fn count<R: TestRt>(table: &str) -> String {
    let mut c = connect::<R>().await;
    scalar(&mut c, &format!("SELECT count(*) FROM {table}")).await.unwrap().unwrap_or_default()
}

pub async fn a_killed_backend_leaves_nothing_half_done<R: TestRt>() {
    let limit = Duration::from_secs(20);
    let table = format!("faults_{}", R::NAME.replace('-', "_"));
    {
        let mut setup = connect::<R>().await;
        setup.set_autocommit(true).await.unwrap();
        setup.batch_execute(&format!("DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (n int)")).await.unwrap();
    }

    // Mid-query inside a transaction: the rows it inserted are gone with it.
    let mut c = connect::<R>().await;
    c.execute(format!("INSERT INTO {table} SELECT generate_series(1, 100)").as_str(), &[]).await.unwrap();
    let killer = kill_after(c.backend_pid(), Duration::from_millis(200));
    let e = must_finish::<R, _>("a killed query", limit, c.batch_execute("SELECT pg_sleep(30)")).await.unwrap_err();
    killer.join().unwrap();
    assert_killed("mid-query", &c, &e);
    assert_eq!(count::<R>(&table).await, "0", "the interrupted transaction left no rows");

    // Mid row stream.
    let mut c = connect::<R>().await;
    let killer = kill_after(c.backend_pid(), Duration::from_millis(200));
    let e = must_finish::<R, _>("a killed row stream", limit, async {
        let mut stream = c.query_raw("SELECT g, pg_sleep(0.001) FROM generate_series(1, 100000) g", &[]).await?;
        while stream.next().await?.is_some() {}
        Ok::<_, Error>(())
    })
    .await
    .unwrap_err();
    killer.join().unwrap();
    assert_killed("mid row stream", &c, &e);

    // Mid COPY IN: nothing copied.
    let mut c = connect::<R>().await;
    c.set_autocommit(true).await.unwrap();
    let pid = c.backend_pid();
    let e = must_finish::<R, _>("a killed COPY IN", limit, async {
        let mut copy = c.copy_in(&format!("COPY {table} FROM STDIN")).await?;
        let killer = kill_after(pid, Duration::from_millis(100));
        let mut result = Ok(());
        for i in 0..200 {
            if let Err(e) = copy.write(format!("{i}\n").repeat(1000).as_bytes()).await {
                result = Err(e);
                break;
            }
            R::sleep(Duration::from_millis(5)).await;
        }
        killer.join().unwrap();
        result?;
        copy.finish().await.map(drop)
    })
    .await
    .unwrap_err();
    assert_killed("mid COPY IN", &c, &e);
    assert_eq!(count::<R>(&table).await, "0", "an interrupted COPY copied nothing");

    // Mid COPY OUT.
    let mut c = connect::<R>().await;
    let killer = kill_after(c.backend_pid(), Duration::from_millis(200));
    let e = must_finish::<R, _>("a killed COPY OUT", limit, async {
        let mut copy =
            c.copy_out("COPY (SELECT g, pg_sleep(0.001) FROM generate_series(1, 100000) g) TO STDOUT").await?;
        while copy.next().await?.is_some() {}
        Ok::<_, Error>(())
    })
    .await
    .unwrap_err();
    killer.join().unwrap();
    assert_killed("mid COPY OUT", &c, &e);

    // Mid-pipeline: the outer call fails, or every result after the kill does.
    let mut c = connect::<R>().await;
    let killer = kill_after(c.backend_pid(), Duration::from_millis(200));
    let mut p = pgsans::Pipeline::new();
    p.query("SELECT 1", &[]);
    p.query("SELECT pg_sleep(30)", &[]);
    p.query("SELECT 3", &[]);
    let r = must_finish::<R, _>("a killed pipeline", limit, c.pipeline(p)).await;
    killer.join().unwrap();
    match r {
        Err(e) => assert_killed("mid-pipeline", &c, &e),
        Ok(results) => {
            assert!(results[1..].iter().all(|r| r.is_err()), "{results:?}");
            assert!(c.is_broken());
        }
    }

    // Between tpc_prepare and tpc_commit: the prepared transaction survives its backend and
    // is committed from a new connection.
    let mut c = connect::<R>().await;
    let xid = Xid::new(9, &format!("fault-{}", R::NAME), "b").unwrap();
    c.tpc_begin(xid.clone()).await.unwrap();
    c.execute(format!("INSERT INTO {table} VALUES (42)").as_str(), &[]).await.unwrap();
    c.tpc_prepare().await.unwrap();
    kill_after(c.backend_pid(), Duration::ZERO).join().unwrap();
    let e = c.tpc_commit(None).await.unwrap_err();
    assert_killed("between tpc_prepare and tpc_commit", &c, &e);
    let mut other = connect::<R>().await;
    let found = other.tpc_recover().await.unwrap();
    let recovered = found.iter().find(|r| r.xid == xid).expect("the prepared transaction is recoverable");
    other.tpc_commit(Some(&recovered.xid)).await.unwrap();
    assert_eq!(count::<R>(&table).await, "1", "committed after its backend died");
}

/// Sends `signal` to a server process (the tests run as root, the server as `postgres`).
fn signal(pid: i32, signal: &str) {
    let ok = std::process::Command::new("kill").args([signal, &pid.to_string()]).status().unwrap().success();
    assert!(ok, "kill {signal} {pid}");
}

/// The backend stopped (`SIGSTOP`) looks silent: with a call timeout the query ends in
/// `Error::Timeout` on time; once the backend runs again the cancel sent meanwhile is served
/// and the connection is usable.
pub async fn a_silent_backend_times_out_and_the_connection_recovers<R: TestRt>() {
    let mut c = connect::<R>().await;
    c.set_autocommit(true).await.unwrap();
    c.set_call_timeout(Some(Duration::from_millis(300)));
    let pid = c.backend_pid();
    signal(pid, "-STOP");
    let resume = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        signal(pid, "-CONT");
    });
    let t = std::time::Instant::now();
    // A query the cancel must interrupt once the backend runs again (one that finished at
    // once would be returned: its work was done).
    let r = must_finish::<R, _>(
        "a query to a stopped backend",
        Duration::from_secs(20),
        c.query("SELECT pg_sleep(5)", &[]),
    )
    .await;
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    // The timeout, plus the (bounded) wait for the cancelled query to end.
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    resume.join().unwrap();
    let n: i32 = c.query_one("SELECT 41 + 1", &[]).await.unwrap().get(0).unwrap();
    assert_eq!(n, 42);
    assert!(!c.is_broken());
}

/// `SIGKILL` of a backend makes the server restart every backend (crash recovery), so it runs
/// against a server of its own: the killed connection and every other get a typed error, and
/// new connections work once the server has recovered.
#[test]
fn sigkill_of_a_backend_is_a_typed_error_for_every_connection() {
    let server = TestServer::start().unwrap();
    let conninfo = server.conninfo(AuthMethod::Trust);
    let mut victim = pgsans_std::Connection::connect(&conninfo).unwrap();
    let mut bystander = pgsans_std::Connection::connect(&conninfo).unwrap();
    victim.set_autocommit(true).unwrap();
    bystander.set_autocommit(true).unwrap();
    let pid = victim.backend_pid();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        signal(pid, "-KILL");
    });
    let e = victim.simple_query("SELECT pg_sleep(30)").unwrap_err();
    killer.join().unwrap();
    assert!(e.is_fatal(), "{e:?}");
    assert!(victim.engine().is_broken());
    // The postmaster ends every other backend to recover: the bystander learns it on its next call.
    std::thread::sleep(Duration::from_millis(500));
    let e = bystander.simple_query("SELECT 1").unwrap_err();
    assert!(e.is_fatal(), "{e:?}");
    // Once recovered, new connections work.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match pgsans_std::Connection::connect(&conninfo) {
            Ok(mut c) => {
                assert_eq!(c.query_one("SELECT 7", &[]).unwrap().get::<i32, _>(0).unwrap(), 7);
                break;
            }
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("the server did not recover: {e}"),
        }
    }
}
