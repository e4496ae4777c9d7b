//! The pool: whatever its users did — a transaction left open, a scope, a commit, a row stream,
//! a COPY in either direction or a pipeline dropped at any await point — the server never holds
//! a pooled connection idle in a transaction, and the next user gets a clean session. Timeouts,
//! broken connections, health checks, the reset policy, maintenance and statistics.

use std::time::Duration;

use pgsans::{Config, ConnectionStatus, Error, Pipeline, TransactionStatus};
use pgsans_client::{HealthCheck, Pool, PoolOptions, Recycle};
use pgsans_tests::*;

fn options(max_size: usize) -> PoolOptions {
    let mut o = PoolOptions::default();
    o.max_size = max_size;
    o.health_check = HealthCheck::Never;
    o
}

fn pool<R: TestRt>(o: PoolOptions) -> Pool<R> {
    Pool::new(Config::parse(&TestServer::shared().conninfo(AuthMethod::Trust)).unwrap(), o)
}

async fn observer<R: TestRt>() -> Conn<R> {
    let mut o = Conn::<R>::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap();
    o.set_autocommit(true).await.unwrap();
    o
}

/// The server's state for backend `pid` once it has stopped working on what it was sent
/// (what a returned connection queued is written at once; the server takes a moment).
async fn server_state<R: TestRt>(o: &mut Conn<R>, pid: i32) -> String {
    let mut state = String::new();
    for _ in 0..400 {
        let rows = o.query("SELECT state FROM pg_stat_activity WHERE pid = $1", &[&pid]).await.unwrap();
        state = match rows.first() {
            Some(row) => row.get::<String, _>(0).unwrap(),
            None => return "gone".into(),
        };
        if state == "idle" {
            break;
        }
        R::sleep(Duration::from_millis(5)).await;
    }
    state
}

/// One thing a user may do with a pooled connection, dropped after `polls` polls.
async fn scenario<R: TestRt>(c: &mut Conn<R>, which: usize, polls: usize, t: &str) {
    let insert = format!("INSERT INTO {t} VALUES (1)");
    match which {
        // psycopg2's semantics: the statement opened a transaction nobody committed.
        0 => {
            let _ = poll_then_drop::<R, _>(c.execute(insert.as_str(), &[]), polls).await;
        }
        // A scope dropped while it runs.
        1 => {
            let body = async {
                let mut tx = c.transaction().await?;
                tx.execute(insert.as_str(), &[]).await?;
                tx.query("SELECT pg_sleep(0.002)", &[]).await?;
                Ok::<_, Error>(())
            };
            let _ = poll_then_drop::<R, _>(body, polls).await;
        }
        // A stream dropped mid-result.
        2 => {
            let body = async {
                c.execute(insert.as_str(), &[]).await?;
                let mut rows = c.query_raw("SELECT g FROM generate_series(1, 100000) g", &[]).await?;
                for _ in 0..polls * 50 {
                    rows.next().await?;
                }
                Ok::<_, Error>(())
            };
            let _ = poll_then_drop::<R, _>(body, polls + 3).await;
        }
        // COPY IN dropped before its end.
        3 => {
            let body = async {
                let mut copy = c.copy_in(&format!("COPY {t} FROM STDIN")).await?;
                for _ in 0..polls {
                    copy.write(b"7\n").await?;
                }
                Ok::<_, Error>(())
            };
            let _ = poll_then_drop::<R, _>(body, polls + 2).await;
        }
        // COPY OUT dropped mid-data.
        4 => {
            let body = async {
                c.execute(insert.as_str(), &[]).await?;
                let mut copy = c.copy_out("COPY (SELECT g FROM generate_series(1, 100000) g) TO STDOUT").await?;
                for _ in 0..polls * 10 {
                    copy.next().await?;
                }
                Ok::<_, Error>(())
            };
            let _ = poll_then_drop::<R, _>(body, polls + 3).await;
        }
        // commit() dropped (of a transaction that wrote nothing: a COMMIT once sent commits).
        6 => {
            let body = async {
                c.query("SELECT pg_sleep(0.002)", &[]).await?;
                c.commit().await
            };
            let _ = poll_then_drop::<R, _>(body, polls).await;
        }
        // A pipeline dropped while it runs.
        _ => {
            let mut p = Pipeline::new();
            p.query(insert.as_str(), &[]);
            p.query("SELECT pg_sleep(0.002)", &[]);
            p.query(insert.as_str(), &[]);
            let _ = poll_then_drop::<R, _>(c.pipeline(p), polls).await;
        }
    }
}

pub async fn a_pooled_connection_is_never_handed_out_or_left_in_a_transaction<R: TestRt>() {
    let mut o = observer::<R>().await;
    let t = format!("pool_tx_{}", R::NAME.replace('-', "_"));
    o.batch_execute(&format!("DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (v int)")).await.unwrap();
    let pool = pool::<R>(options(2));
    for which in 0..7 {
        for polls in [0, 1, 2, 3, 5, 8] {
            let what = format!("scenario {which} dropped after {polls} polls");
            let pid = {
                let mut c = pool.get().await.unwrap();
                let pid = c.backend_pid();
                scenario::<R>(&mut c, which, polls, &t).await;
                pid
            };
            // Given back: the server is not left idle in a transaction.
            let state = server_state(&mut o, pid).await;
            assert!(!state.starts_with("idle in transaction"), "{what}: the server holds backend {pid} {state}");
            // Whoever gets a connection next gets a clean one.
            let mut c = pool.get().await.unwrap();
            assert_eq!(c.transaction_status(), TransactionStatus::Idle, "{what}");
            assert_eq!(c.status(), ConnectionStatus::Ready, "{what}");
            assert_eq!(c.engine().transaction_depth(), 0, "{what}");
            // The server agrees: that backend is idle, in no transaction, before this user's
            // first statement.
            let state = server_state(&mut o, c.backend_pid()).await;
            assert_eq!(state, "idle", "{what}");
            c.execute(format!("INSERT INTO {t} VALUES (2)").as_str(), &[])
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            c.rollback().await.unwrap();
            drop(c);
            // Nothing a dropped user did was committed.
            let committed = scalar(&mut o, &format!("SELECT count(*) FROM {t}")).await.unwrap();
            assert_eq!(committed.as_deref(), Some("0"), "{what}");
        }
    }
    let stats = pool.stats();
    assert!(stats.size <= 2, "{stats:?}");
    assert!(stats.rolled_back > 0, "{stats:?}");
}

pub async fn acquire_times_out_and_statistics_count<R: TestRt>() {
    let mut o = options(1);
    o.acquire_timeout = Some(Duration::from_millis(150));
    let pool = pool::<R>(o);
    let first = pool.get().await.unwrap();
    let pid = first.backend_pid();
    let started = std::time::Instant::now();
    assert!(matches!(pool.get().await, Err(Error::Timeout)));
    assert!(started.elapsed() >= Duration::from_millis(150));
    let stats = pool.stats();
    assert_eq!((stats.size, stats.idle, stats.timeouts, stats.opened, stats.acquired), (1, 0, 1, 1, 1), "{stats:?}");
    drop(first);
    let again = pool.get().await.unwrap();
    assert_eq!(again.backend_pid(), pid, "the idle connection is reused");
    drop(again);
    let stats = pool.stats();
    assert_eq!((stats.size, stats.idle, stats.acquired, stats.waiting), (1, 1, 2, 0), "{stats:?}");
    pool.close();
    assert!(pool.get().await.is_err(), "a closed pool hands out nothing");
    // A pool that may hold nothing is a typed error, not a wait for ever.
    let empty = crate::pool::pool::<R>(options(0));
    assert!(matches!(empty.get().await, Err(Error::Usage(pgsans::UsageError::InvalidArgument(_)))));
    assert_eq!(pool.stats().size, 0);
}

pub async fn broken_connections_are_replaced_and_checks_catch_dead_ones<R: TestRt>() {
    let mut o = observer::<R>().await;
    let mut opts = options(1);
    opts.health_check = HealthCheck::Always;
    let pool = pool::<R>(opts);
    // Broken while in use: discarded when given back.
    let pid = {
        let mut c = pool.get().await.unwrap();
        let pid = c.backend_pid();
        o.query("SELECT pg_terminate_backend($1)", &[&pid]).await.unwrap();
        assert!(c.query("SELECT 1", &[]).await.is_err());
        pid
    };
    let mut c = pool.get().await.unwrap();
    assert_ne!(c.backend_pid(), pid);
    assert_eq!(c.query_one("SELECT 1::int4", &[]).await.unwrap().get::<i32, _>(0).unwrap(), 1);
    let pid = c.backend_pid();
    drop(c);
    // Killed while idle in the pool: the health check finds it, another is opened.
    o.query("SELECT pg_terminate_backend($1)", &[&pid]).await.unwrap();
    R::sleep(Duration::from_millis(50)).await;
    let mut c = pool.get().await.unwrap();
    assert_ne!(c.backend_pid(), pid);
    assert_eq!(c.query_one("SELECT 2::int4", &[]).await.unwrap().get::<i32, _>(0).unwrap(), 2);
    assert_eq!(pool.stats().closed, 2);
}

pub async fn the_reset_policy_gives_each_user_a_fresh_session<R: TestRt>() {
    let mut opts = options(1);
    opts.recycle = Recycle::Reset;
    let pool = pool::<R>(opts);
    {
        let mut c = pool.get().await.unwrap();
        c.set_autocommit(true).await.unwrap();
        c.batch_execute("SET application_name = 'left behind'; CREATE TEMP TABLE scratch (v int)").await.unwrap();
    }
    let mut c = pool.get().await.unwrap();
    assert!(!c.autocommit(), "the default session characteristics are back");
    let name = c.query_one("SELECT current_setting('application_name')", &[]).await.unwrap();
    assert_ne!(name.get::<String, _>(0).unwrap(), "left behind");
    assert!(c.query("SELECT * FROM scratch", &[]).await.is_err(), "temporary tables are gone");
}

pub async fn maintain_keeps_min_idle_and_closes_expired<R: TestRt>() {
    let mut opts = options(4);
    opts.min_idle = 2;
    opts.idle_timeout = Some(Duration::from_millis(200));
    let pool = pool::<R>(opts);
    pool.maintain().await.unwrap();
    let stats = pool.stats();
    assert_eq!((stats.size, stats.idle, stats.opened), (2, 2, 2), "{stats:?}");
    R::sleep(Duration::from_millis(250)).await;
    pool.maintain().await.unwrap();
    let stats = pool.stats();
    assert_eq!((stats.size, stats.idle, stats.opened, stats.closed), (2, 2, 4, 2), "{stats:?}");
}

/// Eight threads share a blocking pool of three: waiting threads sleep until a connection comes
/// back, each thread's work lands, and every connection ends idle.
#[test]
fn threads_share_a_blocking_pool() {
    let mut opts = options(3);
    opts.acquire_timeout = Some(Duration::from_secs(20));
    let pool = pgsans_std::Pool::connect(&TestServer::shared().conninfo(AuthMethod::Trust), opts).unwrap();
    let mut o = pgsans_std::Connection::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).unwrap();
    o.batch_execute("DROP TABLE IF EXISTS pool_threads; CREATE TABLE pool_threads (t int, i int)").unwrap();
    o.commit().unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t: i32| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                for i in 0..40 {
                    let mut c = pool.get().unwrap();
                    c.execute("INSERT INTO pool_threads VALUES ($1, $2)", &[&t, &i]).unwrap();
                    if i % 4 == 0 {
                        continue; // given back uncommitted: rolled back
                    }
                    c.commit().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let n: i64 = o.query_one("SELECT count(*) FROM pool_threads", &[]).unwrap().get(0).unwrap();
    assert_eq!(n, 8 * 30);
    let stats = pool.stats();
    assert!(stats.size <= 3 && stats.opened <= 3, "{stats:?}");
    assert_eq!((stats.acquired, stats.rolled_back), (320, 80), "{stats:?}");
}

/// Tokio tasks on worker threads share a pool; a third are aborted at random points. No pooled
/// backend is left in a transaction, and the pool still serves.
#[test]
fn aborted_tokio_tasks_leave_no_pooled_connection_in_a_transaction() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    rt.block_on(async {
        let pool = pgsans_tokio::Pool::connect(&TestServer::shared().conninfo(AuthMethod::Trust), options(4)).unwrap();
        let tasks: Vec<_> = (0..30)
            .map(|t: i32| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    for i in 0..20 {
                        let mut c = pool.get().await.unwrap();
                        let mut tx = c.transaction().await.unwrap();
                        tx.execute("SELECT $1::int4, pg_sleep(0.0005)", &[&(t * 100 + i)]).await.unwrap();
                        tx.commit().await.unwrap();
                    }
                })
            })
            .collect();
        for (i, t) in tasks.iter().enumerate() {
            if i % 3 == 0 {
                tokio::time::sleep(Duration::from_millis(3)).await;
                t.abort();
            }
        }
        for t in tasks {
            if let Err(e) = t.await {
                assert!(e.is_cancelled(), "{e}");
            }
        }
        let mut o = pgsans_tokio::Connection::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap();
        o.set_autocommit(true).await.unwrap();
        let mut pids = Vec::new();
        let mut held = Vec::new();
        for _ in 0..4 {
            let c = pool.get().await.unwrap();
            assert_eq!(c.transaction_status(), TransactionStatus::Idle);
            pids.push(c.backend_pid());
            held.push(c);
        }
        for pid in pids {
            let row = o.query_one("SELECT state FROM pg_stat_activity WHERE pid = $1", &[&pid]).await.unwrap();
            assert_eq!(row.get::<String, _>(0).unwrap(), "idle");
        }
        assert!(pool.stats().size <= 4);
    });
}

/// A connection given back to deadpool, bb8 or r2d2 in the middle of a transaction: the next
/// checkout gets it clean, and nothing its user did is committed.
#[test]
fn deadpool_bb8_and_r2d2_managers_recycle_from_the_engines_state() {
    let config = Config::parse(&TestServer::shared().conninfo(AuthMethod::Trust)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut o = observer::<pgsans_tokio::Tokio>().await;
        o.batch_execute("DROP TABLE IF EXISTS pool_managers; CREATE TABLE pool_managers (v int)").await.unwrap();

        let manager = pgsans_client::Manager::<pgsans_tokio::Tokio>::new(config.clone());
        let pool: deadpool::managed::Pool<pgsans_client::Manager<pgsans_tokio::Tokio>> =
            deadpool::managed::Pool::builder(manager).max_size(1).build().unwrap();
        {
            let mut c = pool.get().await.unwrap();
            c.execute("INSERT INTO pool_managers VALUES (1)", &[]).await.unwrap();
            let _ = poll_then_drop::<pgsans_tokio::Tokio, _>(c.query("SELECT pg_sleep(0.05)", &[]), 1).await;
        }
        let mut c = pool.get().await.unwrap();
        assert_eq!(c.transaction_status(), TransactionStatus::Idle, "deadpool");
        assert_eq!(server_state(&mut o, c.backend_pid()).await, "idle", "deadpool");
        c.execute("SELECT 1", &[]).await.unwrap();
        c.rollback().await.unwrap();
        drop(c);

        let manager = pgsans_client::Manager::<pgsans_tokio::Tokio>::new(config.clone());
        let pool = bb8::Pool::builder().max_size(1).build(manager).await.unwrap();
        let pid = {
            let mut c = pool.get().await.unwrap();
            c.execute("INSERT INTO pool_managers VALUES (2)", &[]).await.unwrap();
            c.backend_pid()
        };
        // bb8 asks the manager as the connection comes back: the ROLLBACK is out already.
        assert_eq!(server_state(&mut o, pid).await, "idle", "bb8, given back");
        let c = pool.get().await.unwrap();
        assert_eq!(c.transaction_status(), TransactionStatus::Idle, "bb8");

        assert_eq!(scalar(&mut o, "SELECT count(*) FROM pool_managers").await.unwrap().as_deref(), Some("0"));
    });

    let pool = r2d2::Pool::builder().max_size(1).build(pgsans_std::r2d2::Manager::new(config)).unwrap();
    let pid = {
        let mut c = pool.get().unwrap();
        c.execute("INSERT INTO pool_managers VALUES (3)", &[]).unwrap();
        c.backend_pid()
    };
    let mut o = pgsans_std::Connection::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).unwrap();
    o.set_autocommit(true).unwrap();
    let state: String =
        o.query_one("SELECT state FROM pg_stat_activity WHERE pid = $1", &[&pid]).unwrap().get(0).unwrap();
    assert!(!state.starts_with("idle in transaction"), "r2d2, given back: {state}");
    let c = pool.get().unwrap();
    assert_eq!(c.transaction_status(), TransactionStatus::Idle, "r2d2");
    let n: i64 = o.query_one("SELECT count(*) FROM pool_managers", &[]).unwrap().get(0).unwrap();
    assert_eq!(n, 0);
}

/// The acquire timeout holds while a returned connection is still draining what its last user
/// left running: the caller gets `Timeout` in time, and the connection is not lost.
pub async fn acquire_timeout_holds_while_a_connection_drains<R: TestRt>() {
    if R::NAME == "std" {
        return; // a blocking call cannot be dropped while the server runs it
    }
    let mut opts = options(1);
    opts.acquire_timeout = Some(Duration::from_millis(300));
    let pool = pool::<R>(opts);
    {
        let mut c = pool.get().await.unwrap();
        // Not cancelled on the server: the next checkout has to wait for it to end.
        c.set_cancel_on_drop(false);
        // Prepared, so that the first poll sends the whole execution (SQL text seen for the
        // first time is described first, and dropped then, never runs).
        let sleep = c.prepare("SELECT pg_sleep($1::float8)").await.unwrap();
        let _ = poll_then_drop::<R, _>(c.query(&sleep, &[&2.0f64]), 6).await;
        assert!(c.engine().answers_pending(), "the query was sent and is still running");
    }
    let started = std::time::Instant::now();
    let got = pool.get().await;
    let waited = started.elapsed();
    assert!(matches!(got, Err(Error::Timeout)), "{got:?}");
    assert!(waited < Duration::from_millis(1500), "waited {waited:?} for a 300 ms acquire timeout");
    let stats = pool.stats();
    assert_eq!((stats.size, stats.idle, stats.closed, stats.timeouts), (1, 1, 0, 1), "{stats:?}");
    // Once the query has ended, the same connection is handed out, clean.
    R::sleep(Duration::from_millis(2000)).await;
    let mut c = pool.get().await.unwrap();
    assert_eq!(c.transaction_status(), TransactionStatus::Idle);
    assert_eq!(c.query_one("SELECT 3::int4", &[]).await.unwrap().get::<i32, _>(0).unwrap(), 3);
    assert_eq!(pool.stats().opened, 1);
}
