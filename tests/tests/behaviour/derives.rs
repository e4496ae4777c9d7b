//! `#[derive(FromRow)]`, `#[derive(ToSql, FromSql)]` for enums and domains, and `query_as`,
//! against the real server.

use pgsans::{Error, FromRow, FromSql, ToSql, UsageError};
use pgsans_tests::*;

async fn connect<R: TestRt>() -> Conn<R> {
    let mut c: Conn<R> = Conn::<R>::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap();
    c.set_autocommit(true).await.unwrap();
    c
}

/// A schema of this transport's own (the transports run at once against one server), made
/// the first on the search path.
async fn own_schema<R: TestRt>(c: &mut Conn<R>, prefix: &str) -> String {
    let schema = format!("{prefix}_{}", R::NAME.replace('-', "_"));
    c.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; SET search_path = {schema}, public"
    ))
    .await
    .unwrap();
    schema
}

#[derive(Debug, PartialEq, FromRow)]
struct Audit {
    created_by: String,
}

#[derive(Debug, PartialEq, FromRow)]
#[pgsans(rename_all = "camelCase")]
struct Account {
    account_id: i64,
    #[pgsans(rename = "login")]
    name: String,
    email: Option<String>,
    #[pgsans(default)]
    karma: i32,
    #[pgsans(skip)]
    cached: Option<u8>,
    #[pgsans(try_from = "i64")]
    visit_count: u32,
    #[pgsans(flatten)]
    audit: Audit,
}

#[derive(Debug, PartialEq, FromRow)]
struct Pair(i32, String);

#[derive(Debug, FromRow)]
struct Borrowed<'a> {
    login: &'a str,
    avatar: Option<&'a [u8]>,
}

const ACCOUNTS: &str = "SELECT * FROM (VALUES \
     (1::int8, 'ann', 'ann@example.org', 3::int8, 'root', '\\x0102'::bytea), \
     (2, 'bob', NULL, 5000000000, 'ann', NULL)) \
     AS t(\"accountId\", login, email, \"visitCount\", created_by, avatar)";

pub async fn rows_become_structs<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let only_first = format!("{ACCOUNTS} WHERE \"accountId\" = 1");
    let ann: Account = c.query_one_as(only_first.as_str(), &[]).await.unwrap();
    assert_eq!(
        ann,
        Account {
            account_id: 1,
            name: "ann".into(),
            email: Some("ann@example.org".into()),
            karma: 0,
            cached: None,
            visit_count: 3,
            audit: Audit { created_by: "root".into() },
        }
    );
    // A value that does not fit the field's type through try_from: an error naming the column.
    let e = c.query_as::<Account>(ACCOUNTS, &[]).await.unwrap_err();
    assert!(
        matches!(&e, Error::Usage(UsageError::Conversion(m)) if m.contains("\"visitCount\"")),
        "5e9 does not fit a u32: {e:?}"
    );
    // The connection is fine afterwards (the rest of the result was drained).
    assert_eq!(c.query_one_as::<(i32,)>("SELECT 7", &[]).await.unwrap(), (7,));
    // `default` takes a column that is there.
    let with_karma = format!("SELECT t.*, 9 AS karma FROM ({only_first}) t");
    assert_eq!(c.query_one_as::<Account>(with_karma.as_str(), &[]).await.unwrap().karma, 9);
    // A missing column, a NULL into a non-Option, a wrong type: typed errors naming the column.
    let e = c.query_one_as::<Audit>("SELECT 1 AS nobody", &[]).await.unwrap_err();
    assert!(matches!(&e, Error::Usage(UsageError::NoSuchColumn(col)) if col.contains("created_by")), "{e:?}");
    let e = c.query_one_as::<Audit>("SELECT NULL::text AS created_by", &[]).await.unwrap_err();
    assert!(
        matches!(&e, Error::Usage(UsageError::UnexpectedNull { column, .. }) if column.contains("created_by")),
        "{e:?}"
    );
    let e = c.query_one_as::<Audit>("SELECT 1 AS created_by", &[]).await.unwrap_err();
    assert!(matches!(&e, Error::Usage(UsageError::WrongType { column, .. }) if column.contains("created_by")), "{e:?}");
    // Tuple structs and tuples read by position; extra columns are left alone.
    assert_eq!(
        c.query_as::<Pair>("SELECT g, g::text, 'extra' FROM generate_series(1, 2) g", &[]).await.unwrap(),
        [Pair(1, "1".into()), Pair(2, "2".into())]
    );
    let (n, s, none): (i64, String, Option<bool>) =
        c.query_one_as("SELECT $1::int8, 'x', NULL::bool", &[&5i64]).await.unwrap();
    assert_eq!((n, s.as_str(), none), (5, "x", None));
    assert_eq!(c.query_opt_as::<(i32,)>("SELECT 1 WHERE false", &[]).await.unwrap(), None);
    assert!(matches!(
        c.query_opt_as::<(i32,)>("SELECT 1 UNION ALL SELECT 2", &[]).await,
        Err(Error::Usage(UsageError::RowCount { got: 2, .. }))
    ));

    // The borrowing form reads straight out of the receive buffer.
    let mut stream = c.query_raw(ACCOUNTS, &[]).await.unwrap();
    let mut seen = Vec::new();
    while let Some(row) = stream.next().await.unwrap() {
        let b: Borrowed<'_> = row.decode().unwrap();
        seen.push((b.login.to_owned(), b.avatar.map(<[u8]>::to_vec)));
    }
    drop(stream);
    assert_eq!(seen, [("ann".to_owned(), Some(vec![1, 2])), ("bob".to_owned(), None)]);
    // And out of an owned row, borrowing from it.
    let rows = c.query(ACCOUNTS, &[]).await.unwrap();
    assert_eq!(rows[1].decode::<Borrowed<'_>>().unwrap().login, "bob");

    // The shared client has the same methods.
    let client = pgsans_client::Client::<R>::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap();
    let pairs: Vec<Pair> = client.query_as("SELECT 3, 'three'", &[]).await.unwrap();
    assert_eq!(pairs, [Pair(3, "three".into())]);
    assert_eq!(client.query_one_as::<(String,)>("SELECT 'one'", &[]).await.unwrap().0, "one");
}

#[derive(Debug, Clone, Copy, PartialEq, ToSql, FromSql)]
#[pgsans(rename_all = "snake_case")]
enum Mood {
    Sad,
    Ok,
    #[pgsans(rename = "very happy")]
    VeryHappy,
}

/// A domain over int4, as a newtype.
#[derive(Debug, Clone, Copy, PartialEq, ToSql, FromSql)]
struct PosInt(i32);

#[derive(Debug, PartialEq, FromRow)]
struct Person {
    name: String,
    mood: Mood,
    age: PosInt,
    was: Option<Mood>,
}

pub async fn enums_and_domains_round_trip<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let schema = own_schema(&mut c, "derive_enums").await;
    c.batch_execute(
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'very happy');
         CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
         CREATE TABLE person (name text, mood mood, age posint, was mood)",
    )
    .await
    .unwrap();
    // SQL text: the enum goes as text of unknown type and the server infers `mood`.
    c.execute("INSERT INTO person VALUES ($1, $2, $3, $4)", &[&"ann", &Mood::VeryHappy, &PosInt(30), &None::<Mood>])
        .await
        .unwrap();
    // A prepared statement: the parameter is described as `mood` and `posint` (a domain over
    // int4 is described as int4).
    let insert = c.prepare("INSERT INTO person VALUES ($1, $2, $3, $4)").await.unwrap();
    c.execute(&insert, &[&"bob", &Mood::Sad, &PosInt(40), &Some(Mood::Ok)]).await.unwrap();
    let people: Vec<Person> = c.query_as("SELECT * FROM person ORDER BY name", &[]).await.unwrap();
    assert_eq!(
        people,
        [
            Person { name: "ann".into(), mood: Mood::VeryHappy, age: PosInt(30), was: None },
            Person { name: "bob".into(), mood: Mood::Sad, age: PosInt(40), was: Some(Mood::Ok) },
        ]
    );
    // The server's own rendering agrees, and a parameter compares as the enum.
    assert_eq!(
        scalar(&mut c, "SELECT string_agg(mood::text, ',' ORDER BY name) FROM person").await.unwrap().as_deref(),
        Some("very happy,sad")
    );
    let n: (i64,) = c.query_one_as("SELECT count(*) FROM person WHERE mood = $1", &[&Mood::Sad]).await.unwrap();
    assert_eq!(n.0, 1);
    // The text format (simple query) decodes the same.
    let rows = c.simple_query("SELECT mood, age FROM person ORDER BY name").await.unwrap();
    let row = &rows[0].rows()[0];
    assert_eq!((row.get::<Mood, _>(0).unwrap(), row.get::<PosInt, _>(1).unwrap()), (Mood::VeryHappy, PosInt(30)));
    // A label the Rust enum lacks is an error naming the enum; the domain's check is the
    // server's.
    c.batch_execute("ALTER TYPE mood ADD VALUE 'meh'").await.unwrap();
    let e = c.query_one("SELECT 'meh'::mood", &[]).await.unwrap().get::<Mood, _>(0).unwrap_err();
    assert!(matches!(&e, Error::Usage(UsageError::Conversion(m)) if m.contains("meh") && m.contains("Mood")), "{e:?}");
    let e = c.execute(&insert, &[&"eve", &Mood::Ok, &PosInt(-1), &None::<Mood>]).await.unwrap_err();
    assert_eq!(e.code(), Some(pgsans::SqlState::CHECK_VIOLATION), "{e}");
    // A built-in type that is not an enum is refused before anything is decoded.
    let e = c.query_one("SELECT 1", &[]).await.unwrap().get::<Mood, _>(0).unwrap_err();
    assert!(matches!(e, Error::Usage(UsageError::WrongType { .. })), "{e:?}");
    c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}

/// A type of the user's, written for tokio-postgres.
#[derive(Debug, PartialEq)]
struct Celsius(f64);

impl postgres_types::ToSql for Celsius {
    fn to_sql(
        &self,
        ty: &postgres_types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        postgres_types::ToSql::to_sql(&self.0, ty, out)
    }
    fn accepts(ty: &postgres_types::Type) -> bool {
        *ty == postgres_types::Type::FLOAT8
    }
    postgres_types::to_sql_checked!();
}

impl<'a> postgres_types::FromSql<'a> for Celsius {
    fn from_sql(ty: &postgres_types::Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        <f64 as postgres_types::FromSql>::from_sql(ty, raw).map(Celsius)
    }
    fn accepts(ty: &postgres_types::Type) -> bool {
        *ty == postgres_types::Type::FLOAT8
    }
}

#[derive(Debug, postgres_types::ToSql, postgres_types::FromSql)]
#[postgres(name = "mood")]
enum PgMood {
    #[postgres(name = "sad")]
    Sad,
}

pub async fn postgres_types_implementations_work_through_pg<R: TestRt>() {
    use pgsans_postgres_types::Pg;
    use std::net::IpAddr;
    let mut c: Conn<R> = connect().await;
    // The user's own type, by SQL text (its natural type is found: float8) and prepared.
    let row = c.query_one("SELECT $1 * 2, $1::float8::text", &[&Pg(Celsius(21.5))]).await.unwrap();
    assert_eq!(row.get::<Pg<Celsius>, _>(0).unwrap().0, Celsius(43.0));
    assert_eq!(row.get_str(1).unwrap(), Some("21.5"));
    let stmt = c.prepare("SELECT $1::float8 + 1").await.unwrap();
    assert_eq!(
        c.query_one(&stmt, &[&Pg(Celsius(1.0))]).await.unwrap().get::<Pg<Celsius>, _>(0).unwrap().0,
        Celsius(2.0)
    );
    // postgres-types' own implementations of types pgsans has none for: inet, SystemTime.
    // pgsans asks for inet in text, which postgres-types cannot read: a typed error...
    let ip: IpAddr = "2001:db8::1".parse().unwrap();
    let row = c.query_one("SELECT $1::inet", &[&Pg(ip)]).await.unwrap();
    assert!(matches!(row.get::<Pg<IpAddr>, _>(0), Err(Error::Usage(UsageError::WrongType { .. }))));
    assert_eq!(row.get_str(0).unwrap(), Some("2001:db8::1"));
    // ... unless every column is asked for in binary, as tokio-postgres does.
    let mut config = pgsans_client::load(&TestServer::shared().conninfo(AuthMethod::Trust)).unwrap();
    config.binary_results(true);
    let mut c: Conn<R> = Conn::<R>::connect_with(&config).await.unwrap();
    c.set_autocommit(true).await.unwrap();
    let row = c.query_one("SELECT $1::inet, host($1::inet)", &[&Pg(ip)]).await.unwrap();
    assert_eq!(row.get::<Pg<IpAddr>, _>(0).unwrap().0, ip);
    assert_eq!(row.get_str(1).unwrap(), Some("2001:db8::1"));
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_micros(1_700_000_000_123_456);
    let row = c.query_one("SELECT $1::timestamptz", &[&Pg(when)]).await.unwrap();
    assert_eq!(row.get::<Pg<std::time::SystemTime>, _>(0).unwrap().0, when);
    // NULL both ways.
    let row = c.query_one("SELECT $1::inet", &[&Pg(None::<IpAddr>)]).await.unwrap();
    assert_eq!(row.get::<Pg<Option<IpAddr>>, _>(0).unwrap().0, None);
    assert!(matches!(row.get::<Pg<IpAddr>, _>(0), Err(Error::Usage(UsageError::UnexpectedNull { .. }))));
    // A type mismatch is pgsans' typed error, before anything is sent.
    let e = c.query(&stmt, &[&Pg(ip)]).await.unwrap_err();
    assert!(matches!(e, Error::Usage(UsageError::WrongType { .. })), "{e:?}");
    // The documented limit: postgres-types' derives check the type's name, which pgsans
    // does not look up yet: a typed refusal, not a wrong value.
    let schema = own_schema(&mut c, "pgtypes").await;
    c.batch_execute("CREATE TYPE mood AS ENUM ('sad')").await.unwrap();
    let row = c.query_one("SELECT 'sad'::mood", &[]).await.unwrap();
    assert!(matches!(row.get::<Pg<PgMood>, _>(0), Err(Error::Usage(UsageError::WrongType { .. }))));
    c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}

pub async fn the_type_catalogue_follows_the_schema<R: TestRt>() {
    use pgsans::types::{Field, Kind};
    let mut c: Conn<R> = connect().await;
    let schema = own_schema(&mut c, "catalogue").await;
    c.batch_execute(
        "CREATE TYPE mood AS ENUM ('sad', 'ok');
         CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
         CREATE DOMAIN small_posint AS posint CHECK (VALUE < 100);
         CREATE TYPE pair AS (label text, n posint, moods mood[]);
         CREATE TABLE t (a small_posint, m mood)",
    )
    .await
    .unwrap();
    let oid_of = |name: &str| format!("SELECT '{schema}.{name}'::regtype::oid");
    let oid = async |c: &mut Conn<R>, name: &str| -> u32 {
        c.query_one(oid_of(name).as_str(), &[]).await.unwrap().get(0).unwrap()
    };
    let (mood, posint, small, pair) = (
        oid(&mut c, "mood").await,
        oid(&mut c, "posint").await,
        oid(&mut c, "small_posint").await,
        oid(&mut c, "pair").await,
    );
    let mood_array = oid(&mut c, "mood[]").await;

    // A prepared statement's domain parameter takes plain values of the base type, through a
    // domain over a domain; the server's checks still apply.
    let insert = c.prepare("INSERT INTO t VALUES ($1, $2)").await.unwrap();
    assert_eq!(insert.params(), [small, mood]);
    c.execute(&insert, &[&42i32, &"ok"]).await.unwrap();
    let e = c.execute(&insert, &[&420i32, &"ok"]).await.unwrap_err();
    assert_eq!(e.code(), Some(pgsans::SqlState::CHECK_VIOLATION), "{e}");
    // A value of another type is refused before anything is sent, naming the parameter.
    let e = c.execute(&insert, &[&42i64, &"ok"]).await.unwrap_err();
    assert!(matches!(&e, Error::Usage(UsageError::WrongType { column, .. }) if column == "parameter $1"), "{e:?}");
    assert_eq!(scalar(&mut c, "SELECT count(*) FROM t").await.unwrap().as_deref(), Some("1"));

    // What the catalogue says.
    let t = c.type_info(mood).await.unwrap();
    assert_eq!(
        (t.name(), t.schema(), t.kind()),
        ("mood", schema.as_str(), &Kind::Enum(vec!["sad".into(), "ok".into()]))
    );
    assert_eq!(c.type_info(small).await.unwrap().kind(), &Kind::Domain(posint));
    assert_eq!(c.type_info(mood_array).await.unwrap().kind(), &Kind::Array(mood));
    assert_eq!(
        c.type_info(pair).await.unwrap().kind(),
        &Kind::Composite(vec![
            Field { name: "label".into(), type_oid: pgsans::types::oid::TEXT },
            Field { name: "n".into(), type_oid: posint },
            Field { name: "moods".into(), type_oid: mood_array },
        ])
    );
    assert_eq!(c.type_info(3904).await.unwrap().kind(), &Kind::Range(pgsans::types::oid::INT4), "int4range");
    assert_eq!(c.type_info(pgsans::types::oid::INT4).await.unwrap().name(), "int4");
    assert!(matches!(c.type_info(1).await, Err(Error::Usage(UsageError::InvalidArgument(_)))));

    // ALTER TYPE … ADD VALUE is seen; so is a type dropped and made again under its name.
    c.batch_execute("ALTER TYPE mood ADD VALUE 'happy'").await.unwrap();
    assert_eq!(c.type_info(mood).await.unwrap().kind(), &Kind::Enum(vec!["sad".into(), "ok".into(), "happy".into()]));
    c.batch_execute("DROP TYPE pair; CREATE TYPE pair AS (x int8)").await.unwrap();
    let new_pair = oid(&mut c, "pair").await;
    assert_ne!(new_pair, pair);
    assert_eq!(
        c.type_info(new_pair).await.unwrap().kind(),
        &Kind::Composite(vec![Field { name: "x".into(), type_oid: pgsans::types::oid::INT8 }])
    );
    assert!(c.type_info(pair).await.is_err(), "the dropped type is gone");

    // Outside autocommit, looking types up opens no transaction.
    c.set_autocommit(false).await.unwrap();
    let before = c.transaction_status();
    c.type_info(mood).await.unwrap();
    c.batch_execute("SET search_path = public").await.unwrap(); // drops what was learnt…
    c.rollback().await.unwrap();
    // … so this prepare looks posint up again.
    let _ = c.prepare(&format!("SELECT $1::{schema}.posint")).await.unwrap();
    assert_eq!(c.transaction_status(), before, "prepare and its type lookup leave the session idle");
    c.set_autocommit(true).await.unwrap();

    // The shared client has it too.
    let client = pgsans_client::Client::<R>::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap();
    let stmt = client.prepare(&format!("SELECT $1::{schema}.posint + 1")).await.unwrap();
    assert_eq!(client.query_one(&stmt, &[&1i32]).await.unwrap().get::<i32, _>(0).unwrap(), 2);
    assert_eq!(client.type_info(posint).await.unwrap().kind(), &Kind::Domain(pgsans::types::oid::INT4));
    c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}

#[derive(Debug, Clone, PartialEq, ToSql, FromSql)]
struct Inner {
    label: String,
    n: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, ToSql, FromSql)]
struct Outer {
    id: i64,
    part: Option<Inner>,
    moods: Vec<Mood>,
    note: Option<String>,
    at: chrono::NaiveDateTime,
}

#[derive(Debug, FromRow)]
struct WithComposite {
    v: Outer,
    vs: Vec<Inner>,
}

pub async fn composites_round_trip<R: TestRt>() {
    let mut c: Conn<R> = connect().await;
    let schema = own_schema(&mut c, "derive_composites").await;
    c.batch_execute(
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'very happy');
         CREATE DOMAIN small AS int4 CHECK (VALUE < 1000);
         CREATE TYPE inner_t AS (label varchar(60), n small);
         CREATE TYPE outer_t AS (id int8, part inner_t, moods mood[], note text, at timestamp);
         CREATE TABLE t (v outer_t, vs inner_t[])",
    )
    .await
    .unwrap();
    let at = chrono::NaiveDate::from_ymd_opt(2024, 2, 29).unwrap().and_hms_micro_opt(23, 59, 59, 5).unwrap();
    let values = [
        Outer {
            id: 1,
            part: Some(Inner { label: "a \"quoted\", (parenthesised) \\ label".into(), n: Some(7) }),
            moods: vec![Mood::VeryHappy, Mood::Sad],
            note: Some(String::new()),
            at,
        },
        Outer { id: 2, part: Some(Inner { label: String::new(), n: None }), moods: vec![], note: None, at },
        Outer { id: 3, part: None, moods: vec![Mood::Ok], note: Some("é ✓".into()), at },
    ];
    let list = vec![Inner { label: "x".into(), n: Some(1) }, Inner { label: "y,z".into(), n: None }];
    // SQL text: the value goes as text of unknown type, the server infers `outer_t`.
    c.execute("INSERT INTO t VALUES ($1, $2)", &[&values[0], &list]).await.unwrap();
    // A prepared statement: the parameters are described as `outer_t` and `inner_t[]`.
    let insert = c.prepare("INSERT INTO t VALUES ($1, $2)").await.unwrap();
    c.execute(&insert, &[&values[1], &Vec::<Inner>::new()]).await.unwrap();
    c.execute(&insert, &[&values[2], &list]).await.unwrap();
    // The server holds what was sent, field by field.
    assert_eq!(
        scalar(&mut c, "SELECT ((v).part).label || '|' || (v).moods[1] FROM t WHERE (v).id = 1")
            .await
            .unwrap()
            .as_deref(),
        Some("a \"quoted\", (parenthesised) \\ label|very happy")
    );
    assert_eq!(scalar(&mut c, "SELECT (v).note IS NULL FROM t WHERE (v).id = 2").await.unwrap().as_deref(), Some("t"));
    // Read back in text (the default) and in binary: the same values.
    let mut config = pgsans_client::load(&TestServer::shared().conninfo(AuthMethod::Trust)).unwrap();
    config.binary_results(true);
    let mut binary: Conn<R> = Conn::<R>::connect_with(&config).await.unwrap();
    binary.set_autocommit(true).await.unwrap();
    let sql = format!("SELECT v, vs FROM {schema}.t ORDER BY (v).id");
    let rows: Vec<WithComposite> = binary.query_as(sql.as_str(), &[]).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.v.clone()).collect::<Vec<_>>(), values);
    assert_eq!((&rows[0].vs, &rows[1].vs, &rows[2].vs), (&list, &vec![], &list));
    // In text, an array of records has escaped elements, which cannot be read in place: a
    // typed error that says what to do.
    let e = c.query_as::<WithComposite>(sql.as_str(), &[]).await.unwrap_err();
    assert!(matches!(&e, pgsans::Error::Usage(UsageError::Conversion(m)) if m.contains("binary_results")), "{e:?}");
    for conn in [&mut c, &mut binary] {
        let rows = conn.query(format!("SELECT v FROM {schema}.t ORDER BY (v).id").as_str(), &[]).await.unwrap();
        let got: Vec<Outer> = rows.iter().map(|r| r.get(0).unwrap()).collect();
        assert_eq!(got, values);
        // An anonymous record reads into a struct of as many fields.
        let row = conn.query_one("SELECT ROW('r', 5)", &[]).await.unwrap();
        assert_eq!(row.get::<Inner, _>(0).unwrap(), Inner { label: "r".into(), n: Some(5) });
        // Too few or too many fields: a typed error naming the Rust type.
        let row = conn.query_one("SELECT ROW('r', 5, 6)", &[]).await.unwrap();
        let e = row.get::<Inner, _>(0).unwrap_err();
        assert!(matches!(&e, pgsans::Error::Usage(UsageError::Conversion(m)) if m.contains("Inner")), "{e:?}");
        // A NULL field into a non-Option names the field.
        let row = conn.query_one("SELECT ROW(NULL::text, 5)", &[]).await.unwrap();
        let e = row.get::<Inner, _>(0).unwrap_err();
        assert!(
            matches!(&e, pgsans::Error::Usage(UsageError::UnexpectedNull { column, .. }) if column.contains("label")),
            "{e:?}"
        );
    }
    // The domain inside the composite keeps its check.
    let e = c
        .execute(
            &insert,
            &[&Outer { part: Some(Inner { label: "big".into(), n: Some(5000) }), ..values[1].clone() }, &list],
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(pgsans::SqlState::CHECK_VIOLATION), "{e}");
    c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}
