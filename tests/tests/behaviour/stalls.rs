//! A server that stops answering mid-stream or mid-COPY: with a call timeout set, every step
//! of a row stream and of a COPY ends in `Error::Timeout` within it — never a hang.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use pgsans::Error;
use pgsans_tests::*;

fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty];
    m.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// Reads one frontend message (type and body).
fn read_message(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 5];
    s.read_exact(&mut head).ok()?;
    let len = i32::from_be_bytes(head[1..].try_into().ok()?) as usize;
    let mut body = vec![0; len.saturating_sub(4)];
    s.read_exact(&mut body).ok()?;
    Some((head[0], body))
}

/// A fake server for one connection: startup without authentication, then, for the first
/// query, `answer` — and silence (the socket held open, nothing read) for 30 s.
fn server(answer: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else { return };
        let mut len = [0u8; 4];
        if s.read_exact(&mut len).is_err() {
            return;
        }
        let mut startup = vec![0; i32::from_be_bytes(len) as usize - 4];
        let _ = s.read_exact(&mut startup);
        let _ = s.write_all(&[msg(b'R', &0i32.to_be_bytes()), msg(b'Z', b"I")].concat());
        if read_message(&mut s).is_some() {
            let _ = s.write_all(&answer);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    port
}

async fn connect<R: TestRt>(port: u16) -> Conn<R> {
    let config = pgsans::Config::parse(&format!("host=127.0.0.1 port={port} user=x sslmode=disable")).unwrap();
    let mut c: Conn<R> = Conn::<R>::connect_with(&config).await.unwrap();
    c.set_autocommit(true).await.unwrap();
    c.set_call_timeout(Some(Duration::from_millis(300)));
    c
}

fn copy_out_response() -> Vec<u8> {
    msg(b'H', &[0, 0, 1, 0, 0])
}

/// Within the timeout and a margin: never a hang.
fn assert_timed_out<T: std::fmt::Debug>(what: &str, r: Result<T, Error>, started: Instant) {
    assert!(matches!(r, Err(Error::Timeout)), "{what}: {r:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "{what} took {:?}", started.elapsed());
}

pub async fn stalled_streams_and_copies_time_out<R: TestRt>() {
    // COPY OUT: the response, two rows, silence.
    let mut c = connect::<R>(server([copy_out_response(), msg(b'd', b"1\n"), msg(b'd', b"2\n")].concat())).await;
    let mut copy = c.copy_out("COPY t TO STDOUT").await.unwrap();
    assert_eq!(copy.next().await.unwrap(), Some(&b"1\n"[..]));
    assert_eq!(copy.next().await.unwrap(), Some(&b"2\n"[..]));
    let t = Instant::now();
    assert_timed_out("CopyOut::next after two rows", copy.next().await, t);
    drop(copy);

    // COPY OUT: a CopyData header claiming 63 MiB, then silence.
    let mut head = vec![b'd'];
    head.extend_from_slice(&(63i32 << 20).to_be_bytes());
    let mut c = connect::<R>(server([copy_out_response(), head].concat())).await;
    let mut copy = c.copy_out("COPY t TO STDOUT").await.unwrap();
    let t = Instant::now();
    assert_timed_out("CopyOut::next on a huge header", copy.next().await, t);
    drop(copy);

    // COPY IN: no CopyInResponse.
    let mut c = connect::<R>(server(Vec::new())).await;
    let t = Instant::now();
    assert_timed_out("copy_in waiting for CopyInResponse", c.copy_in("COPY t FROM STDIN").await.map(drop), t);

    // COPY IN: the server stops reading while 64 MiB are written.
    let mut c = connect::<R>(server(msg(b'G', &[0, 0, 1, 0, 0]))).await;
    let mut copy = c.copy_in("COPY t FROM STDIN").await.unwrap();
    let chunk = vec![b'x'; 1 << 20];
    let t = Instant::now();
    let mut result = Ok(());
    for _ in 0..64 {
        if let Err(e) = copy.write(&chunk).await {
            result = Err(e);
            break;
        }
    }
    assert_timed_out("CopyIn::write to a server that stopped reading", result, t);
    drop(copy);

    // A row stream: the description, two rows, silence.
    let mut field = b"n\0".to_vec();
    field.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 25, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]);
    let desc = msg(b'T', &[&1i16.to_be_bytes()[..], &field].concat());
    let row = |v: &[u8]| msg(b'D', &[&1i16.to_be_bytes()[..], &(v.len() as i32).to_be_bytes(), v].concat());
    let mut c = connect::<R>(server([desc, row(b"1"), row(b"2")].concat())).await;
    let mut stream = c.simple_query_raw("SELECT n FROM t").await.unwrap();
    assert!(stream.next().await.unwrap().is_some());
    assert!(stream.next().await.unwrap().is_some());
    let t = Instant::now();
    assert_timed_out("RowStream::next after two rows", stream.next().await.map(|r| r.is_some()), t);
}

/// Against the real server: a row stream and a COPY OUT whose next step outlives the call
/// timeout end in `Error::Timeout`, the server is asked to cancel them, and the next call on
/// the connection runs at once (nothing left running on the server).
pub async fn after_a_step_timeout_the_connection_is_usable<R: TestRt>() {
    let mut c: Conn<R> = Conn::<R>::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap();
    c.set_autocommit(true).await.unwrap();
    c.set_call_timeout(Some(Duration::from_millis(300)));
    // Rows big enough that the server flushes them before it sleeps on the third.
    let slow_third =
        "SELECT g, repeat('x', 100000), pg_sleep(CASE WHEN g = 3 THEN 30 ELSE 0 END) FROM generate_series(1, 5) g";
    // (The last bytes of the row before the sleeping one may wait in the server's buffer:
    // rows are read until the step that times out.)
    let mut stream = c.query_raw(slow_third, &[]).await.unwrap();
    let mut rows = 0;
    let (result, t) = loop {
        let t = Instant::now();
        match stream.next().await {
            Ok(Some(_)) => rows += 1,
            other => break (other.map(|r| r.is_some()), t),
        }
    };
    assert!(rows >= 1, "the rows before the sleeping one came");
    assert_timed_out("RowStream::next on a sleeping row", result, t);
    drop(stream);
    let t = Instant::now();
    assert_eq!(c.query_one("SELECT 42", &[]).await.unwrap().get::<i32, _>(0).unwrap(), 42);
    assert!(t.elapsed() < Duration::from_secs(5), "the next call waited {:?}", t.elapsed());

    let sql = format!("COPY ({slow_third}) TO STDOUT");
    let mut copy = c.copy_out(&sql).await.unwrap();
    let mut chunks = 0;
    let (result, t) = loop {
        let t = Instant::now();
        match copy.next().await {
            Ok(Some(_)) => chunks += 1,
            other => break (other.map(|d| d.is_some()), t),
        }
    };
    assert!(chunks >= 1, "the rows before the sleeping one came");
    assert_timed_out("CopyOut::next on a sleeping row", result, t);
    drop(copy);
    let t = Instant::now();
    assert_eq!(c.query_one("SELECT 43", &[]).await.unwrap().get::<i32, _>(0).unwrap(), 43);
    assert!(t.elapsed() < Duration::from_secs(5), "the next call waited {:?}", t.elapsed());
    // The calls above ran on the same backend at once: the cancelled work no longer ran there
    // (the sleep would have held them for 30 s).
}
