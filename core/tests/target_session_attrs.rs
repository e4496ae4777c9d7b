//! `target_session_attrs` against a server that does not report `in_hot_standby` /
//! `default_transaction_read_only` (PostgreSQL 13 and older): the engine asks, as libpq does,
//! before the connection is ready. (Servers that report them are covered against PostgreSQL 15
//! with a primary and a standby in the behaviour suite.)

mod common;

use common::Script;
use pgsans::{ClientNonce, Config, Connection, Error};

fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty];
    m.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// An old server's startup, then its answer (one text value) to the question.
fn server(answer: &str) -> Vec<u8> {
    let mut s = msg(b'R', &0i32.to_be_bytes());
    s.extend(msg(b'S', b"server_version\x0013.9\x00"));
    s.extend(msg(b'K', &[0, 0, 0, 7, 1, 2, 3, 4]));
    s.extend(msg(b'Z', b"I"));
    let mut field = b"x\0".to_vec();
    field.extend_from_slice(&[0; 18]);
    let mut t = 1u16.to_be_bytes().to_vec();
    t.extend(field);
    s.extend(msg(b'T', &t));
    let mut d = 1u16.to_be_bytes().to_vec();
    d.extend_from_slice(&(answer.len() as i32).to_be_bytes());
    d.extend_from_slice(answer.as_bytes());
    s.extend(msg(b'D', &d));
    s.extend(msg(b'C', b"SHOW\0"));
    s.extend(msg(b'Z', b"I"));
    s
}

fn connect(attrs: &str, answer: &str, split: usize) -> (Result<(), Error>, Vec<u8>) {
    let config = Config::parse(&format!("host=h user=u sslmode=disable target_session_attrs={attrs}")).unwrap();
    let mut conn = Connection::new(&config, ClientNonce::from_printable("n").unwrap()).unwrap();
    let stream = server(answer);
    let mut script = Script::new(&stream, std::iter::repeat(split));
    let r = script.startup(&mut conn);
    if r.is_ok() {
        assert!(conn.is_ready());
    }
    (r, script.written)
}

fn asked(written: &[u8], sql: &str) -> bool {
    written.windows(sql.len()).any(|w| w == sql.as_bytes())
}

#[test]
fn read_write_asks_and_refuses_a_read_only_session() {
    for split in [1, 3, 1000] {
        let (r, written) = connect("read-write", "on", split);
        // (With everything in one read the answer is there before the question is written.)
        if split < 100 {
            assert!(asked(&written, "SHOW transaction_read_only"), "{split}");
        }
        assert!(
            matches!(r, Err(Error::TargetSessionAttrs { wanted: "read-write", why: "session is read-only" })),
            "{r:?}"
        );
        let (r, _) = connect("read-write", "off", split);
        r.unwrap();
        let (r, _) = connect("read-only", "off", split);
        assert!(matches!(r, Err(Error::TargetSessionAttrs { why: "session is not read-only", .. })), "{r:?}");
    }
}

#[test]
fn primary_and_standby_ask_pg_is_in_recovery() {
    let (r, written) = connect("primary", "t", 7);
    assert!(asked(&written, "SELECT pg_catalog.pg_is_in_recovery()"));
    assert!(matches!(r, Err(Error::TargetSessionAttrs { why: "server is in hot standby mode", .. })), "{r:?}");
    connect("standby", "t", 7).0.unwrap();
    connect("prefer-standby", "t", 7).0.unwrap();
    let (r, _) = connect("standby", "f", 7);
    assert!(matches!(r, Err(Error::TargetSessionAttrs { why: "server is not in hot standby mode", .. })), "{r:?}");
}

#[test]
fn any_asks_nothing() {
    let config = Config::parse("host=h user=u sslmode=disable").unwrap();
    let mut conn = Connection::new(&config, ClientNonce::from_printable("n").unwrap()).unwrap();
    let mut stream = msg(b'R', &0i32.to_be_bytes());
    stream.extend(msg(b'Z', b"I"));
    let mut script = Script::new(&stream, [100]);
    script.startup(&mut conn).unwrap();
    assert!(!asked(&script.written, "SHOW"));
}
