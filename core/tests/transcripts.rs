//! Golden tests: the engine replays real PostgreSQL 15 sessions recorded byte for byte
//! (tests/transcripts, copied from shared/transcripts) and must write what the recorded client
//! wrote and report what it observed, however the server's bytes are split.

mod common;

use common::{load, replay, split_client_stream, SIMPLE};
use pgsans::SqlState;
use pgsans::{Connection, Interest, Request, TransactionStatus, Wire};
use proptest::prelude::*;

#[test]
fn client_bytes_match_the_recording() {
    for name in SIMPLE {
        let t = load(name);
        let (_, written) = replay(&t, t.server_chunks.iter().map(|c| c.len()).collect::<Vec<_>>(), usize::MAX);
        assert_eq!(split_client_stream(&written), t.client_typed_messages(), "{name}");
    }
}

#[test]
fn every_split_gives_the_same_events() {
    for name in SIMPLE {
        let t = load(name);
        let total = t.server_stream().len();
        let recorded: Vec<usize> = t.server_chunks.iter().map(|c| c.len()).collect();
        let reference = replay(&t, [total], usize::MAX);
        same(&replay(&t, recorded, usize::MAX), &reference, &format!("{name}: recorded chunks"));
        same(&replay(&t, std::iter::repeat(1), 1), &reference, &format!("{name}: one byte at a time"));
        same(&replay(&t, std::iter::repeat(7), 3), &reference, &format!("{name}: 7-byte reads, 3-byte writes"));
    }
}

/// Same events; and for sessions that succeed, the same bytes written. (When the server ends a
/// session with a FATAL error, replies the client had queued but not yet sent when the error was
/// read are never sent; a real server's bytes cannot arrive that early, a script's can.)
fn same(got: &(Vec<String>, Vec<u8>), reference: &(Vec<String>, Vec<u8>), what: &str) {
    assert_eq!(got.0, reference.0, "{what}");
    if reference.0[0] == "connected" {
        assert_eq!(got.1, reference.1, "{what}: bytes written");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_splits_give_the_same_events(
        which in 0..SIMPLE.len(),
        sizes in proptest::collection::vec(1usize..64, 1..400),
        write_limit in 1usize..50,
    ) {
        let t = load(SIMPLE[which]);
        let reference = replay(&t, [usize::MAX], usize::MAX);
        same(&replay(&t, sizes.iter().copied().cycle(), write_limit), &reference, SIMPLE[which]);
    }
}

fn replay_log(name: &str) -> Vec<String> {
    let t = load(name);
    replay(&t, [usize::MAX], usize::MAX).0
}

#[test]
fn authentication_methods_succeed() {
    for name in ["startup-trust", "startup-cleartext", "startup-md5", "startup-scram", "startup-negotiate-protocol"] {
        let log = replay_log(name);
        assert_eq!(log[0], "connected", "{name}");
        assert!(log[1].contains("tag: Some(\"SELECT 1\")") && log[1].contains("data: [49]"), "{name}: {}", log[1]);
        assert!(log.iter().any(|l| l.contains("version=150018")), "{name}");
    }
}

#[test]
fn wrong_password_and_unknown_database_carry_sqlstate() {
    for (name, code) in [("startup-wrong-password", "28P01"), ("startup-unknown-db", "3D000")] {
        let t = load(name);
        let mut script = common::Script::new(&t.server_stream(), [usize::MAX]);
        let mut conn = Connection::new(&t.config(), t.nonce()).unwrap();
        let err = script.startup(&mut conn).unwrap_err();
        assert_eq!(err.code(), code.parse().ok(), "{name}: {err}");
        assert_eq!(err.as_db_error().unwrap().severity(), "FATAL");
        // Sticky: the connection keeps reporting it.
        assert_eq!(conn.poll().unwrap_err().code(), code.parse().ok());
        assert!(conn.submit(Request::simple("SELECT 1")).is_err());
        assert_eq!(conn.transaction_status(), TransactionStatus::Unknown);
    }
}

#[test]
fn scram_with_the_wrong_password_is_refused_by_the_client() {
    // Replaying the successful exchange with another password: the client's proof changes, and
    // the server's signature no longer verifies, so the client must refuse AuthenticationOk.
    let t = load("startup-scram");
    let mut config = t.config();
    config.set("password", "not-the-password").unwrap();
    let mut script = common::Script::new(&t.server_stream(), [usize::MAX]);
    let mut conn = Connection::new(&config, t.nonce()).unwrap();
    let err = script.startup(&mut conn).unwrap_err();
    assert!(matches!(err, pgsans::Error::Auth(pgsans::AuthError::ServerSignatureMismatch)), "{err:?}");
}

#[test]
fn simple_multi_results() {
    let t = load("simple-multi");
    let mut script = common::Script::new(&t.server_stream(), [usize::MAX]);
    let mut conn = common::connect_autocommit(&t, &mut script);
    let queries = t.queries();
    let results = script.simple(&mut conn, &queries[0]).unwrap().into_result().unwrap();
    let tags: Vec<_> = results.iter().map(|r| r.command_tag().unwrap()).collect();
    assert_eq!(tags, ["CREATE TABLE", "INSERT 0 3", "SELECT 3", "SELECT 0"]);
    assert_eq!(results[1].rows_affected(), Some(3));
    let rows = results[2].rows();
    assert_eq!(results[2].columns().iter().map(|c| c.name()).collect::<Vec<_>>(), ["id", "name", "note"]);
    assert_eq!(rows[0].get_str("note").unwrap(), None, "NULL");
    assert_eq!(rows[1].get_str(1).unwrap(), Some(""), "empty string is not NULL");
    assert_eq!(rows[1].get_str("note").unwrap(), Some("héllo wörld ✓ 日本語 🐘"));
    assert_eq!(rows[2].get_str("name").unwrap(), None);
    assert_eq!(rows[2].get_str("note").unwrap(), Some(""));
    assert!(rows[0].get_str("nope").is_err());
    assert!(rows[0].get_str(3).is_err());
    assert!(results[3].returns_rows() && results[3].rows().is_empty());

    let results = script.simple(&mut conn, &queries[1]).unwrap().into_result().unwrap();
    assert_eq!(results.len(), 1);
    assert!(results[0].is_empty_query());
}

#[test]
fn error_mid_batch_keeps_earlier_results() {
    let t = load("simple-error-midbatch");
    let mut script = common::Script::new(&t.server_stream(), [usize::MAX]);
    let mut conn = common::connect_autocommit(&t, &mut script);
    let batch = script.simple(&mut conn, "SELECT 1; SELECT 1/0; SELECT 2").unwrap();
    assert_eq!(batch.results.len(), 1);
    assert_eq!(batch.results[0].rows()[0].text(0).unwrap().as_deref(), Some("1"));
    assert_eq!(batch.error.as_ref().unwrap().code(), SqlState::DIVISION_BY_ZERO);
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    let batch = script.simple(&mut conn, "SELECT 3").unwrap();
    assert_eq!(batch.results[0].rows()[0].text(0).unwrap().as_deref(), Some("3"));
}

#[test]
fn notices_notifications_and_parameters() {
    let log = replay_log("notices");
    let notices = log.iter().find(|l| l.starts_with("notices=")).unwrap();
    assert!(notices.contains("\"n1\"") && notices.contains("\"w1\""), "{notices}");
    assert!(notices.find("n1").unwrap() < notices.find("w1").unwrap(), "arrival order");

    let log = replay_log("notify");
    let n = log.iter().find(|l| l.starts_with("notifications=")).unwrap();
    assert!(n.contains("from self") && n.contains("from other ✓") && n.contains("payload: \"\""), "{n}");

    let log = replay_log("parameter-status-change");
    let p = log.iter().find(|l| l.starts_with("params=")).unwrap();
    assert!(p.contains("(\"application_name\", \"x\")") && p.contains("(\"TimeZone\", \"UTC\")"), "{p}");
}

#[test]
fn transaction_status_follows_ready_for_query() {
    let log = replay_log("transactions");
    let statuses: Vec<&str> =
        log.iter().filter_map(|l| l.rsplit("status=").next().filter(|_| l.contains(" => "))).collect();
    assert_eq!(
        statuses,
        [
            "InTransaction",
            "InTransaction",
            "Idle",
            "InTransaction",
            "InError",
            "InError",
            "Idle",
            "InTransaction",
            "InError",
            "Idle"
        ]
    );
    assert!(log[6].contains("25P02"), "{}", log[6]);
    assert!(log[10].contains("ROLLBACK"), "COMMIT of a failed transaction is answered ROLLBACK: {}", log[10]);
}

#[test]
fn truncated_stream_is_an_unexpected_eof_at_every_cut() {
    let t = load("simple-multi");
    let stream = t.server_stream();
    for cut in 0..stream.len() {
        let mut script = common::Script::new(&stream[..cut], [usize::MAX]);
        let mut conn = Connection::new(&t.config(), t.nonce()).unwrap();
        let result = script.startup(&mut conn).and_then(|()| {
            for sql in t.queries() {
                script.simple(&mut conn, &sql)?;
            }
            Ok(())
        });
        let err = result.expect_err("a truncated stream cannot complete every query");
        assert!(matches!(err, pgsans::Error::Closed(_)), "cut {cut}: {err:?}");
    }
}

#[test]
fn notice_handler_receives_notices_instead_of_the_queue() {
    use std::sync::{Arc, Mutex};
    let t = load("notices");
    let mut script = common::Script::new(&t.server_stream(), [usize::MAX]);
    let mut conn = common::connect_autocommit(&t, &mut script);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    conn.set_notice_handler(Some(Box::new(move |n| sink.lock().unwrap().push(n.message().to_owned()))));
    script.simple(&mut conn, &t.queries()[0]).unwrap();
    assert_eq!(*seen.lock().unwrap(), ["n1", "w1"]);
    assert_eq!(conn.notices().count(), 0);
    assert_eq!(conn.closed(), 0);
    script.terminate(&mut conn);
    assert_eq!(conn.closed(), 1);
}

#[test]
fn cancel_request_matches_the_recorded_cancel_connection() {
    // cancel.json is the session; cancel-request.json the separate connection that cancelled it.
    let session = load("cancel");
    let mut script = common::Script::new(&session.server_stream(), [usize::MAX]);
    let conn = common::connect_autocommit(&session, &mut script);
    let token = conn.cancel_key().expect("BackendKeyData was received");
    let recorded = load("cancel-request").client_stream;
    assert_eq!(token.request_bytes(), recorded);
    // And the cancel connection's state machine sends exactly that, then waits for the close.
    let mut req = pgsans::CancelRequest::new(&token);
    assert_eq!(req.transmit(), recorded.as_slice());
    let n = req.transmit().len();
    req.advance(n);
    assert_eq!(req.poll().unwrap(), Some(Interest::Read));
    req.receive_eof();
    assert_eq!(req.poll().unwrap(), None);
}

#[test]
fn protocol_3_2_is_negotiated_down_unless_the_minimum_forbids_it() {
    let t = load("startup-negotiate-protocol");
    // Asked for 3.2, the 15.x server offered 3.0: the session runs on 3.0 with a 4-byte key.
    let mut script = common::Script::new(&t.server_stream(), [t.server_stream().len()]);
    let mut conn = Connection::new(&t.config(), t.nonce()).unwrap();
    script.startup(&mut conn).unwrap();
    assert_eq!(conn.protocol_version(), (3, 0));
    // min_protocol_version=3.2: the same answer ends the startup.
    let mut config = t.config();
    config.set("min_protocol_version", "3.2").unwrap();
    let mut script = common::Script::new(&t.server_stream(), [t.server_stream().len()]);
    let mut conn = Connection::new(&config, t.nonce()).unwrap();
    let err = script.startup(&mut conn).unwrap_err();
    assert!(matches!(err, pgsans::Error::Protocol(pgsans::ProtocolError::UnsupportedVersion(0))), "{err:?}");
    // min above max is a configuration error.
    let mut config = t.config();
    config.set("min_protocol_version", "3.2").unwrap();
    config.set("max_protocol_version", "3.0").unwrap();
    assert!(Connection::new(&config, t.nonce()).is_err());
}
