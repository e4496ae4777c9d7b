//! Pipeline mode.

use pgsans::SqlState;
use pgsans::{Error, Pipeline};
use pgsans_tests::*;

async fn connect<R: TestRt>() -> Conn<R> {
    let mut c: Conn<R> = Conn::<R>::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap();
    c.set_autocommit(true).await.unwrap();
    c
}

async fn table<R: TestRt>(c: &mut Conn<R>, name: &str) -> String {
    let t = format!("{name}_{}", R::NAME.replace('-', "_"));
    c.batch_execute(&format!("DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (a int, b text)")).await.unwrap();
    t
}

pub async fn results_in_order_and_aborted_after_an_error<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let t = table(&mut c, "pipe_abort").await;
    let insert = format!("INSERT INTO {t} (a) VALUES ($1)");
    let (one, two, three) = (1i32, 2i32, 3i32);
    let mut p = Pipeline::new();
    p.execute(&insert, &[&one]);
    p.query("SELECT no_such_function($1)", &[&one]);
    p.execute(&insert, &[&two]);
    p.sync();
    p.execute(&insert, &[&three]);
    p.query("SELECT 'after'", &[]);
    let results = c.pipeline(p).await.unwrap();
    assert_eq!(results.len(), 5);
    assert_eq!(results[0].as_ref().unwrap().rows_affected(), 1);
    assert_eq!(results[1].as_ref().unwrap_err().code(), Some(SqlState::UNDEFINED_FUNCTION));
    assert!(matches!(results[2], Err(Error::PipelineAborted)), "{:?}", results[2]);
    assert_eq!(results[3].as_ref().unwrap().rows_affected(), 1);
    assert_eq!(results[4].as_ref().unwrap().rows[0].get::<&str, _>(0).unwrap(), "after");
    let rows = c.query(&format!("SELECT a FROM {t} ORDER BY a"), &[]).await.unwrap();
    let values: Vec<i32> = rows.iter().map(|r| r.get(0).unwrap()).collect();
    // Statements up to a Sync form one implicit transaction: the error rolled back insert 1
    // too, and the aborted insert never ran (psycopg's test_pipeline_communicate_abort).
    assert_eq!(values, [3]);

    // Queries that depend on earlier ones in the same pipeline (the table does not exist when
    // the pipeline is built) run in order.
    let fresh = format!("pipe_fresh_{}", R::NAME.replace('-', "_"));
    c.batch_execute(&format!("DROP TABLE IF EXISTS {fresh}")).await.unwrap();
    let (create, insert, count) = (
        format!("CREATE TABLE {fresh} (v int)"),
        format!("INSERT INTO {fresh} VALUES ($1), ($2)"),
        format!("SELECT count(*)::int4, max(v) FROM {fresh}"),
    );
    let (x, y) = (5i32, 7i32);
    let mut p = Pipeline::new();
    p.execute(&create, &[]);
    p.execute(&insert, &[&x, &y]);
    p.query(&count, &[]);
    let results = c.pipeline(p).await.unwrap();
    assert_eq!(results[1].as_ref().unwrap().rows_affected(), 2);
    let row = &results[2].as_ref().unwrap().rows[0];
    assert_eq!(row.get::<&str, _>(0).unwrap(), "2", "results of texts that could not be described come as text");
    assert_eq!(row.get::<&str, _>(1).unwrap(), "7");
}

pub async fn sync_each_isolates_errors<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let (a, zero) = (10i32, 0i32);
    let p = {
        let mut p = Pipeline::new().sync_each(true);
        p.query("SELECT $1::int4 * 2", &[&a]);
        p.query("SELECT 1 / $1::int4", &[&zero]);
        p.query("SELECT $1::int4 + 1", &[&a]);
        p
    };
    let results = c.pipeline(p).await.unwrap();
    assert_eq!(results[0].as_ref().unwrap().rows[0].get::<i32, _>(0).unwrap(), 20);
    assert_eq!(results[1].as_ref().unwrap_err().code(), Some(SqlState::DIVISION_BY_ZERO));
    assert_eq!(results[2].as_ref().unwrap().rows[0].get::<i32, _>(0).unwrap(), 11);
    // Misuse is reported before anything is sent, also outside autocommit (no BEGIN left over).
    c.set_autocommit(false).await.unwrap();
    let mut bad = Pipeline::new();
    bad.query("SELECT $1::int4, $2::int4", &[&a]);
    assert!(matches!(c.pipeline(bad).await, Err(Error::Usage(_))));
    let stmt = c.prepare("SELECT $1::int4 + 0").await.unwrap();
    let mut wrong = Pipeline::new();
    wrong.query(&stmt, &[&true]);
    assert!(matches!(c.pipeline(wrong).await, Err(Error::Usage(pgsans::UsageError::WrongType { .. }))));
    // (Describing the unknown text of the first one opened the transaction; nothing else ran.)
    assert_eq!(c.engine().transaction_status(), pgsans::TransactionStatus::InTransaction);
    c.rollback().await.unwrap();
    c.set_autocommit(true).await.unwrap();
    assert_eq!(c.query_one("SELECT 'fine'", &[]).await.unwrap().get::<&str, _>(0).unwrap(), "fine");
}

pub async fn fifty_thousand_inserts_in_one_transaction<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let t = table(&mut c, "pipe_bulk").await;
    let insert = format!("INSERT INTO {t} (a, b) VALUES ($1, $2)");
    let values: Vec<(i32, String)> = (0..50_000).map(|i| (i, format!("row {i}"))).collect();
    let params: Vec<[&(dyn pgsans::ToSql + Sync); 2]> = values.iter().map(|(a, b)| [a as _, b as _]).collect();
    let mut p = Pipeline::new();
    for pr in &params {
        p.execute(&insert, pr);
    }
    c.set_autocommit(false).await.unwrap();
    let results = c.pipeline(p).await.unwrap();
    assert_eq!(results.len(), 50_000);
    assert!(results.iter().all(|r| r.as_ref().is_ok_and(|r| r.rows_affected() == 1)));
    assert_eq!(c.engine().transaction_status(), pgsans::TransactionStatus::InTransaction, "one transaction");
    c.commit().await.unwrap();
    let n: i64 = c.query_one(&format!("SELECT count(*) FROM {t}"), &[]).await.unwrap().get(0).unwrap();
    assert_eq!(n, 50_000);
    assert!(c.engine().statement_cache_stats().1 >= 1, "the repeated insert was prepared once");
}

pub async fn big_in_both_directions_never_deadlocks<R: TestRt>() {
    // 3,000 queries of ~1 KB each going out while each returns 20 KB: far more than the socket
    // buffers hold in either direction, so the client must read while it still writes.
    let mut c: Conn<R> = connect().await;
    let pad = "p".repeat(1000);
    let n = 20_000i32;
    let mut p = Pipeline::new();
    for _ in 0..3000 {
        p.query("SELECT repeat('x', $1::int4), length($2::text)", &[&n, &pad]);
    }
    let results = c.pipeline(p).await.unwrap();
    assert_eq!(results.len(), 3000);
    for r in &results {
        let r = r.as_ref().unwrap();
        assert_eq!(r.rows[0].get::<&str, _>(0).unwrap().len(), 20_000);
        assert_eq!(r.rows[0].get::<i32, _>(1).unwrap(), 1000);
    }
}

pub async fn more_distinct_texts_than_the_cache_holds<R: TestRt>() {
    for capacity in [0, 1] {
        let mut c: Conn<R> = connect().await;
        c.set_statement_cache_capacity(capacity);
        let (a, b, d) = (1i32, 2i32, 3i32);
        let mut p = Pipeline::new();
        p.query("SELECT $1::int4 + 10", &[&a]);
        p.query("SELECT $1::int4 + 20", &[&b]);
        p.query("SELECT $1::int4 + 30", &[&d]);
        p.query("SELECT $1::int4 + 10", &[&d]);
        let results = c.pipeline(p).await.unwrap();
        let values: Vec<i32> = results.iter().map(|r| r.as_ref().unwrap().rows[0].get(0).unwrap()).collect();
        assert_eq!(values, [11, 22, 33, 13], "capacity {capacity}");
    }
}

pub async fn interleaved_texts_and_parameter_types<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let stmt = c.prepare("SELECT $1::int8 * 10").await.unwrap();
    // The same text with an int4 and an int8 parameter is two statements to the server (the
    // parameter types differ); texts alternate, and a prepared statement sits between them.
    let small: Vec<i32> = (0..12).collect();
    let big: Vec<i64> = (0..12).map(|i| (1i64 << 40) + i).collect();
    let sql = "SELECT pg_typeof($1)::text, $1::text";
    let mut p = Pipeline::new();
    for i in 0..12 {
        p.query(sql, &[&small[i]]);
        p.query(sql, &[&big[i]]);
        p.query("SELECT $1::int4 + 1", &[&small[i]]);
        p.query(&stmt, &[&big[i]]);
    }
    let results = c.pipeline(p).await.unwrap();
    assert_eq!(results.len(), 48);
    for i in 0..12 {
        let row = |k: usize| results[4 * i + k].as_ref().unwrap().rows[0].clone();
        assert_eq!(row(0).get::<&str, _>(0).unwrap(), "integer");
        assert_eq!(row(0).get::<&str, _>(1).unwrap(), small[i].to_string());
        assert_eq!(row(1).get::<&str, _>(0).unwrap(), "bigint");
        assert_eq!(row(1).get::<&str, _>(1).unwrap(), big[i].to_string());
        assert_eq!(row(2).get::<i32, _>(0).unwrap(), small[i] + 1);
        assert_eq!(row(3).get::<i64, _>(0).unwrap(), big[i] * 10);
    }
}
