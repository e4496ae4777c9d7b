//! Network, WAL, money, bit-string, geometric and range types: each value goes in as a
//! parameter and comes back equal, in the text format pgsans asks for by default and in
//! binary (`Config::binary_results`), and its text — `Display` and `Row::text()` — is the
//! server's own.

use std::net::IpAddr;
use std::ops::Bound;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use pgsans::types::{
    Bits, Circle, Inet, Line, Lseg, MacAddr, MacAddr8, Money, Multirange, Numeric, Path, PgBox, PgLsn, Point, Polygon,
    Range, Xid8,
};
use pgsans::{FromSql, ToSql};
use pgsans_tests::*;

async fn connect<R: TestRt>(binary: bool) -> Conn<R> {
    let mut config = pgsans_client::load(&TestServer::shared().conninfo(AuthMethod::Trust)).unwrap();
    config.binary_results(binary);
    let mut c: Conn<R> = Conn::<R>::connect_with(&config).await.unwrap();
    c.set_autocommit(true).await.unwrap();
    c.batch_execute("SET TimeZone = 'UTC'; SET lc_monetary = 'C'").await.unwrap();
    c
}

/// `value` as a `ty` parameter: it comes back equal in both formats, the server's text for
/// it is `text`, and `Row::text()` agrees; the server's own parse of `text` reads back equal.
async fn check<R: TestRt, T>(conns: &mut [Conn<R>; 2], ty: &str, value: T, text: &str)
where
    T: ToSql + for<'a> FromSql<'a> + PartialEq + std::fmt::Debug + Sync,
{
    let sql = format!("SELECT $1::{ty}, format('%s', $1::{ty}), $2::text::{ty}");
    for c in conns.iter_mut() {
        let row = c.query_one(sql.as_str(), &[&value, &text]).await.unwrap_or_else(|e| panic!("{ty} {value:?}: {e}"));
        let format = row.columns().unwrap()[0].format();
        assert_eq!(row.get::<T, _>(0).unwrap(), value, "{ty} back (format {format})");
        assert_eq!(row.get_str(1).unwrap(), Some(text), "{ty}: the server's text for {value:?}");
        assert_eq!(row.text(0).unwrap().as_deref(), Some(text), "{ty}: Row::text (format {format})");
        assert_eq!(row.get::<T, _>(2).unwrap(), value, "{ty}: the server's parse of {text:?} (format {format})");
    }
}

/// Like `check`, and `Display` is the server's text too.
async fn check_display<R: TestRt, T>(conns: &mut [Conn<R>; 2], ty: &str, value: T, text: &str)
where
    T: ToSql + for<'a> FromSql<'a> + PartialEq + std::fmt::Debug + std::fmt::Display + Sync,
{
    assert_eq!(value.to_string(), text, "{ty}: Display");
    check(conns, ty, value, text).await;
}

pub async fn more_types_round_trip<R: TestRt>() {
    let mut c = [connect::<R>(false).await, connect::<R>(true).await];
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    check_display(&mut c, "inet", Inet::host(ip("192.168.0.1")), "192.168.0.1").await;
    check_display(&mut c, "inet", Inet { addr: ip("10.1.2.3"), prefix: 8 }, "10.1.2.3/8").await;
    check_display(&mut c, "inet", Inet { addr: ip("2001:db8::1"), prefix: 64 }, "2001:db8::1/64").await;
    check_display(&mut c, "inet", Inet::host(ip("::ffff:1.2.3.4")), "::ffff:1.2.3.4").await;
    check(&mut c, "cidr", Inet { addr: ip("10.0.0.0"), prefix: 8 }, "10.0.0.0/8").await;
    check(&mut c, "cidr", Inet::host(ip("10.0.0.7")), "10.0.0.7/32").await;
    check(&mut c, "inet", ip("fe80::1"), "fe80::1").await;
    check_display(&mut c, "macaddr", MacAddr([8, 0, 0x2b, 1, 2, 3]), "08:00:2b:01:02:03").await;
    check_display(&mut c, "macaddr8", MacAddr8([8, 0, 0x2b, 0xff, 0xfe, 1, 2, 3]), "08:00:2b:ff:fe:01:02:03").await;
    check_display(&mut c, "pg_lsn", PgLsn(0x16_B374_D848), "16/B374D848").await;
    check_display(&mut c, "pg_lsn", PgLsn(u64::MAX), "FFFFFFFF/FFFFFFFF").await;
    check_display(&mut c, "xid8", Xid8(u64::MAX), "18446744073709551615").await;
    check_display(&mut c, "money", Money(123_456_789), "$1,234,567.89").await;
    check_display(&mut c, "money", Money(-1), "-$0.01").await;
    check_display(&mut c, "varbit", Bits::from_bools([true, false, true, true]), "1011").await;
    check_display(&mut c, "varbit", Bits::from_bools([]), "").await;
    check_display(&mut c, "bit(10)", Bits::from_bools((0..10).map(|i| i % 3 == 0)), "1001001001").await;
    let p = |x, y| Point { x, y };
    check_display(&mut c, "point", p(1.5, -2.0), "(1.5,-2)").await;
    check_display(&mut c, "point", p(1e300, 0.1), "(1e+300,0.1)").await;
    check_display(&mut c, "lseg", Lseg { start: p(0.0, 0.0), end: p(1.0, 2.0) }, "[(0,0),(1,2)]").await;
    check_display(&mut c, "box", PgBox { high: p(3.0, 4.0), low: p(1.0, 2.0) }, "(3,4),(1,2)").await;
    check_display(&mut c, "line", Line { a: 1.0, b: -1.0, c: 0.5 }, "{1,-1,0.5}").await;
    check_display(&mut c, "path", Path { closed: false, points: vec![p(0.0, 0.0), p(1.0, 1.0)] }, "[(0,0),(1,1)]")
        .await;
    check_display(
        &mut c,
        "path",
        Path { closed: true, points: vec![p(0.0, 0.0), p(1.0, 1.0), p(2.0, 0.0)] },
        "((0,0),(1,1),(2,0))",
    )
    .await;
    check_display(
        &mut c,
        "polygon",
        Polygon { points: vec![p(0.0, 0.0), p(1.0, 1.0), p(2.0, 0.0)] },
        "((0,0),(1,1),(2,0))",
    )
    .await;
    check_display(&mut c, "circle", Circle { center: p(1.0, 2.0), radius: 2.5 }, "<(1,2),2.5>").await;

    // Arrays of them.
    check(&mut c, "inet[]", vec![Inet::host(ip("10.0.0.1")), Inet { addr: ip("::"), prefix: 0 }], "{10.0.0.1,::/0}")
        .await;
    check(&mut c, "pg_lsn[]", vec![Some(PgLsn(1)), None], "{0/1,NULL}").await;
    check(&mut c, "point[]", vec![p(1.0, 2.0), p(-0.5, 3.0)], "{\"(1,2)\",\"(-0.5,3)\"}").await;
    check(&mut c, "macaddr[]", Vec::<MacAddr>::new(), "{}").await;
    // A string array for an int4[] parameter goes as text for the server to parse.
    let stmt = c[0].prepare("SELECT $1::int4[]").await.unwrap();
    let row = c[0].query_one(&stmt, &[&vec!["1", "2"]]).await.unwrap();
    assert_eq!(row.get::<Vec<i32>, _>(0).unwrap(), [1, 2]);

    // Ranges: both formats, every bound kind, quoting of bounds with spaces.
    check(&mut c, "int4range", Range::half_open(1, 5), "[1,5)").await;
    check(&mut c, "int4range", Range::<i32>::Empty, "empty").await;
    check(&mut c, "int4range", Range::Bounds(Bound::Unbounded, Bound::Excluded(4)), "(,4)").await;
    check(&mut c, "int8range", Range::Bounds(Bound::Included(i64::MIN), Bound::Unbounded), "[-9223372036854775808,)")
        .await;
    check(
        &mut c,
        "numrange",
        Range::Bounds(Bound::Excluded(Numeric("1.50".into())), Bound::Included(Numeric("2".into()))),
        "(1.50,2]",
    )
    .await;
    let day = |d| NaiveDate::from_ymd_opt(2024, 2, d).unwrap();
    check(&mut c, "daterange", Range::half_open(day(1), day(29)), "[2024-02-01,2024-02-29)").await;
    let at = |d, h| day(d).and_hms_opt(h, 0, 0).unwrap();
    check::<R, Range<NaiveDateTime>>(
        &mut c,
        "tsrange",
        Range::half_open(at(1, 9), at(1, 17)),
        "[\"2024-02-01 09:00:00\",\"2024-02-01 17:00:00\")",
    )
    .await;
    check::<R, Range<DateTime<Utc>>>(
        &mut c,
        "tstzrange",
        Range::Bounds(Bound::Included(at(1, 9).and_utc()), Bound::Unbounded),
        "[\"2024-02-01 09:00:00+00\",)",
    )
    .await;
    check(&mut c, "int4multirange", Multirange(vec![Range::half_open(1, 3), Range::half_open(5, 7)]), "{[1,3),[5,7)}")
        .await;
    check(&mut c, "int4multirange", Multirange::<i32>(vec![]), "{}").await;
    check::<R, Multirange<NaiveDate>>(
        &mut c,
        "datemultirange",
        Multirange(vec![Range::Bounds(Bound::Unbounded, Bound::Excluded(day(2))), Range::half_open(day(5), day(6))]),
        "{(,2024-02-02),[2024-02-05,2024-02-06)}",
    )
    .await;

    // The server canonicalises discrete ranges: [1,5] comes back as [1,6).
    let row = c[0]
        .query_one("SELECT $1::int4range", &[&Range::Bounds(Bound::Included(1), Bound::Included(5))])
        .await
        .unwrap();
    assert_eq!(row.get::<Range<i32>, _>(0).unwrap(), Range::half_open(1, 6));
    // A prefix too long for the address is refused before anything is sent.
    let e = c[0].query_one("SELECT $1::inet", &[&Inet { addr: ip("10.0.0.1"), prefix: 33 }]).await.unwrap_err();
    assert!(matches!(e, pgsans::Error::Usage(pgsans::UsageError::Conversion(_))), "{e:?}");
    // An inet with a network prefix is not a host address.
    let row = c[0].query_one("SELECT '10.0.0.0/8'::inet", &[]).await.unwrap();
    assert!(row.get::<IpAddr, _>(0).is_err());
}

/// `hstore`, `citext` and `ltree` (extensions: their OIDs differ in every database).
pub async fn extension_types<R: TestRt>() {
    use std::collections::{BTreeMap, HashMap};
    let mut c = connect::<R>(false).await;
    for ext in ["hstore", "citext", "ltree"] {
        // Every transport's test may create it at once: losing that race is fine.
        match c.batch_execute(&format!("CREATE EXTENSION IF NOT EXISTS {ext}")).await {
            Ok(()) => {}
            Err(e) if e.code() == Some(pgsans::SqlState::UNIQUE_VIOLATION) => {}
            Err(e) => panic!("{ext}: {e}"),
        }
    }
    let mut map = BTreeMap::new();
    map.insert("a".to_owned(), Some("1".to_owned()));
    map.insert("with \"quotes\" and \\".to_owned(), None);
    map.insert(String::new(), Some("é".to_owned()));
    let row = c.query_one("SELECT $1::hstore, ($1::hstore) -> 'a', akeys($1::hstore)", &[&map]).await.unwrap();
    assert_eq!(row.get::<BTreeMap<String, Option<String>>, _>(0).unwrap(), map);
    assert_eq!(row.get::<Option<String>, _>(1).unwrap().as_deref(), Some("1"));
    assert_eq!(row.get::<Vec<String>, _>(2).unwrap().len(), 3);
    let empty = c.query_one("SELECT ''::hstore", &[]).await.unwrap();
    assert!(empty.get::<HashMap<String, Option<String>>, _>(0).unwrap().is_empty());
    // In binary too.
    let mut b = connect::<R>(true).await;
    let row = b.query_one("SELECT $1::hstore", &[&map]).await.unwrap();
    assert_eq!(row.get::<BTreeMap<String, Option<String>>, _>(0).unwrap(), map);
    // citext and ltree are text to a client.
    let row = c
        .query_one("SELECT 'MiXed'::citext = $1::citext, 'Top.Science'::ltree, $2::ltree", &[&"mixed", &"a.b"])
        .await
        .unwrap();
    assert!(row.get::<bool, _>(0).unwrap());
    assert_eq!(row.get::<String, _>(1).unwrap(), "Top.Science");
    assert_eq!(row.get::<String, _>(2).unwrap(), "a.b");
}
