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

/// CPU of the server's exited backends (the postmaster's children's time, once reaped): a
/// run's walsender, measured after it has ended.
fn server_children_cpu(server: &TestServer) -> Duration {
    let pid = std::fs::read_to_string(server.data_dir.join("postmaster.pid")).unwrap();
    let pid = pid.lines().next().unwrap().trim().to_owned();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    // After the command name: state is field 3, cutime 16, cstime 17 (1-based in proc(5)).
    let ticks: u64 = fields[13].parse::<u64>().unwrap() + fields[14].parse::<u64>().unwrap();
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

fn with_server_cpu(server: &TestServer, run: impl FnOnce() -> Sample) -> (Sample, Duration) {
    let before = server_children_cpu(server);
    let sample = run();
    // The walsender exits once the client is gone; the postmaster reaps it.
    std::thread::sleep(Duration::from_millis(300));
    (sample, server_children_cpu(server) - before)
}

fn pgsans_run(conninfo: &str, slot: &str, publication: &str, rows: usize) -> Sample {
    let mut repl = pgsans_std::Connection::connect(&format!("{conninfo} replication=database")).unwrap();
    let (wall0, cpu0) = (Instant::now(), thread_cpu());
    let options = [("proto_version", "1"), ("publication_names", publication)];
    let kind = SlotKind::Logical { plugin: "pgoutput".into() };
    let mut stream = repl.start_replication(Some(slot), &kind, PgLsn(0), None, &options).unwrap();
    if std::env::var_os("EARLY_STATUS").is_some() {
        stream.send_status(pgsans::replication::StandbyStatus::default(), false).unwrap();
    }
    let mut decoder = Decoder::new();
    let (mut seen, mut sum) = (0usize, 0i64);
    loop {
        let Some(ReplicationMessage::XLogData { data, .. }) = stream.next().unwrap() else { continue };
        match decoder.decode(data).unwrap() {
            Message::Insert { new, .. } => {
                sum += i64::from(new.get::<i32, _>(0).unwrap());
                sum += new.get::<&str, _>(1).unwrap().len() as i64;
                seen += 1;
                if let Some(us) = std::env::var("NAP_US").ok().and_then(|v| v.parse().ok()) {
                    if seen % 256 == 0 {
                        std::thread::sleep(Duration::from_micros(us));
                    }
                }
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

fn pgsans_tokio_run(conninfo: &str, slot: &str, publication: &str, rows: usize) -> Sample {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut repl = pgsans_tokio::Connection::connect(&format!("{conninfo} replication=database")).await.unwrap();
        let (wall0, cpu0) = (Instant::now(), thread_cpu());
        let options = [("proto_version", "1"), ("publication_names", publication)];
        let kind = SlotKind::Logical { plugin: "pgoutput".into() };
        let mut stream = repl.start_replication(Some(slot), &kind, PgLsn(0), None, &options).await.unwrap();
        let mut decoder = Decoder::new();
        let (mut seen, mut sum) = (0usize, 0i64);
        loop {
            let Some(ReplicationMessage::XLogData { data, .. }) = stream.next().await.unwrap() else { continue };
            match decoder.decode(data).unwrap() {
                Message::Insert { new, .. } => {
                    sum += i64::from(new.get::<i32, _>(0).unwrap());
                    sum += new.get::<&str, _>(1).unwrap().len() as i64;
                    seen += 1;
                }
                Message::Commit { end_lsn, .. } if seen >= rows => {
                    stream.send_status(pgsans::replication::StandbyStatus::at(end_lsn), false).await.unwrap();
                    break;
                }
                _ => {}
            }
        }
        assert!(sum > 0);
        Sample { wall: wall0.elapsed(), cpu: thread_cpu() - cpu0 }
    })
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
        for who in ["pgsans", "tokio", "recv"] {
            slots.create_replication_slot(&format!("{who}_{i}"), kind.clone(), &SlotOptions::default()).unwrap();
        }
    }
    sql.batch_execute(&format!(
        "INSERT INTO bench_repl SELECT g, 'row number ' || g FROM generate_series(1, {rows}) g"
    ))
    .unwrap();
    let end: PgLsn = sql.query_one("SELECT pg_current_wal_lsn()", &[]).unwrap().get(0).unwrap();
    let mut ours = Vec::new();
    let mut tokio = Vec::new();
    let mut theirs = Vec::new();
    for i in 0..runs {
        let mut a = || {
            let (s, server_cpu) =
                with_server_cpu(&server, || pgsans_run(&conninfo, &format!("pgsans_{i}"), "bench_pub", rows));
            eprintln!("  pgsans-std: walsender CPU {:.3} s", server_cpu.as_secs_f64());
            ours.push(s)
        };
        let mut b = || {
            let (s, server_cpu) = with_server_cpu(&server, || {
                recvlogical_run(&server.bin_dir, &server, &format!("recv_{i}"), "bench_pub", end)
            });
            eprintln!("  pg_recvlogical: walsender CPU {:.3} s", server_cpu.as_secs_f64());
            theirs.push(s)
        };
        if i % 2 == 0 {
            a();
            b();
        } else {
            b();
            a();
        }
        tokio.push(pgsans_tokio_run(&conninfo, &format!("tokio_{i}"), "bench_pub", rows));
        let (o, k, t) = (&ours[i], &tokio[i], &theirs[i]);
        eprintln!(
            "run {i}: pgsans-std {:.3} s wall {:.3} s CPU, pgsans-tokio {:.3} s wall {:.3} s CPU, pg_recvlogical {:.3} s wall {:.3} s CPU",
            o.wall.as_secs_f64(),
            o.cpu.as_secs_f64(),
            k.wall.as_secs_f64(),
            k.cpu.as_secs_f64(),
            t.wall.as_secs_f64(),
            t.cpu.as_secs_f64()
        );
    }
    let median = |v: &mut Vec<Sample>, f: fn(&Sample) -> Duration| {
        let mut d: Vec<Duration> = v.iter().map(f).collect();
        d.sort();
        d[d.len() / 2]
    };
    let (ow, oc) = (median(&mut ours, |s| s.wall), median(&mut ours, |s| s.cpu));
    let (tw, tc) = (median(&mut theirs, |s| s.wall), median(&mut theirs, |s| s.cpu));
    let (kw, kc) = (median(&mut tokio, |s| s.wall), median(&mut tokio, |s| s.cpu));
    println!(
        "pgoutput stream of {rows} inserted rows, median of {runs} interleaved runs (PostgreSQL {})",
        server.version
    );
    println!("{:<28} {:>10} {:>14} {:>12}", "client", "wall s", "rows/s", "client CPU s");
    println!(
        "{:<28} {:>10.3} {:>14.0} {:>12.3}",
        "pgsans-std (decoded, typed)",
        ow.as_secs_f64(),
        rows as f64 / ow.as_secs_f64(),
        oc.as_secs_f64()
    );
    println!(
        "{:<28} {:>10.3} {:>14.0} {:>12.3}",
        "pgsans-tokio (decoded)",
        kw.as_secs_f64(),
        rows as f64 / kw.as_secs_f64(),
        kc.as_secs_f64()
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
