//! Extended query: typed parameters and results, mismatch errors, the statement cache,
//! streaming.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use pgsans::types::{Interval, Json, Numeric};
use pgsans::SqlState;
use pgsans::{Error, UsageError};
use pgsans_tests::*;

async fn connect<R: TestRt>() -> Conn<R> {
    let mut c: Conn<R> = Conn::<R>::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap();
    c.set_autocommit(true).await.unwrap();
    c
}

pub async fn values_round_trip<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let row = c
        .query_one(
            "SELECT $1::bool, $2::int2, $3::int4, $4::int8, $5::float4, $6::float8, $7::text, $8::varchar, \
             $9::bytea, $10::oid, $11::\"char\", $12::numeric, $13::jsonb, $14::json, $15::interval, $16::text",
            &[
                &true,
                &-7i16,
                &i32::MIN,
                &i64::MAX,
                &1.5f32,
                &-2.25e300f64,
                &"héllo ✓",
                &String::from(""),
                &vec![0u8, 255, 10],
                &42u32,
                &(b'x' as i8),
                &Numeric("12345678901234567890.000000000001".into()),
                &Json(r#"{"a": [1, 2]}"#.into()),
                &Json("[]".into()),
                &Interval { months: 14, days: 3, microseconds: 4_000_001 },
                &None::<String>,
            ],
        )
        .await
        .unwrap();
    assert!(row.get::<bool, _>(0).unwrap());
    assert_eq!(row.get::<i16, _>(1).unwrap(), -7);
    assert_eq!(row.get::<i32, _>(2).unwrap(), i32::MIN);
    assert_eq!(row.get::<i64, _>(3).unwrap(), i64::MAX);
    assert_eq!(row.get::<f32, _>(4).unwrap(), 1.5);
    assert_eq!(row.get::<f64, _>(5).unwrap(), -2.25e300);
    assert_eq!(row.get::<&str, _>(6).unwrap(), "héllo ✓");
    assert_eq!(row.get::<String, _>(7).unwrap(), "");
    assert_eq!(row.get::<Vec<u8>, _>(8).unwrap(), vec![0, 255, 10]);
    assert_eq!(row.get::<u32, _>(9).unwrap(), 42);
    assert_eq!(row.get::<i8, _>(10).unwrap(), b'x' as i8);
    assert_eq!(row.get::<Numeric, _>(11).unwrap().0, "12345678901234567890.000000000001");
    assert_eq!(row.get::<Json, _>(12).unwrap().0, r#"{"a": [1, 2]}"#);
    assert_eq!(row.get::<Json, _>(13).unwrap().0, "[]");
    assert_eq!(row.get::<Interval, _>(14).unwrap(), Interval { months: 14, days: 3, microseconds: 4_000_001 });
    assert_eq!(row.get::<Option<String>, _>(15).unwrap(), None);
    // Results come in binary for these types, text for numeric.
    let formats: Vec<i16> = row.columns().unwrap().iter().map(|c| c.format()).collect();
    assert_eq!(formats, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1]);
}

pub async fn arrays_and_integrations<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let row = c
        .query_one(
            "SELECT $1::int4[], $2::text[], $3::float8[], $4::numeric[], $5::date, $6::time, $7::timestamp, \
             $8::timestamptz, $9::uuid, $10::jsonb, $11::numeric, ARRAY[]::int8[], $12::bool[]",
            &[
                &vec![Some(1i32), None, Some(-3)],
                &vec!["a", "b c", "\"quoted\""],
                &vec![0.5f64, -1.0],
                &vec![pgsans::types::Numeric("1.10".into()), pgsans::types::Numeric("-2".into())],
                &NaiveDate::from_ymd_opt(1999, 12, 31).unwrap(),
                &NaiveTime::from_hms_micro_opt(23, 59, 58, 123456).unwrap(),
                &NaiveDate::from_ymd_opt(2031, 2, 3).unwrap().and_hms_micro_opt(4, 5, 6, 7).unwrap(),
                &DateTime::<Utc>::from_timestamp(1_700_000_000, 123_000).unwrap(),
                &uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
                &serde_json::json!({"k": [true, null, 1.5]}),
                &"123.4500".parse::<rust_decimal::Decimal>().unwrap(),
                &vec![true, false],
            ],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<Vec<Option<i32>>, _>(0).unwrap(), [Some(1), None, Some(-3)]);
    assert_eq!(row.get::<Vec<String>, _>(1).unwrap(), ["a", "b c", "\"quoted\""]);
    assert_eq!(row.get::<Vec<f64>, _>(2).unwrap(), [0.5, -1.0]);
    assert_eq!(row.get::<Vec<String>, _>(3).unwrap(), ["1.10", "-2"]);
    assert_eq!(row.get::<NaiveDate, _>(4).unwrap(), NaiveDate::from_ymd_opt(1999, 12, 31).unwrap());
    assert_eq!(row.get::<NaiveTime, _>(5).unwrap(), NaiveTime::from_hms_micro_opt(23, 59, 58, 123456).unwrap());
    assert_eq!(
        row.get::<NaiveDateTime, _>(6).unwrap(),
        NaiveDate::from_ymd_opt(2031, 2, 3).unwrap().and_hms_micro_opt(4, 5, 6, 7).unwrap()
    );
    assert_eq!(row.get::<DateTime<Utc>, _>(7).unwrap().timestamp_micros(), 1_700_000_000_000_123);
    assert_eq!(row.get::<uuid::Uuid, _>(8).unwrap().as_u128(), 0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    assert_eq!(row.get::<serde_json::Value, _>(9).unwrap(), serde_json::json!({"k": [true, null, 1.5]}));
    assert_eq!(row.get::<rust_decimal::Decimal, _>(10).unwrap().to_string(), "123.4500");
    assert_eq!(row.get::<Vec<i64>, _>(11).unwrap(), Vec::<i64>::new());
    assert_eq!(row.get::<Vec<bool>, _>(12).unwrap(), [true, false]);
    // Server-side values decoded the same way, and the text the server prints agrees.
    let row = c.query_one(
            "SELECT '2024-02-29 12:34:56.789+00'::timestamptz, '-infinity'::date, 'a1b2c3d4-0000-4000-8000-000000000000'::uuid::text",
            &[],
        ).await
        .unwrap();
    assert_eq!(row.get::<DateTime<Utc>, _>(0).unwrap().to_rfc3339(), "2024-02-29T12:34:56.789+00:00");
    assert!(matches!(row.get::<NaiveDate, _>(1), Err(Error::Usage(UsageError::Conversion(_)))), "infinite date");
    assert_eq!(row.get::<&str, _>(2).unwrap(), "a1b2c3d4-0000-4000-8000-000000000000");
}

pub async fn unknown_types_come_as_text<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let t = format!("mood_{}", R::NAME.replace('-', "_"));
    c.batch_execute(&format!("DROP TYPE IF EXISTS {t}; CREATE TYPE {t} AS ENUM ('sad', 'ok')")).await.unwrap();
    let row = c
        .query_one(&format!("SELECT '10.1.2.3/8'::inet, 'ok'::{t}, int4range(1, 5), $1::{t}"), &[&"sad"])
        .await
        .unwrap();
    assert_eq!(row.get::<&str, _>(0).unwrap(), "10.1.2.3/8");
    assert_eq!(row.get::<String, _>(1).unwrap(), "ok");
    assert_eq!(row.get::<&str, _>(2).unwrap(), "[1,5)");
    assert_eq!(row.get::<&str, _>(3).unwrap(), "sad");
    assert!(row.columns().unwrap().iter().all(|c| c.format() == 0));
    // Raw access to any column: bytes, OID and format.
    let col = &row.columns().unwrap()[0];
    assert_eq!((col.type_oid(), col.format()), (869, 0));
    assert_eq!(row.raw(0).unwrap(), Some(&b"10.1.2.3/8"[..]));
}

pub async fn type_mismatches_are_typed_errors<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let row =
        c.query_one("SELECT 5000000000::int8 AS big, NULL::int4 AS nothing, 1::int2 AS small", &[]).await.unwrap();
    let e = row.get::<i32, _>("big").unwrap_err();
    match &e {
        Error::Usage(UsageError::WrongType { column, rust, pg }) => {
            assert_eq!((column.as_str(), *rust, pg.as_str()), ("\"big\"", "i32", "int8"))
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("big") && e.to_string().contains("int8") && e.to_string().contains("i32"));
    let e = row.get::<i32, _>("nothing").unwrap_err();
    assert!(
        matches!(e, Error::Usage(UsageError::UnexpectedNull { ref column, .. }) if column == "\"nothing\""),
        "{e:?}"
    );
    assert_eq!(row.get::<Option<i32>, _>("nothing").unwrap(), None);
    assert_eq!(row.get::<i32, _>("small").unwrap(), 1, "int2 widens into i32");
    assert!(matches!(row.get::<String, _>("big"), Err(Error::Usage(UsageError::WrongType { .. }))));
    assert!(matches!(row.get::<i32, _>(7), Err(Error::Usage(UsageError::NoSuchColumn(_)))));
    // Where the server fixed a parameter's type, a Rust value that does not fit is refused
    // before anything is sent; the connection is fine.
    let stmt = c.prepare("SELECT $1::int4 + 0").await.unwrap();
    let e = c.query(&stmt, &[&true]).await.unwrap_err();
    assert!(matches!(e, Error::Usage(UsageError::WrongType { ref column, .. }) if column == "parameter $1"), "{e:?}");
    let e = c.query(&stmt, &[&5_000_000_000i64]).await.unwrap_err();
    assert!(matches!(e, Error::Usage(UsageError::WrongType { .. })), "no narrowing: {e:?}");
    assert_eq!(c.query(&stmt, &[&7i32]).await.unwrap()[0].get::<i32, _>(0).unwrap(), 7);
    // With SQL text the parameter is declared by its Rust type (as psycopg 3 does), so an
    // explicit cast is the server's: int8 5e9 into int4 overflows there, never silently.
    assert_eq!(
        c.query("SELECT $1::int4", &[&5_000_000_000i64]).await.unwrap_err().code(),
        Some(SqlState::NUMERIC_VALUE_OUT_OF_RANGE)
    );
    assert_eq!(c.query_one("SELECT $1::int4", &[&true]).await.unwrap().get::<i32, _>(0).unwrap(), 1);
    assert!(matches!(
        c.query("SELECT $1::int4, $2::int4", &[&1i32]).await,
        Err(Error::Usage(UsageError::ParameterCount { expected: 2, given: 1 }))
    ));
    // A string is sent as text and parsed by the server.
    assert_eq!(c.query_one("SELECT $1::int4 + 1", &[&"41"]).await.unwrap().get::<i32, _>(0).unwrap(), 42);
    assert_eq!(
        c.query("SELECT $1::int4", &[&"x"]).await.unwrap_err().code(),
        Some(SqlState::INVALID_TEXT_REPRESENTATION)
    );
    assert_eq!(c.query_one("SELECT 'fine'", &[]).await.unwrap().get::<&str, _>(0).unwrap(), "fine");
}

pub async fn query_helpers<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let t = format!("helpers_{}", R::NAME.replace('-', "_"));
    c.batch_execute(&format!("DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (id int, name text)")).await.unwrap();
    for i in 0..3i32 {
        assert_eq!(c.execute(&format!("INSERT INTO {t} VALUES ($1, $2)"), &[&i, &format!("n{i}")]).await.unwrap(), 1);
    }
    assert_eq!(c.execute(&format!("UPDATE {t} SET name = upper(name) WHERE id >= $1"), &[&1i32]).await.unwrap(), 2);
    let rows = c.query(&format!("SELECT id, name FROM {t} ORDER BY id"), &[]).await.unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r.get::<&str, _>("name").unwrap()).collect();
    assert_eq!(names, ["n0", "N1", "N2"]);
    assert!(c.query_opt(&format!("SELECT id FROM {t} WHERE id = $1"), &[&9i32]).await.unwrap().is_none());
    assert_eq!(
        c.query_opt(&format!("SELECT id FROM {t} WHERE id = $1"), &[&2i32])
            .await
            .unwrap()
            .unwrap()
            .get::<i32, _>(0)
            .unwrap(),
        2
    );
    assert!(matches!(
        c.query_one(&format!("SELECT id FROM {t}"), &[]).await,
        Err(Error::Usage(UsageError::RowCount { got: 3, .. }))
    ));
    assert!(matches!(
        c.query_opt(&format!("SELECT id FROM {t}"), &[]).await,
        Err(Error::Usage(UsageError::RowCount { got: 3, .. }))
    ));
    assert!(matches!(
        c.query_one(&format!("SELECT id FROM {t} WHERE false"), &[]).await,
        Err(Error::Usage(UsageError::RowCount { got: 0, .. }))
    ));
    // Errors in the extended protocol: syntax (at Parse) and at execution.
    assert_eq!(c.query("SELEC 1", &[]).await.unwrap_err().code(), Some(SqlState::SYNTAX_ERROR));
    assert_eq!(c.query("SELECT 1/$1::int4", &[&0i32]).await.unwrap_err().code(), Some(SqlState::DIVISION_BY_ZERO));
    assert_eq!(c.query_one("SELECT 2", &[]).await.unwrap().get::<i32, _>(0).unwrap(), 2);
    // Outside autocommit the extended protocol also opens the transaction.
    c.set_autocommit(false).await.unwrap();
    c.execute(&format!("DELETE FROM {t}"), &[]).await.unwrap();
    assert_eq!(c.engine().transaction_status(), pgsans::TransactionStatus::InTransaction);
    c.rollback().await.unwrap();
    assert_eq!(c.query(&format!("SELECT id FROM {t}"), &[]).await.unwrap().len(), 3);
    c.rollback().await.unwrap();
}

async fn server_prepared<R: TestRt>(c: &mut Conn<R>) -> i64 {
    c.query_one("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'pgsans_%'", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap()
}

pub async fn statement_cache<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    // Threshold 5 (default): prepared server-side on the 5th execution, reused after.
    for i in 0..4i32 {
        c.query_one("SELECT $1::int4 * 2", &[&i]).await.unwrap();
    }
    assert_eq!(c.engine().statement_cache_stats(), (1, 0));
    c.query_one("SELECT $1::int4 * 2", &[&4i32]).await.unwrap();
    assert_eq!(c.engine().statement_cache_stats(), (1, 1));
    for i in 0..10i32 {
        assert_eq!(c.query_one("SELECT $1::int4 * 2", &[&i]).await.unwrap().get::<i32, _>(0).unwrap(), i * 2);
    }
    let before = server_prepared(&mut c).await;
    assert!(before >= 1, "the server has it");
    // Capacity: the least recently used is evicted and closed on the server.
    c.set_statement_cache_capacity(2);
    c.set_prepare_threshold(Some(0));
    for i in 0..6 {
        c.query_one(&format!("SELECT {i}::int4 AS k{i}"), &[]).await.unwrap();
    }
    let (cached, prepared) = c.engine().statement_cache_stats();
    assert!(cached <= 2 && prepared <= 2, "{cached} {prepared}");
    let on_server = server_prepared(&mut c).await;
    assert!(on_server <= 3, "evicted statements were closed: {on_server} left");
    // Disabled: nothing new is prepared, queries still work (transaction-pooling proxies).
    let mut d: Conn<R> = connect().await;
    d.set_prepare_threshold(None);
    for _ in 0..10 {
        d.query_one("SELECT $1::text", &[&"x"]).await.unwrap();
    }
    assert_eq!(d.engine().statement_cache_stats().1, 0);
    assert_eq!(server_prepared(&mut d).await, 0);
    // Explicit statements; dropping the last handle closes it with the next operation.
    let stmt = d.prepare("SELECT $1::int8 + 1 AS next").await.unwrap();
    assert_eq!(stmt.params(), [20]);
    assert_eq!(stmt.columns()[0].name(), "next");
    for i in 0..3i64 {
        assert_eq!(d.query(&stmt, &[&i]).await.unwrap()[0].get::<i64, _>(0).unwrap(), i + 1);
    }
    assert_eq!(server_prepared(&mut d).await, 1);
    drop(stmt);
    d.query_one("SELECT 1", &[]).await.unwrap();
    assert_eq!(server_prepared(&mut d).await, 0);
}

pub async fn changed_result_type_is_reprepared<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let t = format!("stale_{}", R::NAME.replace('-', "_"));
    c.batch_execute(&format!("DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (a int); INSERT INTO {t} VALUES (1)"))
        .await
        .unwrap();
    c.set_prepare_threshold(Some(0));
    let sql = format!("SELECT * FROM {t}");
    assert_eq!(c.query(&sql, &[]).await.unwrap()[0].len(), 1);
    assert_eq!(c.engine().statement_cache_stats().1, 1);
    c.batch_execute(&format!("ALTER TABLE {t} ADD COLUMN b text DEFAULT 'new'")).await.unwrap();
    // The server refuses the old plan (0A000); pgsans re-prepares and retries once.
    let rows = c.query(&sql, &[]).await.unwrap();
    assert_eq!(rows[0].len(), 2);
    assert_eq!(rows[0].get::<&str, _>("b").unwrap(), "new");
}

pub async fn streaming_rows<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let (n, sum, affected) =
        stream_sum(&mut c, "SELECT i::int8 FROM generate_series(1, $1::int4) i", &[&200_000i32], None).await.unwrap();
    assert_eq!((n, sum, affected), (200_000, 200_000 * 200_001 / 2, Some(200_000)));
    // Dropped half way: the rest is drained by the next operation.
    let (n, _, affected) =
        stream_sum(&mut c, "SELECT i::int8 FROM generate_series(1, 100000) i", &[], Some(10)).await.unwrap();
    assert_eq!((n, affected), (10, None));
    assert_eq!(c.query_one("SELECT 'after'", &[]).await.unwrap().get::<&str, _>(0).unwrap(), "after");
    // Errors mid-stream surface from next().
    let e =
        stream_sum(&mut c, "SELECT (10 / (5 - i))::int8 FROM generate_series(1, 10) i", &[], None).await.unwrap_err();
    assert_eq!(e.code(), Some(SqlState::DIVISION_BY_ZERO));
}

pub async fn large_values<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let blob: Vec<u8> = (0..10_000_000u32).map(|i| (i % 251) as u8).collect();
    let row = c.query_one("SELECT $1::bytea, length($1::bytea)", &[&blob]).await.unwrap();
    assert_eq!(row.get::<&[u8], _>(0).unwrap(), blob.as_slice());
    assert_eq!(row.get::<i32, _>(1).unwrap(), 10_000_000);
}

pub async fn portals_fetch_in_batches<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let sql = "SELECT i::int8 FROM generate_series(1, 10) i";
    let (sizes, sum) = portal_batches(&mut c, sql, 4, None, false).await.unwrap();
    assert_eq!(sizes, [4, 4, 2]);
    assert_eq!(sum, 55);
    // Closed early, and dropped early: the connection goes on either way.
    assert_eq!(portal_batches(&mut c, sql, 3, Some(1), true).await.unwrap(), (vec![3], 6));
    assert_eq!(c.query_one("SELECT 'after close'", &[]).await.unwrap().get::<&str, _>(0).unwrap(), "after close");
    assert_eq!(portal_batches(&mut c, sql, 3, Some(2), false).await.unwrap(), (vec![3, 3], 21));
    assert_eq!(c.query_one("SELECT 'after drop'", &[]).await.unwrap().get::<&str, _>(0).unwrap(), "after drop");
    // An error in a later batch.
    let e = portal_batches(&mut c, "SELECT (10 / (7 - i))::int8 FROM generate_series(1, 10) i", 3, None, false)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(SqlState::DIVISION_BY_ZERO));
    assert_eq!(c.query_one("SELECT 'after error'", &[]).await.unwrap().get::<&str, _>(0).unwrap(), "after error");
    // Inside a transaction too (named-portal semantics are the same for the unnamed one).
    c.set_autocommit(false).await.unwrap();
    assert_eq!(portal_batches(&mut c, sql, 5, None, false).await.unwrap(), (vec![5, 5], 55));
    assert_eq!(c.engine().transaction_status(), pgsans::TransactionStatus::InTransaction);
    c.rollback().await.unwrap();
}

pub async fn time_crate_values<R: TestRt>() {
    use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};
    let mut c: Conn<R> = connect().await;
    let date = Date::from_calendar_date(1999, Month::December, 31).unwrap();
    let at = Time::from_hms_micro(23, 59, 58, 999_999).unwrap();
    let ts = PrimitiveDateTime::new(Date::from_calendar_date(2031, Month::February, 3).unwrap(), at);
    let plus2 = ts.assume_offset(UtcOffset::from_hms(2, 0, 0).unwrap());
    let dates = vec![date, Date::from_calendar_date(2024, Month::February, 29).unwrap()];
    let row = c
        .query_one(
            "SELECT $1::date::text, $2::time::text, $3::timestamp::text, \
             ($4::timestamptz AT TIME ZONE 'UTC')::text, $5::date[]::text, \
             $1::date, $2::time, $3::timestamp, $4::timestamptz, $5::date[], \
             '2024-02-29 12:34:56.789+00'::timestamptz, 'infinity'::timestamp, '24:00:00'::time",
            &[&date, &at, &ts, &plus2, &dates],
        )
        .await
        .unwrap();
    // What the server understood, as text.
    assert_eq!(row.get::<&str, _>(0).unwrap(), "1999-12-31");
    assert_eq!(row.get::<&str, _>(1).unwrap(), "23:59:58.999999");
    assert_eq!(row.get::<&str, _>(2).unwrap(), "2031-02-03 23:59:58.999999");
    assert_eq!(row.get::<&str, _>(3).unwrap(), "2031-02-03 21:59:58.999999", "the offset was applied");
    assert_eq!(row.get::<&str, _>(4).unwrap(), "{1999-12-31,2024-02-29}");
    // And back in binary.
    assert_eq!(row.get::<Date, _>(5).unwrap(), date);
    assert_eq!(row.get::<Time, _>(6).unwrap(), at);
    assert_eq!(row.get::<PrimitiveDateTime, _>(7).unwrap(), ts);
    let back: OffsetDateTime = row.get(8).unwrap();
    assert_eq!((back, back.offset()), (plus2, UtcOffset::UTC));
    assert_eq!(row.get::<Vec<Date>, _>(9).unwrap(), dates);
    assert_eq!(row.get::<OffsetDateTime, _>(10).unwrap().unix_timestamp_nanos(), 1_709_210_096_789_000_000);
    assert!(matches!(row.get::<PrimitiveDateTime, _>(11), Err(Error::Usage(UsageError::Conversion(_)))));
    assert!(matches!(row.get::<Time, _>(12), Err(Error::Usage(UsageError::Conversion(_)))), "24:00:00");
    assert!(matches!(row.get::<Date, _>(7), Err(Error::Usage(UsageError::WrongType { .. }))));
}

pub async fn simple_query_rows_stream<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let mut stream = c
        .simple_query_raw("SELECT i, 'x' || i AS s FROM generate_series(1, 20000) i; SELECT 'second' AS name")
        .await
        .unwrap();
    let (mut n, mut sum, mut last) = (0, 0i64, String::new());
    while let Some(row) = stream.next().await.unwrap() {
        n += 1;
        if row.columns().unwrap()[0].name() == "i" {
            sum += row.text(0).unwrap().unwrap().parse::<i64>().unwrap();
            assert_eq!(row.text("s").unwrap().unwrap(), format!("x{}", row.text(0).unwrap().unwrap()));
        } else {
            last = row.text("name").unwrap().unwrap().into_owned();
        }
    }
    assert_eq!((n, sum, last.as_str()), (20_001, (1..=20_000i64).sum::<i64>(), "second"));
    assert_eq!(stream.rows_affected(), Some(1));
    drop(stream);
    // An error ends the stream after the rows before it; the connection goes on.
    let mut stream = c.simple_query_raw("SELECT 1; SELECT 1/0; SELECT 3").await.unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap().text(0).unwrap().as_deref(), Some("1"));
    assert_eq!(stream.next().await.unwrap_err().code(), Some(SqlState::DIVISION_BY_ZERO));
    drop(stream);
    c.rollback().await.unwrap();
    // Dropped early: drained by the engine.
    let mut stream = c.simple_query_raw("SELECT generate_series(1, 100000)").await.unwrap();
    stream.next().await.unwrap();
    drop(stream);
    assert_eq!(scalar(&mut c, "SELECT 'after'").await.unwrap().as_deref(), Some("after"));
}
