//! Spinning for an answer before sleeping (`Config::spin_wait`): results are the same whatever
//! the limit — including limits that always run out and the client sleeps after all — and an
//! async client that spins leaves the CPU to its runtime's other tasks.

use pgsans::SqlState;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pgsans::Error;
use pgsans_tests::*;

pub async fn answers_are_the_same_whatever_the_spin_limit<R: TestRt>() {
    let limits =
        [Duration::ZERO, Duration::from_micros(1), pgsans_client::io::DEFAULT_SPIN_WAIT, Duration::from_secs(10)];
    for limit in limits {
        let mut c: Conn<R> = Conn::<R>::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap();
        c.set_autocommit(true).await.unwrap();
        c.set_spin_wait(limit);
        let stmt = c.prepare("SELECT $1::int4 * 2").await.unwrap();
        for i in 0..50i32 {
            let rows = c.query(&stmt, &[&i]).await.unwrap();
            assert_eq!(rows[0].get::<i32, _>(0).unwrap(), i * 2, "limit {limit:?}");
        }
        // Slower than every limit but the last: those spins run out and the client sleeps.
        assert_eq!(scalar(&mut c, "SELECT pg_sleep(0.02)::text || 'slept'").await.unwrap().as_deref(), Some("slept"));
        let (n, sum, _) = stream_sum(&mut c, "SELECT generate_series(1, 20000)::int8", &[], None).await.unwrap();
        assert_eq!((n, sum), (20_000, 20_000 * 20_001 / 2), "limit {limit:?}");
        let mut p = pgsans::Pipeline::new();
        p.query("SELECT 1::int4", &[]).query("SELECT 1/0", &[]).query("SELECT 3::int4", &[]);
        let results = c.pipeline(p).await.unwrap();
        assert!(matches!(&results[1], Err(Error::Db(e)) if e.code() == SqlState::DIVISION_BY_ZERO), "{:?}", results[1]);
        assert!(matches!(&results[2], Err(Error::PipelineAborted)), "{:?}", results[2]);
        assert_eq!(scalar(&mut c, "SELECT 'still usable'").await.unwrap().as_deref(), Some("still usable"));
        c.close().await.unwrap();
    }
}

// Each test: while one task's query spins for the whole of a 0.2 s server sleep (spin limit
// 10 s), another task on the same thread, which only counts and yields, keeps running. A spin
// that did not yield would hold the only thread for the whole 0.2 s: 0 turns.

#[test]
fn tokio_spinning_yields_to_other_tasks() {
    let conninfo = TestServer::shared().conninfo(AuthMethod::Trust);
    let (stop, turns) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let seen = rt.block_on(async {
        let mut conn = pgsans_tokio::Connection::connect(&conninfo).await.unwrap();
        conn.set_autocommit(true).await.unwrap();
        conn.set_spin_wait(Duration::from_secs(10));
        let (s, t) = (stop.clone(), turns.clone());
        let other = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                t.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        });
        let before = turns.load(Ordering::Relaxed);
        let rows = conn.simple_query("SELECT pg_sleep(0.2)::text || 'x'").await.unwrap();
        assert_eq!(rows[0].rows()[0].text(0).unwrap().as_deref(), Some("x"));
        let seen = turns.load(Ordering::Relaxed) - before;
        stop.store(true, Ordering::Relaxed);
        other.await.unwrap();
        seen
    });
    assert!(seen >= 100, "the other task ran {seen} times");
}

#[test]
fn smol_spinning_yields_to_other_tasks() {
    let conninfo = TestServer::shared().conninfo(AuthMethod::Trust);
    let (stop, turns) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let ex = smol::LocalExecutor::new();
    let seen = smol::block_on(ex.run(async {
        let mut conn = pgsans_smol::Connection::connect(&conninfo).await.unwrap();
        conn.set_autocommit(true).await.unwrap();
        conn.set_spin_wait(Duration::from_secs(10));
        let (s, t) = (stop.clone(), turns.clone());
        let other = ex.spawn(async move {
            while !s.load(Ordering::Relaxed) {
                t.fetch_add(1, Ordering::Relaxed);
                smol::future::yield_now().await;
            }
        });
        let before = turns.load(Ordering::Relaxed);
        let rows = conn.simple_query("SELECT pg_sleep(0.2)::text || 'x'").await.unwrap();
        assert_eq!(rows[0].rows()[0].text(0).unwrap().as_deref(), Some("x"));
        let seen = turns.load(Ordering::Relaxed) - before;
        stop.store(true, Ordering::Relaxed);
        other.await;
        seen
    }));
    assert!(seen >= 100, "the other task ran {seen} times");
}

/// A server that accepts one connection and never answers.
fn silent_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let _held: Vec<_> = listener.incoming().take(1).collect();
        std::thread::sleep(Duration::from_secs(30));
    });
    port
}

fn spinning_config_with_timeout(port: u16) -> pgsans::Config {
    let mut config = pgsans::Config::parse(&format!("host=127.0.0.1 port={port} user=x connect_timeout=1")).unwrap();
    config.spin_wait(Duration::from_secs(10));
    config
}

// connect_timeout still holds while the client spins (limit 10 s) for a startup answer that
// never comes.

#[test]
fn std_connect_timeout_ends_a_spin() {
    let config = spinning_config_with_timeout(silent_server());
    let t = std::time::Instant::now();
    let r = pgsans_std::Connection::connect_with(&config);
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(5), "took {:?}", t.elapsed());
}

#[test]
fn tokio_connect_timeout_ends_a_spin() {
    let config = spinning_config_with_timeout(silent_server());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let t = std::time::Instant::now();
    let r = rt.block_on(pgsans_tokio::Connection::connect_with(&config));
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(5), "took {:?}", t.elapsed());
}
