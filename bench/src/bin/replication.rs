//! Decoding a pgoutput stream of one transaction of N inserted rows (1M by default): pgsans
//! (blocking client, every row decoded into typed values) side by side with `pg_recvlogical`
//! writing the same stream to /dev/null — the floor a user compares with, which decodes
//! nothing. Each run reads its own slot, made before the rows were inserted, so both read
//! exactly the same changes; runs alternate which goes first. Prints rows/s and client CPU.
//!
//! ```text
//! cargo run --release -p pgsans-bench --bin replication [rows] [runs]
//! ```

use std::process::Command;
use std::time::{Duration, Instant};

use pgsans::replication::pgoutput::{Decoder, Message};
use pgsans::replication::ReplicationMessage;
use pgsans::types::PgLsn;
use pgsans_harness::{AuthMethod, TestServer};
use pgsans_std::pgsans_client::{SlotKind, SlotOptions};

fn thread_cpu() -> Duration {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let us = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    us(ru.ru_utime) + us(ru.ru_stime)
}

struct Sample {
    wall: Duration,
    cpu: Duration,
}

fn pgsans_run(conninfo: &str, slot: &str, publication: &str, rows: usize) -> Sample {
    let mut repl = pgsans_std::Connection::connect(&format!("{conninfo} replication=database")).unwrap();
    let (wall0, cpu0) = (Instant::now(), thread_cpu());
    let options = [("proto_version", "1"), ("publication_names", publication)];
    let kind = SlotKind::Logical { plugin: "pgoutput".into() };
    let mut stream = repl.start_replication(Some(slot), &kind, PgLsn(0), None, &options).unwrap();
    let mut decoder = Decoder::new();
    let (mut seen, mut sum) = (0usize, 0i64);
    loop {
        let Some(ReplicationMessage::XLogData { data, .. }) = stream.next().unwrap() else { continue };
        match decoder.decode(data).unwrap() {
            Message::Insert { new, .. } => {
                sum += i64::from(new.get::<i32, _>(0).unwrap());
                sum += new.get::<&str, _>(1).unwrap().len() as i64;
                seen += 1;
            }
            Message::Commit { end_lsn, .. } if seen >= rows => {
                stream.send_status(pgsans::replication::StandbyStatus::at(end_lsn), false).unwrap();
                break;
            }
            _ => {}
        }
    }
    let sample = Sample { wall: wall0.elapsed(), cpu: thread_cpu() - cpu0 };
    assert!(sum > 0);
    drop(stream);
    sample
}

fn recvlogical_run(bin: &std::path::Path, server: &TestServer, slot: &str, publication: &str, end: PgLsn) -> Sample {
    let wall0 = Instant::now();
    let mut child = Command::new(bin.join("pg_recvlogical"))
        .args(["-h", "127.0.0.1", "-p", &server.port.to_string(), "-U", "postgres", "-d", "postgres"])
        .args(["--slot", slot, "--start", "--no-loop", "-f", "/dev/null", "-E", &end.to_string()])
        .args(["-o", "proto_version=1", "-o", &format!("publication_names={publication}")])
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall = wall0.elapsed();
    let _ = child.try_wait();
    let us = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Sample { wall, cpu: us(ru.ru_utime) + us(ru.ru_stime) }
}

fn main() {
    let rows: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let runs: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    let server = TestServer::start_with(&[("wal_level", "logical"), ("max_wal_senders", "20")]).unwrap();
    let conninfo = server.conninfo(AuthMethod::Trust);
    let mut sql = pgsans_std::Connection::connect(&conninfo).unwrap();
    sql.set_autocommit(true).unwrap();
    sql.batch_execute(
        "CREATE TABLE bench_repl (id int4, name text); CREATE PUBLICATION bench_pub FOR TABLE bench_repl",
    )
    .unwrap();
    let mut slots = pgsans_std::Connection::connect(&format!("{conninfo} replication=database")).unwrap();
    let kind = SlotKind::Logical { plugin: "pgoutput".into() };
    for i in 0..runs {
        for who in ["pgsans", "recv"] {
            slots.create_replication_slot(&format!("{who}_{i}"), kind.clone(), &SlotOptions::default()).unwrap();
        }
    }
    sql.batch_execute(&format!(
        "INSERT INTO bench_repl SELECT g, 'row number ' || g FROM generate_series(1, {rows}) g"
    ))
    .unwrap();
    let end: PgLsn = sql.query_one("SELECT pg_current_wal_lsn()", &[]).unwrap().get(0).unwrap();
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for i in 0..runs {
        let mut a = || ours.push(pgsans_run(&conninfo, &format!("pgsans_{i}"), "bench_pub", rows));
        let mut b = || theirs.push(recvlogical_run(&server.bin_dir, &server, &format!("recv_{i}"), "bench_pub", end));
        if i % 2 == 0 {
            a();
            b();
        } else {
            b();
            a();
        }
    }
    let median = |v: &mut Vec<Sample>, f: fn(&Sample) -> Duration| {
        let mut d: Vec<Duration> = v.iter().map(f).collect();
        d.sort();
        d[d.len() / 2]
    };
    let (ow, oc) = (median(&mut ours, |s| s.wall), median(&mut ours, |s| s.cpu));
    let (tw, tc) = (median(&mut theirs, |s| s.wall), median(&mut theirs, |s| s.cpu));
    println!(
        "pgoutput stream of {rows} inserted rows, median of {runs} interleaved runs (PostgreSQL {})",
        server.version
    );
    println!("{:<28} {:>10} {:>14} {:>12}", "client", "wall s", "rows/s", "client CPU s");
    println!(
        "{:<28} {:>10.3} {:>14.0} {:>12.3}",
        "pgsans (decoded, typed)",
        ow.as_secs_f64(),
        rows as f64 / ow.as_secs_f64(),
        oc.as_secs_f64()
    );
    println!(
        "{:<28} {:>10.3} {:>14.0} {:>12.3}",
        "pg_recvlogical > /dev/null",
        tw.as_secs_f64(),
        rows as f64 / tw.as_secs_f64(),
        tc.as_secs_f64()
    );
    println!(
        "ratio pgsans / pg_recvlogical: wall {:.2}x, client CPU {:.2}x",
        ow.as_secs_f64() / tw.as_secs_f64(),
        oc.as_secs_f64() / tc.as_secs_f64()
    );
}
