//! pgsans against its peers, in one run, on one throwaway PostgreSQL.
//!
//! ```text
//! cargo run --release -p pgsans-bench -- [rounds] [workload,...]
//! ```
//!
//! Every (workload, client) pair runs in a fresh child process, round-robin across clients in
//! each round, so no client inherits another's heap or warm caches. The child measures wall
//! time and CPU (user + sys, `getrusage`) around the workload only; the parent takes the
//! child's peak RSS from `wait4`. The table prints medians and the ratio to tokio-postgres.

use std::process::Command;
use std::time::Instant;

use futures_util::{StreamExt, TryStreamExt};
use pgsans_harness::{AuthMethod, TestServer};

mod zero;

/// `-nospin`: the same pgsans client with `Config::spin_wait(0)` — it sleeps in the kernel as
/// soon as a request is sent, like the peers.
const CLIENTS: &[&str] = &[
    "pgsans-std",
    "pgsans-tokio",
    "pgsans-std-nospin",
    "pgsans-tokio-nospin",
    "tokio-postgres",
    "tokio-postgres-openssl",
    "zero-postgres-sync",
    "zero-postgres-tokio",
    "postgres",
    "libpq",
    "server-file",
];

/// libpq runs the workloads it can express the same way (bench/libpq_peer.c); skipped when
/// its headers are missing.
fn supported(workload: &str, client: &str, libpq: Option<&std::path::Path>, pg18: bool) -> bool {
    let copy = workload.starts_with("copy");
    match client {
        _ if workload == "shared-50" => matches!(client, "pgsans-tokio" | "pgsans-tokio-nospin" | "tokio-postgres"),
        _ if workload == "mutex-50" => client == "pgsans-tokio",
        _ if workload == "pool-50" => matches!(client, "pgsans-tokio" | "pgsans-std" | "tokio-postgres"),
        _ if workload == "fetch-binary-pgtypes" => matches!(client, "pgsans-tokio" | "pgsans-std" | "tokio-postgres"),
        "libpq" => {
            libpq.is_some()
                && matches!(
                    workload.trim_end_matches("-tls"),
                    "roundtrip" | "pipeline-insert" | "connect" | "copy-in" | "copy-out"
                )
        }
        // tokio-postgres over OpenSSL (postgres-openssl): only where TLS is the point, and only
        // built with `--features openssl-peer`.
        "tokio-postgres-openssl" => cfg!(feature = "openssl-peer") && workload.ends_with("-tls"),
        // The floor: the server copying the same rows from a file of its own.
        "server-file" => workload == "copy-in",
        "postgres" => !workload.ends_with("-1g") && workload != "fetch-text-stream",
        // No COPY; TLS through native-tls only; it asks for protocol 3.2 and fails on a server
        // that offers 3.0 (PostgreSQL 15 answers NegotiateProtocolVersion).
        c if c.starts_with("zero-postgres") => pg18 && !copy && !workload.ends_with("-tls"),
        c if c.ends_with("-nospin") => !copy,
        _ => true,
    }
}

/// The rows every client copies in: "i\tvalue i\n" for i in 0..1M (19 MB of text), made
/// before the measurement and sent in 64 KiB chunks.
fn copy_in_data() -> Vec<u8> {
    let mut data = Vec::with_capacity(20 << 20);
    for i in 0..COPY_ROWS {
        data.extend_from_slice(format!("{i}\tvalue {i}\n").as_bytes());
    }
    data
}

const COPY_ROWS: i64 = 1_000_000;
const COPY_CHUNK: usize = 64 * 1024;
const COPY_IN_SQL: &str = "COPY t (a, b) FROM STDIN";
const COPY_IN_BINARY_SQL: &str = "COPY t (a, b) FROM STDIN (FORMAT binary)";

/// The typed rows of `copy-in-binary`, made before the measurement.
fn typed_rows() -> Vec<(i32, String)> {
    (0..COPY_ROWS as i32).map(|i| (i, format!("value {i}"))).collect()
}
const COPY_OUT_SQL: &str = "COPY (SELECT i, md5(i::text), i::float8 / 3 FROM generate_series(1, 1000000) i) TO STDOUT";

/// Compiles bench/libpq_peer.c with gcc against the system libpq, if both are there.
fn build_libpq_peer() -> Option<std::path::PathBuf> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("libpq_peer.c");
    let out = std::env::temp_dir().join(format!("pgsans-libpq-peer-{}", std::process::id()));
    let ok = Command::new("gcc")
        .args(["-O2", "-I/usr/include/postgresql"])
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .arg("-lpq")
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ok {
        Some(out)
    } else {
        eprintln!("libpq peer not built (needs gcc and libpq-dev); its column is left out");
        None
    }
}

struct Workload {
    name: &'static str,
    what: &'static str,
    /// Operations per run, for the per-operation column.
    ops: u64,
}

/// Run only when named: a gigabyte each way, to show that memory stays bounded.
const ON_REQUEST: &[&str] = &["copy-in-1g", "copy-out-1g"];
const GIB_ROWS: i64 = 10_000_000;
/// 1,000,000,000+ bytes out: 1M rows of 1,000 characters.
const COPY_OUT_1G_SQL: &str = "COPY (SELECT repeat('x', 999) FROM generate_series(1, 1000000)) TO STDOUT";

/// The rows of the gigabyte COPY IN, made chunk by chunk while sending (never all at once):
/// 10M rows of ~100 bytes, in chunks of about 64 KiB.
fn gib_chunks() -> impl Iterator<Item = Vec<u8>> {
    let filler = "y".repeat(90);
    let mut next = 0i64;
    std::iter::from_fn(move || {
        if next == GIB_ROWS {
            return None;
        }
        let mut chunk = Vec::with_capacity(COPY_CHUNK + 256);
        while next < GIB_ROWS && chunk.len() < COPY_CHUNK {
            chunk.extend_from_slice(format!("{next}\t{filler}\n").as_bytes());
            next += 1;
        }
        Some(chunk)
    })
}

const WORKLOADS: &[Workload] = &[
    Workload { name: "roundtrip", what: "20,000 sequential prepared SELECT $1::int4", ops: 20_000 },
    Workload {
        name: "roundtrip-8",
        what: "8 connections x 2,500 prepared SELECT $1::int4, concurrently (blocking clients: a thread each; \
               async clients: a task each on one thread)",
        ops: 20_000,
    },
    Workload {
        name: "shared-50",
        what: "50 tasks x 100 prepared SELECT $1::int4 at once over ONE connection (pgsans Client, \
               tokio-postgres Client; mutex-50: pgsans' exclusive Connection behind a Mutex)",
        ops: 5_000,
    },
    Workload {
        name: "mutex-50",
        what: "shared-50 with pgsans' exclusive Connection in an async Mutex (one query at a time: the \
               way before the shared Client)",
        ops: 5_000,
    },
    Workload {
        name: "pool-50",
        what: "50 tasks (pgsans-std: threads) x 100 SELECT $1::int4 over 8 connections (pgsans Pool, \
               max_size 8, a connection per query; tokio-postgres: deadpool-postgres max_size 8 with \
               prepare_cached)",
        ops: 5_000,
    },
    Workload {
        name: "fetch-binary",
        what: "1M rows (int, md5 text, float8), binary, streamed and decoded",
        ops: 1_000_000,
    },
    Workload {
        name: "fetch-binary-pgtypes",
        what: "fetch-binary, pgsans decoding through postgres-types' FromSql (pgsans-postgres-types \
               Pg<i32>, Pg<&str>, Pg<f64>) instead of its own; tokio-postgres as in fetch-binary",
        ops: 1_000_000,
    },
    Workload {
        name: "fetch-text",
        what: "1M rows (int, md5 text, float8), simple query (text), decoded",
        ops: 1_000_000,
    },
    Workload {
        name: "fetch-text-stream",
        what: "the same 1M rows by simple query (text), streamed row by row and decoded (pgsans \
               simple_query_raw, tokio-postgres simple_query_raw)",
        ops: 1_000_000,
    },
    Workload {
        name: "pipeline-insert",
        what: "50,000 INSERT INTO t(a, b) VALUES ($1, $2) in one transaction",
        ops: 50_000,
    },
    Workload { name: "connect", what: "300 x connect + SCRAM-SHA-256 + close", ops: 300 },
    Workload {
        name: "connect-tls",
        what: "300 x connect + TLS (verify-full against the test CA; pgsans: SCRAM-SHA-256-PLUS, peers: \
               SCRAM-SHA-256-PLUS too where they support it) + close; tokio-postgres and postgres over \
               tokio-postgres-rustls (ring), tokio-postgres-openssl over postgres-openssl, libpq over OpenSSL",
        ops: 300,
    },
    Workload { name: "fetch-binary-tls", what: "fetch-binary over TLS (verify-full)", ops: 1_000_000 },
    Workload { name: "roundtrip-tls", what: "roundtrip over TLS (verify-full)", ops: 20_000 },
    Workload { name: "pipeline-insert-tls", what: "pipeline-insert over TLS (verify-full)", ops: 50_000 },
    Workload { name: "copy-in-tls", what: "copy-in over TLS (verify-full)", ops: 1_000_000 },
    Workload {
        name: "copy-in",
        what: "COPY t FROM STDIN, 1M text rows (19 MB) sent in 64 KiB chunks; server-file: the server's own \
               COPY t FROM '<file>' of the same rows (the floor)",
        ops: 1_000_000,
    },
    Workload {
        name: "copy-in-binary",
        what: "binary COPY t FROM STDIN of 1M typed rows (int4, text), encoded by the client \
               (tokio-postgres and postgres: their BinaryCopyInWriter)",
        ops: 1_000_000,
    },
    Workload {
        name: "copy-out",
        what: "COPY (1M rows: int, md5 text, float8) TO STDOUT, every byte received",
        ops: 1_000_000,
    },
    Workload {
        name: "copy-in-1g",
        what: "(on request) 1 GB of COPY t_discard FROM STDIN (10M rows of ~100 bytes, generated while sending; \
               the table's trigger drops every row)",
        ops: GIB_ROWS as u64,
    },
    Workload {
        name: "copy-out-1g",
        what: "(on request) 1 GB of COPY … TO STDOUT (1M rows of 1,000 bytes)",
        ops: 1_000_000,
    },
];

const FETCH_SQL: &str = "SELECT i, md5(i::text), i::float8 / 3 FROM generate_series(1, 1000000) i";

fn cpu_seconds() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn main() {
    let mut args: Vec<String> = std::env::args().collect();
    // `--pg18`: the bench's server is PostgreSQL 18 (the harness fetches it) instead of 15.
    let pg18 = args.iter().any(|a| a == "--pg18");
    args.retain(|a| a != "--pg18");
    if args.get(1).map(String::as_str) == Some("--child") {
        let (workload, client, conninfo) = (&args[2], &args[3], &args[4]);
        let (wall, cpu, check, server) = run_child(workload, client, conninfo);
        println!("{wall} {cpu} {check} {server}");
        return;
    }
    if args.get(1).map(String::as_str) == Some("--serve") {
        // Keeps a server up for profiling single children by hand.
        let server = bench_server(pg18);
        let conninfo = server.conninfo(AuthMethod::Scram);
        setup(&conninfo);
        println!("{conninfo}");
        std::thread::sleep(std::time::Duration::from_secs(args.get(2).and_then(|s| s.parse().ok()).unwrap_or(600)));
        return;
    }
    let rounds: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let only: Option<Vec<String>> = args.get(2).map(|s| s.split(',').map(str::to_owned).collect());
    let server = bench_server(pg18);
    let conninfo = server.conninfo(AuthMethod::Scram);
    let tls_conninfo = format!(
        "host=127.0.0.1 port={} user=scram_user password=scrampass dbname=postgres sslmode=verify-full sslrootcert={}",
        server.port,
        server.tls.ca.display()
    );
    setup(&conninfo);
    let libpq = build_libpq_peer();
    eprintln!("server: {} ; {rounds} rounds", server.version);

    let workloads: Vec<&Workload> = WORKLOADS
        .iter()
        .filter(|w| match &only {
            Some(o) => o.iter().any(|n| n == w.name),
            None => !ON_REQUEST.contains(&w.name),
        })
        .collect();
    // samples[workload][client] = Vec<Sample>
    let mut samples = vec![vec![Vec::new(); CLIENTS.len()]; workloads.len()];
    for round in 0..rounds {
        for (wi, w) in workloads.iter().enumerate() {
            // Rotate the client order each round.
            for k in 0..CLIENTS.len() {
                let ci = (k + round) % CLIENTS.len();
                if !supported(w.name, CLIENTS[ci], libpq.as_deref(), pg18) {
                    continue;
                }
                let conninfo = if w.name.ends_with("-tls") { &tls_conninfo } else { &conninfo };
                let s = match CLIENTS[ci] {
                    "libpq" => {
                        if matches!(w.name.trim_end_matches("-tls"), "pipeline-insert" | "copy-in") {
                            truncate(conninfo);
                        }
                        let base = w.name.trim_end_matches("-tls");
                        run_measured(Command::new(libpq.as_ref().expect("built")).args([base, conninfo.as_str()]))
                    }
                    // COPY from a server file needs a superuser and a file the server can read.
                    "server-file" => spawn_child(w.name, "server-file", &server_file_conninfo(server)),
                    client => spawn_child(w.name, client, conninfo),
                };
                samples[wi][ci].push(s);
            }
        }
        eprintln!("round {} done", round + 1);
    }

    println!(
        "\n| workload | client | wall (median) | per op | client CPU (median) | server CPU (median) | peak RSS (max) \
         | wall vs tokio-postgres | CPU vs tokio-postgres | wall vs best peer | CPU vs best peer |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (wi, w) in workloads.iter().enumerate() {
        let med = |ci: usize, f: fn(&Sample) -> f64| median(samples[wi][ci].iter().map(f).collect());
        let peer = CLIENTS.iter().position(|c| *c == "tokio-postgres").unwrap();
        let (peer_wall, peer_cpu) = (med(peer, |s| s.wall), med(peer, |s| s.cpu));
        // The best peer on each measure separately (the fastest need not be the thriftiest).
        let best = |f: fn(&Sample) -> f64| {
            (0..CLIENTS.len())
                .filter(|&ci| is_peer(CLIENTS[ci]) && !samples[wi][ci].is_empty())
                .map(|ci| med(ci, f))
                .fold(f64::INFINITY, f64::min)
        };
        let (best_wall, best_cpu) = (best(|s| s.wall), best(|s| s.cpu));
        for (ci, client) in CLIENTS.iter().enumerate() {
            if samples[wi][ci].is_empty() {
                continue;
            }
            let (wall, cpu, server) = (med(ci, |s| s.wall), med(ci, |s| s.cpu), med(ci, |s| s.server));
            let rss = samples[wi][ci].iter().map(|s| s.rss_kib).max().unwrap_or(0);
            // One backend per connection: the connect workload's many backends are not measured.
            let server = if server > 0.0 { format!("{server:.3} s") } else { "–".into() };
            // No peer runs this workload (mutex-50): no ratio.
            let ratio = |a: f64, b: f64| if b.is_finite() && b > 0.0 { format!("{:.2}x", a / b) } else { "–".into() };
            println!(
                "| {} | {} | {:.3} s | {} | {:.3} s | {} | {:.1} MiB | {} | {} | {} | {} |",
                w.name,
                client,
                wall,
                per_op(wall, w.ops),
                cpu,
                server,
                rss as f64 / 1024.0,
                ratio(wall, peer_wall),
                ratio(cpu, peer_cpu),
                ratio(wall, best_wall),
                ratio(cpu, best_cpu)
            );
        }
    }
    println!();
    for w in &workloads {
        println!("- {}: {}", w.name, w.what);
    }
}

/// The throwaway server: PostgreSQL 15 (the harness' shared one) or 18.
fn bench_server(pg18: bool) -> &'static TestServer {
    if !pg18 {
        return TestServer::shared();
    }
    match TestServer::start_pg18() {
        Ok(server) => Box::leak(Box::new(server)),
        Err(e) => panic!("could not start PostgreSQL 18: {e}"),
    }
}

/// The clients pgsans is compared with (not pgsans itself, not the server's own COPY).
fn is_peer(client: &str) -> bool {
    !client.starts_with("pgsans") && client != "server-file"
}

fn per_op(wall: f64, ops: u64) -> String {
    let us = wall * 1e6 / ops as f64;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.2} µs")
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

/// One child's measurements.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: f64,
    cpu: f64,
    /// The server backend's on-CPU time during the workload (0: not measured).
    server: f64,
    rss_kib: u64,
}

fn spawn_child(workload: &str, client: &str, conninfo: &str) -> Sample {
    let exe = std::env::current_exe().expect("current exe");
    run_measured(Command::new(exe).args(["--child", workload, client, conninfo]))
}

/// Runs a child that prints "wall cpu checksum server_cpu"; adds its peak RSS from wait4.
// The child is reaped with wait4 (for its rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn run_measured(cmd: &mut Command) -> Sample {
    let (workload, client) = ("child", format!("{:?}", cmd.get_program()));
    let child = cmd.stdout(std::process::Stdio::piped()).spawn().expect("spawn child");
    let pid = child.id() as libc::pid_t;
    let mut out = child.stdout.expect("stdout");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut out, &mut text).expect("read child");
    let mut status = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{workload}/{client} failed: {text}");
    let mut parts = text.split_whitespace();
    let wall: f64 = parts.next().and_then(|s| s.parse().ok()).expect("wall");
    let cpu: f64 = parts.next().and_then(|s| s.parse().ok()).expect("cpu");
    let server: f64 = parts.nth(1).and_then(|s| s.parse().ok()).expect("server cpu");
    Sample { wall, cpu, server, rss_kib: ru.ru_maxrss as u64 }
}

fn setup(conninfo: &str) {
    let mut c = pgsans_std::Connection::connect(conninfo).expect("connect");
    c.set_autocommit(true).unwrap();
    c.batch_execute("DROP TABLE IF EXISTS t; CREATE TABLE t (a int, b text)").unwrap();
    c.batch_execute(
        "DROP TABLE IF EXISTS t_discard; CREATE TABLE t_discard (a int, b text);
         CREATE OR REPLACE FUNCTION pgsans_discard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
         CREATE TRIGGER discard BEFORE INSERT ON t_discard FOR EACH ROW EXECUTE FUNCTION pgsans_discard()",
    )
    .unwrap();
}

/// For the server-file floor: the superuser's conninfo with the data file's path appended as
/// an application_name-free extra field the child strips (`…|path`).
fn server_file_conninfo(server: &TestServer) -> String {
    let path = server.root_dir().join("copy-in.tsv");
    if !path.exists() {
        // Written row by row: the parent's resident memory must stay small, since every
        // child's peak RSS starts from it (fork) until it execs.
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("create the copy file"));
        for i in 0..COPY_ROWS {
            std::io::Write::write_all(&mut f, format!("{i}\tvalue {i}\n").as_bytes()).expect("write");
        }
        std::io::Write::flush(&mut f).expect("flush");
        // The server runs as `postgres` when the harness runs as root.
        let _ = Command::new("chmod").arg("644").arg(&path).status();
    }
    format!("{}|{}", server.conninfo(AuthMethod::Trust), path.display())
}

fn server_file_run(conninfo_and_path: &str) -> Measured {
    let (conninfo, path) = conninfo_and_path.split_once('|').expect("conninfo|path");
    let mut c = pgsans_std::Connection::connect(conninfo).expect("connect");
    c.set_autocommit(true).unwrap();
    let pid = c.backend_pid();
    measure(&[pid], || c.execute(format!("COPY t (a, b) FROM '{path}'").as_str(), &[]).unwrap() as i64)
}

fn truncate(conninfo: &str) {
    let mut c = pgsans_std::Connection::connect(conninfo).expect("connect");
    c.set_autocommit(true).unwrap();
    c.batch_execute("TRUNCATE t").unwrap();
}

/// Runs one workload with one client; returns (wall s, cpu s, a checksum that proves the work
/// was done, server backend cpu s).
fn run_child(workload: &str, client: &str, conninfo: &str) -> Measured {
    if matches!(workload.trim_end_matches("-tls"), "pipeline-insert" | "copy-in" | "copy-in-binary") {
        truncate(conninfo.split('|').next().expect("conninfo"));
    }
    // The TLS workloads are the plain ones over a TLS conninfo.
    let workload = workload.trim_end_matches("-tls");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    match client {
        "pgsans-std" => pgsans_std_run(workload, &pgsans_config(conninfo, true)),
        "pgsans-tokio" => rt.block_on(pgsans_tokio_run(workload, &pgsans_config(conninfo, true))),
        "pgsans-std-nospin" => pgsans_std_run(workload, &pgsans_config(conninfo, false)),
        "pgsans-tokio-nospin" => rt.block_on(pgsans_tokio_run(workload, &pgsans_config(conninfo, false))),
        "tokio-postgres" => rt.block_on(tokio_postgres_run(workload, &PeerTls::rustls(conninfo))),
        #[cfg(feature = "openssl-peer")]
        "tokio-postgres-openssl" => rt.block_on(tokio_postgres_run(workload, &PeerTls::openssl(conninfo))),
        "postgres" => postgres_run(workload, &PeerTls::rustls(conninfo)),
        "zero-postgres-sync" => zero::sync_run(workload, conninfo),
        "zero-postgres-tokio" => rt.block_on(zero::tokio_run(workload, conninfo)),
        "server-file" => server_file_run(conninfo),
        other => panic!("unknown client {other}"),
    }
}

/// (wall s, client cpu s, checksum, server cpu s)
type Measured = (f64, f64, i64, f64);

/// The on-CPU time of server processes `pids` (first field of /proc/PID/schedstat, ns); the
/// server runs on this host. Empty: backends come and go (connect), not measured.
fn server_cpu(pids: &[i32]) -> f64 {
    let one = |pid: &i32| {
        std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0.0, |ns| ns as f64 / 1e9)
    };
    pids.iter().map(one).sum()
}

/// Measures `f` on the connections served by backends `pids`.
fn measure(pids: &[i32], f: impl FnOnce() -> i64) -> Measured {
    let (c0, s0, t0) = (cpu_seconds(), server_cpu(pids), Instant::now());
    let out = f();
    (t0.elapsed().as_secs_f64(), cpu_seconds() - c0, out, server_cpu(pids) - s0)
}

async fn measure_async(pids: &[i32], f: impl std::future::Future<Output = i64>) -> Measured {
    let (c0, s0, t0) = (cpu_seconds(), server_cpu(pids), Instant::now());
    let out = f.await;
    (t0.elapsed().as_secs_f64(), cpu_seconds() - c0, out, server_cpu(pids) - s0)
}

/// Connections (and their prepared statement) for `roundtrip-8`.
const CONCURRENT: usize = 8;
/// shared-50, mutex-50, pool-50: tasks, and queries per task.
const TASKS: i32 = 50;
const PER_TASK: i32 = 100;
const PER_CONNECTION: i32 = 2_500;

fn pgsans_config(conninfo: &str, spin: bool) -> pgsans::Config {
    let mut config = pgsans_std::pgsans_client::load(conninfo).unwrap();
    if !spin {
        config.spin_wait(std::time::Duration::ZERO);
    }
    config
}

fn decode_text_sum(i: &str, md5: &str, f: &str) -> i64 {
    i.parse::<i64>().unwrap() + md5.len() as i64 + f.parse::<f64>().unwrap() as i64
}

fn pgsans_std_run(workload: &str, config: &pgsans::Config) -> Measured {
    use pgsans_std::Connection;
    if workload == "connect" {
        return measure(&[], || {
            for _ in 0..300 {
                let mut conn = Connection::connect_with(config).unwrap();
                conn.close().unwrap();
            }
            300
        });
    }
    if workload == "pool-50" {
        let mut options = pgsans_std::PoolOptions::default();
        options.max_size = CONCURRENT;
        let pool = pgsans_std::Pool::new(config.clone(), options);
        // Open the connections before measuring (as the other clients do).
        let held: Vec<_> = (0..CONCURRENT).map(|_| pool.get().unwrap()).collect();
        let pids: Vec<i32> = held.iter().map(|c| c.backend_pid()).collect();
        drop(held);
        return measure(&pids, || {
            std::thread::scope(|s| {
                let threads: Vec<_> = (0..TASKS)
                    .map(|t| {
                        let pool = &pool;
                        s.spawn(move || {
                            (0..PER_TASK)
                                .map(|i| {
                                    let mut c = pool.get().unwrap();
                                    let n = t * PER_TASK + i;
                                    c.query("SELECT $1::int4", &[&n]).unwrap()[0].get::<i32, _>(0).unwrap() as i64
                                })
                                .sum::<i64>()
                        })
                    })
                    .collect();
                threads.into_iter().map(|t| t.join().unwrap()).sum()
            })
        });
    }
    if workload == "roundtrip-8" {
        let mut conns: Vec<_> = (0..CONCURRENT)
            .map(|_| {
                let mut c = Connection::connect_with(config).unwrap();
                c.set_autocommit(true).unwrap();
                let stmt = c.prepare("SELECT $1::int4").unwrap();
                (c, stmt)
            })
            .collect();
        let pids: Vec<i32> = conns.iter().map(|(c, _)| c.backend_pid()).collect();
        return measure(&pids, || {
            std::thread::scope(|s| {
                let threads: Vec<_> = conns
                    .iter_mut()
                    .map(|(c, stmt)| {
                        s.spawn(move || {
                            (0..PER_CONNECTION)
                                .map(|i| c.query(&*stmt, &[&i]).unwrap()[0].get::<i32, _>(0).unwrap() as i64)
                                .sum::<i64>()
                        })
                    })
                    .collect();
                threads.into_iter().map(|t| t.join().unwrap()).sum()
            })
        });
    }
    let mut conn = Connection::connect_with(config).unwrap();
    conn.set_autocommit(true).unwrap();
    let pid = conn.backend_pid();
    match workload {
        "roundtrip" => {
            let stmt = conn.prepare("SELECT $1::int4").unwrap();
            measure(&[pid], || {
                let mut sum = 0i64;
                for i in 0..20_000i32 {
                    let rows = conn.query(&stmt, &[&i]).unwrap();
                    sum += rows[0].get::<i32, _>(0).unwrap() as i64;
                }
                sum
            })
        }
        "fetch-binary" => measure(&[pid], || {
            let mut stream = conn.query_raw(FETCH_SQL, &[]).unwrap();
            let mut sum = 0i64;
            while let Some(row) = stream.next().unwrap() {
                let i: i32 = row.get(0).unwrap();
                let md5: &str = row.get(1).unwrap();
                let f: f64 = row.get(2).unwrap();
                sum += i as i64 + md5.len() as i64 + f as i64;
            }
            sum
        }),
        "fetch-binary-pgtypes" => measure(&[pid], || {
            use pgsans_postgres_types::Pg;
            let mut stream = conn.query_raw(FETCH_SQL, &[]).unwrap();
            let mut sum = 0i64;
            while let Some(row) = stream.next().unwrap() {
                let Pg(i): Pg<i32> = row.get(0).unwrap();
                let Pg(md5): Pg<&str> = row.get(1).unwrap();
                let Pg(f): Pg<f64> = row.get(2).unwrap();
                sum += i as i64 + md5.len() as i64 + f as i64;
            }
            sum
        }),
        "fetch-text" => measure(&[pid], || {
            let results = conn.simple_query(FETCH_SQL).unwrap();
            let mut sum = 0i64;
            for r in results[0].rows() {
                sum += decode_text_sum(
                    r.get_str(0).unwrap().unwrap(),
                    r.get_str(1).unwrap().unwrap(),
                    r.get_str(2).unwrap().unwrap(),
                );
            }
            sum
        }),
        "copy-in-1g" => measure(&[pid], || {
            use std::io::Write;
            let mut w = conn.copy_in("COPY t_discard FROM STDIN").unwrap();
            let mut sent = 0i64;
            for chunk in gib_chunks() {
                sent += chunk.len() as i64;
                w.write_all(&chunk).unwrap();
            }
            w.finish().unwrap();
            sent
        }),
        "copy-in-binary" => {
            let rows = typed_rows();
            measure(&[pid], || {
                let mut w = conn
                    .copy_in_binary(COPY_IN_BINARY_SQL, &[pgsans::types::oid::INT4, pgsans::types::oid::TEXT])
                    .unwrap();
                for (a, b) in &rows {
                    w.write_row(&[a, b]).unwrap();
                }
                w.finish().unwrap() as i64
            })
        }
        "fetch-text-stream" => measure(&[pid], || {
            let mut stream = conn.simple_query_raw(FETCH_SQL).unwrap();
            let mut sum = 0i64;
            while let Some(r) = stream.next().unwrap() {
                sum += decode_text_sum(
                    r.get_str(0).unwrap().unwrap(),
                    r.get_str(1).unwrap().unwrap(),
                    r.get_str(2).unwrap().unwrap(),
                );
            }
            sum
        }),
        "copy-in" => {
            let data = copy_in_data();
            measure(&[pid], || {
                use std::io::Write;
                let mut w = conn.copy_in(COPY_IN_SQL).unwrap();
                for chunk in data.chunks(COPY_CHUNK) {
                    w.write_all(chunk).unwrap();
                }
                w.finish().unwrap() as i64
            })
        }
        "copy-out" | "copy-out-1g" => measure(&[pid], || {
            let sql = if workload == "copy-out" { COPY_OUT_SQL } else { COPY_OUT_1G_SQL };
            let mut r = conn.copy_out(sql).unwrap();
            let mut bytes = 0i64;
            while let Some(chunk) = r.next_chunk().unwrap() {
                bytes += chunk.len() as i64;
            }
            bytes
        }),
        "pipeline-insert" => {
            let values: Vec<(i32, String)> = (0..50_000).map(|i| (i, format!("value {i}"))).collect();
            measure(&[pid], || {
                let mut p = pgsans::Pipeline::new();
                for (a, b) in &values {
                    p.execute("INSERT INTO t(a, b) VALUES ($1, $2)", &[a, b]);
                }
                conn.set_autocommit(false).unwrap();
                let results = conn.pipeline(p).unwrap();
                conn.commit().unwrap();
                results.iter().filter(|r| r.is_ok()).count() as i64
            })
        }
        other => panic!("unknown workload {other}"),
    }
}

async fn pgsans_tokio_run(workload: &str, config: &pgsans::Config) -> Measured {
    use pgsans_tokio::Connection;
    if workload == "connect" {
        return measure_async(&[], async {
            for _ in 0..300 {
                let mut conn = Connection::connect_with(config).await.unwrap();
                conn.close().await.unwrap();
            }
            300
        })
        .await;
    }
    if workload == "shared-50" {
        let client = pgsans_tokio::Client::connect_with(config).await.unwrap();
        let stmt = client.prepare("SELECT $1::int4").await.unwrap();
        return measure_async(&[client.backend_pid()], async {
            let tasks = (0..TASKS).map(|t| {
                let (client, stmt) = (&client, &stmt);
                async move {
                    let mut sum = 0i64;
                    for i in 0..PER_TASK {
                        let n = t * PER_TASK + i;
                        sum += client.query(stmt, &[&n]).await.unwrap()[0].get::<i32, _>(0).unwrap() as i64;
                    }
                    sum
                }
            });
            futures_util::future::join_all(tasks).await.into_iter().sum()
        })
        .await;
    }
    if workload == "mutex-50" {
        let mut c = Connection::connect_with(config).await.unwrap();
        c.set_autocommit(true).await.unwrap();
        let stmt = c.prepare("SELECT $1::int4").await.unwrap();
        let pid = c.backend_pid();
        let conn = tokio::sync::Mutex::new(c);
        return measure_async(&[pid], async {
            let tasks = (0..TASKS).map(|t| {
                let (conn, stmt) = (&conn, &stmt);
                async move {
                    let mut sum = 0i64;
                    for i in 0..PER_TASK {
                        let n = t * PER_TASK + i;
                        let rows = conn.lock().await.query(stmt, &[&n]).await.unwrap();
                        sum += rows[0].get::<i32, _>(0).unwrap() as i64;
                    }
                    sum
                }
            });
            futures_util::future::join_all(tasks).await.into_iter().sum()
        })
        .await;
    }
    if workload == "pool-50" {
        let mut options = pgsans_tokio::PoolOptions::default();
        options.max_size = CONCURRENT;
        let pool = pgsans_tokio::Pool::new(config.clone(), options);
        let mut held = Vec::new();
        for _ in 0..CONCURRENT {
            let mut c = pool.get().await.unwrap();
            c.set_autocommit(true).await.unwrap();
            held.push(c);
        }
        let pids: Vec<i32> = held.iter().map(|c| c.backend_pid()).collect();
        drop(held);
        return measure_async(&pids, async {
            let tasks = (0..TASKS).map(|t| {
                let pool = &pool;
                async move {
                    let mut sum = 0i64;
                    for i in 0..PER_TASK {
                        let n = t * PER_TASK + i;
                        let mut c = pool.get().await.unwrap();
                        sum += c.query("SELECT $1::int4", &[&n]).await.unwrap()[0].get::<i32, _>(0).unwrap() as i64;
                    }
                    sum
                }
            });
            futures_util::future::join_all(tasks).await.into_iter().sum()
        })
        .await;
    }
    if workload == "roundtrip-8" {
        let mut conns = Vec::new();
        for _ in 0..CONCURRENT {
            let mut c = Connection::connect_with(config).await.unwrap();
            c.set_autocommit(true).await.unwrap();
            let stmt = c.prepare("SELECT $1::int4").await.unwrap();
            conns.push((c, stmt));
        }
        let pids: Vec<i32> = conns.iter().map(|(c, _)| c.backend_pid()).collect();
        return measure_async(&pids, async {
            let tasks = conns.iter_mut().map(|(c, stmt)| async move {
                let mut sum = 0i64;
                for i in 0..PER_CONNECTION {
                    sum += c.query(&*stmt, &[&i]).await.unwrap()[0].get::<i32, _>(0).unwrap() as i64;
                }
                sum
            });
            futures_util::future::join_all(tasks).await.into_iter().sum()
        })
        .await;
    }
    let mut conn = Connection::connect_with(config).await.unwrap();
    conn.set_autocommit(true).await.unwrap();
    let pid = conn.backend_pid();
    match workload {
        "roundtrip" => {
            let stmt = conn.prepare("SELECT $1::int4").await.unwrap();
            measure_async(&[pid], async {
                let mut sum = 0i64;
                for i in 0..20_000i32 {
                    let rows = conn.query(&stmt, &[&i]).await.unwrap();
                    sum += rows[0].get::<i32, _>(0).unwrap() as i64;
                }
                sum
            })
            .await
        }
        "fetch-binary" => {
            measure_async(&[pid], async {
                let mut stream = conn.query_raw(FETCH_SQL, &[]).await.unwrap();
                let mut sum = 0i64;
                while let Some(row) = stream.next().await.unwrap() {
                    let i: i32 = row.get(0).unwrap();
                    let md5: &str = row.get(1).unwrap();
                    let f: f64 = row.get(2).unwrap();
                    sum += i as i64 + md5.len() as i64 + f as i64;
                }
                sum
            })
            .await
        }
        "fetch-binary-pgtypes" => {
            use pgsans_postgres_types::Pg;
            measure_async(&[pid], async {
                let mut stream = conn.query_raw(FETCH_SQL, &[]).await.unwrap();
                let mut sum = 0i64;
                while let Some(row) = stream.next().await.unwrap() {
                    let Pg(i): Pg<i32> = row.get(0).unwrap();
                    let Pg(md5): Pg<&str> = row.get(1).unwrap();
                    let Pg(f): Pg<f64> = row.get(2).unwrap();
                    sum += i as i64 + md5.len() as i64 + f as i64;
                }
                sum
            })
            .await
        }
        "fetch-text" => {
            measure_async(&[pid], async {
                let results = conn.simple_query(FETCH_SQL).await.unwrap();
                let mut sum = 0i64;
                for r in results[0].rows() {
                    sum += decode_text_sum(
                        r.get_str(0).unwrap().unwrap(),
                        r.get_str(1).unwrap().unwrap(),
                        r.get_str(2).unwrap().unwrap(),
                    );
                }
                sum
            })
            .await
        }
        "copy-in-1g" => {
            measure_async(&[pid], async {
                let mut w = conn.copy_in("COPY t_discard FROM STDIN").await.unwrap();
                let mut sent = 0i64;
                for chunk in gib_chunks() {
                    sent += chunk.len() as i64;
                    w.write(&chunk).await.unwrap();
                }
                w.finish().await.unwrap();
                sent
            })
            .await
        }
        "copy-in-binary" => {
            let rows = typed_rows();
            measure_async(&[pid], async {
                let mut w = conn
                    .copy_in_binary(COPY_IN_BINARY_SQL, &[pgsans::types::oid::INT4, pgsans::types::oid::TEXT])
                    .await
                    .unwrap();
                for (a, b) in &rows {
                    w.write_row(&[a, b]).await.unwrap();
                }
                w.finish().await.unwrap() as i64
            })
            .await
        }
        "fetch-text-stream" => {
            measure_async(&[pid], async {
                let mut stream = conn.simple_query_raw(FETCH_SQL).await.unwrap();
                let mut sum = 0i64;
                while let Some(r) = stream.next().await.unwrap() {
                    sum += decode_text_sum(
                        r.get_str(0).unwrap().unwrap(),
                        r.get_str(1).unwrap().unwrap(),
                        r.get_str(2).unwrap().unwrap(),
                    );
                }
                sum
            })
            .await
        }
        "copy-in" => {
            let data = copy_in_data();
            measure_async(&[pid], async {
                let mut w = conn.copy_in(COPY_IN_SQL).await.unwrap();
                for chunk in data.chunks(COPY_CHUNK) {
                    w.write(chunk).await.unwrap();
                }
                w.finish().await.unwrap() as i64
            })
            .await
        }
        "copy-out" | "copy-out-1g" => {
            let sql = if workload == "copy-out" { COPY_OUT_SQL } else { COPY_OUT_1G_SQL };
            measure_async(&[pid], async {
                let mut r = conn.copy_out(sql).await.unwrap();
                let mut bytes = 0i64;
                while let Some(chunk) = r.next().await.unwrap() {
                    bytes += chunk.len() as i64;
                }
                bytes
            })
            .await
        }
        "pipeline-insert" => {
            let values: Vec<(i32, String)> = (0..50_000).map(|i| (i, format!("value {i}"))).collect();
            measure_async(&[pid], async {
                let mut p = pgsans::Pipeline::new();
                for (a, b) in &values {
                    p.execute("INSERT INTO t(a, b) VALUES ($1, $2)", &[a, b]);
                }
                conn.set_autocommit(false).await.unwrap();
                let results = conn.pipeline(p).await.unwrap();
                conn.commit().await.unwrap();
                results.iter().filter(|r| r.is_ok()).count() as i64
            })
            .await
        }
        other => panic!("unknown workload {other}"),
    }
}

/// How a peer connects: its conninfo (the peers know no `sslrootcert`: `verify-full` becomes
/// `require` and the test CA goes into the connector, which checks chain and host name), and
/// its TLS connector.
enum PeerTls {
    None(String),
    Rustls(String, tokio_postgres_rustls::MakeRustlsConnect),
    #[cfg(feature = "openssl-peer")]
    OpenSsl(String, postgres_openssl::MakeTlsConnector),
}

impl PeerTls {
    fn split(conninfo: &str) -> Option<(String, String)> {
        let ca = conninfo.split_whitespace().find_map(|kv| kv.strip_prefix("sslrootcert="))?.to_owned();
        let rest: Vec<&str> = conninfo.split_whitespace().filter(|kv| !kv.starts_with("sslrootcert=")).collect();
        Some((rest.join(" ").replace("sslmode=verify-full", "sslmode=require"), ca))
    }

    fn rustls(conninfo: &str) -> PeerTls {
        let Some((conninfo, ca)) = PeerTls::split(conninfo) else { return PeerTls::None(conninfo.to_owned()) };
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(ca).unwrap();
        use rustls::pki_types::pem::PemObject;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
            roots.add(cert.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(pgsans::crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        PeerTls::Rustls(conninfo, tokio_postgres_rustls::MakeRustlsConnect::new(config))
    }

    #[cfg(feature = "openssl-peer")]
    fn openssl(conninfo: &str) -> PeerTls {
        let Some((conninfo, ca)) = PeerTls::split(conninfo) else { return PeerTls::None(conninfo.to_owned()) };
        let mut builder = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).unwrap();
        builder.set_ca_file(ca).unwrap();
        PeerTls::OpenSsl(conninfo, postgres_openssl::MakeTlsConnector::new(builder.build()))
    }
}

async fn tokio_postgres_connect(peer: &PeerTls) -> tokio_postgres::Client {
    match peer {
        PeerTls::None(conninfo) => {
            let (client, connection) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls).await.unwrap();
            tokio::task::spawn_local(async move {
                let _ = connection.await;
            });
            client
        }
        PeerTls::Rustls(conninfo, tls) => {
            let (client, connection) = tokio_postgres::connect(conninfo, tls.clone()).await.unwrap();
            tokio::task::spawn_local(async move {
                let _ = connection.await;
            });
            client
        }
        #[cfg(feature = "openssl-peer")]
        PeerTls::OpenSsl(conninfo, tls) => {
            let (client, connection) = tokio_postgres::connect(conninfo, tls.clone()).await.unwrap();
            tokio::task::spawn_local(async move {
                let _ = connection.await;
            });
            client
        }
    }
}

fn postgres_connect(peer: &PeerTls) -> postgres::Client {
    match peer {
        PeerTls::None(conninfo) => postgres::Client::connect(conninfo, postgres::NoTls).unwrap(),
        PeerTls::Rustls(conninfo, tls) => postgres::Client::connect(conninfo, tls.clone()).unwrap(),
        #[cfg(feature = "openssl-peer")]
        PeerTls::OpenSsl(conninfo, tls) => postgres::Client::connect(conninfo, tls.clone()).unwrap(),
    }
}

async fn tokio_postgres_run(workload: &str, conninfo: &PeerTls) -> Measured {
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            if workload == "connect" {
                return measure_async(&[], async {
                    for _ in 0..300 {
                        let client = tokio_postgres_connect(conninfo).await;
                        drop(client);
                    }
                    300
                })
                .await;
            }
            if workload == "pool-50" {
                let PeerTls::None(conninfo) = conninfo else { panic!("pool-50 runs without TLS") };
                let manager = deadpool_postgres::Manager::from_config(
                    conninfo.parse().unwrap(),
                    tokio_postgres::NoTls,
                    deadpool_postgres::ManagerConfig { recycling_method: deadpool_postgres::RecyclingMethod::Fast },
                );
                let pool = deadpool_postgres::Pool::builder(manager).max_size(CONCURRENT).build().unwrap();
                let mut held = Vec::new();
                let mut pids = Vec::new();
                for _ in 0..CONCURRENT {
                    let c = pool.get().await.unwrap();
                    pids.push(c.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get::<_, i32>(0));
                    held.push(c);
                }
                drop(held);
                return measure_async(&pids, async {
                    let tasks = (0..TASKS).map(|t| {
                        let pool = &pool;
                        async move {
                            let mut sum = 0i64;
                            for i in 0..PER_TASK {
                                let n = t * PER_TASK + i;
                                let c = pool.get().await.unwrap();
                                // deadpool-postgres' statement cache, as pgsans caches SQL text.
                                let stmt = c.prepare_cached("SELECT $1::int4").await.unwrap();
                                sum += c.query(&stmt, &[&n]).await.unwrap()[0].get::<_, i32>(0) as i64;
                            }
                            sum
                        }
                    });
                    futures_util::future::join_all(tasks).await.into_iter().sum()
                })
                .await;
            }
            if workload == "shared-50" {
                let n = 1;
                let mut clients = Vec::new();
                for _ in 0..n {
                    let c = tokio_postgres_connect(conninfo).await;
                    let stmt = c.prepare("SELECT $1::int4").await.unwrap();
                    let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
                    clients.push((c, stmt, pid));
                }
                let pids: Vec<i32> = clients.iter().map(|c| c.2).collect();
                return measure_async(&pids, async {
                    let tasks = (0..TASKS).map(|t| {
                        let (c, stmt, _) = &clients[t as usize % clients.len()];
                        async move {
                            let mut sum = 0i64;
                            for i in 0..PER_TASK {
                                let n = t * PER_TASK + i;
                                sum += c.query(stmt, &[&n]).await.unwrap()[0].get::<_, i32>(0) as i64;
                            }
                            sum
                        }
                    });
                    futures_util::future::join_all(tasks).await.into_iter().sum()
                })
                .await;
            }
            if workload == "roundtrip-8" {
                let mut clients = Vec::new();
                for _ in 0..CONCURRENT {
                    let c = tokio_postgres_connect(conninfo).await;
                    let stmt = c.prepare("SELECT $1::int4").await.unwrap();
                    let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
                    clients.push((c, stmt, pid));
                }
                let pids: Vec<i32> = clients.iter().map(|c| c.2).collect();
                return measure_async(&pids, async {
                    let tasks = clients.iter().map(|(c, stmt, _)| async move {
                        let mut sum = 0i64;
                        for i in 0..PER_CONNECTION {
                            sum += c.query(stmt, &[&i]).await.unwrap()[0].get::<_, i32>(0) as i64;
                        }
                        sum
                    });
                    futures_util::future::join_all(tasks).await.into_iter().sum()
                })
                .await;
            }
            let client = tokio_postgres_connect(conninfo).await;
            let pid: i32 = client.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
            match workload {
                "roundtrip" => {
                    let stmt = client.prepare("SELECT $1::int4").await.unwrap();
                    measure_async(&[pid], async {
                        let mut sum = 0i64;
                        for i in 0..20_000i32 {
                            let rows = client.query(&stmt, &[&i]).await.unwrap();
                            sum += rows[0].get::<_, i32>(0) as i64;
                        }
                        sum
                    })
                    .await
                }
                "fetch-binary" | "fetch-binary-pgtypes" => {
                    measure_async(&[pid], async {
                        let stream = client.query_raw(FETCH_SQL, std::iter::empty::<i32>()).await.unwrap();
                        futures_util::pin_mut!(stream);
                        let mut sum = 0i64;
                        while let Some(row) = stream.try_next().await.unwrap() {
                            let i: i32 = row.get(0);
                            let md5: &str = row.get(1);
                            let f: f64 = row.get(2);
                            sum += i as i64 + md5.len() as i64 + f as i64;
                        }
                        sum
                    })
                    .await
                }
                "fetch-text" => {
                    measure_async(&[pid], async {
                        let messages = client.simple_query(FETCH_SQL).await.unwrap();
                        let mut sum = 0i64;
                        for m in &messages {
                            if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
                                sum += decode_text_sum(r.get(0).unwrap(), r.get(1).unwrap(), r.get(2).unwrap());
                            }
                        }
                        sum
                    })
                    .await
                }
                "copy-in-1g" => {
                    use futures_util::SinkExt;
                    measure_async(&[pid], async {
                        let sink =
                            client.copy_in::<_, std::io::Cursor<Vec<u8>>>("COPY t_discard FROM STDIN").await.unwrap();
                        futures_util::pin_mut!(sink);
                        let mut sent = 0i64;
                        for chunk in gib_chunks() {
                            sent += chunk.len() as i64;
                            sink.send(std::io::Cursor::new(chunk)).await.unwrap();
                        }
                        sink.finish().await.unwrap();
                        sent
                    })
                    .await
                }
                "copy-in-binary" => {
                    use tokio_postgres::types::Type;
                    let rows = typed_rows();
                    measure_async(&[pid], async {
                        let sink = client.copy_in::<_, bytes::Bytes>(COPY_IN_BINARY_SQL).await.unwrap();
                        let writer =
                            tokio_postgres::binary_copy::BinaryCopyInWriter::new(sink, &[Type::INT4, Type::TEXT]);
                        futures_util::pin_mut!(writer);
                        for (a, b) in &rows {
                            writer.as_mut().write(&[a, b]).await.unwrap();
                        }
                        writer.finish().await.unwrap() as i64
                    })
                    .await
                }
                "fetch-text-stream" => {
                    measure_async(&[pid], async {
                        let stream = client.simple_query_raw(FETCH_SQL).await.unwrap();
                        futures_util::pin_mut!(stream);
                        let mut sum = 0i64;
                        while let Some(m) = stream.next().await {
                            if let tokio_postgres::SimpleQueryMessage::Row(r) = m.unwrap() {
                                sum += decode_text_sum(r.get(0).unwrap(), r.get(1).unwrap(), r.get(2).unwrap());
                            }
                        }
                        sum
                    })
                    .await
                }
                "copy-in" => {
                    use futures_util::SinkExt;
                    let data = copy_in_data();
                    let chunks: Vec<Vec<u8>> = data.chunks(COPY_CHUNK).map(<[u8]>::to_vec).collect();
                    measure_async(&[pid], async {
                        let sink = client.copy_in::<_, std::io::Cursor<Vec<u8>>>(COPY_IN_SQL).await.unwrap();
                        futures_util::pin_mut!(sink);
                        for chunk in chunks {
                            sink.send(std::io::Cursor::new(chunk)).await.unwrap();
                        }
                        sink.finish().await.unwrap() as i64
                    })
                    .await
                }
                "copy-out" | "copy-out-1g" => {
                    let sql = if workload == "copy-out" { COPY_OUT_SQL } else { COPY_OUT_1G_SQL };
                    measure_async(&[pid], async {
                        let stream = client.copy_out(sql).await.unwrap();
                        futures_util::pin_mut!(stream);
                        let mut bytes = 0i64;
                        while let Some(chunk) = stream.next().await {
                            bytes += chunk.unwrap().len() as i64;
                        }
                        bytes
                    })
                    .await
                }
                "pipeline-insert" => {
                    let values: Vec<(i32, String)> = (0..50_000).map(|i| (i, format!("value {i}"))).collect();
                    measure_async(&[pid], async {
                        client.batch_execute("BEGIN").await.unwrap();
                        let stmt = client.prepare("INSERT INTO t(a, b) VALUES ($1, $2)").await.unwrap();
                        // tokio-postgres pipelines the requests of futures polled together.
                        let params: Vec<[&(dyn tokio_postgres::types::ToSql + Sync); 2]> =
                            values.iter().map(|(a, b)| [a as _, b as _]).collect();
                        let n = futures_util::stream::iter(params.iter())
                            .map(|p| client.execute(&stmt, p))
                            .buffered(50_000)
                            .try_fold(0i64, |acc, n| async move { Ok(acc + n as i64) })
                            .await
                            .unwrap();
                        client.batch_execute("COMMIT").await.unwrap();
                        n
                    })
                    .await
                }
                other => panic!("unknown workload {other}"),
            }
        })
        .await
}

fn postgres_run(workload: &str, conninfo: &PeerTls) -> Measured {
    if workload == "connect" {
        return measure(&[], || {
            for _ in 0..300 {
                let client = postgres_connect(conninfo);
                client.close().unwrap();
            }
            300
        });
    }
    if workload == "roundtrip-8" {
        let mut clients: Vec<_> = (0..CONCURRENT)
            .map(|_| {
                let mut c = postgres_connect(conninfo);
                let stmt = c.prepare("SELECT $1::int4").unwrap();
                let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
                (c, stmt, pid)
            })
            .collect();
        let pids: Vec<i32> = clients.iter().map(|c| c.2).collect();
        return measure(&pids, || {
            std::thread::scope(|s| {
                let threads: Vec<_> = clients
                    .iter_mut()
                    .map(|(c, stmt, _)| {
                        s.spawn(move || {
                            (0..PER_CONNECTION)
                                .map(|i| c.query(&*stmt, &[&i]).unwrap()[0].get::<_, i32>(0) as i64)
                                .sum::<i64>()
                        })
                    })
                    .collect();
                threads.into_iter().map(|t| t.join().unwrap()).sum()
            })
        });
    }
    let mut client = postgres_connect(conninfo);
    let pid: i32 = client.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    match workload {
        "roundtrip" => {
            let stmt = client.prepare("SELECT $1::int4").unwrap();
            measure(&[pid], || {
                let mut sum = 0i64;
                for i in 0..20_000i32 {
                    let rows = client.query(&stmt, &[&i]).unwrap();
                    sum += rows[0].get::<_, i32>(0) as i64;
                }
                sum
            })
        }
        "fetch-binary" => measure(&[pid], || {
            let mut it = client.query_raw(FETCH_SQL, std::iter::empty::<i32>()).unwrap();
            let mut sum = 0i64;
            use postgres::fallible_iterator::FallibleIterator;
            while let Some(row) = it.next().unwrap() {
                let i: i32 = row.get(0);
                let md5: &str = row.get(1);
                let f: f64 = row.get(2);
                sum += i as i64 + md5.len() as i64 + f as i64;
            }
            sum
        }),
        "fetch-text" => measure(&[pid], || {
            let messages = client.simple_query(FETCH_SQL).unwrap();
            let mut sum = 0i64;
            for m in &messages {
                if let postgres::SimpleQueryMessage::Row(r) = m {
                    sum += decode_text_sum(r.get(0).unwrap(), r.get(1).unwrap(), r.get(2).unwrap());
                }
            }
            sum
        }),
        "copy-in-binary" => {
            use postgres::types::Type;
            let rows = typed_rows();
            measure(&[pid], || {
                let sink = client.copy_in(COPY_IN_BINARY_SQL).unwrap();
                let mut writer = postgres::binary_copy::BinaryCopyInWriter::new(sink, &[Type::INT4, Type::TEXT]);
                for (a, b) in &rows {
                    writer.write(&[a, b]).unwrap();
                }
                writer.finish().unwrap() as i64
            })
        }
        "copy-in" => {
            let data = copy_in_data();
            measure(&[pid], || {
                use std::io::Write;
                let mut w = client.copy_in(COPY_IN_SQL).unwrap();
                for chunk in data.chunks(COPY_CHUNK) {
                    w.write_all(chunk).unwrap();
                }
                w.finish().unwrap() as i64
            })
        }
        "copy-out" => measure(&[pid], || {
            let mut r = client.copy_out(COPY_OUT_SQL).unwrap();
            std::io::copy(&mut r, &mut std::io::sink()).unwrap() as i64
        }),
        "pipeline-insert" => {
            // The blocking client cannot pipeline: sequential inserts, for reference.
            let values: Vec<(i32, String)> = (0..50_000).map(|i| (i, format!("value {i}"))).collect();
            measure(&[pid], || {
                let mut tx = client.transaction().unwrap();
                let stmt = tx.prepare("INSERT INTO t(a, b) VALUES ($1, $2)").unwrap();
                let mut n = 0i64;
                for (a, b) in &values {
                    n += tx.execute(&stmt, &[a, b]).unwrap() as i64;
                }
                tx.commit().unwrap();
                n
            })
        }
        other => panic!("unknown workload {other}"),
    }
}
