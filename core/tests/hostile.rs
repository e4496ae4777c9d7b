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
    let config = Config::parse("user=alice dbname=shop sslmode=disable").unwrap();
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
