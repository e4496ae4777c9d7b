//! The engine's own CPU per round trip, without a socket or a server: a prepared
//! `SELECT $1::int4` submitted, its bytes taken, the server's answer fed back, the response
//! taken — as the client does it, minus the syscalls. Also a streamed variant (`take_row`).
//!
//! ```text
//! cargo run --release -p pgsans-bench --bin engine_cpu [iterations]
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Counts allocations, to print them per operation.
struct Counting;
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

use pgsans::{ClientNonce, Config, Connection, Mode, Request, Response};

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn param(name: &str, value: &str) -> Vec<u8> {
    msg(b'S', format!("{name}\0{value}\0").as_bytes())
}

/// Feeds `server` to the engine and drains what it wants to send.
fn exchange(conn: &mut Connection, server: &[u8]) {
    let n = conn.transmit().len();
    conn.advance(n);
    let mut fed = 0;
    while fed < server.len() {
        let buf = conn.recv_buf();
        let k = buf.len().min(server.len() - fed);
        buf[..k].copy_from_slice(&server[fed..fed + k]);
        conn.recv_commit(k);
        fed += k;
        conn.poll().unwrap();
    }
    conn.poll().unwrap();
}

fn main() {
    let iterations: u32 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let mut config = Config::new();
    config.set("user", "bench").unwrap();
    config.set("sslmode", "disable").unwrap();
    let mut conn = Connection::new(&config, ClientNonce::from_random_bytes([7; 18])).unwrap();
    conn.poll().unwrap();
    let mut startup = msg(b'R', &0i32.to_be_bytes());
    for (k, v) in [
        ("client_encoding", "UTF8"),
        ("server_encoding", "UTF8"),
        ("standard_conforming_strings", "on"),
        ("integer_datetimes", "on"),
        ("DateStyle", "ISO, MDY"),
        ("server_version", "15.10"),
        ("TimeZone", "UTC"),
    ] {
        startup.extend(param(k, v));
    }
    startup.extend(msg(b'K', &[0, 0, 0, 1, 0, 0, 0, 2]));
    let idle = msg(b'Z', b"I");
    startup.extend(&idle);
    exchange(&mut conn, &startup);
    assert!(conn.is_ready(), "startup");

    let id = conn
        .submit(Request::command(pgsans::session::Command::SetSession(pgsans::SessionChange::new().autocommit(true))))
        .unwrap();
    exchange(&mut conn, &[]);
    assert!(conn.take_response(id).expect("autocommit").is_ok());

    let id = conn.submit(Request::prepare("SELECT $1::int4", &[])).unwrap();
    conn.poll().unwrap();
    let mut prepared = msg(b'1', &[]);
    prepared.extend(msg(b't', &[0, 1, 0, 0, 0, 23]));
    let mut rd = vec![0, 1];
    rd.extend(b"int4\0");
    rd.extend(0u32.to_be_bytes());
    rd.extend(0u16.to_be_bytes());
    rd.extend(23u32.to_be_bytes());
    rd.extend(4i16.to_be_bytes());
    rd.extend((-1i32).to_be_bytes());
    rd.extend(0u16.to_be_bytes());
    let row_description = msg(b'T', &rd);
    prepared.extend(&row_description);
    prepared.extend(&idle);
    exchange(&mut conn, &prepared);
    let stmt = match conn.take_response(id).expect("prepared").unwrap() {
        Response::Prepared(s) => s,
        other => panic!("{other:?}"),
    };

    // The answer to Bind/Describe/Execute/Sync: BindComplete, the portal's description (the
    // int4 in binary), one row, the tag, idle.
    let mut binary_rd = rd.clone();
    let n = binary_rd.len();
    binary_rd[n - 2..].copy_from_slice(&1u16.to_be_bytes());
    let answer = |i: i32| {
        let mut a = msg(b'2', &[]);
        if std::env::var_os("NO_DESCRIBE").is_none() {
            a.extend(msg(b'T', &binary_rd));
        }
        let mut row = vec![0, 1, 0, 0, 0, 4];
        row.extend(i.to_be_bytes());
        a.extend(msg(b'D', &row));
        a.extend(msg(b'C', b"SELECT 1\0"));
        a.extend(&idle);
        a
    };
    let answers: Vec<Vec<u8>> = (0..1024).map(answer).collect();

    for mode in [Mode::Collect, Mode::Stream] {
        let (t0, a0) = (Instant::now(), ALLOCATIONS.load(Ordering::Relaxed));
        let mut sum = 0i64;
        for i in 0..iterations {
            let v = (i % 1024) as i32;
            let request = conn.query_request(&stmt, &[&v], mode).unwrap();
            let id = conn.submit(request).unwrap();
            conn.poll().unwrap();
            exchange(&mut conn, &answers[v as usize]);
            if matches!(mode, Mode::Stream) {
                while let Some(row) = conn.take_row(id).unwrap() {
                    sum += row.get::<i32, _>(0).unwrap() as i64;
                }
                conn.poll().unwrap();
            }
            match conn.take_response(id).expect("answered").unwrap() {
                Response::Query(r) => {
                    for row in &r.rows {
                        sum += row.get::<i32, _>(0).unwrap() as i64;
                    }
                }
                other => panic!("{other:?}"),
            }
        }
        let ns = t0.elapsed().as_nanos() as f64 / iterations as f64;
        let allocs = (ALLOCATIONS.load(Ordering::Relaxed) - a0) as f64 / iterations as f64;
        println!("{mode:?}: {ns:.0} ns, {allocs:.1} allocations per round trip (checksum {sum})");
    }

    // 1M streamed rows (int4, text, float8 in binary), fed in 64 KiB reads.
    let mut rows_answer = msg(b'2', &[]);
    let mut rd3 = vec![0, 3];
    for (name, oid, size) in [("i", 23u32, 4i16), ("md5", 25, -1), ("f", 701, 8)] {
        rd3.extend(name.as_bytes());
        rd3.push(0);
        rd3.extend(0u32.to_be_bytes());
        rd3.extend(0u16.to_be_bytes());
        rd3.extend(oid.to_be_bytes());
        rd3.extend(size.to_be_bytes());
        rd3.extend((-1i32).to_be_bytes());
        rd3.extend(1u16.to_be_bytes());
    }
    rows_answer.extend(msg(b'T', &rd3));
    const ROWS: i32 = 1_000_000;
    for i in 0..ROWS {
        let mut row = vec![0, 3, 0, 0, 0, 4];
        row.extend(i.to_be_bytes());
        row.extend(32i32.to_be_bytes());
        row.extend(format!("{:032x}", i as u128 * 0x9e3779b97f4a7c15).as_bytes());
        row.extend(8i32.to_be_bytes());
        row.extend((i as f64 / 3.0).to_be_bytes());
        rows_answer.extend(msg(b'D', &row));
    }
    rows_answer.extend(msg(b'C', b"SELECT 1000000\0"));
    rows_answer.extend(&idle);
    let t0 = Instant::now();
    let id = conn
        .submit(
            Request::query(
                "SELECT i, md5(i::text), i::float8 / 3 FROM generate_series(1, 1000000) i",
                &[],
                Mode::Stream,
            )
            .unwrap(),
        )
        .unwrap();
    conn.poll().unwrap();
    let n = conn.transmit().len();
    conn.advance(n);
    // The statement is new: it is described first (Parse/Describe/Flush).
    let mut described = msg(b'1', &[]);
    described.extend(msg(b't', &[0, 0]));
    described.extend(msg(b'T', &rd3));
    let mut sum = 0i64;
    let mut count = 0;
    for (phase, data) in [(0, &described), (1, &rows_answer)] {
        let mut fed = 0;
        loop {
            while let Some(row) = conn.take_row(id).unwrap() {
                let i: i32 = row.get(0).unwrap();
                let md5: &str = row.get(1).unwrap();
                let f: f64 = row.get(2).unwrap();
                sum += i as i64 + md5.len() as i64 + f as i64;
                count += 1;
            }
            let wants = conn.poll().unwrap();
            if conn.row_ready(id) {
                continue;
            }
            if wants.is_none() || fed == data.len() {
                break;
            }
            if phase == 0 && !conn.transmit().is_empty() {
                break;
            }
            let buf = conn.recv_buf();
            let k = buf.len().min(data.len() - fed).min(64 * 1024);
            buf[..k].copy_from_slice(&data[fed..fed + k]);
            conn.recv_commit(k);
            fed += k;
        }
        let n = conn.transmit().len();
        conn.advance(n);
    }
    assert!(conn.take_response(id).expect("rows answered").is_ok());
    assert_eq!(count, ROWS);
    let ns = t0.elapsed().as_nanos() as f64 / ROWS as f64;
    println!("streamed rows: {ns:.0} ns per row (checksum {sum})");
}
