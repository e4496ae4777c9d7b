//! Logical and physical replication against a server with `wal_level = logical`: changes of
//! several transactions arrive decoded and in order, feedback moves the slot, a restart from
//! the confirmed position replays nothing confirmed, large transactions arrive streamed,
//! two-phase transactions as prepare then commit prepared, and a server that ends the stream
//! is a typed error.

use std::time::{Duration, Instant};

use pgsans::replication::pgoutput::{Decoder, Message, TupleValue};
use pgsans::replication::{ReplicationMessage, StandbyStatus};
use pgsans::types::PgLsn;
use pgsans_client::{ReplicationStream, SlotKind, SlotOptions};
use pgsans_tests::*;

fn name<R: TestRt>(base: &str) -> String {
    format!("{base}_{}", R::NAME.replace('-', "_"))
}

async fn sql_conn<R: TestRt>() -> Conn<R> {
    let mut c = Conn::<R>::connect(&logical_server().conninfo(AuthMethod::Trust)).await.unwrap();
    c.set_autocommit(true).await.unwrap();
    c
}

async fn replication_conn<R: TestRt>(mode: &str) -> Conn<R> {
    let conninfo = format!("{} replication={mode}", logical_server().conninfo(AuthMethod::Trust));
    Conn::<R>::connect(&conninfo).await.unwrap()
}

fn pgoutput() -> SlotKind {
    SlotKind::Logical { plugin: "pgoutput".into() }
}

/// Reads and decodes messages until `done` says the events so far are complete (keepalives
/// arrive every 5 s, so a missing change fails the test after 30 s instead of hanging).
/// Each event is described as a short string; the last commit's end LSN is returned too.
async fn collect<R: TestRt>(
    stream: &mut ReplicationStream<'_, R>,
    decoder: &mut Decoder,
    done: impl Fn(&[String]) -> bool,
) -> (Vec<String>, PgLsn) {
    let started = Instant::now();
    let mut events = Vec::new();
    let mut end = PgLsn(0);
    while !done(&events) {
        assert!(started.elapsed() < Duration::from_secs(30), "stream stalled after {events:?}");
        let Some(message) = stream.next().await.unwrap() else {
            panic!("the stream ended after {events:?}: {:?}", stream.end())
        };
        let ReplicationMessage::XLogData { data, .. } = message else { continue };
        let event = match decoder.decode(data).unwrap() {
            Message::Begin { .. } => "B".to_owned(),
            Message::Commit { end_lsn, .. } => {
                end = end_lsn;
                "C".to_owned()
            }
            Message::Relation { relation, .. } => format!("R {}", relation.name),
            Message::Insert { new, .. } => format!(
                "{} {} {}",
                // With the `binary` option the values come in binary.
                if matches!(new.values()[0], TupleValue::Binary(_)) { "Ib" } else { "I" },
                new.get::<i32, _>("id").unwrap(),
                new.get::<Option<&str>, _>("name").unwrap().unwrap_or("-")
            ),
            Message::Update { key, old, new, .. } => format!(
                "U {}{} -> {} {}",
                if key.is_some() { "key " } else { "" },
                old.as_ref().or(key.as_ref()).map_or("-".to_owned(), |t| t.get::<i32, _>(0).unwrap().to_string()),
                new.get::<i32, _>(0).unwrap(),
                new.get::<Option<&str>, _>(1).unwrap().unwrap_or("-"),
            ),
            Message::Delete { key, old, .. } => {
                format!("D {}", key.or(old).unwrap().get::<i32, _>(0).unwrap())
            }
            Message::Truncate { relations, .. } => format!("T {}", relations[0].name),
            Message::Message { prefix, content, transactional, .. } => {
                format!("M {transactional} {prefix} {}", String::from_utf8_lossy(content))
            }
            Message::StreamStart { .. } => "SS".to_owned(),
            Message::StreamStop => "SE".to_owned(),
            Message::StreamCommit { end_lsn, .. } => {
                end = end_lsn;
                "SC".to_owned()
            }
            Message::BeginPrepare { gid, .. } => format!("BP {gid}"),
            Message::Prepare { gid, .. } => format!("P {gid}"),
            Message::CommitPrepared { gid, end_lsn, .. } => {
                end = end_lsn;
                format!("CP {gid}")
            }
            Message::RollbackPrepared { gid, .. } => format!("RP {gid}"),
            other => format!("{other:?}"),
        };
        if ["C", "SC"].contains(&event.as_str()) {
            // Logical messages are decoded for the whole database: a transaction with nothing
            // but another test's messages is not this test's.
            let own = name::<R>("pfx");
            let begin = events.iter().rposition(|e| e == "B").unwrap_or(0);
            let theirs = |e: &String| e.starts_with("M ") && !e.contains(&format!(" {own} "));
            if events[begin + 1..].iter().all(theirs) && events.len() > begin + 1 {
                events.truncate(begin);
                continue;
            }
        }
        events.push(event);
    }
    (events, end)
}

fn commits(events: &[String]) -> usize {
    events.iter().filter(|e| *e == "C" || *e == "SC" || e.starts_with("CP ")).count()
}

async fn confirmed_flush<R: TestRt>(c: &mut Conn<R>, slot: &str) -> PgLsn {
    let row = c
        .query_one("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1", &[&slot])
        .await
        .unwrap();
    row.get::<PgLsn, _>(0).unwrap()
}

pub async fn logical_changes_arrive_decoded_and_feedback_moves_the_slot<R: TestRt>() {
    let (table, publication, slot) = (name::<R>("repl_items"), name::<R>("repl_pub"), name::<R>("repl_slot"));
    let prefix = name::<R>("pfx");
    let mut sql = sql_conn::<R>().await;
    sql.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int PRIMARY KEY, name text);
         DROP PUBLICATION IF EXISTS {publication}; CREATE PUBLICATION {publication} FOR TABLE {table}"
    ))
    .await
    .unwrap();

    let mut repl = replication_conn::<R>("database").await;
    let system = repl.identify_system().await.unwrap();
    assert_eq!(system.dbname.as_deref(), Some("postgres"));
    assert_eq!(system.timeline, 1);
    let _ = repl.drop_replication_slot(&slot, false).await;
    let created = repl.create_replication_slot(&slot, pgoutput(), &SlotOptions::default()).await.unwrap();
    assert_eq!(created.name, slot);
    assert_eq!(created.output_plugin.as_deref(), Some("pgoutput"));
    assert!(created.consistent_point >= system.xlog_pos);

    // Four transactions: inserts, an update of the key and of a value, a delete, a truncate
    // with a transactional logical message.
    sql.batch_execute(&format!("INSERT INTO {table} VALUES (1, 'one'), (2, 'two'), (3, NULL)")).await.unwrap();
    sql.batch_execute(&format!(
        "BEGIN; UPDATE {table} SET name = 'uno' WHERE id = 1; UPDATE {table} SET id = 20 WHERE id = 2; COMMIT"
    ))
    .await
    .unwrap();
    sql.batch_execute(&format!("DELETE FROM {table} WHERE id = 3")).await.unwrap();
    sql.batch_execute(&format!(
        "BEGIN; SELECT pg_logical_emit_message(true, '{prefix}', 'hello'); TRUNCATE {table}; COMMIT"
    ))
    .await
    .unwrap();

    let options = [("proto_version", "1"), ("publication_names", publication.as_str()), ("messages", "true")];
    let mut stream =
        repl.start_replication(Some(&slot), &pgoutput(), created.consistent_point, None, &options).await.unwrap();
    let mut decoder = Decoder::new();
    let (events, end) = collect(&mut stream, &mut decoder, |e| commits(e) == 4).await;
    let rel = format!("R {table}");
    assert_eq!(
        events,
        [
            "B",
            &rel,
            "I 1 one",
            "I 2 two",
            "I 3 -",
            "C", //
            "B",
            "U - -> 1 uno",
            "U key 2 -> 20 two",
            "C", //
            "B",
            "D 3",
            "C", //
            // TRUNCATE invalidates the relation: it is described again.
            "B",
            &format!("M true {prefix} hello"),
            &rel,
            &format!("T {table}"),
            "C",
        ],
        "{}",
        R::NAME
    );

    // Feedback: the slot's confirmed_flush_lsn follows what was confirmed.
    assert!(confirmed_flush(&mut sql, &slot).await < end);
    // `next()` dropped mid-await, at each of its first await points (nothing is coming: it
    // waits), leaves the stream usable.
    for polls in 1..4 {
        let _ = poll_then_drop::<R, _>(stream.next(), polls).await.map(|r| r.map(|m| m.is_some()));
    }
    stream.confirm(end).await.unwrap();
    assert_eq!(stream.status(), StandbyStatus::at(end));
    let started = Instant::now();
    while confirmed_flush(&mut sql, &slot).await < end {
        assert!(started.elapsed() < Duration::from_secs(20), "the slot never moved to {end}");
        R::sleep(Duration::from_millis(20)).await;
    }
    let stopped = stream.stop().await.unwrap();
    assert_eq!(stopped.next_timeline, None);
    // The connection takes commands again; a second logical stream on it is ended by the
    // server at once: a typed error that says to reconnect.
    assert_eq!(repl.identify_system().await.unwrap().system_id, system.system_id);
    let e = repl.start_replication(Some(&slot), &pgoutput(), end, None, &options).await.err().unwrap();
    assert!(matches!(e, pgsans::Error::Usage(pgsans::UsageError::InvalidState(_))), "{e:?}");
    assert_eq!(repl.identify_system().await.unwrap().system_id, system.system_id);

    // From the confirmed position, nothing already confirmed comes again: only the new row.
    sql.batch_execute(&format!("INSERT INTO {table} VALUES (4, 'four')")).await.unwrap();
    let mut repl = replication_conn::<R>("database").await;
    let binary = [("proto_version", "1"), ("publication_names", publication.as_str()), ("binary", "true")];
    let mut stream = repl.start_replication(Some(&slot), &pgoutput(), end, None, &binary).await.unwrap();
    let mut decoder = Decoder::new();
    let (events, _) = collect(&mut stream, &mut decoder, |e| commits(e) == 1).await;
    assert_eq!(events, ["B", &rel, "Ib 4 four", "C"]);
    // Dropped mid-stream: the stream is ended for it and the connection is usable.
    drop(stream);
    repl.drop_replication_slot(&slot, true).await.unwrap();
    let e = repl.drop_replication_slot(&slot, false).await.unwrap_err();
    assert_eq!(e.code(), Some(pgsans::SqlState::UNDEFINED_OBJECT), "{e}");
}

pub async fn large_and_two_phase_transactions_and_a_dying_server<R: TestRt>() {
    let (table, publication) = (name::<R>("repl_big"), name::<R>("repl_big_pub"));
    let (slot, slot2) = (name::<R>("repl_stream_slot"), name::<R>("repl_2pc_slot"));
    let mut sql = sql_conn::<R>().await;
    sql.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int PRIMARY KEY, name text);
         DROP PUBLICATION IF EXISTS {publication}; CREATE PUBLICATION {publication} FOR TABLE {table}"
    ))
    .await
    .unwrap();
    let mut repl = replication_conn::<R>("database").await;
    let _ = repl.drop_replication_slot(&slot, false).await;
    let _ = repl.drop_replication_slot(&slot2, false).await;
    let temporary = SlotOptions { temporary: true, ..SlotOptions::default() };
    let created = repl.create_replication_slot(&slot, pgoutput(), &temporary).await.unwrap();
    // A temporary slot belongs to the connection that made it: the second stream's is made on
    // its own connection (PostgreSQL streams logical replication once per connection).
    let mut repl2 = replication_conn::<R>("database").await;
    let pid = repl2.backend_pid();
    let two_phase = SlotOptions { temporary: true, two_phase: true, ..SlotOptions::default() };
    let created2 = repl2.create_replication_slot(&slot2, pgoutput(), &two_phase).await.unwrap();

    // A transaction larger than logical_decoding_work_mem (64 kB) is streamed while in progress.
    sql.batch_execute(&format!("INSERT INTO {table} SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g"))
        .await
        .unwrap();
    let options = [("proto_version", "2"), ("publication_names", publication.as_str()), ("streaming", "on")];
    let mut stream =
        repl.start_replication(Some(&slot), &pgoutput(), created.consistent_point, None, &options).await.unwrap();
    let mut decoder = Decoder::new();
    let (events, _) = collect(&mut stream, &mut decoder, |e| commits(e) == 1).await;
    let inserts = events.iter().filter(|e| e.starts_with("I ")).count();
    assert_eq!(inserts, 5000);
    assert_eq!(events.first().map(String::as_str), Some("SS"));
    assert_eq!(events.last().map(String::as_str), Some("SC"), "streamed, then committed");
    assert!(events.iter().filter(|e| *e == "SS").count() >= 2, "in several chunks");
    stream.stop().await.unwrap();

    // Two-phase: decoded at PREPARE, then COMMIT PREPARED.
    let gid = name::<R>("repl_gid");
    sql.batch_execute(&format!("BEGIN; INSERT INTO {table} VALUES (-1, 'prepared'); PREPARE TRANSACTION '{gid}'"))
        .await
        .unwrap();
    sql.batch_execute(&format!("COMMIT PREPARED '{gid}'")).await.unwrap();
    let options = [("proto_version", "3"), ("publication_names", publication.as_str()), ("two_phase", "on")];
    let mut repl = repl2;
    let mut stream =
        repl.start_replication(Some(&slot2), &pgoutput(), created2.consistent_point, None, &options).await.unwrap();
    let mut decoder = Decoder::new();
    let (events, _) = collect(&mut stream, &mut decoder, |e| e.iter().any(|e| *e == format!("CP {gid}"))).await;
    // Every prepared transaction of the database is decoded (the other transports' too, with
    // no changes for this publication): this one's, and the relation described, are kept.
    let (bp, p, cp) = (format!("BP {gid}"), format!("P {gid}"), format!("CP {gid}"));
    let tail: Vec<&str> = events
        .iter()
        .map(String::as_str)
        .filter(|e| [&bp, &p, &cp].contains(&&e.to_string()) || *e == "I -1 prepared")
        .collect();
    assert_eq!(tail, [bp.as_str(), "I -1 prepared", p.as_str(), cp.as_str()]);

    // The server ends the stream (its walsender is terminated): a typed error, not a hang.
    let killed: bool = sql.query_one("SELECT pg_terminate_backend($1)", &[&pid]).await.unwrap().get(0).unwrap();
    assert!(killed);
    let started = Instant::now();
    let e = loop {
        match stream.next().await {
            Ok(Some(_)) => assert!(started.elapsed() < Duration::from_secs(20)),
            Ok(None) => panic!("the stream ended without an error"),
            Err(e) => break e,
        }
    };
    assert!(e.is_fatal(), "{e:?}");
    drop(stream);
    assert!(repl.identify_system().await.is_err());
}

pub async fn physical_replication_streams_wal<R: TestRt>() {
    let mut repl = replication_conn::<R>("true").await;
    let system = repl.identify_system().await.unwrap();
    assert_eq!(system.dbname, None);
    let mut stream = repl.start_replication(None, &SlotKind::Physical, system.xlog_pos, None, &[]).await.unwrap();
    let mut sql = sql_conn::<R>().await;
    sql.batch_execute(
        "SELECT pg_switch_wal(); CREATE TEMP TABLE wal_maker AS SELECT g FROM generate_series(1, 1000) g",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let mut wal = 0usize;
    let mut position = system.xlog_pos;
    while wal < 8192 {
        assert!(started.elapsed() < Duration::from_secs(30), "no WAL after {wal} bytes");
        if let Some(ReplicationMessage::XLogData { wal_start, data, .. }) = stream.next().await.unwrap() {
            assert!(wal_start >= position, "WAL in order");
            position = PgLsn(wal_start.0 + data.len() as u64);
            wal += data.len();
        }
    }
    // The same stream as a `futures` Stream of owned messages.
    sql.batch_execute("CREATE TEMP TABLE wal_maker_2 AS SELECT g FROM generate_series(1, 1000) g").await.unwrap();
    let mut owned = 0;
    while owned < 8192 {
        assert!(started.elapsed() < Duration::from_secs(30), "no WAL after {owned} bytes");
        let next = futures_lite::StreamExt::next(&mut stream).await.unwrap().unwrap();
        if let pgsans_client::OwnedReplicationMessage::XLogData { wal_start, data, .. } = next {
            assert!(wal_start >= position, "WAL in order");
            position = PgLsn(wal_start.0 + data.len() as u64);
            owned += data.len();
        }
    }
    stream.confirm(position).await.unwrap();
    stream.stop().await.unwrap();
    assert_eq!(repl.identify_system().await.unwrap().timeline, 1);
    // A logical stream's options on a physical stream, and no slot for a logical one, are refused.
    assert!(repl.start_replication(None, &SlotKind::Physical, position, None, &[("a", "b")]).await.is_err());
    assert!(repl.start_replication(None, &pgoutput(), position, None, &[]).await.is_err());
}

/// Waits until the slot's `confirmed_flush_lsn` is `end` (the feedback reached the server).
fn wait_confirmed(sql: &mut pgsans_std::Connection, slot: &str, end: PgLsn) {
    let started = Instant::now();
    loop {
        let lsn: Option<PgLsn> = sql
            .query_one("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1", &[&slot])
            .unwrap()
            .get(0)
            .unwrap();
        if lsn == Some(end) {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the slot stayed at {lsn:?}, not {end}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn std_setup(table: &str, publication: &str) -> pgsans_std::Connection {
    let mut sql = pgsans_std::Connection::connect(&logical_server().conninfo(AuthMethod::Trust)).unwrap();
    sql.set_autocommit(true).unwrap();
    sql.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int PRIMARY KEY, name text);
         DROP PUBLICATION IF EXISTS {publication}; CREATE PUBLICATION {publication} FOR TABLE {table}"
    ))
    .unwrap();
    sql
}

/// The blocking client's `consume_stream` (psycopg2's shape) with a consumer that pauses:
/// while it sleeps the walsender waits to write (what `pg_stat_activity` shows), and the
/// positions it records reach the slot.
#[test]
fn blocking_consume_stream_pauses_the_server() {
    let (table, publication, slot) = ("repl_blocking", "repl_blocking_pub", "repl_blocking_slot");
    let mut sql = std_setup(table, publication);
    let conninfo = format!("{} replication=database", logical_server().conninfo(AuthMethod::Trust));
    let mut repl = pgsans_std::Connection::connect(&conninfo).unwrap();
    let temporary = SlotOptions { temporary: true, ..SlotOptions::default() };
    let created = repl.create_replication_slot(slot, pgoutput(), &temporary).unwrap();
    // About 30 MB of changes: far more than the socket buffers hold.
    sql.batch_execute(&format!("INSERT INTO {table} SELECT g, repeat('y', 100) FROM generate_series(1, 200000) g"))
        .unwrap();
    let options = [("proto_version", "1"), ("publication_names", publication)];
    let mut stream = repl.start_replication(Some(slot), &pgoutput(), created.consistent_point, None, &options).unwrap();
    let mut decoder = Decoder::new();
    let mut inserts = 0;
    let mut paused = false;
    let mut end = PgLsn(0);
    let broke = stream
        .consume_stream(|message, status| {
            let ReplicationMessage::XLogData { wal_start, data, .. } = message else { unreachable!() };
            match decoder.decode(data).unwrap() {
                Message::Insert { .. } => {
                    inserts += 1;
                    if inserts == 1000 && !paused {
                        paused = true;
                        std::thread::sleep(Duration::from_millis(1500));
                    }
                }
                Message::Commit { end_lsn, .. } => {
                    end = end_lsn;
                    status.flushed = end_lsn;
                    return std::ops::ControlFlow::Break(());
                }
                _ => {}
            }
            status.written = *wal_start;
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    assert!(broke, "the consumer ended it, not the server");
    assert_eq!(inserts, 200_000);
    assert_eq!(stream.status().flushed, end);
    stream.send_status(stream.status(), true).unwrap();
    wait_confirmed(&mut sql, slot, end);
    stream.stop().unwrap();
}

/// The consumer's pause reaches the server: the walsender waits to write while nobody reads.
#[test]
fn a_paused_consumer_pauses_the_walsender() {
    let (table, publication, slot) = ("repl_pause", "repl_pause_pub", "repl_pause_slot");
    let mut sql = std_setup(table, publication);
    let conninfo = format!("{} replication=database", logical_server().conninfo(AuthMethod::Trust));
    let mut repl = pgsans_std::Connection::connect(&conninfo).unwrap();
    let pid = repl.backend_pid();
    let temporary = SlotOptions { temporary: true, ..SlotOptions::default() };
    let created = repl.create_replication_slot(slot, pgoutput(), &temporary).unwrap();
    sql.batch_execute(&format!("INSERT INTO {table} SELECT g, repeat('z', 100) FROM generate_series(1, 200000) g"))
        .unwrap();
    let options = [("proto_version", "1"), ("publication_names", publication)];
    let mut stream = repl.start_replication(Some(slot), &pgoutput(), created.consistent_point, None, &options).unwrap();
    let mut decoder = Decoder::new();
    let mut inserts = 0;
    for _ in 0..100 {
        if let Some(ReplicationMessage::XLogData { data, .. }) = stream.next().unwrap() {
            inserts += usize::from(matches!(decoder.decode(data).unwrap(), Message::Insert { .. }));
        }
    }
    // Nobody reads: the socket buffers fill and the walsender waits for room to write.
    let started = Instant::now();
    loop {
        let event: Option<String> =
            sql.query_one("SELECT wait_event FROM pg_stat_activity WHERE pid = $1", &[&pid]).unwrap().get(0).unwrap();
        if event.as_deref() == Some("WalSenderWriteData") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the walsender never waited to write: {event:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Reading again, all the rest arrives.
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(60));
        let Some(ReplicationMessage::XLogData { data, .. }) = stream.next().unwrap() else { continue };
        match decoder.decode(data).unwrap() {
            Message::Insert { .. } => inserts += 1,
            Message::Commit { .. } => break,
            _ => {}
        }
    }
    assert_eq!(inserts, 200_000);
}

/// psycopg2's asynchronous replication: `start_replication_expert`, poll, `read_message`,
/// `send_feedback`, stop.
#[test]
fn the_polling_connection_reads_replication_messages() {
    let (table, publication, slot) = ("repl_polling", "repl_polling_pub", "repl_polling_slot");
    let mut sql = std_setup(table, publication);
    let conninfo = format!("{} replication=database", logical_server().conninfo(AuthMethod::Trust));
    let mut setup = pgsans_std::Connection::connect(&conninfo).unwrap();
    let _ = setup.drop_replication_slot(slot, false);
    let created = setup.create_replication_slot(slot, pgoutput(), &SlotOptions::default()).unwrap();
    drop(setup);
    sql.batch_execute(&format!("INSERT INTO {table} VALUES (1, 'a'), (2, 'b')")).unwrap();

    let mut conn = pgsans_std::PollingConnection::connect_start(&conninfo).unwrap();
    let drive = |conn: &mut pgsans_std::PollingConnection| loop {
        match conn.poll().unwrap() {
            pgsans_std::Poll::Ok => break,
            wanted => conn.wait_blocking(wanted).unwrap(),
        }
    };
    drive(&mut conn);
    conn.start_replication_expert(&format!(
        "START_REPLICATION SLOT {slot} LOGICAL {} (proto_version '1', publication_names '{publication}')",
        created.consistent_point
    ))
    .unwrap();
    drive(&mut conn);
    assert!(conn.take_replication_end().is_none(), "started");
    let mut decoder = Decoder::new();
    let mut names = Vec::new();
    let started = Instant::now();
    let end = loop {
        assert!(started.elapsed() < Duration::from_secs(30));
        let message = conn.read_message().unwrap();
        let Some(message) = message else {
            conn.wait_blocking(pgsans_std::Poll::Read).unwrap();
            continue;
        };
        let ReplicationMessage::XLogData { data, .. } = message else { continue };
        match decoder.decode(data).unwrap() {
            Message::Insert { new, .. } => names.push(new.get::<String, _>("name").unwrap()),
            Message::Commit { end_lsn, .. } => break end_lsn,
            _ => {}
        }
    };
    assert_eq!(names, ["a", "b"]);
    conn.send_feedback(StandbyStatus::at(end), false, true).unwrap();
    conn.stop_replication().unwrap();
    drive(&mut conn);
    assert_eq!(conn.take_replication_end().unwrap().unwrap().next_timeline, None);
    // Not streaming any more: feedback is a misuse.
    assert!(conn.send_feedback(StandbyStatus::at(end), false, true).is_err());
    wait_confirmed(&mut sql, slot, end);
    sql.query("SELECT pg_drop_replication_slot($1)", &[&slot]).unwrap();
}
