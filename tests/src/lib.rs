//! Support for the behavioural suite. Every test body is an `async fn` over the library's own
//! connection type, [`pgsans_client::Connection<R>`], and runs once per runtime: Tokio, smol,
//! async-std (running the smol runtime on its own executor) and the blocking client's own
//! executor (`pgsans_std::Std`). [`TestRt`] only says how to run a future on each.

/// The README's Rust examples, compiled by `cargo test --doc` (here, where every runtime is a
/// dependency anyway: the transport crates stay light to build).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;

use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

use pgsans::config::Target;
use pgsans::{Error, OwnedRow, Params, ResultSet};

pub use pgsans_harness::{AuthMethod, TestServer};

/// Starts a server with `start` from a thread that never ends, as `TestServer::shared` does
/// (the server's death signal follows the thread that forked it).
fn start_kept(start: fn() -> Result<TestServer, String>, what: &str) -> TestServer {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        tx.send(start()).ok();
        loop {
            std::thread::park();
        }
    });
    rx.recv().expect("harness thread").unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// A second server, started once per test binary, for what the shared one must not be:
/// two-phase commit disabled (`max_prepared_transactions = 0`) and TLS off (`ssl = off`).
pub fn second_server() -> &'static TestServer {
    static SERVER: std::sync::OnceLock<TestServer> = std::sync::OnceLock::new();
    SERVER.get_or_init(|| {
        start_kept(|| TestServer::start_with(&[("max_prepared_transactions", "0"), ("ssl", "off")]), "second server")
    })
}

/// A streaming hot standby of the shared server, started once per test binary.
pub fn standby_server() -> &'static TestServer {
    static SERVER: std::sync::OnceLock<TestServer> = std::sync::OnceLock::new();
    SERVER.get_or_init(|| start_kept(|| TestServer::shared().start_standby(), "standby"))
}

/// A PostgreSQL 18 server (fetched by the harness when needed), started once per test binary.
pub fn pg18_server() -> &'static TestServer {
    static SERVER: std::sync::OnceLock<TestServer> = std::sync::OnceLock::new();
    SERVER.get_or_init(|| start_kept(TestServer::start_pg18, "PostgreSQL 18"))
}

/// A server with `wal_level = logical` (logical replication), started once per test binary.
pub fn logical_server() -> &'static TestServer {
    static SERVER: std::sync::OnceLock<TestServer> = std::sync::OnceLock::new();
    SERVER.get_or_init(|| {
        start_kept(
            || {
                TestServer::start_with(&[
                    ("wal_level", "logical"),
                    ("max_wal_senders", "30"),
                    ("max_replication_slots", "30"),
                    // Small enough that a large transaction is streamed (streaming = on).
                    ("logical_decoding_work_mem", "64kB"),
                    // Keepalives every 5 s: a test waiting for messages never blocks long (and a
                    // loaded machine does not time the walsender out).
                    ("wal_sender_timeout", "10s"),
                ])
            },
            "logical replication server",
        )
    })
}

/// The connection under test.
pub type Conn<R> = pgsans_client::Connection<R>;

/// How a transaction scope ends in a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeEnd {
    Commit,
    Rollback,
    /// The guard is dropped without commit or rollback.
    Drop,
}

/// A runtime the suite runs on: the library's [`Runtime`](pgsans_client::Runtime) plus how to
/// run a test body on it.
pub trait TestRt: pgsans_client::Runtime {
    const NAME: &'static str;

    /// Runs a future to completion on this thread.
    fn block_on<F: Future>(f: F) -> F::Output;

    /// Races `f` against a timer of `d`, dropping `f` if the timer wins: `Some(finished)`;
    /// `None` on a runtime whose futures block (the blocking client: nothing to race).
    fn timeout<F: Future>(f: F, d: Duration) -> impl Future<Output = Option<Option<F::Output>>>;

    /// Sleeps on this runtime's timer (the blocking client: the thread sleeps) — a consumer
    /// that pauses.
    fn sleep(d: Duration) -> impl Future<Output = ()>;
}

/// Polls `f` at most `polls` times (letting the runtime move bytes in between), then drops it
/// if it has not finished: a future cancelled at its `polls`-th await point.
pub async fn poll_then_drop<R: TestRt, F: Future>(f: F, polls: usize) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    for i in 0..polls {
        if let Some(out) = futures_lite::future::poll_once(f.as_mut()).await {
            return Some(out);
        }
        if i % 3 == 2 {
            R::sleep(Duration::from_millis(1)).await;
        }
    }
    None
}

/// Runs `f`, failing the test if it has not finished after `d` (a hang) on runtimes whose
/// futures can be raced against a timer; the blocking client simply runs it.
pub async fn must_finish<R: TestRt, F: Future>(what: &str, d: Duration, f: F) -> F::Output {
    if R::NAME == "std" {
        return f.await;
    }
    match R::timeout(f, d).await {
        Some(Some(out)) => out,
        _ => panic!("{what} on {} hung: not finished after {d:?}", R::NAME),
    }
}

impl TestRt for pgsans_std::Std {
    const NAME: &'static str = "std";
    fn block_on<F: Future>(f: F) -> F::Output {
        pgsans_std::block_on(f)
    }
    async fn timeout<F: Future>(_: F, _: Duration) -> Option<Option<F::Output>> {
        None
    }
    async fn sleep(d: Duration) {
        std::thread::sleep(d)
    }
}

impl TestRt for pgsans_tokio::Tokio {
    const NAME: &'static str = "tokio";
    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime").block_on(f)
    }
    async fn timeout<F: Future>(f: F, d: Duration) -> Option<Option<F::Output>> {
        Some(tokio::time::timeout(d, f).await.ok())
    }
    async fn sleep(d: Duration) {
        tokio::time::sleep(d).await
    }
}

/// Tokio's multi-thread runtime (`#[tokio::main]`'s default): the same sockets as
/// [`pgsans_tokio::Tokio`], but the I/O driver and timers run on worker threads while the test
/// body runs — which is where a lost wake-up shows.
#[derive(Debug, Clone, Copy)]
pub struct TokioMt;

impl pgsans_client::Runtime for TokioMt {
    type Socket = pgsans_tokio::Socket;
    async fn connect(target: &Target, deadline: Option<Instant>) -> io::Result<pgsans_tokio::Socket> {
        <pgsans_tokio::Tokio as pgsans_client::Runtime>::connect(target, deadline).await
    }
    async fn sleep_until(deadline: Instant) {
        <pgsans_tokio::Tokio as pgsans_client::Runtime>::sleep_until(deadline).await
    }
}

impl TestRt for TokioMt {
    const NAME: &'static str = "tokio-mt";
    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(f)
    }
    async fn timeout<F: Future>(f: F, d: Duration) -> Option<Option<F::Output>> {
        Some(tokio::time::timeout(d, f).await.ok())
    }
    async fn sleep(d: Duration) {
        tokio::time::sleep(d).await
    }
}

impl TestRt for pgsans_smol::Smol {
    const NAME: &'static str = "smol";
    fn block_on<F: Future>(f: F) -> F::Output {
        smol::block_on(f)
    }
    async fn timeout<F: Future>(f: F, d: Duration) -> Option<Option<F::Output>> {
        Some(
            smol::future::or(async { Some(f.await) }, async {
                smol::Timer::after(d).await;
                None
            })
            .await,
        )
    }
    async fn sleep(d: Duration) {
        smol::Timer::after(d).await;
    }
}

/// The smol runtime driven by async-std's executor: proves the smol runtime runs there.
#[derive(Debug, Clone, Copy)]
pub struct AsyncStd;

impl pgsans_client::Runtime for AsyncStd {
    type Socket = pgsans_smol::Socket;
    async fn connect(target: &Target, deadline: Option<Instant>) -> io::Result<pgsans_smol::Socket> {
        <pgsans_smol::Smol as pgsans_client::Runtime>::connect(target, deadline).await
    }
    async fn sleep_until(deadline: Instant) {
        <pgsans_smol::Smol as pgsans_client::Runtime>::sleep_until(deadline).await
    }
}

impl TestRt for AsyncStd {
    const NAME: &'static str = "async-std";
    fn block_on<F: Future>(f: F) -> F::Output {
        async_std::task::block_on(f)
    }
    async fn timeout<F: Future>(f: F, d: Duration) -> Option<Option<F::Output>> {
        Some(async_std::future::timeout(d, f).await.ok())
    }
    async fn sleep(d: Duration) {
        async_std::task::sleep(d).await
    }
}

/// Connects on runtime `R`.
pub async fn connect<R: TestRt>(conninfo: &str) -> Result<Conn<R>, Error> {
    Conn::<R>::connect(conninfo).await
}

/// The first column of the first row of `sql`.
pub async fn scalar<R: TestRt>(c: &mut Conn<R>, sql: &str) -> Result<Option<String>, Error> {
    let results: Vec<ResultSet> = c.simple_query(sql).await?;
    match results.first().and_then(|r| r.rows().first()) {
        Some(row) => Ok(row.text(0)?.map(std::borrow::Cow::into_owned)),
        None => Ok(None),
    }
}

/// Opens a transaction scope, runs `sql` in it, ends it as told.
pub async fn in_scope<R: TestRt>(c: &mut Conn<R>, sql: &str, end: ScopeEnd) -> Result<(), Error> {
    let mut tx = c.transaction().await?;
    tx.batch_execute(sql).await?;
    match end {
        ScopeEnd::Commit => tx.commit().await,
        ScopeEnd::Rollback => tx.rollback().await,
        ScopeEnd::Drop => {
            drop(tx);
            Ok(())
        }
    }
}

/// A scope with a nested scope inside.
pub async fn in_nested_scope<R: TestRt>(
    c: &mut Conn<R>,
    outer: &str,
    inner: &str,
    inner_end: ScopeEnd,
    outer_end: ScopeEnd,
) -> Result<(), Error> {
    let mut tx = c.transaction().await?;
    tx.batch_execute(outer).await?;
    {
        let mut sp = tx.transaction().await?;
        sp.batch_execute(inner).await?;
        match inner_end {
            ScopeEnd::Commit => sp.commit().await?,
            ScopeEnd::Rollback => sp.rollback().await?,
            ScopeEnd::Drop => drop(sp),
        }
    }
    match outer_end {
        ScopeEnd::Commit => tx.commit().await,
        ScopeEnd::Rollback => tx.rollback().await,
        ScopeEnd::Drop => {
            drop(tx);
            Ok(())
        }
    }
}

/// Streams `sql` and returns (rows seen, sum of column 0 as i64, rows_affected); stops after
/// `limit` rows if given (dropping the stream).
pub async fn stream_sum<R: TestRt>(
    c: &mut Conn<R>,
    sql: &str,
    params: Params<'_>,
    limit: Option<usize>,
) -> Result<(u64, i64, Option<u64>), Error> {
    let mut stream = c.query_raw(sql, params).await?;
    let (mut n, mut sum) = (0u64, 0i64);
    while let Some(row) = stream.next().await? {
        sum += row.get::<i64, _>(0)?;
        n += 1;
        if limit.is_some_and(|l| n as usize >= l) {
            return Ok((n, sum, None));
        }
    }
    Ok((n, sum, stream.rows_affected()))
}

/// Fetches `sql` through a portal in batches of `batch` rows: the batch sizes and the sum of
/// column 0. With `stop_after`, stops after that many batches (closing the portal if `close`,
/// else dropping it).
pub async fn portal_batches<R: TestRt>(
    c: &mut Conn<R>,
    sql: &str,
    batch: i32,
    stop_after: Option<usize>,
    close: bool,
) -> Result<(Vec<usize>, i64), Error> {
    let mut portal = c.portal(sql, &[], batch).await?;
    let (mut sizes, mut sum) = (Vec::new(), 0i64);
    loop {
        let rows = portal.fetch().await?;
        if rows.is_empty() {
            break;
        }
        sizes.push(rows.len());
        for r in &rows {
            sum += r.get::<i64, _>(0)?;
        }
        if stop_after.is_some_and(|n| sizes.len() >= n) {
            if close {
                portal.close().await?;
            }
            break;
        }
    }
    Ok((sizes, sum))
}

/// Every row of `sql` fetched through a portal in batches of `batch`.
pub async fn portal_rows<R: TestRt>(c: &mut Conn<R>, sql: &str, batch: i32) -> Result<Vec<OwnedRow>, Error> {
    let mut portal = c.portal(sql, &[], batch).await?;
    let mut all = Vec::new();
    loop {
        let rows = portal.fetch().await?;
        if rows.is_empty() {
            return Ok(all);
        }
        all.extend(rows);
    }
}

/// Starts `sql` and drops it after `after` (a dropped future): `Some(finished in time)`;
/// `None` where futures block (the blocking client's runtime).
pub async fn abandon_after<R: TestRt>(c: &mut Conn<R>, sql: &str, after: Duration) -> Option<bool> {
    R::timeout(c.simple_query(sql), after).await.map(|r| r.is_some())
}

/// Fires this connection's cancel token from another thread after `delay`.
pub fn cancel_after<R: TestRt>(c: &Conn<R>, delay: Duration) -> std::thread::JoinHandle<Result<(), Error>> {
    let token = c.cancel_token().expect("cancel token");
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        R::block_on(token.cancel())
    })
}
