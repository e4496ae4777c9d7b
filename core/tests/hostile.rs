//! A hostile or broken server: memory follows the bytes that arrived, floods are capped, and
//! messages the protocol does not allow in the current state are protocol errors.

use pgsans::{ClientNonce, Config, Connection, Error, Request};

fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty];
    m.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn started() -> Connection {
    started_with("user=alice dbname=shop sslmode=disable")
}

/// A connection to a fake server that accepted it at once.
fn started_with(conninfo: &str) -> Connection {
    let config = Config::parse(conninfo).unwrap();
    let mut c = Connection::new(&config, ClientNonce::from_random_bytes([7; 18])).unwrap();
    c.poll().unwrap();
    let n = c.transmit().len();
    c.advance(n);
    c.receive(&[msg(b'R', &0i32.to_be_bytes()), msg(b'Z', b"I")].concat());
    c.poll().unwrap();
    assert!(c.is_ready());
    c
}

fn flush(c: &mut Connection) {
    c.poll().unwrap();
    let n = c.transmit().len();
    c.advance(n);
}

#[test]
fn a_header_claiming_63_mib_reserves_nothing_until_the_bytes_come() {
    let mut c = started();
    c.submit(Request::simple("SELECT big")).unwrap();
    flush(&mut c);
    // RowDescription of one text column, then a DataRow header claiming 63 MiB.
    let mut field = b"big\0".to_vec();
    field.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 25, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]);
    let desc = msg(b'T', &[&1i16.to_be_bytes()[..], &field].concat());
    let claimed: i32 = 63 << 20;
    let mut header = vec![b'D'];
    header.extend_from_slice(&claimed.to_be_bytes());
    let head = [desc, header].concat();
    let buf = c.recv_buf();
    buf[..head.len()].copy_from_slice(&head);
    c.recv_commit(head.len());
    c.poll().unwrap();
    assert!(c.recv_buf().len() <= 64 * 1024, "spare space for a 5-byte header: {}", c.recv_buf().len());
    // As bytes arrive the buffer grows with them: never more than twice what came.
    let mut received = head.len();
    while received < (4 << 20) {
        let n = c.recv_buf().len().min(256 * 1024);
        assert!(n <= (received * 2).max(64 * 1024), "{n} bytes offered after {received} received");
        c.recv_commit(n);
        received += n;
        c.poll().unwrap();
    }
}

#[test]
fn a_notification_flood_nobody_reads_is_capped() {
    let mut c = started();
    let notify = |i: u32| msg(b'A', &[&7i32.to_be_bytes()[..], b"chan\0", format!("{i}\0").as_bytes()].concat());
    let flood: Vec<u8> = (0..25_000).flat_map(notify).collect();
    // Notifications are read while a request is answered.
    let id = c.submit(Request::simple("SELECT 1")).unwrap();
    flush(&mut c);
    c.receive(&[msg(b'C', b"BEGIN\0"), msg(b'Z', b"T"), flood, msg(b'I', b""), msg(b'Z', b"T")].concat());
    c.poll().unwrap();
    assert!(c.take_response(id).is_some());
    assert_eq!(c.notifications().count(), 10_000);
    assert_eq!(c.notifications_dropped(), 15_000);
    // The newest are kept.
    assert_eq!(c.notifications().last().unwrap().payload, "24999");
    c.set_notification_limit(10);
    assert_eq!(c.notifications().count(), 10);
    assert_eq!(c.notifications_dropped(), 24_990);
}

#[test]
fn copy_data_after_ready_for_query_is_a_protocol_error() {
    let mut c = started();
    c.receive(&msg(b'd', b"1\t2\n"));
    // Read as soon as a request waits for answers: not silently dropped.
    c.submit(Request::simple("SELECT 1")).unwrap();
    let e = c.poll().unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    assert!(c.is_broken());
}

#[test]
fn copy_data_inside_a_query_answer_is_a_protocol_error() {
    let mut c = started();
    c.submit(Request::simple("SELECT 1")).unwrap();
    flush(&mut c);
    c.receive(&[msg(b'C', b"BEGIN\0"), msg(b'Z', b"T"), msg(b'd', b"x"), msg(b'I', b""), msg(b'Z', b"T")].concat());
    assert!(matches!(c.poll(), Err(Error::Protocol(_))));
}

#[test]
fn secrets_stay_out_of_debug_dsn_and_errors() {
    let config = Config::parse(
        "host=db user=alice password=hunter2-secret sslpassword=key-secret-9 dbname=shop sslmode=disable",
    )
    .unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("hunter2-secret") && !shown.contains("key-secret-9"), "{shown}");
    let c = Connection::new(&config, ClientNonce::from_random_bytes([7; 18])).unwrap();
    let shown = format!("{c:?} {} {:?}", c.dsn(), c.dsn_parameters());
    assert!(!shown.contains("hunter2-secret") && !shown.contains("key-secret-9"), "{shown}");
    // A connection string that fails to parse does not echo a password back.
    let e = Config::parse("user=alice password=hunter2-secret port=notaport").unwrap_err();
    assert!(!format!("{e} {e:?}").contains("hunter2-secret"), "{e:?}");
}

#[test]
fn a_stream_nobody_asked_for_is_a_protocol_error() {
    let mut c = started();
    c.submit(Request::simple("SELECT 1")).unwrap();
    flush(&mut c);
    c.receive(&msg(b'W', &[0, 0, 0]));
    assert!(matches!(c.poll(), Err(Error::Protocol(_))));
    assert!(c.is_broken());
}

fn xlog(start: u64, data: &[u8]) -> Vec<u8> {
    let mut body = vec![b'w'];
    body.extend_from_slice(&start.to_be_bytes());
    body.extend_from_slice(&(start + 100).to_be_bytes());
    body.extend_from_slice(&7i64.to_be_bytes());
    body.extend_from_slice(data);
    msg(b'd', &body)
}

fn keepalive(end: u64, reply: bool) -> Vec<u8> {
    let mut body = vec![b'k'];
    body.extend_from_slice(&end.to_be_bytes());
    body.extend_from_slice(&7i64.to_be_bytes());
    body.push(u8::from(reply));
    msg(b'd', &body)
}

/// The standby status updates ('r' in CopyData) queued in `transmit`: (written, flushed,
/// applied, time, reply requested).
fn status_updates(c: &mut Connection) -> Vec<(u64, u64, u64, i64, bool)> {
    c.poll().unwrap();
    let out = c.transmit().to_vec();
    c.advance(out.len());
    let mut found = Vec::new();
    let mut rest = &out[..];
    while rest.len() >= 5 {
        let len = i32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
        let (m, tail) = rest.split_at(1 + len);
        if m[0] == b'd' && m[5] == b'r' {
            let u = |i: usize| u64::from_be_bytes(m[i..i + 8].try_into().unwrap());
            found.push((u(6), u(14), u(22), u(30) as i64, m[38] == 1));
        }
        rest = tail;
    }
    found
}

/// A whole replication stream through the engine, fed one byte at a time: messages handed
/// over in order, keepalives answered with the recorded positions at the injected time, the
/// positions moved on by a keepalive once everything received is flushed, data trailing the
/// server's CopyDone dropped, and the stream's end as its response.
#[test]
fn a_replication_stream_byte_by_byte() {
    use pgsans::replication::{ReplicationMessage, StandbyStatus};
    use pgsans::types::PgLsn;
    let mut c = started_with("user=alice dbname=shop sslmode=disable replication=database");
    assert!(c.autocommit(), "a replication connection is in autocommit mode");
    // 2000-01-01 plus 3 s.
    c.set_current_time(std::time::Duration::from_secs(946_684_803));
    let id = c.submit(Request::start_replication("START_REPLICATION SLOT s LOGICAL 0/0")).unwrap();
    flush(&mut c);
    assert!(c.take_replication(id).unwrap().is_none());
    let server = [msg(b'W', &[0, 0, 0]), xlog(1000, b"first"), keepalive(1200, true), xlog(1300, b"second")].concat();
    let mut seen = Vec::new();
    for b in &server {
        c.receive(&[*b]);
        c.poll().unwrap();
        while let Some(m) = c.take_replication(id).unwrap() {
            seen.push(match m {
                ReplicationMessage::XLogData { wal_start, data, .. } => {
                    format!("{} {}", wal_start.0, String::from_utf8_lossy(data))
                }
                ReplicationMessage::Keepalive { wal_end, reply_requested, .. } => {
                    format!("k {} {reply_requested}", wal_end.0)
                }
            });
            c.poll().unwrap();
        }
    }
    assert_eq!(seen, ["1000 first", "k 1200 true", "1300 second"]);
    // The keepalive was answered with what was recorded then: nothing (the data at 1000 was
    // not flushed), at 3 s past PostgreSQL's epoch.
    assert_eq!(status_updates(&mut c), [(0, 0, 0, 3_000_000, false)]);
    // Everything received flushed: the next keepalive moves every position on to its WAL end.
    c.record_standby_status(id, StandbyStatus { written: PgLsn(1300), flushed: PgLsn(1300), applied: PgLsn(0) })
        .unwrap();
    assert!(status_updates(&mut c).is_empty(), "recorded, not sent");
    c.receive(&keepalive(2000, true));
    c.poll().unwrap();
    assert!(matches!(c.take_replication(id).unwrap(), Some(ReplicationMessage::Keepalive { .. })));
    assert_eq!(status_updates(&mut c), [(2000, 2000, 2000, 3_000_000, false)]);
    // Positions never move back; an update asked for now goes at once.
    c.send_standby_status(id, StandbyStatus::at(PgLsn(5)), true).unwrap();
    assert_eq!(status_updates(&mut c), [(2000, 2000, 2000, 3_000_000, true)]);
    // Stop: CopyDone; what the server still sends, and sends after its own CopyDone, is dropped.
    c.stop_replication(id).unwrap();
    c.poll().unwrap();
    assert_eq!(c.transmit(), &msg(b'c', b"")[..]);
    c.advance(5);
    let end = [xlog(3000, b"late"), msg(b'c', b""), xlog(3100, b"later"), msg(b'C', b"COPY 0\0"), msg(b'Z', b"I")];
    for b in end.concat() {
        c.receive(&[b]);
        c.poll().unwrap();
        assert!(c.take_replication(id).unwrap().is_none());
    }
    let ended = c.take_response(id).unwrap().unwrap().into_replication_end().unwrap();
    assert_eq!(ended.next_timeline, None);
    assert!(c.send_standby_status(id, StandbyStatus::default(), false).is_err(), "over");
    // A second logical stream on this connection is refused before anything is sent.
    let e = c.submit(Request::start_replication("START_REPLICATION SLOT s LOGICAL 0/0")).unwrap_err();
    assert!(matches!(e, Error::Usage(_)), "{e:?}");
    assert!(c.transmit().is_empty());
}

#[test]
fn a_malformed_replication_message_breaks_the_connection() {
    let mut c = started_with("user=alice dbname=shop sslmode=disable replication=true");
    let id = c.submit(Request::start_replication("START_REPLICATION 0/0")).unwrap();
    flush(&mut c);
    c.receive(&[msg(b'W', &[0, 0, 0]), msg(b'd', b"x")].concat());
    c.poll().unwrap();
    assert!(matches!(c.take_replication(id), Err(Error::Protocol(_))));
    assert!(c.is_broken());
}
