//! COPY in both directions: text, CSV and binary; errors on the server's side mid-copy, aborts,
//! dropped writers and readers, a server killed mid-copy; psycopg2's transaction state after
//! each.

use pgsans::SqlState;
use pgsans::{Error, TransactionStatus};
use pgsans_tests::*;

async fn connect<R: TestRt>() -> Conn<R> {
    Conn::<R>::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap()
}

/// A fresh table `(a int, b text)` for one test and transport.
async fn table<R: TestRt>(c: &mut Conn<R>, name: &str) -> String {
    let t = format!("copy_{name}_{}", R::NAME.replace('-', "_"));
    c.batch_execute(&format!("DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (a int, b text)")).await.unwrap();
    t
}

async fn copy_out_all<R: TestRt>(c: &mut Conn<R>, sql: &str) -> Result<(Vec<u8>, u64), Error> {
    let mut out = c.copy_out(sql).await?;
    let mut data = Vec::new();
    while let Some(chunk) = out.next().await? {
        data.extend_from_slice(chunk);
    }
    let rows = out.rows().expect("known at the end");
    Ok((data, rows))
}

async fn count<R: TestRt>(c: &mut Conn<R>, t: &str) -> i64 {
    c.query_one(format!("SELECT count(*) FROM {t}").as_str(), &[]).await.unwrap().get(0).unwrap()
}

pub async fn copy_in_and_out_in_every_format<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    c.set_autocommit(true).await.unwrap();
    let t = table(&mut c, "formats").await;
    // Text, with rows split across writes at awkward places.
    let mut w = c.copy_in(&format!("COPY {t} FROM STDIN")).await.unwrap();
    assert!(!w.format().unwrap().binary);
    for piece in ["1\to", "ne\n2\t", "two\n3\t\\N\n"] {
        w.write(piece.as_bytes()).await.unwrap();
    }
    assert_eq!(w.finish().await.unwrap(), 3);
    // CSV with quoting.
    let mut w = c.copy_in(&format!("COPY {t} FROM STDIN (FORMAT csv)")).await.unwrap();
    w.write(b"4,\"fo,ur\"\n5,\"five \"\"quoted\"\"\"\n").await.unwrap();
    assert_eq!(w.finish().await.unwrap(), 2);
    let (text, rows) = copy_out_all(&mut c, &format!("COPY (SELECT * FROM {t} ORDER BY a) TO STDOUT")).await.unwrap();
    assert_eq!(rows, 5);
    assert_eq!(String::from_utf8(text).unwrap(), "1\tone\n2\ttwo\n3\t\\N\n4\tfo,ur\n5\tfive \"quoted\"\n");
    let (csv, _) =
        copy_out_all(&mut c, &format!("COPY (SELECT * FROM {t} WHERE a > 3 ORDER BY a) TO STDOUT (FORMAT csv)"))
            .await
            .unwrap();
    assert_eq!(String::from_utf8(csv).unwrap(), "4,\"fo,ur\"\n5,\"five \"\"quoted\"\"\"\n");
    // Binary out of one table and into another: the same rows.
    let (binary, _) =
        copy_out_all(&mut c, &format!("COPY (SELECT * FROM {t} ORDER BY a) TO STDOUT (FORMAT binary)")).await.unwrap();
    assert!(binary.starts_with(b"PGCOPY\n\xff\r\n\0"));
    let t2 = table(&mut c, "formats_binary").await;
    let mut w = c.copy_in(&format!("COPY {t2} FROM STDIN (FORMAT binary)")).await.unwrap();
    assert!(w.format().unwrap().binary);
    for piece in binary.chunks(7) {
        w.write(piece).await.unwrap();
    }
    assert_eq!(w.finish().await.unwrap(), 5);
    let same: i64 = c
        .query_one(
            format!("SELECT count(*) FROM {t} JOIN {t2} USING (a) WHERE {t}.b IS NOT DISTINCT FROM {t2}.b").as_str(),
            &[],
        )
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(same, 5);
}

pub async fn a_large_copy_both_ways<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    c.set_autocommit(true).await.unwrap();
    let t = table(&mut c, "large").await;
    let mut w = c.copy_in(&format!("COPY {t} FROM STDIN")).await.unwrap();
    let mut batch = String::new();
    for i in 0..200_000 {
        batch.push_str(&format!("{i}\trow number {i}\n"));
        if batch.len() > 100_000 {
            w.write(batch.as_bytes()).await.unwrap();
            batch.clear();
        }
    }
    w.write(batch.as_bytes()).await.unwrap();
    assert_eq!(w.finish().await.unwrap(), 200_000);
    let mut out = c.copy_out(&format!("COPY {t} TO STDOUT")).await.unwrap();
    let (mut lines, mut sum) = (0u64, 0i64);
    while let Some(chunk) = out.next().await.unwrap() {
        for line in chunk.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            lines += 1;
            let a = line.split(|&b| b == b'\t').next().unwrap();
            sum += std::str::from_utf8(a).unwrap().parse::<i64>().unwrap();
        }
    }
    assert_eq!((lines, out.rows()), (200_000, Some(200_000)));
    assert_eq!(sum, (0..200_000i64).sum::<i64>());
}

pub async fn bad_data_ends_the_copy_at_once_with_the_server_error<R: TestRt>() {
    let mut c: Conn<R> = connect().await; // not autocommit: psycopg2's transaction state
    let t = table(&mut c, "bad").await;
    c.commit().await.unwrap();
    let err = {
        let mut w = c.copy_in(&format!("COPY {t} FROM STDIN")).await.unwrap();
        w.write(b"1\tfine\n2\tfine\nthree\tbad\n").await.unwrap();
        // The server rejects line 3 and ignores the rest: writing stops with its error long
        // before 256 MiB are sent.
        let chunk = vec![b'\n'; 1 << 20];
        let mut err = None;
        for _ in 0..256 {
            if let Err(e) = w.write(&chunk).await {
                err = Some(e);
                break;
            }
        }
        err.expect("the server's error stopped the writes")
    };
    assert_eq!(err.code(), Some(SqlState::INVALID_TEXT_REPRESENTATION), "{err}");
    let db = err.as_db_error().unwrap();
    assert!(db.where_().is_some_and(|w| w.contains("line 3")), "{db:?}");
    assert_eq!(c.transaction_status(), TransactionStatus::InError);
    c.rollback().await.unwrap();
    assert_eq!(count(&mut c, &t).await, 0);
    c.rollback().await.unwrap();
}

pub async fn abort_and_drop_leave_the_connection_usable<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let t = table(&mut c, "abort").await;
    c.commit().await.unwrap();
    // An explicit abort: nothing copied, the transaction aborted (psycopg2).
    let mut w = c.copy_in(&format!("COPY {t} FROM STDIN")).await.unwrap();
    w.write(b"1\tone\n").await.unwrap();
    w.abort("changed my mind").await.unwrap();
    assert_eq!(c.transaction_status(), TransactionStatus::InError);
    c.rollback().await.unwrap();
    // A dropped writer (an early `?`): aborted the same way, nothing hangs.
    c.set_autocommit(true).await.unwrap();
    {
        let mut w = c.copy_in(&format!("COPY {t} FROM STDIN")).await.unwrap();
        w.write(b"2\ttwo\n").await.unwrap();
    }
    assert_eq!(count(&mut c, &t).await, 0);
    // A dropped reader: the rest is drained.
    c.batch_execute(&format!("INSERT INTO {t} SELECT i, 'x' FROM generate_series(1, 50000) i")).await.unwrap();
    {
        let mut out = c.copy_out(&format!("COPY {t} TO STDOUT")).await.unwrap();
        for _ in 0..10 {
            assert!(out.next().await.unwrap().is_some());
        }
    }
    assert_eq!(count(&mut c, &t).await, 50_000);
    // COPY requests given other statements: typed errors, the connection goes on.
    let r = c.copy_in("SELECT 1").await.map(drop);
    assert!(matches!(r, Err(Error::Usage(_))), "{r:?}");
    let r = copy_out_all(&mut c, &format!("COPY {t} FROM STDIN")).await;
    assert!(matches!(r, Err(Error::Usage(_))), "{r:?}");
    assert_eq!(count(&mut c, &t).await, 50_000);
}

pub async fn an_error_mid_copy_out<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    c.set_autocommit(true).await.unwrap();
    let mut out = c.copy_out("COPY (SELECT 1 / (3000 - i) FROM generate_series(1, 5000) i) TO STDOUT").await.unwrap();
    let mut rows = 0;
    let err = loop {
        match out.next().await {
            Ok(Some(_)) => rows += 1,
            Ok(None) => panic!("no error"),
            Err(e) => break e,
        }
    };
    drop(out);
    assert_eq!(err.code(), Some(SqlState::DIVISION_BY_ZERO));
    assert!(rows < 3000, "{rows}");
    assert_eq!(scalar(&mut c, "SELECT 'usable'").await.unwrap().as_deref(), Some("usable"));
}

pub async fn the_server_killed_mid_copy<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let mut admin: Conn<R> = connect().await;
    admin.set_autocommit(true).await.unwrap();
    let t = table(&mut admin, "killed").await;
    let pid = c.backend_pid();
    let err = {
        let mut w = c.copy_in(&format!("COPY {t} FROM STDIN")).await.unwrap();
        w.write(b"1\tone\n").await.unwrap();
        scalar(&mut admin, &format!("SELECT pg_terminate_backend({pid})")).await.unwrap();
        let chunk = vec![b'\n'; 1 << 16];
        let mut err = None;
        for _ in 0..2000 {
            if let Err(e) = w.write(&chunk).await {
                err = Some(e);
                break;
            }
        }
        match err {
            Some(e) => e,
            None => w.finish().await.unwrap_err(),
        }
    };
    assert!(err.is_fatal(), "{err:?}");
    assert_eq!(c.closed(), 2);
    assert_eq!(count(&mut admin, &t).await, 0);
}

pub async fn typed_binary_copy_both_ways<R: TestRt>() {
    use pgsans::types::oid;
    let mut c: Conn<R> = connect().await;
    c.set_autocommit(true).await.unwrap();
    let t = format!("copy_typed_{}", R::NAME.replace('-', "_"));
    c.batch_execute(&format!(
        "DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (id int8, name text, score float8, tags text[], ok bool)"
    ))
    .await
    .unwrap();
    let types = [oid::INT8, oid::TEXT, oid::FLOAT8, oid::TEXT_ARRAY, oid::BOOL];
    let mut w = c.copy_in_binary(&format!("COPY {t} FROM STDIN (FORMAT binary)"), &types).await.unwrap();
    for i in 0..10_000i64 {
        let name = format!("name ✓ {i}");
        let score = if i % 10 == 0 { None } else { Some(i as f64 * 0.25) };
        let tags = vec![format!("t{i}"), "x".to_owned()];
        w.write_row(&[&i, &name, &score, &tags, &(i % 2 == 0)]).await.unwrap();
    }
    // Misuse is refused row by row; the copy goes on.
    assert!(matches!(w.write_row(&[&1i64]).await, Err(Error::Usage(_))));
    assert!(matches!(w.write_row(&[&"x", &"y", &1.0f64, &vec!["a"], &true]).await, Err(Error::Usage(_))));
    assert_eq!(w.finish().await.unwrap(), 10_000);
    let check: (i64, f64) = {
        let row = c.query_one(format!("SELECT sum(id)::int8, sum(score) FROM {t}").as_str(), &[]).await.unwrap();
        (row.get(0).unwrap(), row.get(1).unwrap())
    };
    assert_eq!(check.0, (0..10_000i64).sum::<i64>());
    let mut out = c
        .copy_out_binary(&format!("COPY (SELECT * FROM {t} ORDER BY id) TO STDOUT (FORMAT binary)"), &types)
        .await
        .unwrap();
    let mut n = 0i64;
    while let Some(row) = out.next().await.unwrap() {
        assert_eq!(row.get::<i64, _>(0).unwrap(), n);
        assert_eq!(row.get::<&str, _>(1).unwrap(), format!("name ✓ {n}"));
        let score: Option<f64> = row.get(2).unwrap();
        assert_eq!(score, if n % 10 == 0 { None } else { Some(n as f64 * 0.25) });
        assert_eq!(row.get::<Vec<String>, _>(3).unwrap(), [format!("t{n}"), "x".to_owned()]);
        assert_eq!(row.get::<bool, _>(4).unwrap(), n % 2 == 0);
        n += 1;
    }
    assert_eq!((n, out.rows()), (10_000, Some(10_000)));
    drop(out);
    // Types that do not match the data are typed errors, not wrong values.
    let mut out =
        c.copy_out_binary(&format!("COPY (SELECT id, name FROM {t}) TO STDOUT (FORMAT binary)"), &types).await.unwrap();
    assert!(matches!(out.next().await, Err(Error::Usage(_))));
    drop(out);
    assert_eq!(scalar(&mut c, "SELECT 'usable'").await.unwrap().as_deref(), Some("usable"));
}

/// What `copy_out` returns is an `AsyncRead` / `AsyncBufRead` that hands out part of a chunk
/// at a time (the rest stays in the receive buffer, no copy of it), and what `copy_in` returns
/// an `AsyncWrite` taking any split.
pub async fn copy_values_are_the_io_traits<R: TestRt>() {
    use futures_lite::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, StreamExt};
    let mut c: Conn<R> = connect().await;
    c.set_autocommit(true).await.unwrap();
    let t = table(&mut c, "io_traits").await;
    let mut w = c.copy_in(&format!("COPY {t} FROM STDIN")).await.unwrap();
    let data: String = (0..5000).map(|i| format!("{i}\trow number {i}\n")).collect();
    for piece in data.as_bytes().chunks(13) {
        w.write_all(piece).await.unwrap();
    }
    w.flush().await.unwrap();
    assert_eq!(w.finish().await.unwrap(), 5000);
    // Seven bytes at a time: every row is split across reads.
    let mut r = c.copy_out(&format!("COPY (SELECT * FROM {t} ORDER BY a) TO STDOUT")).await.unwrap();
    let mut back = Vec::new();
    let mut buf = [0u8; 7];
    loop {
        let n = r.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        back.extend_from_slice(&buf[..n]);
    }
    assert_eq!(r.rows(), Some(5000));
    assert_eq!(String::from_utf8(back).unwrap(), data);
    drop(r);
    // Lines through AsyncBufRead, dropped half way: the connection is usable.
    let r = c.copy_out(&format!("COPY (SELECT a FROM {t} ORDER BY a) TO STDOUT")).await.unwrap();
    let first: Vec<String> = r.lines().take(3).map(Result::unwrap).collect().await;
    assert_eq!(first, ["0", "1", "2"]);
    assert_eq!(count(&mut c, &t).await, 5000);
}
