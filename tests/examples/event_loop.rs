//! One thread drives many connections at once with `mio`, psycopg2-style: each
//! [`PollingConnection`] says what it waits for, the loop waits for all of them together.
//!
//! ```text
//! cargo run -p pgsans-tests --example event_loop            # 100 connections, throwaway server
//! cargo run -p pgsans-tests --example event_loop -- 200 10 "host=127.0.0.1 user=app"
//! ```
//! Arguments: connections, queries per connection, connection string.

use std::collections::HashSet;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Token};
use pgsans_std::Poll;
use pgsans_std::PollingConnection;

/// What a run did.
#[derive(Debug, Default)]
pub struct Totals {
    pub connections: usize,
    pub queries: usize,
    pub rows: usize,
    pub distinct_backends: usize,
    pub wrong_answers: usize,
    pub elapsed: Duration,
}

struct Slot {
    conn: PollingConnection,
    /// The descriptor and interest registered with mio.
    registered: Option<(RawFd, Interest)>,
    sent: usize,
    closing: bool,
    done: bool,
}

/// Runs `connections` connections on one thread, each executing `queries_each` queries in turn.
pub fn run(conninfo: &str, connections: usize, queries_each: usize) -> Result<Totals, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut poll = mio::Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut slots = Vec::with_capacity(connections);
    for _ in 0..connections {
        let conn = PollingConnection::connect_start(conninfo)?;
        slots.push(Slot { conn, registered: None, sent: 0, closing: false, done: false });
    }
    let mut totals = Totals { connections, ..Totals::default() };
    let mut backends = HashSet::new();
    for (i, slot) in slots.iter_mut().enumerate() {
        advance(slot, i, &poll, queries_each, &mut totals, &mut backends)?;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while slots.iter().any(|s| !s.done) {
        if Instant::now() > deadline {
            return Err("event loop did not finish within 120 s".into());
        }
        poll.poll(&mut events, Some(Duration::from_secs(5)))?;
        for ev in events.iter() {
            let i = ev.token().0;
            if !slots[i].done {
                advance(&mut slots[i], i, &poll, queries_each, &mut totals, &mut backends)?;
            }
        }
    }
    totals.distinct_backends = backends.len();
    totals.elapsed = started.elapsed();
    Ok(totals)
}

/// Polls one connection until it must wait, starting its next query or its close when the
/// previous one finished, and registers what it waits for.
fn advance(
    slot: &mut Slot,
    index: usize,
    poll: &mio::Poll,
    queries_each: usize,
    totals: &mut Totals,
    backends: &mut HashSet<i32>,
) -> Result<(), Box<dyn std::error::Error>> {
    loop {
        match slot.conn.poll()? {
            Poll::Ok => {
                if let Some(result) = slot.conn.take_query_result() {
                    let result = result?;
                    let row = &result.rows[0];
                    totals.queries += 1;
                    totals.rows += result.rows.len();
                    if row.get::<i32, _>(0)? != (index * 1000 + slot.sent) as i32 {
                        totals.wrong_answers += 1;
                    }
                    backends.insert(row.get::<i32, _>(1)?);
                }
                if slot.closing {
                    slot.done = true;
                    return Ok(());
                }
                if slot.sent < queries_each {
                    slot.sent += 1;
                    let (base, n) = ((index * 1000) as i32, slot.sent as i32);
                    slot.conn.execute_params("SELECT $1::int4 + $2::int4, pg_backend_pid()", &[&base, &n])?;
                } else {
                    slot.conn.close_start();
                    slot.closing = true;
                }
            }
            wanted => {
                let interest = match wanted {
                    Poll::Read => Interest::READABLE,
                    Poll::Write => Interest::WRITABLE,
                    _ => Interest::READABLE | Interest::WRITABLE,
                };
                let fd = slot.conn.as_raw_fd();
                match slot.registered {
                    Some((old, i)) if old == fd && i == interest => {}
                    Some((old, _)) if old == fd => {
                        poll.registry().reregister(&mut SourceFd(&fd), Token(index), interest)?
                    }
                    _ => poll.registry().register(&mut SourceFd(&fd), Token(index), interest)?,
                }
                slot.registered = Some((fd, interest));
                return Ok(());
            }
        }
    }
}

#[allow(dead_code)] // when included by the integration test, `main` is unused
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let connections = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(100);
    let queries = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(5);
    let conninfo = match args.get(3) {
        Some(c) => c.clone(),
        None => {
            let server = pgsans_harness::TestServer::shared();
            server.conninfo(pgsans_harness::AuthMethod::Scram)
        }
    };
    let t = run(&conninfo, connections, queries)?;
    println!(
        "{} connections on one thread: {} queries, {} rows, {} distinct backends, {} wrong answers, in {:.2?}",
        t.connections, t.queries, t.rows, t.distinct_backends, t.wrong_answers, t.elapsed
    );
    Ok(())
}
