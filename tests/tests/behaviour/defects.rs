//! The smaller defects found by trying pgsans from outside (the defects issue, items 6–10),
//! each against the real server on every transport: notifications already received and
//! notifications left in a dropped stream, extra parameters, psycopg 3's `broken`, psycopg2's
//! autocommit isolation level, and what a refused COPY says.

use std::time::Duration;

use futures_lite::StreamExt;
use pgsans::{ConnectionStatus, Error, LegacyIsolationLevel, TransactionStatus, UsageError};
use pgsans_tests::*;

async fn connect<R: TestRt>() -> Conn<R> {
    Conn::<R>::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap()
}

async fn autocommit<R: TestRt>() -> Conn<R> {
    let mut c = connect::<R>().await;
    c.set_autocommit(true).await.unwrap();
    c
}

fn channel<R: TestRt>(name: &str) -> String {
    format!("{name}_{}", R::NAME.replace('-', "_"))
}

pub async fn notifications_on_the_socket_are_returned_by_a_zero_timeout<R: TestRt>() {
    let mut listener = autocommit::<R>().await;
    let ch = channel::<R>("zero");
    listener.batch_execute(&format!("LISTEN {ch}")).await.unwrap();
    // Nothing yet: a zero timeout returns at once, empty.
    assert!(listener.wait_for_notifications(Some(Duration::ZERO)).await.unwrap().is_empty());
    // Another client sends them while this task is busy elsewhere (its runtime does not get
    // to poll its reactor meanwhile): they sit on the socket, unnoticed by the runtime.
    let conninfo = TestServer::shared().conninfo(AuthMethod::Trust);
    let notify = format!("NOTIFY {ch}, 'a'; NOTIFY {ch}, 'b'; NOTIFY {ch}, 'c'");
    let sender = std::thread::spawn(move || {
        let mut s = pgsans_std::Connection::connect(&conninfo).unwrap();
        s.set_autocommit(true).unwrap();
        s.batch_execute(&notify).unwrap();
    });
    sender.join().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let got = listener.wait_for_notifications(Some(Duration::ZERO)).await.unwrap();
    let payloads: Vec<_> = got.iter().map(|n| n.payload.as_str()).collect();
    assert_eq!(payloads, ["a", "b", "c"], "psycopg's notifies(timeout=0): what has arrived by now");
    assert!(listener.wait_for_notifications(Some(Duration::ZERO)).await.unwrap().is_empty());
}

pub async fn notifications_left_in_a_dropped_stream_are_kept<R: TestRt>() {
    let mut listener = autocommit::<R>().await;
    let mut sender = autocommit::<R>().await;
    let ch = channel::<R>("kept");
    listener.batch_execute(&format!("LISTEN {ch}")).await.unwrap();
    // One transaction: the three arrive together, in one batch.
    sender
        .batch_execute(&format!("BEGIN; NOTIFY {ch}, '1'; NOTIFY {ch}, '2'; NOTIFY {ch}, '3'; COMMIT"))
        .await
        .unwrap();
    {
        let mut stream = Box::pin(listener.notifications());
        let first = stream.next().await.unwrap().unwrap();
        let second = stream.next().await.unwrap().unwrap();
        assert_eq!((first.payload.as_str(), second.payload.as_str()), ("1", "2"));
    } // dropped after two of the batch (psycopg 3's test_stop_after_batch)
    let rest = listener.wait_for_notifications(Some(Duration::from_secs(5))).await.unwrap();
    assert_eq!(
        rest.iter().map(|n| n.payload.as_str()).collect::<Vec<_>>(),
        ["3"],
        "the third is kept for the next call"
    );
    // One at a time, with a timeout that passes.
    sender.batch_execute(&format!("NOTIFY {ch}, '4'; NOTIFY {ch}, '5'")).await.unwrap();
    assert_eq!(listener.next_notification(Some(Duration::from_secs(5))).await.unwrap().unwrap().payload, "4");
    assert_eq!(listener.next_notification(Some(Duration::from_secs(5))).await.unwrap().unwrap().payload, "5");
    assert!(listener.next_notification(Some(Duration::from_millis(50))).await.unwrap().is_none());
}

pub async fn extra_parameters_are_refused_before_sending<R: TestRt>() {
    let mut c = connect::<R>().await;
    let is_count = |r: &Result<_, Error>, expected: usize, given: usize| matches!(r, Err(Error::Usage(UsageError::ParameterCount { expected: e, given: g })) if *e == expected && *g == given);
    let r = c.query("SELECT $1::int4", &[&1i32, &2i32]).await.map(drop);
    assert!(is_count(&r, 1, 2), "{r:?}");
    let r = c.execute("SELECT 1 -- $1 in a comment", &[&1i32]).await.map(drop);
    assert!(is_count(&r, 0, 1), "{r:?}");
    let r = c.query_raw("SELECT $2::int4, $1::text", &[&"a", &1i32, &3i32]).await.map(drop);
    assert!(is_count(&r, 2, 3), "{r:?}");
    let mut p = pgsans::Pipeline::new();
    p.query("SELECT $1::int4", &[&1i32]).query("SELECT $1::int4", &[&1i32, &2i32]);
    assert!(is_count(&c.pipeline(p).await.map(drop), 1, 2));
    // A prepared statement knows its parameters.
    let stmt = c.prepare("SELECT $1::int4").await.unwrap();
    assert!(is_count(&c.query(&stmt, &[&1i32, &2i32]).await.map(drop), 1, 2));
    // Too few is refused too, and nothing was left half-sent: the connection answers.
    assert!(c.query("SELECT $1::int4, $2::int4", &[&1i32]).await.is_err());
    c.rollback().await.unwrap();
    assert_eq!(c.query_one("SELECT $1::int4 + 1", &[&41i32]).await.unwrap().get::<i32, _>(0).unwrap(), 42);
}

pub async fn broken_stays_true_after_close<R: TestRt>() {
    let mut victim = connect::<R>().await;
    let mut admin = autocommit::<R>().await;
    assert!(!victim.is_broken());
    scalar(&mut admin, &format!("SELECT pg_terminate_backend({})", victim.backend_pid())).await.unwrap();
    victim.simple_query("SELECT 1").await.unwrap_err();
    assert!(victim.is_broken());
    assert_eq!(victim.closed(), 2);
    victim.close().await.unwrap();
    assert!(victim.is_broken(), "psycopg 3: broken stays true after close()");
    assert_eq!(victim.closed(), 1, "psycopg2: closed is 1 after close()");
    // A connection closed by the client is not broken.
    let mut fine = connect::<R>().await;
    fine.close().await.unwrap();
    assert!(!fine.is_broken());
    assert_eq!(fine.closed(), 1);
}

pub async fn set_isolation_level_takes_the_autocommit_level<R: TestRt>() {
    let mut c = connect::<R>().await;
    let mut o = autocommit::<R>().await;
    let t = channel::<R>("isolevel_autocommit");
    o.batch_execute(&format!("DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (v int)")).await.unwrap();
    c.execute(format!("INSERT INTO {t} VALUES (1)").as_str(), &[]).await.unwrap();
    assert_eq!(c.status(), ConnectionStatus::Begin);
    // psycopg2's ISOLATION_LEVEL_AUTOCOMMIT (0): the open transaction is rolled back first.
    c.set_isolation_level(LegacyIsolationLevel::from_psycopg2(Some(0)).unwrap()).await.unwrap();
    assert!(c.autocommit());
    assert_eq!(c.transaction_status(), TransactionStatus::Idle);
    c.execute(format!("INSERT INTO {t} VALUES (2)").as_str(), &[]).await.unwrap();
    assert_eq!(c.status(), ConnectionStatus::Ready, "autocommit: no transaction was opened");
    let seen = scalar(&mut o, &format!("SELECT string_agg(v::text, ',') FROM {t}")).await.unwrap();
    assert_eq!(seen.as_deref(), Some("2"), "the first insert rolled back, the second committed by itself");
    // Back to a level: autocommit off, the level rides on BEGIN.
    c.set_isolation_level(LegacyIsolationLevel::from_psycopg2(Some(3)).unwrap()).await.unwrap();
    assert!(!c.autocommit());
    assert_eq!(scalar(&mut c, "SHOW transaction_isolation").await.unwrap().as_deref(), Some("serializable"));
    c.rollback().await.unwrap();
    assert!(LegacyIsolationLevel::from_psycopg2(Some(5)).is_err());
    assert_eq!(LegacyIsolationLevel::from_psycopg2(None).unwrap(), LegacyIsolationLevel::Default);
}

pub async fn a_refused_copy_names_the_copy_methods<R: TestRt>() {
    let mut c = autocommit::<R>().await;
    let e = c.query("COPY (SELECT 1) TO STDOUT", &[]).await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("copy_out") && text.contains("copy_in"), "{text}");
    assert!(!text.contains("no COPY API"), "{text}");
}

pub async fn chrono_offsets_and_local_times<R: TestRt>() {
    use chrono::{DateTime, FixedOffset, Local, TimeZone, Utc};
    let mut c = autocommit::<R>().await;
    let at = FixedOffset::east_opt(5 * 3600).unwrap().with_ymd_and_hms(2026, 12, 7, 17, 30, 0).unwrap();
    // Sent with its offset, stored as an instant.
    let row = c.query_one("SELECT $1::timestamptz, $1::timestamptz::text", &[&at]).await.unwrap();
    let utc: DateTime<Utc> = row.get(0).unwrap();
    assert_eq!(utc, at.with_timezone(&Utc));
    let fixed: DateTime<FixedOffset> = row.get(0).unwrap();
    assert_eq!(fixed, at, "the same instant");
    assert_eq!(fixed.offset().local_minus_utc(), 0, "read back at +00:00");
    let local: DateTime<Local> = row.get(0).unwrap();
    assert_eq!(local, at.with_timezone(&Local));
    // Text format too (simple query path).
    let text = c.simple_query("SELECT '2026-12-07 12:30:00+00'::timestamptz").await.unwrap();
    let fixed: DateTime<FixedOffset> = text[0].rows()[0].get(0).unwrap();
    assert_eq!(fixed.with_timezone(&Utc), Utc.with_ymd_and_hms(2026, 12, 7, 12, 30, 0).unwrap());
    let now: DateTime<Local> = Local::now();
    let back: DateTime<Local> = c.query_one("SELECT $1::timestamptz", &[&now]).await.unwrap().get(0).unwrap();
    assert_eq!(back.timestamp_micros(), now.timestamp_micros());
}
