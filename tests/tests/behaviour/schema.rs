//! The extended-query path after schema and session changes: every row is decoded with the
//! RowDescription the server sent for that execution, the statement cache follows this
//! session's DDL, and values or names the server may legitimately send never break the
//! connection (issue "Wrong data after schema changes").

use pgsans::types::{oid, Array, ArrayDimension};
use pgsans::SqlState;
use pgsans::{Error, UsageError};
use pgsans_tests::*;

async fn connect<R: TestRt>() -> Conn<R> {
    let mut c: Conn<R> = Conn::<R>::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap();
    c.set_autocommit(true).await.unwrap();
    c
}

fn name<R: TestRt>(prefix: &str) -> String {
    format!("{prefix}_{}", R::NAME.replace('-', "_"))
}

const THRESHOLDS: [Option<usize>; 3] = [Some(0), Some(5), None];

/// Executions before the schema changes: once, just below the default prepare threshold (the
/// next one prepares the statement), and past it.
const RUNS: [usize; 3] = [1, 4, 6];

/// Runs DDL on this connection or on another one (another session's schema change).
async fn ddl<R: TestRt>(c: &mut Conn<R>, other: Option<&mut Conn<R>>, sql: &str) {
    match other {
        Some(o) => o.batch_execute(sql).await.unwrap(),
        None => c.batch_execute(sql).await.unwrap(),
    }
}

pub async fn retyped_column_is_decoded_by_its_new_type<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let mut o: Conn<R> = connect().await;
    let t = name::<R>("retyped");
    for (threshold, runs) in THRESHOLDS.into_iter().flat_map(|t| RUNS.map(|r| (t, r))) {
        // In psycopg2's default mode each query below is the first of its transaction (BEGIN
        // is sent with it): a stale plan is retried after a ROLLBACK and a new BEGIN.
        for (other_session, autocommit) in [(false, true), (true, true), (true, false)] {
            c.set_autocommit(true).await.unwrap();
            c.set_prepare_threshold(threshold);
            c.batch_execute(&format!(
                "DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (v int4); INSERT INTO {t} VALUES (1)"
            ))
            .await
            .unwrap();
            c.set_autocommit(autocommit).await.unwrap();
            let sql = format!("SELECT v FROM {t}");
            for _ in 0..runs {
                assert_eq!(c.query_one(&sql, &[]).await.unwrap().get::<i32, _>(0).unwrap(), 1);
                c.commit().await.unwrap();
            }
            ddl(&mut c, other_session.then_some(&mut o), &format!("ALTER TABLE {t} ALTER v TYPE float4")).await;
            for _ in 0..3 {
                let ctx = format!("{threshold:?} other session: {other_session}, autocommit: {autocommit}");
                let row = c.query_one(&sql, &[]).await.unwrap_or_else(|e| panic!("{ctx}: {e}"));
                let col = &row.columns().unwrap()[0];
                assert_eq!(col.type_oid(), oid::FLOAT4, "{ctx}");
                assert_eq!(row.get::<f32, _>(0).unwrap(), 1.0, "{ctx}");
                assert!(matches!(row.get::<i32, _>(0), Err(Error::Usage(UsageError::WrongType { .. }))));
                c.commit().await.unwrap();
            }
        }
    }
}

pub async fn redefined_sql_prepared_statement<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    for (threshold, runs) in THRESHOLDS.into_iter().flat_map(|t| RUNS.map(|r| (t, r))) {
        c.set_prepare_threshold(threshold);
        c.batch_execute("DEALLOCATE ALL; PREPARE q AS SELECT 1 AS a").await.unwrap();
        for _ in 0..runs {
            assert_eq!(c.query_one("EXECUTE q", &[]).await.unwrap().get::<i32, _>("a").unwrap(), 1);
        }
        c.batch_execute("DEALLOCATE q; PREPARE q AS SELECT 1.5::float4 AS b").await.unwrap();
        let row = c.query_one("EXECUTE q", &[]).await.unwrap();
        assert_eq!(row.columns().unwrap()[0].name(), "b");
        assert_eq!(row.get::<f32, _>("b").unwrap(), 1.5, "{threshold:?}");
        // More columns than before: the connection is not lost on a valid DataRow.
        c.batch_execute("DEALLOCATE q; PREPARE q AS SELECT 'x'::text AS s, 2.5::float8 AS f, 7::int8 AS n")
            .await
            .unwrap();
        let row = c.query_one("EXECUTE q", &[]).await.unwrap();
        assert_eq!(
            (row.get::<&str, _>("s").unwrap(), row.get::<f64, _>("f").unwrap(), row.get::<i64, _>("n").unwrap()),
            ("x", 2.5, 7)
        );
        // The same through a pipeline and a portal.
        let mut p = pgsans::Pipeline::new();
        p.query("EXECUTE q", &[]);
        let r = c.pipeline(p).await.unwrap().pop().unwrap().unwrap();
        assert_eq!(r.rows[0].get::<f64, _>("f").unwrap(), 2.5);
        assert_eq!(portal_rows(&mut c, "EXECUTE q", 1).await.unwrap()[0].get::<i64, _>(2).unwrap(), 7);
    }
    c.batch_execute("DEALLOCATE ALL").await.unwrap();
}

pub async fn redeclared_cursor<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    for (threshold, runs) in THRESHOLDS.into_iter().flat_map(|t| RUNS.map(|r| (t, r))) {
        c.set_prepare_threshold(threshold);
        c.set_autocommit(false).await.unwrap();
        c.batch_execute("DECLARE cur SCROLL CURSOR FOR SELECT 1 AS a").await.unwrap();
        for _ in 0..runs {
            assert_eq!(c.query_one("FETCH ABSOLUTE 1 FROM cur", &[]).await.unwrap().get::<i32, _>("a").unwrap(), 1);
        }
        c.batch_execute("CLOSE cur; DECLARE cur SCROLL CURSOR FOR SELECT 'x'::text AS s, 2.5::float8 AS f")
            .await
            .unwrap();
        let row = c.query_one("FETCH ABSOLUTE 1 FROM cur", &[]).await.unwrap();
        assert_eq!((row.get::<&str, _>("s").unwrap(), row.get::<f64, _>("f").unwrap()), ("x", 2.5), "{threshold:?}");
        c.rollback().await.unwrap();
        c.set_autocommit(true).await.unwrap();
    }
}

pub async fn swapped_columns_keep_their_names<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let mut o: Conn<R> = connect().await;
    let t = name::<R>("swapped");
    for (threshold, runs) in THRESHOLDS.into_iter().flat_map(|t| RUNS.map(|r| (t, r))) {
        for other_session in [false, true] {
            c.set_prepare_threshold(threshold);
            c.batch_execute(&format!(
                "DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (a int4, b int4); INSERT INTO {t} VALUES (1, 2)"
            ))
            .await
            .unwrap();
            let sql = format!("SELECT * FROM {t}");
            for _ in 0..runs {
                let row = c.query_one(&sql, &[]).await.unwrap();
                assert_eq!((row.get::<i32, _>("a").unwrap(), row.get::<i32, _>("b").unwrap()), (1, 2));
            }
            ddl(
                &mut c,
                other_session.then_some(&mut o),
                &format!(
                    "ALTER TABLE {t} RENAME a TO tmp; ALTER TABLE {t} RENAME b TO a; ALTER TABLE {t} RENAME tmp TO b"
                ),
            )
            .await;
            let row = c.query_one(&sql, &[]).await.unwrap();
            let names: Vec<&str> = row.columns().unwrap().iter().map(|c| c.name()).collect();
            assert_eq!(names, ["b", "a"], "{threshold:?} other session: {other_session}");
            assert_eq!((row.get::<i32, _>("a").unwrap(), row.get::<i32, _>("b").unwrap()), (2, 1));
        }
    }
}

pub async fn binary_values_are_never_read_as_text<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let row = c.query_one("SELECT 2.0::float8 AS f, 7::int4 AS i, 'ok'::text AS t", &[]).await.unwrap();
    assert_eq!(row.columns().unwrap()[0].format(), 1, "float8 comes in binary");
    for col in ["f", "i"] {
        assert!(matches!(row.get::<&str, _>(col), Err(Error::Usage(UsageError::WrongType { .. }))), "{col}");
        assert!(matches!(row.get::<String, _>(col), Err(Error::Usage(UsageError::WrongType { .. }))), "{col}");
        assert!(row.get_str(col).is_err(), "{col}");
    }
    // text() renders them as the server does.
    assert_eq!(row.text("f").unwrap().as_deref(), Some("2"));
    assert_eq!(row.text("i").unwrap().as_deref(), Some("7"));
    assert_eq!(row.text("t").unwrap().as_deref(), Some("ok"));
    assert_eq!(row.get::<f64, _>("f").unwrap(), 2.0);
}

pub async fn array_lower_bounds_are_kept_or_refused<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let row = c
        .query_one(
            "SELECT '[0:2]={1,2,3}'::int4[], '[0:1]={1.5,2.5}'::numeric[], '{{1,2},{3,4}}'::int4[], '{7,8}'::int4[], \
             '{}'::int4[]",
            &[],
        )
        .await
        .unwrap();
    for e in [row.get::<Vec<i32>, _>(0).err(), row.get::<Vec<String>, _>(1).err(), row.get::<Vec<i32>, _>(2).err()] {
        assert!(matches!(e, Some(Error::Usage(UsageError::Conversion(_)))), "{e:?}");
    }
    let e = row.get::<Vec<i32>, _>(0).unwrap_err().to_string();
    assert!(e.contains("lower bound 0") && e.contains("Array"), "{e}");
    let a: Array<i32> = row.get(0).unwrap();
    assert_eq!(a.dimensions(), [ArrayDimension { len: 3, lower_bound: 0 }]);
    assert_eq!(a.elements(), [1, 2, 3]);
    let n: Array<String> = row.get(1).unwrap();
    assert_eq!(n.dimensions(), [ArrayDimension { len: 2, lower_bound: 0 }]);
    assert_eq!(n.elements(), ["1.5", "2.5"]);
    let m: Array<i32> = row.get(2).unwrap();
    assert_eq!(m.dimensions(), [ArrayDimension { len: 2, lower_bound: 1 }, ArrayDimension { len: 2, lower_bound: 1 }]);
    assert_eq!(m.elements(), [1, 2, 3, 4]);
    assert_eq!(row.get::<Vec<i32>, _>(3).unwrap(), [7, 8]);
    assert_eq!(row.get::<Vec<i32>, _>(4).unwrap(), Vec::<i32>::new());
    assert!(row.get::<Array<i32>, _>(4).unwrap().dimensions().is_empty());
    // Bounds go to the server too.
    let a = Array::from_parts(vec![ArrayDimension { len: 2, lower_bound: -3 }], vec![5i32, 6]).unwrap();
    let back = c.query_one("SELECT $1::int4[]::text, $1::int4[]", &[&a]).await.unwrap();
    assert_eq!(back.get::<&str, _>(0).unwrap(), "[-3:-2]={5,6}");
    assert_eq!(back.get::<Array<i32>, _>(1).unwrap(), a);
    assert!(Array::from_parts(vec![ArrayDimension { len: 3, lower_bound: 1 }], vec![1i32]).is_err());
}

pub async fn own_ddl_inside_a_transaction_keeps_the_transaction<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let t = name::<R>("own_ddl");
    for (threshold, runs) in THRESHOLDS.into_iter().flat_map(|t| RUNS.map(|r| (t, r))) {
        c.set_autocommit(true).await.unwrap();
        c.batch_execute(&format!("DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (a int4)")).await.unwrap();
        c.set_prepare_threshold(threshold);
        c.set_autocommit(false).await.unwrap();
        let select = format!("SELECT * FROM {t}");
        for _ in 0..runs {
            c.query(&select, &[]).await.unwrap();
        }
        c.commit().await.unwrap();
        c.execute(&format!("INSERT INTO {t} VALUES ($1)"), &[&5i32]).await.unwrap();
        c.execute(&format!("ALTER TABLE {t} ADD COLUMN b int4 DEFAULT 9"), &[]).await.unwrap();
        let rows = c.query(&select, &[]).await.unwrap();
        assert_eq!(rows.len(), 1, "{threshold:?}");
        assert_eq!((rows[0].get::<i32, _>("a").unwrap(), rows[0].get::<i32, _>("b").unwrap()), (5, 9));
        c.commit().await.unwrap();
        assert_eq!(c.engine().transaction_status(), pgsans::TransactionStatus::Idle);
        let mut fresh: Conn<R> = connect().await;
        let n: i64 =
            fresh.query_one(&format!("SELECT count(*) FROM {t} WHERE b = 9"), &[]).await.unwrap().get(0).unwrap();
        assert_eq!(n, 1, "the transaction committed ({threshold:?})");
    }
}

pub async fn changed_shapes_never_break_the_connection<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let mut o: Conn<R> = connect().await;
    let t = name::<R>("shapes");
    for (threshold, runs) in THRESHOLDS.into_iter().flat_map(|t| RUNS.map(|r| (t, r))) {
        c.set_prepare_threshold(threshold);
        // Mixed result formats (int4 in binary, inet in text) and a column added by another
        // session: the cached format list no longer fits the statement.
        c.batch_execute(&format!(
            "DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (a int4, ip inet); INSERT INTO {t} VALUES (1, '10.0.0.1')"
        ))
        .await
        .unwrap();
        let select = format!("SELECT * FROM {t}");
        for _ in 0..runs {
            assert_eq!(c.query_one(&select, &[]).await.unwrap().len(), 2);
        }
        o.batch_execute(&format!("ALTER TABLE {t} ADD COLUMN c int8 DEFAULT 3")).await.unwrap();
        let row = c.query_one(&select, &[]).await.unwrap();
        assert_eq!(row.len(), 3, "{threshold:?}");
        assert_eq!(
            (row.get::<i32, _>("a").unwrap(), row.get::<&str, _>("ip").unwrap(), row.get::<i64, _>("c").unwrap()),
            (1, "10.0.0.1", 3)
        );
        assert!(!c.engine().is_broken());
        // A cursor redeclared with more columns, fetched inside a transaction.
        c.set_autocommit(false).await.unwrap();
        c.batch_execute("DECLARE cur CURSOR FOR SELECT 1 AS a").await.unwrap();
        assert_eq!(c.query("FETCH FORWARD 1 FROM cur", &[]).await.unwrap()[0].len(), 1);
        c.batch_execute("CLOSE cur; DECLARE cur CURSOR FOR SELECT 1 AS a, 2 AS b, 3 AS c").await.unwrap();
        assert_eq!(c.query("FETCH FORWARD 1 FROM cur", &[]).await.unwrap()[0].len(), 3);
        c.rollback().await.unwrap();
        c.set_autocommit(true).await.unwrap();
    }
}

pub async fn sql_deallocate_and_discard_keep_statements_working<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    c.set_prepare_threshold(Some(0));
    let stmt = c.prepare("SELECT $1::int4 + 1").await.unwrap();
    let just_this_one = format!("DEALLOCATE {}", stmt.name());
    for (how, sql) in [
        ("simple", "DEALLOCATE ALL"),
        ("simple", "DISCARD ALL"),
        ("extended", "DEALLOCATE ALL"),
        ("simple", just_this_one.as_str()),
        ("extended", just_this_one.as_str()),
    ] {
        assert_eq!(c.query_one("SELECT 41::int4 + 1", &[]).await.unwrap().get::<i32, _>(0).unwrap(), 42);
        assert_eq!(c.query(&stmt, &[&1i32]).await.unwrap()[0].get::<i32, _>(0).unwrap(), 2);
        match how {
            "simple" => c.batch_execute(sql).await.unwrap(),
            _ => drop(c.execute(sql, &[]).await.unwrap()),
        }
        assert_eq!(c.query_one("SELECT 41::int4 + 1", &[]).await.unwrap().get::<i32, _>(0).unwrap(), 42, "after {sql}");
        assert_eq!(c.query(&stmt, &[&2i32]).await.unwrap()[0].get::<i32, _>(0).unwrap(), 3, "after {sql}");
        assert_eq!(c.query(&stmt, &[&3i32]).await.unwrap()[0].get::<i32, _>(0).unwrap(), 4, "after {sql}");
    }
    // reset() runs DISCARD ALL too.
    c.reset().await.unwrap();
    c.set_autocommit(true).await.unwrap();
    assert_eq!(c.query(&stmt, &[&9i32]).await.unwrap()[0].get::<i32, _>(0).unwrap(), 10);
}

pub async fn latin1_names_values_and_messages<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let role = name::<R>("rolé");
    c.batch_execute(&format!("DROP ROLE IF EXISTS \"{role}\"; CREATE ROLE \"{role}\"")).await.unwrap();
    c.batch_execute("LISTEN \"é\"").await.unwrap();
    c.set_client_encoding("LATIN1").await.unwrap();
    assert_eq!(c.engine().client_encoding(), Some("LATIN1"));
    // Names and values, both paths: the SQL goes out in LATIN1, the answers come back in it.
    let rs = c.simple_query("SELECT 'é'::text AS \"é\", length('é')").await.unwrap();
    assert_eq!(rs[0].columns()[0].name(), "é");
    assert_eq!(rs[0].columns()[0].name_bytes(), b"\xe9");
    assert_eq!(rs[0].rows()[0].get::<String, _>(0).unwrap(), "é");
    assert_eq!(rs[0].rows()[0].get::<i32, _>(1).unwrap(), 1, "the server saw one character");
    for _ in 0..6 {
        let row = c
            .query_one("SELECT 'é'::text AS \"é\", $1::text = chr(233), $1::text, ARRAY[$1::text]", &[&"é"])
            .await
            .unwrap();
        assert_eq!(row.columns().unwrap()[0].name(), "é");
        assert_eq!(row.get::<String, _>("é").unwrap(), "é");
        assert!(row.get::<bool, _>(1).unwrap(), "the parameter arrived as LATIN1 é");
        assert_eq!(row.get::<String, _>(2).unwrap(), "é");
        assert_eq!(row.get::<Vec<String>, _>(3).unwrap(), ["é"]);
    }
    let e = c.query("SELECT $1::text", &[&"✓"]).await.unwrap_err();
    assert!(matches!(e, Error::Usage(_)), "not representable in LATIN1: {e:?}");
    // Messages, notices, notifications and parameter reports in LATIN1.
    let e = c.query("SELECT * FROM \"tablé\"", &[]).await.unwrap_err();
    assert!(e.as_db_error().unwrap().message().contains("\"tablé\""), "{e}");
    c.take_notices();
    c.batch_execute("DO $$ BEGIN RAISE NOTICE 'ñandú'; END $$").await.unwrap();
    assert_eq!(c.take_notices().pop().unwrap().message(), "ñandú");
    c.batch_execute("NOTIFY \"é\", 'ü'").await.unwrap();
    let n = c.wait_for_notifications(Some(std::time::Duration::from_secs(5))).await.unwrap();
    assert_eq!((n[0].channel.as_str(), n[0].payload.as_str()), ("é", "ü"));
    c.batch_execute(&format!("SET SESSION AUTHORIZATION \"{role}\"")).await.unwrap();
    assert_eq!(c.engine().parameter_status("session_authorization"), Some(role.as_str()));
    c.batch_execute("RESET SESSION AUTHORIZATION").await.unwrap();
    c.set_client_encoding("UTF8").await.unwrap();
    assert_eq!(c.query_one("SELECT 'é'::text", &[]).await.unwrap().get::<&str, _>(0).unwrap(), "é");
    assert!(!c.engine().is_broken());
    c.batch_execute(&format!("UNLISTEN *; DROP ROLE \"{role}\"")).await.unwrap();
}

pub async fn valid_values_beyond_rust_types_are_conversion_errors<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let row = c
        .query_one(
            "SELECT '24:00:00'::time, date '5874897-12-31', timestamp '294276-12-31 23:59:59', '1e400'::jsonb, \
             '[1e400]'::json",
            &[],
        )
        .await
        .unwrap();
    let checks: Vec<(usize, Error)> = vec![
        (0, row.get::<chrono::NaiveTime, _>(0).unwrap_err()),
        (0, row.get::<time::Time, _>(0).unwrap_err()),
        (1, row.get::<chrono::NaiveDate, _>(1).unwrap_err()),
        (1, row.get::<time::Date, _>(1).unwrap_err()),
        (2, row.get::<chrono::NaiveDateTime, _>(2).unwrap_err()),
        (2, row.get::<time::PrimitiveDateTime, _>(2).unwrap_err()),
        (3, row.get::<serde_json::Value, _>(3).unwrap_err()),
        (4, row.get::<serde_json::Value, _>(4).unwrap_err()),
    ];
    let texts = ["24:00:00", "5874897-12-31", "294276-12-31 23:59:59"];
    for (i, e) in checks {
        let msg = e.to_string();
        assert!(matches!(e, Error::Usage(UsageError::Conversion(_))), "{msg}");
        assert!(!msg.contains("received from the server"), "blames the server: {msg}");
        assert!(msg.contains("range") || msg.contains("serde_json"), "says why: {msg}");
        if let Some(value) = texts.get(i) {
            assert!(msg.contains(value), "names the value: {msg}");
        }
    }
    // The same values in types that can hold them.
    assert_eq!(row.get::<pgsans::types::Json, _>(4).unwrap().0, "[1e400]");
    let time_text: String = c.query_one("SELECT '24:00:00'::time::text", &[]).await.unwrap().get(0).unwrap();
    assert_eq!(time_text, "24:00:00");
}

pub async fn first_execution_parses_once<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let long = "x".repeat(100);
    for (i, threshold) in THRESHOLDS.into_iter().enumerate() {
        c.set_prepare_threshold(threshold);
        c.take_notices();
        let sql = format!("SELECT {i} AS \"{long}\"");
        c.query(&sql, &[]).await.unwrap();
        let truncations = c.take_notices().iter().filter(|n| n.code() == SqlState::NAME_TOO_LONG).count();
        assert_eq!(truncations, 1, "one Parse, one notice ({threshold:?})");
    }
}

/// One step of the comparison script. `{t}`, `{v}`, `{f}` are replaced by per-transport names.
#[derive(Clone, Copy)]
enum Step {
    /// DDL or session commands on this connection (by the simple path, or the extended one).
    Run(&'static str),
    RunExtended(&'static str),
    /// DDL by another session (run on this one when inside a transaction: locks).
    Other(&'static str),
    /// A query whose result (or error) must be the same on every path.
    Query(&'static str),
    /// Opens a block: BEGIN in autocommit mode, a savepoint inside the session's transaction.
    Begin,
    /// Ends the block: COMMIT, or RELEASE SAVEPOINT.
    End,
    /// Rolls the block back: ROLLBACK, or ROLLBACK TO SAVEPOINT.
    Abort,
}

use Step::*;

const SCRIPT: &[Step] = &[
    Run("DROP VIEW IF EXISTS {v}; DROP FUNCTION IF EXISTS {f}(); DROP TABLE IF EXISTS {t}; \
         CREATE TABLE {t} (id int4, a int4, b text, c float8); \
         INSERT INTO {t} VALUES (1, 10, 'x', 1.5), (2, 20, NULL, -0.25), (3, 30, 'z', 1e30); \
         CREATE VIEW {v} AS SELECT id, a FROM {t}; \
         CREATE FUNCTION {f}() RETURNS TABLE (id int4, s text) LANGUAGE sql AS $$ SELECT id, b FROM {t} $$"),
    Query("SELECT * FROM {t} ORDER BY id"),
    Query("SELECT a, b FROM {t} ORDER BY id"),
    Query("SELECT * FROM {v} ORDER BY id"),
    Query("SELECT * FROM {f}() ORDER BY id"),
    Query("SELECT id, c FROM {t} WHERE id = 2"),
    // Columns added.
    RunExtended("ALTER TABLE {t} ADD COLUMN d numeric DEFAULT 1.25"),
    Query("SELECT * FROM {t} ORDER BY id"),
    Other("ALTER TABLE {t} ADD COLUMN e inet DEFAULT '10.1.2.3'"),
    Query("SELECT * FROM {t} ORDER BY id"),
    // Retyped (the view depends on a: recreated).
    Run("DROP VIEW {v}; ALTER TABLE {t} ALTER a TYPE int8; CREATE VIEW {v} AS SELECT id, a FROM {t}"),
    Query("SELECT * FROM {t} ORDER BY id"),
    Query("SELECT a, b FROM {t} ORDER BY id"),
    Query("SELECT * FROM {v} ORDER BY id"),
    Other("ALTER TABLE {t} ALTER c TYPE float4"),
    Query("SELECT id, c FROM {t} WHERE id = 2"),
    // Renamed and swapped.
    Run("ALTER TABLE {t} RENAME a TO aa; ALTER TABLE {t} RENAME b TO a; ALTER TABLE {t} RENAME aa TO b"),
    Query("SELECT a, b FROM {t} ORDER BY id"),
    Query("SELECT * FROM {t} ORDER BY id"),
    Query("SELECT * FROM {f}() ORDER BY id"),
    // Dropped: the same errors on every path.
    RunExtended("ALTER TABLE {t} DROP COLUMN c"),
    Query("SELECT id, c FROM {t} WHERE id = 2"),
    Query("SELECT * FROM {t} ORDER BY id"),
    Other("ALTER TABLE {t} DROP COLUMN e"),
    Query("SELECT * FROM {t} ORDER BY id"),
    // Views and functions redefined.
    Run("DROP VIEW {v}; CREATE VIEW {v} AS SELECT b AS a, id, 'extra'::text AS e FROM {t}"),
    Query("SELECT * FROM {v} ORDER BY id"),
    Run("DROP FUNCTION {f}(); CREATE FUNCTION {f}() RETURNS TABLE (s text, id int8, z bool) LANGUAGE sql \
         AS $$ SELECT a, id::int8, id > 1 FROM {t} $$"),
    Query("SELECT * FROM {f}() ORDER BY id"),
    Run("CREATE OR REPLACE VIEW {v} AS SELECT b AS a, id, 'extra'::text AS e, 2.5::float8 AS g FROM {t}"),
    Query("SELECT * FROM {v} ORDER BY id"),
    // SQL-level prepared statements: the server's own "cached plan" error, then redefinition.
    Run("PREPARE p AS SELECT * FROM {t} ORDER BY id"),
    Query("EXECUTE p"),
    Other("ALTER TABLE {t} ADD COLUMN g bool DEFAULT true"),
    Query("EXECUTE p"),
    Run("DEALLOCATE p; PREPARE p AS SELECT g, id FROM {t} ORDER BY id"),
    Query("EXECUTE p"),
    RunExtended("DEALLOCATE p"),
    Query("SELECT * FROM {t} ORDER BY id"),
    // Cursors, redeclared.
    Begin,
    Run("DECLARE cur SCROLL CURSOR FOR SELECT * FROM {t} ORDER BY id"),
    Query("FETCH ABSOLUTE 2 FROM cur"),
    Run("CLOSE cur; DECLARE cur SCROLL CURSOR FOR SELECT id, 'k'::text AS k, 0.5::float4 AS h FROM {t} ORDER BY id"),
    Query("FETCH ABSOLUTE 1 FROM cur"),
    Run("CLOSE cur"),
    End,
    // Schema changes undone by a rollback.
    Begin,
    Run("ALTER TABLE {t} ADD COLUMN h int2 DEFAULT 4"),
    Query("SELECT * FROM {t} ORDER BY id"),
    Abort,
    Query("SELECT * FROM {t} ORDER BY id"),
    // The table itself replaced by another of the same name.
    Run("DROP VIEW {v}; DROP FUNCTION {f}(); DROP TABLE {t}; CREATE TABLE {t} (id int8, z text DEFAULT 'new'); \
         INSERT INTO {t} (id) VALUES (7)"),
    Query("SELECT * FROM {t} ORDER BY id"),
    Query("SELECT a, b FROM {t} ORDER BY id"),
];

fn canonical(row: &pgsans::OwnedRow, i: usize) -> String {
    let col = &row.columns().expect("columns")[i];
    if row.raw(i).unwrap().is_none() {
        return "NULL".into();
    }
    let v = match col.type_oid() {
        oid::INT2 | oid::INT4 | oid::INT8 => row.get::<i64, _>(i).map(|v| v.to_string()),
        oid::FLOAT4 => row.get::<f32, _>(i).map(|v| format!("{v:?}")),
        oid::FLOAT8 => row.get::<f64, _>(i).map(|v| format!("{v:?}")),
        oid::BOOL => row.get::<bool, _>(i).map(|v| v.to_string()),
        oid::NUMERIC => row.get::<pgsans::types::Numeric, _>(i).map(|v| v.0),
        _ => row.get::<String, _>(i),
    };
    v.unwrap_or_else(|e| panic!("column {} ({}): {e}", col.name(), pgsans::types::type_name(col.type_oid())))
}

/// Names, types and values of a result, the same whichever path produced it.
fn shape(columns: Option<&[pgsans::Column]>, rows: &[pgsans::OwnedRow]) -> Vec<String> {
    let mut out: Vec<String> = columns
        .unwrap_or(&[])
        .iter()
        .map(|c| {
            format!(
                "{} type={} table={} attnum={} size={} mod={}",
                c.name(),
                c.type_oid(),
                c.table_oid(),
                c.column_id(),
                c.type_size(),
                c.type_modifier()
            )
        })
        .collect();
    for r in rows {
        out.push((0..r.len()).map(|i| canonical(r, i)).collect::<Vec<_>>().join(" | "));
    }
    out
}

fn error_text(e: &Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code(), db.message()),
        None => panic!("not a server error: {e:?}"),
    }
}

pub async fn extended_path_matches_simple_path<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let mut o: Conn<R> = connect().await;
    let (t, v, f) = (name::<R>("cmp_t"), name::<R>("cmp_v"), name::<R>("cmp_f"));
    let fill = |s: &str| s.replace("{t}", &t).replace("{v}", &v).replace("{f}", &f);
    let mut compared = 0;
    for threshold in THRESHOLDS {
        for in_transaction in [false, true] {
            c.set_autocommit(true).await.unwrap();
            c.batch_execute("DEALLOCATE ALL").await.unwrap();
            c.set_prepare_threshold(threshold);
            c.set_autocommit(!in_transaction).await.unwrap();
            // Inside a block (explicit, or the session's transaction) errors need a savepoint.
            let mut in_block = in_transaction;
            for (k, step) in SCRIPT.iter().enumerate() {
                let ctx = format!("step {k} ({threshold:?}, in transaction: {in_transaction})");
                let (begin, end, abort) = if in_transaction {
                    (
                        "SAVEPOINT block",
                        "RELEASE SAVEPOINT block",
                        "ROLLBACK TO SAVEPOINT block; RELEASE SAVEPOINT block",
                    )
                } else {
                    ("BEGIN", "COMMIT", "ROLLBACK")
                };
                match *step {
                    Run(sql) => c.batch_execute(&fill(sql)).await.unwrap_or_else(|e| panic!("{ctx}: {e}")),
                    RunExtended(sql) => drop(c.execute(&fill(sql), &[]).await.unwrap_or_else(|e| panic!("{ctx}: {e}"))),
                    // Another session would wait for our open transaction's locks.
                    Other(sql) if !in_transaction => o.batch_execute(&fill(sql)).await.unwrap(),
                    Other(sql) => c.batch_execute(&fill(sql)).await.unwrap(),
                    Begin | End | Abort => {
                        let sql = match *step {
                            Begin => begin,
                            End => end,
                            _ => abort,
                        };
                        c.batch_execute(sql).await.unwrap_or_else(|e| panic!("{ctx}: {e}"));
                        in_block = in_transaction || matches!(step, Begin);
                    }
                    Query(sql) => {
                        let sql = fill(sql);
                        compared += compare_paths(&mut c, &sql, in_block, &ctx).await;
                    }
                }
            }
            if in_transaction {
                c.rollback().await.unwrap();
            }
            assert!(!c.engine().is_broken());
        }
    }
    assert!(compared > 1000, "{compared} comparisons");
}

/// Runs `sql` on the simple path, then the extended path (6 times: past the prepare
/// threshold), a pipeline and a portal; every outcome must equal the simple one. Inside a
/// block, errors roll back to a savepoint so that the block goes on.
async fn compare_paths<R: TestRt>(c: &mut Conn<R>, sql: &str, in_block: bool, ctx: &str) -> usize {
    // Runs `$body` (an async block over `c`) inside a savepoint when in a block.
    macro_rules! guarded {
        ($body:expr) => {{
            if in_block {
                c.batch_execute("SAVEPOINT cmp").await.unwrap();
            }
            let r: Result<Vec<String>, Error> = $body.await;
            match (&r, in_block) {
                (_, false) => {}
                (Ok(_), true) => c.batch_execute("RELEASE SAVEPOINT cmp").await.unwrap(),
                (Err(_), true) => c.batch_execute("ROLLBACK TO SAVEPOINT cmp; RELEASE SAVEPOINT cmp").await.unwrap(),
            }
            r.map_err(|e| error_text(&e))
        }};
    }
    let expected = guarded!(async {
        let rs = c.simple_query(sql).await?.remove(0);
        let mut s = shape(Some(rs.columns()), rs.rows());
        s.push(rs.command_tag().unwrap_or_default().to_owned());
        Ok(s)
    });
    let mut n = 0;
    for run in 0..6 {
        let got = guarded!(async {
            let r = c.query_result(sql, &[]).await?;
            let mut s = shape(r.columns.as_deref(), &r.rows);
            s.push(r.tag.as_deref().unwrap_or_default().to_owned());
            Ok(s)
        });
        assert_eq!(got, expected, "{ctx}: extended run {run} of {sql}");
        n += 1;
    }
    let got = guarded!(async {
        let mut p = pgsans::Pipeline::new();
        p.query(sql, &[]).query(sql, &[]);
        let mut out = Vec::new();
        for r in c.pipeline(p).await? {
            let r = r?;
            out = shape(r.columns.as_deref(), &r.rows);
            out.push(r.tag.as_deref().unwrap_or_default().to_owned());
        }
        Ok(out)
    });
    assert_eq!(got, expected, "{ctx}: pipeline of {sql}");
    if !sql.starts_with("FETCH") {
        // A portal fetches in batches of 2: same rows and columns (no tag to compare).
        let got = guarded!(async {
            let rows = portal_rows(c, sql, 2).await?;
            Ok(shape(rows.first().and_then(|r| r.columns()), &rows))
        });
        let expected_rows = expected
            .as_ref()
            .map(|e| {
                let mut e = e.clone();
                e.pop();
                if e.iter().all(|l| l.contains(" type=")) {
                    e.clear(); // no rows: a portal shows no columns
                }
                e
            })
            .map_err(Clone::clone);
        assert_eq!(got, expected_rows, "{ctx}: portal of {sql}");
    }
    n + 2
}
