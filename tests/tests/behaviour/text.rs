//! `Row::text()` of values that arrive in the binary format is the server's own rendering.

use pgsans_tests::*;

async fn connect<R: TestRt>() -> Conn<R> {
    let mut c: Conn<R> = Conn::<R>::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap();
    c.set_autocommit(true).await.unwrap();
    // timestamptz is rendered in UTC: the server shows it in the session's time zone.
    c.batch_execute("SET TimeZone = 'UTC'").await.unwrap();
    c
}

/// `SELECT v, format('%s', v) FROM …`: each query returns a value of one type and its text.
const CASES: &[&str] = &[
    // Floats over their whole range: fixed point and exponent forms, both precisions.
    "SELECT v, format('%s', v) FROM (SELECT ((random() - 0.5) * 10 ^ (random() * 600 - 300)::int)::float8 AS v \
     FROM generate_series(1, 3000)) s",
    "SELECT v, format('%s', v) FROM (SELECT ((random() - 0.5) * 10 ^ (random() * 70 - 35)::int)::float4 AS v \
     FROM generate_series(1, 3000)) s",
    "SELECT v, format('%s', v) FROM unnest('{NaN,Infinity,-Infinity,-0,0,1e15,1e14,1e-5,1e-4,5e-324,1.7976931348623157e308,\
     0.1,123456789012345678}'::float8[]) v",
    "SELECT v, format('%s', v) FROM unnest('{NaN,-Infinity,1e6,123456,1e-5,3.4028235e38,1.4e-45,0.1}'::float4[]) v",
    "SELECT v, format('%s', v) FROM unnest(ARRAY[-32768, 32767, 0]::int2[]) v",
    "SELECT v, format('%s', v) FROM unnest(ARRAY[-2147483648, 2147483647]::int4[]) v",
    "SELECT v, format('%s', v) FROM unnest(ARRAY[-9223372036854775808, 9223372036854775807]::int8[]) v",
    "SELECT v, format('%s', v) FROM unnest(ARRAY[0, 4294967295]::oid[]) v",
    "SELECT v, format('%s', v) FROM unnest(ARRAY[true, false]) v",
    "SELECT v, format('%s', v) FROM (SELECT chr(g)::\"char\" AS v FROM generate_series(1, 255) g) s",
    "SELECT v, format('%s', v) FROM unnest(ARRAY['', '\\x00ff10'::bytea, 'abc']::bytea[]) v",
    "SELECT v, format('%s', v) FROM (SELECT gen_random_uuid() AS v FROM generate_series(1, 20)) s",
    // Dates and times, BC and far future included.
    "SELECT v, format('%s', v) FROM (SELECT '2000-01-01'::date + (random() * 4000000 - 2400000)::int AS v \
     FROM generate_series(1, 2000)) s",
    "SELECT v, format('%s', v) FROM unnest('{infinity,-infinity,4714-11-24 BC,5874897-12-31,0001-01-01,0001-12-31 BC}'::date[]) v",
    "SELECT v, format('%s', v) FROM (SELECT 'epoch'::timestamp + make_interval(secs => random() * 2e11 - 1.5e11) AS v \
     FROM generate_series(1, 2000)) s",
    "SELECT v, format('%s', v) FROM (SELECT 'epoch'::timestamptz + make_interval(secs => random() * 2e11 - 1.5e11) AS v \
     FROM generate_series(1, 2000)) s",
    "SELECT v, format('%s', v) FROM unnest('{infinity,-infinity,294276-12-31 23:59:59.999999,4713-01-01 00:00:00.5 BC}'::timestamp[]) v",
    "SELECT v, format('%s', v) FROM (SELECT '00:00'::time + make_interval(secs => random() * 86400) AS v \
     FROM generate_series(1, 1000)) s",
    "SELECT v, format('%s', v) FROM unnest('{00:00:00,24:00:00,23:59:59.999999,12:00:00.1}'::time[]) v",
    "SELECT v, format('%s', v) FROM (SELECT make_interval(years => (random() * 20 - 10)::int, months => (random() * 30 - 15)::int, \
     days => (random() * 60 - 30)::int, secs => random() * 2e5 - 1e5) * (random() > 0.2)::int AS v \
     FROM generate_series(1, 2000)) s",
    "SELECT v, format('%s', v) FROM unnest('{1 year,-1 year,1 mon -1 day,-00:00:00.000001,100000 hours,-1 year -2 mons +3 days -04:05:06}'::interval[]) v",
    // Text-like types, json, numeric.
    "SELECT v, format('%s', v) FROM unnest(ARRAY['', 'é ✓', 'a\"b']::text[]) v",
    "SELECT v, format('%s', v) FROM unnest(ARRAY['{\"a\": [1, 2.50]}', '[]', 'null']::jsonb[]) v",
    "SELECT v, format('%s', v) FROM unnest(ARRAY['123.4500', '-0.000001', 'NaN']::numeric[]) v",
    // Arrays: several dimensions, lower bounds, NULLs, quoting, empty.
    "SELECT v, format('%s', v) FROM (VALUES ('{{1,2},{3,NULL}}'::int4[]), ('[0:1]={1,2}'), ('[-2:-1][3:3]={{7},{8}}'), \
     ('{}'), ('{{{1}}}'), ('{NULL}')) t(v)",
    "SELECT v, format('%s', v) FROM (VALUES (ARRAY['a b', '', 'NULL', 'null', 'x\"y', 'back\\\\slash', '{}', 'a,b', NULL, 'é', \
     E'tab\\there'])) t(v)",
    "SELECT v, format('%s', v) FROM (VALUES ('{1.5,NaN,-Infinity,1e300,-0}'::float8[]), ('{{1},{2}}')) t(v)",
    "SELECT v, format('%s', v) FROM (VALUES ('{\"2000-01-01 12:00:00.5\",infinity}'::timestamp[])) t(v)",
    "SELECT v, format('%s', v) FROM (VALUES ('{\"1 day\",\"-1 mon\"}'::interval[]), ('{}')) t(v)",
    "SELECT v, format('%s', v) FROM (VALUES ('{\"\\\\x01\",\"\\\\x\"}'::bytea[]), ('{NULL,NULL}')) t(v)",
    "SELECT v, format('%s', v) FROM (VALUES ('{t,f,NULL}'::bool[]), ('{{t},{f}}')) t(v)",
    "SELECT v, format('%s', v) FROM (VALUES ('{a,\"\",b}'::\"char\"[]), (ARRAY[chr(200)::\"char\", chr(92)::\"char\"])) t(v)",
    "SELECT v, format('%s', v) FROM (VALUES ('{\"{\\\"a\\\": 1}\",null}'::jsonb[])) t(v)",
];

pub async fn binary_values_have_the_servers_text<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let mut compared = 0;
    for sql in CASES {
        let rows = c.query(*sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert!(!rows.is_empty(), "{sql}");
        let format = rows[0].columns().unwrap()[0].format();
        for row in &rows {
            let ours = row.text(0).unwrap_or_else(|e| panic!("{sql}: {e}"));
            let server = row.get_str(1).unwrap();
            assert_eq!(ours.as_deref(), server, "{sql} (format {format})");
            compared += 1;
        }
    }
    assert!(compared > 15_000, "{compared}");
    // Most came in binary: the rendering was exercised, not the server's text passed through.
    let row = c.query_one("SELECT 1.5::float8, now()", &[]).await.unwrap();
    assert_eq!(row.columns().unwrap()[0].format(), 1);
    // A missing column is an error, not None.
    assert!(row.text(5).is_err());
    assert!(row.text("nope").is_err());
}
