//! The automatic BEGIN follows work still in flight: a request submitted behind work nobody
//! waits for any more (an abandoned query, a dropped scope's rollback, a detached command) is
//! planned for the transaction status that work will leave — at once where the SQL tells it,
//! after the server's answer where it does not.

use pgsans::session::Command;
use pgsans::{ClientNonce, Config, Connection, ConnectionStatus, Request, TransactionStatus};

fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty];
    m.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn ready(status: u8) -> Vec<u8> {
    msg(b'Z', &[status])
}

fn complete(tag: &str) -> Vec<u8> {
    msg(b'C', format!("{tag}\0").as_bytes())
}

fn started() -> Connection {
    let config = Config::parse("user=alice dbname=shop sslmode=disable").unwrap();
    let mut c = Connection::new(&config, ClientNonce::from_random_bytes([7; 18])).unwrap();
    c.poll().unwrap();
    let n = c.transmit().len();
    c.advance(n);
    c.receive(&[msg(b'R', &0i32.to_be_bytes()), ready(b'I')].concat());
    c.poll().unwrap();
    assert!(c.is_ready());
    c
}

/// The simple queries written since the last call.
fn sent(c: &mut Connection) -> Vec<String> {
    c.poll().unwrap();
    let bytes = c.transmit().to_vec();
    c.advance(bytes.len());
    let mut out = Vec::new();
    let mut rest = &bytes[..];
    while rest.len() >= 5 {
        let len = i32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
        if rest[0] == b'Q' {
            out.push(String::from_utf8(rest[5..len].to_vec()).unwrap().trim_end_matches('\0').to_owned());
        }
        rest = &rest[1 + len..];
    }
    out
}

#[test]
fn after_an_abandoned_commit_the_next_statement_begins_again() {
    let mut c = started();
    let id = c.submit(Request::simple("COMMIT")).unwrap();
    c.abandon(id);
    c.submit(Request::simple("INSERT INTO t VALUES (2)")).unwrap();
    // COMMIT certainly ends the block its BEGIN opened: the next BEGIN is queued at once.
    assert_eq!(sent(&mut c), ["BEGIN", "COMMIT", "BEGIN", "INSERT INTO t VALUES (2)"]);
}

#[test]
fn behind_sql_whose_effect_is_unknown_the_next_request_waits_for_the_answer() {
    let mut c = started();
    let id = c.submit(Request::simple("INSERT INTO t VALUES (1); COMMIT")).unwrap();
    c.abandon(id);
    let next = c.submit(Request::simple("INSERT INTO t VALUES (2)")).unwrap();
    assert_eq!(sent(&mut c), ["BEGIN", "INSERT INTO t VALUES (1); COMMIT"], "the second waits");
    assert_eq!(c.transaction_status(), TransactionStatus::Active);
    c.receive(&[complete("BEGIN"), ready(b'T'), complete("INSERT 0 1"), complete("COMMIT"), ready(b'I')].concat());
    // Idle now: psycopg2's BEGIN comes first.
    assert_eq!(sent(&mut c), ["BEGIN", "INSERT INTO t VALUES (2)"]);
    c.receive(&[complete("BEGIN"), ready(b'T'), complete("INSERT 0 1"), ready(b'T')].concat());
    c.poll().unwrap();
    assert!(c.take_response(next).unwrap().is_ok());
    assert_eq!(c.connection_status(), ConnectionStatus::Begin);
}

#[test]
fn a_dropped_scope_reports_ready_at_once_and_the_next_statement_begins() {
    let mut c = started();
    let scope = c.submit(Request::command(Command::BeginScope)).unwrap();
    assert_eq!(sent(&mut c), ["BEGIN"]);
    c.receive(&[complete("BEGIN"), ready(b'T')].concat());
    c.poll().unwrap();
    c.take_response(scope).unwrap().unwrap();
    assert_eq!(c.connection_status(), ConnectionStatus::Begin);
    c.abandon_scope();
    // Its ROLLBACK is queued, not answered: what the connection will be is already certain.
    assert_eq!(c.connection_status(), ConnectionStatus::Ready);
    assert_eq!(c.transaction_status(), TransactionStatus::Idle);
    assert_eq!(c.transaction_depth(), 0);
    c.submit(Request::simple("INSERT INTO t VALUES (3)")).unwrap();
    assert_eq!(sent(&mut c), ["ROLLBACK", "BEGIN", "INSERT INTO t VALUES (3)"]);
    assert_eq!(c.transaction_status(), TransactionStatus::Active, "someone waits for the INSERT");
}

#[test]
fn an_abandoned_command_still_applies_and_what_follows_waits_for_it() {
    let mut c = started();
    let set = c
        .submit(Request::command(Command::SetSession(
            pgsans::SessionChange::new().autocommit(true).read_only(pgsans::Setting::Value(true)),
        )))
        .unwrap();
    c.abandon(set);
    let q = c.submit(Request::simple("SELECT 1")).unwrap();
    assert_eq!(sent(&mut c), ["SET default_transaction_read_only TO 'on'"], "the query waits for the command");
    c.receive(&[complete("SET"), ready(b'I')].concat());
    // Autocommit applied: no BEGIN before the query.
    assert_eq!(sent(&mut c), ["SELECT 1"]);
    assert!(c.autocommit());
    c.receive(&[complete("SELECT 0"), ready(b'I')].concat());
    c.poll().unwrap();
    assert!(c.take_response(q).unwrap().is_ok());
}

#[test]
fn too_many_parameters_are_refused_before_anything_is_queued() {
    let mut c = started();
    let err = Request::query("SELECT $1::int4", &[&1i32, &2i32], pgsans::Mode::Collect).unwrap_err();
    assert!(matches!(err, pgsans::Error::Usage(pgsans::UsageError::ParameterCount { expected: 1, given: 2 })), "{err}");
    let err = Request::query("SELECT '$1', 1", &[&1i32], pgsans::Mode::Collect).unwrap_err();
    assert!(matches!(err, pgsans::Error::Usage(pgsans::UsageError::ParameterCount { expected: 0, given: 1 })), "{err}");
    let mut p = pgsans::Pipeline::new();
    p.query("SELECT $1::int4", &[&1i32]).query("SELECT 2", &[&2i32]);
    assert!(c.submit(Request::pipeline(p)).is_err());
    assert!(sent(&mut c).is_empty());
    assert!(!c.is_busy());
}
