//! Server-side named cursors (psycopg2's `connection.cursor(name, scrollable, withhold)`).

use pgsans::{Error, TransactionStatus, UsageError};
use pgsans_client::{CursorOptions, ScrollMode};
use pgsans_tests::*;

async fn connect<R: TestRt>() -> Conn<R> {
    Conn::<R>::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap()
}

fn ints(rows: &[pgsans::OwnedRow]) -> Vec<i32> {
    rows.iter().map(|r| r.get(0).unwrap()).collect()
}

async fn open_cursors<R: TestRt>(c: &mut Conn<R>) -> Vec<String> {
    let rows = c.query("SELECT name FROM pg_cursors WHERE name <> '' ORDER BY name", &[]).await.unwrap();
    rows.iter().map(|r| r.get::<String, _>(0).unwrap()).collect()
}

pub async fn named_cursors_fetch_scroll_and_hold<R: TestRt>() {
    let mut c = connect::<R>().await;
    // Not in autocommit: the DECLARE opens the transaction, as any statement.
    let name = "my \"odd\" cursor";
    let scroll = CursorOptions { scroll: Some(true), itersize: 3, ..CursorOptions::default() };
    let mut cur =
        c.declare_cursor(name, "SELECT g FROM generate_series(1, $1) g ORDER BY g", &[&10i32], scroll).await.unwrap();
    assert_eq!(cur.connection().transaction_status(), TransactionStatus::InTransaction);
    assert_eq!(open_cursors(cur.connection()).await, [name]);
    // One, many, iteration in batches of itersize, scrolling back and to a row, all.
    assert_eq!(cur.fetch_one().await.unwrap().unwrap().get::<i32, _>(0).unwrap(), 1);
    assert_eq!(ints(&cur.fetch_many(2).await.unwrap()), [2, 3]);
    assert_eq!(cur.next().await.unwrap().unwrap().get::<i32, _>(0).unwrap(), 4);
    assert_eq!(cur.buffered(), 2, "rows 5 and 6 fetched with 4");
    // Relative moves count from the row handed out last, not from what was fetched.
    cur.scroll(-2, ScrollMode::Relative).await.unwrap();
    assert_eq!(cur.fetch_one().await.unwrap().unwrap().get::<i32, _>(0).unwrap(), 3);
    cur.scroll(8, ScrollMode::Absolute).await.unwrap();
    assert_eq!(ints(&cur.fetch_all().await.unwrap()), [9, 10]);
    assert!(cur.next().await.unwrap().is_none());
    cur.close().await.unwrap();
    cur.close().await.unwrap();
    assert!(open_cursors(cur.connection()).await.is_empty());
    assert!(cur.fetch_one().await.is_err(), "a closed cursor");
    drop(cur);
    c.rollback().await.unwrap();

    // In autocommit a cursor must be WITH HOLD: psycopg2's ProgrammingError.
    c.set_autocommit(true).await.unwrap();
    let e = c.declare_cursor("c", "SELECT 1", &[], CursorOptions::default()).await.err().unwrap();
    assert!(matches!(e, Error::Usage(UsageError::NamedCursorOutsideTransaction)), "{e:?}");
    assert_eq!(e.class(), Some(pgsans::ErrorClass::Programming));
    // WITH HOLD: usable after the transaction that declared it, closed on drop without
    // opening a transaction.
    c.set_autocommit(false).await.unwrap();
    let hold = CursorOptions { hold: true, itersize: 2, ..CursorOptions::default() };
    let mut cur = c.declare_cursor("held", "SELECT g FROM generate_series(1, 5) g", &[], hold).await.unwrap();
    cur.connection().commit().await.unwrap();
    assert_eq!(ints(&cur.fetch_many(3).await.unwrap()), [1, 2, 3]);
    cur.connection().rollback().await.unwrap(); // the FETCH above opened a transaction
    drop(cur);
    assert_eq!(c.transaction_status(), TransactionStatus::Idle);
    c.set_autocommit(true).await.unwrap();
    assert!(open_cursors(&mut c).await.is_empty(), "the dropped WITH HOLD cursor was closed");
    assert_eq!(c.transaction_status(), TransactionStatus::Idle);

    // A large result in bounded memory: never more than itersize rows held.
    let big = CursorOptions { hold: true, itersize: 1000, ..CursorOptions::default() };
    let mut cur =
        c.declare_cursor("big", "SELECT g, md5(g::text) FROM generate_series(1, 200000) g", &[], big).await.unwrap();
    let (mut n, mut sum, mut most) = (0u64, 0i64, 0);
    while let Some(row) = cur.next().await.unwrap() {
        n += 1;
        sum += i64::from(row.get::<i32, _>(0).unwrap());
        most = most.max(cur.buffered());
    }
    assert_eq!((n, sum), (200_000, 200_000 * 200_001 / 2));
    assert!(most < 1000, "{most} rows buffered");
    cur.close().await.unwrap();
}
