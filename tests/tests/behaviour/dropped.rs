//! Scopes and futures that end early — an early `?` return, a dropped transaction guard, a
//! future cancelled by a timeout or dropped at any of its await points — must leave the
//! connection doing what psycopg2's rules say: the first statement after them opens a
//! transaction (outside autocommit), what the connection reports agrees with what it does
//! next, and a second connection sees nothing committed that the user did not commit.

use pgsans::SqlState;
use std::time::Duration;

use pgsans::{ConnectionStatus, Error, TransactionStatus};
use pgsans_tests::*;

async fn connect<R: TestRt>() -> Conn<R> {
    Conn::<R>::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap()
}

/// A fresh table for one test and transport, created by the autocommit observer.
async fn table<R: TestRt>(observer: &mut Conn<R>, name: &str) -> String {
    let t = format!("dropped_{name}_{}", R::NAME.replace('-', "_"));
    observer.batch_execute(&format!("DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (v int)")).await.unwrap();
    t
}

async fn observer<R: TestRt>() -> Conn<R> {
    let mut o = connect::<R>().await;
    o.set_autocommit(true).await.unwrap();
    o
}

/// What another session sees committed in `t`.
async fn committed<R: TestRt>(observer: &mut Conn<R>, t: &str) -> String {
    scalar(observer, &format!("SELECT coalesce(string_agg(v::text, ',' ORDER BY v), '') FROM {t}"))
        .await
        .unwrap()
        .unwrap_or_default()
}

/// A scope left by `?`: the error returns before commit or rollback.
async fn scope_left_by_question_mark<R: TestRt>(c: &mut Conn<R>, t: &str) -> Result<(), Error> {
    let mut tx = c.transaction().await?;
    tx.execute(format!("INSERT INTO {t} VALUES (1)").as_str(), &[]).await?;
    tx.execute("SELECT 1/0", &[]).await?; // fails: `?` leaves the scope
    tx.commit().await
}

pub async fn the_statement_after_a_dropped_scope_opens_a_transaction<R: TestRt>() {
    let mut o = observer::<R>().await;
    let t = table(&mut o, "scope").await;
    let mut c = connect::<R>().await;
    assert!(!c.autocommit());
    for how in ["drop", "question mark"] {
        if how == "drop" {
            let mut tx = c.transaction().await.unwrap();
            tx.execute(format!("INSERT INTO {t} VALUES (1)").as_str(), &[]).await.unwrap();
            drop(tx);
        } else {
            assert!(scope_left_by_question_mark(&mut c, &t).await.is_err());
        }
        // What the connection reports agrees with what it does next: the scope is over.
        assert_eq!(c.status(), ConnectionStatus::Ready, "{how}");
        assert_eq!(c.transaction_status(), TransactionStatus::Idle, "{how}");
        assert_eq!(c.engine().transaction_depth(), 0);
        // psycopg2: the next statement opens a transaction, so rollback() undoes it.
        c.execute(format!("INSERT INTO {t} VALUES (2)").as_str(), &[]).await.unwrap();
        assert_eq!(c.status(), ConnectionStatus::Begin, "{how}");
        assert_eq!(committed(&mut o, &t).await, "", "{how}: nothing committed behind the user's back");
        c.rollback().await.unwrap();
        assert_eq!(committed(&mut o, &t).await, "", "{how}");
        // The server agrees: this session is idle, not in a transaction.
        let pid = c.backend_pid();
        let state = scalar(&mut o, &format!("SELECT state FROM pg_stat_activity WHERE pid = {pid}")).await.unwrap();
        assert_eq!(state.as_deref(), Some("idle"), "{how}");
    }
    // And a committed one is committed.
    c.execute(format!("INSERT INTO {t} VALUES (3)").as_str(), &[]).await.unwrap();
    c.commit().await.unwrap();
    assert_eq!(committed(&mut o, &t).await, "3");
}

/// After an operation dropped at some point: the connection is usable, and psycopg2's rule
/// holds — a new statement opens a transaction, so another session does not see its row until
/// a commit, and rollback() undoes it; the reported status follows.
async fn check_rules_hold<R: TestRt>(c: &mut Conn<R>, o: &mut Conn<R>, t: &str, marker: i32, what: &str) {
    assert_eq!(c.engine().transaction_depth(), 0, "{what}: no scope survives a dropped future");
    c.execute(format!("INSERT INTO {t} VALUES ({marker})").as_str(), &[])
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(c.status(), ConnectionStatus::Begin, "{what}");
    let seen = format!("SELECT count(*) FROM {t} WHERE v = {marker}");
    assert_eq!(
        scalar(o, &seen).await.unwrap().as_deref(),
        Some("0"),
        "{what}: the statement after it was committed behind the user's back"
    );
    c.rollback().await.unwrap();
    assert_eq!(c.status(), ConnectionStatus::Ready, "{what}");
    assert_eq!(c.transaction_status(), TransactionStatus::Idle, "{what}");
    assert_eq!(scalar(o, &seen).await.unwrap().as_deref(), Some("0"), "{what}");
}

pub async fn futures_dropped_at_every_await_point<R: TestRt>() {
    let mut o = observer::<R>().await;
    let t = table(&mut o, "await_points").await;
    let mut c = connect::<R>().await;
    for polls in 0..12 {
        // A transaction scope being opened.
        let opened = poll_then_drop::<R, _>(c.transaction(), polls).await.map(|r| r.map(drop));
        if let Some(r) = opened {
            r.unwrap();
        }
        check_rules_hold(&mut c, &mut o, &t, 100, &format!("transaction() dropped after {polls} polls")).await;

        // A statement inside a scope, and the scope's commit.
        let mut tx = c.transaction().await.unwrap();
        let _ = poll_then_drop::<R, _>(tx.execute(format!("INSERT INTO {t} VALUES (1)").as_str(), &[]), polls).await;
        let _ = poll_then_drop::<R, _>(tx.commit(), polls).await;
        check_rules_hold(&mut c, &mut o, &t, 101, &format!("scope commit dropped after {polls} polls")).await;
        o.batch_execute(&format!("DELETE FROM {t}")).await.unwrap();

        // commit() itself: whether or not the future finished, the COMMIT it sent commits.
        c.execute(format!("INSERT INTO {t} VALUES (5)").as_str(), &[]).await.unwrap();
        let _ = poll_then_drop::<R, _>(c.commit(), polls).await;
        // The commit was sent at the first poll (or not at all, with zero polls).
        let expect = if polls == 0 { "" } else { "5" };
        if polls == 0 {
            c.rollback().await.unwrap();
        }
        check_rules_hold(&mut c, &mut o, &t, 102, &format!("commit() dropped after {polls} polls")).await;
        assert_eq!(committed(&mut o, &t).await, expect, "commit() dropped after {polls} polls");
        o.batch_execute(&format!("DELETE FROM {t}")).await.unwrap();

        // A slow query.
        let _ = poll_then_drop::<R, _>(c.query("SELECT pg_sleep(0.01)", &[]), polls).await;
        c.rollback().await.unwrap();
        check_rules_hold(&mut c, &mut o, &t, 103, &format!("a query dropped after {polls} polls")).await;
    }
}

pub async fn cancelled_scope_future_leaves_nothing_open<R: TestRt>() {
    let mut o = observer::<R>().await;
    let t = table(&mut o, "cancelled").await;
    let mut c = connect::<R>().await;
    // A whole scope cancelled by a timer while the server sleeps inside it.
    let body = async {
        let mut tx = c.transaction().await?;
        tx.execute(format!("INSERT INTO {t} VALUES (1)").as_str(), &[]).await?;
        tx.simple_query("SELECT pg_sleep(0.3)").await?;
        tx.commit().await
    };
    let Some(finished) = R::timeout(body, Duration::from_millis(100)).await else {
        return; // the blocking client's futures cannot be cancelled by a timer
    };
    assert!(finished.is_none(), "the timer fired first");
    assert_eq!(c.status(), ConnectionStatus::Ready);
    assert_eq!(c.transaction_status(), TransactionStatus::Idle);
    check_rules_hold(&mut c, &mut o, &t, 104, "a cancelled scope").await;
    assert_eq!(committed(&mut o, &t).await, "");
}

/// What the server is doing for the backend `pid`: `(state, query)`.
async fn activity<R: TestRt>(o: &mut Conn<R>, pid: i32) -> (String, String) {
    let row = o.query_one("SELECT state, query FROM pg_stat_activity WHERE pid = $1", &[&pid]).await.unwrap();
    (row.get::<String, _>(0).unwrap(), row.get::<String, _>(1).unwrap())
}

pub async fn a_dropped_request_still_running_is_cancelled<R: TestRt>() {
    let mut o = observer::<R>().await;
    let mut c = connect::<R>().await;
    c.set_autocommit(true).await.unwrap();
    let pid = c.backend_pid();
    // A stream dropped after a few rows of a long result (every transport can drop one).
    {
        let mut rows = c.query_raw("SELECT g, pg_sleep(0.001) FROM generate_series(1, 20000) g", &[]).await.unwrap();
        for _ in 0..3 {
            rows.next().await.unwrap().unwrap();
        }
    }
    let started = std::time::Instant::now();
    assert_eq!(scalar(&mut c, "SELECT 'next'").await.unwrap().as_deref(), Some("next"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the next query waited {:?} behind the dropped stream",
        started.elapsed()
    );
    assert_eq!(activity(&mut o, pid).await.0, "idle");

    // A future dropped by a timer while the server sleeps.
    let Some(finished) = R::timeout(c.simple_query("SELECT pg_sleep(5), 'slow'"), Duration::from_millis(100)).await
    else {
        return; // the blocking client's calls cannot be dropped mid-flight
    };
    assert!(finished.is_none());
    let started = std::time::Instant::now();
    assert_eq!(scalar(&mut c, "SELECT 'free'").await.unwrap().as_deref(), Some("free"));
    assert!(started.elapsed() < Duration::from_secs(2), "the next query waited {:?}", started.elapsed());
    let (state, query) = activity(&mut o, pid).await;
    assert_eq!(state, "idle");
    assert!(query.contains("'free'"), "{query}");
    // In a transaction block the cancelled statement fails the transaction, as
    // statement_timeout would.
    c.set_autocommit(false).await.unwrap();
    c.batch_execute("SELECT 1").await.unwrap();
    let _ = R::timeout(c.simple_query("SELECT pg_sleep(5)"), Duration::from_millis(100)).await;
    let err = c.simple_query("SELECT 1").await.unwrap_err();
    assert_eq!(err.code(), Some(SqlState::IN_FAILED_SQL_TRANSACTION), "{err}");
    assert_eq!(c.transaction_status(), TransactionStatus::InError);
    c.rollback().await.unwrap();

    // Turned off: the abandoned statement runs to its end, the next request waits behind it.
    c.set_autocommit(true).await.unwrap();
    c.set_cancel_on_drop(false);
    let _ = R::timeout(c.simple_query("SELECT pg_sleep(1)"), Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    assert_eq!(scalar(&mut c, "SELECT 'after'").await.unwrap().as_deref(), Some("after"));
    assert!(started.elapsed() >= Duration::from_millis(600), "not cancelled: waited {:?}", started.elapsed());
}
