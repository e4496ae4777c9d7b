//! Consumers that pause: a reader that stops between rows, chunks or notifications (writing to
//! a file, sleeping, doing other work) while the server keeps sending. Every read path — COPY
//! OUT, streamed rows (extended and simple), pipelines, notifications, and the same over TLS —
//! must resume when the consumer does: a lost wake-up shows as a hang (the server blocked in
//! `ClientWrite`, the client waiting on a socket that has data), which `must_finish` turns
//! into a failure.

use std::time::Duration;

use pgsans_tests::*;

const HANG: Duration = Duration::from_secs(60);

/// Deterministic pause points: a small LCG, so a failure replays the same way.
struct Pauses(u64);

impl Pauses {
    fn new(seed: u64) -> Self {
        Pauses(seed)
    }
    /// Whether to pause after this item: about one in `every`, at irregular points.
    fn now(&mut self, every: u64) -> bool {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33).is_multiple_of(every)
    }
}

async fn pause<R: TestRt>(p: &mut Pauses, every: u64) {
    if p.now(every) {
        R::sleep(Duration::from_millis(1)).await;
    }
}

async fn trust<R: TestRt>(extra: &str) -> Conn<R> {
    Conn::<R>::connect(&format!("{} {extra}", TestServer::shared().conninfo(AuthMethod::Trust))).await.unwrap()
}

const COPY_100K: &str = "COPY (SELECT g, repeat('x', 40) FROM generate_series(1, 100000) g) TO STDOUT";

async fn copy_out_pausing<R: TestRt>(c: &mut Conn<R>, seed: u64) -> u64 {
    let mut p = Pauses::new(seed);
    let mut out = c.copy_out(COPY_100K).await.unwrap();
    let mut chunks = 0u64;
    while let Some(chunk) = out.next().await.unwrap() {
        assert!(chunk.ends_with(b"\n"));
        chunks += 1;
        // The reproduction: a pause every 1,000 chunks, plus irregular ones.
        if chunks.is_multiple_of(1000) {
            R::sleep(Duration::from_millis(1)).await;
        }
        pause::<R>(&mut p, 3000).await;
    }
    assert_eq!(out.rows(), Some(100_000));
    chunks
}

pub async fn copy_out_with_a_pausing_reader<R: TestRt>() {
    let mut c = trust::<R>("").await;
    for seed in 0..3 {
        let chunks = must_finish::<R, _>("COPY OUT read with pauses", HANG, copy_out_pausing(&mut c, seed)).await;
        assert_eq!(chunks, 100_000);
    }
    assert_eq!(scalar(&mut c, "SELECT 'still usable'").await.unwrap().as_deref(), Some("still usable"));
}

pub async fn row_streams_with_a_pausing_reader<R: TestRt>() {
    let mut c = trust::<R>("").await;
    c.set_autocommit(true).await.unwrap();
    let work = async {
        let mut p = Pauses::new(7);
        // Extended protocol, binary rows.
        let mut stream =
            c.query_raw("SELECT g::int8, repeat('y', 60) FROM generate_series(1, 100000) g", &[]).await.unwrap();
        let mut sum = 0i64;
        while let Some(row) = stream.next().await.unwrap() {
            sum += row.get::<i64, _>(0).unwrap();
            pause::<R>(&mut p, 700).await;
        }
        assert_eq!(sum, 100_000 * 100_001 / 2);
        drop(stream);
        // Simple protocol, text rows, two statements.
        let mut stream = c
            .simple_query_raw("SELECT g FROM generate_series(1, 60000) g; SELECT 'z' FROM generate_series(1, 40000)")
            .await
            .unwrap();
        let mut n = 0u64;
        while stream.next().await.unwrap().is_some() {
            n += 1;
            pause::<R>(&mut p, 500).await;
        }
        assert_eq!(n, 100_000);
        drop(stream);
        // Collected results with pauses between big queries (the reads run inside the call).
        for _ in 0..5 {
            let rows = c.query("SELECT g, md5(g::text) FROM generate_series(1, 30000) g", &[]).await.unwrap();
            assert_eq!(rows.len(), 30_000);
            R::sleep(Duration::from_millis(2)).await;
        }
    };
    must_finish::<R, _>("row streams read with pauses", HANG, work).await;
}

pub async fn pipelines_with_pauses_between_them<R: TestRt>() {
    let mut c = trust::<R>("").await;
    c.set_autocommit(true).await.unwrap();
    let work = async {
        for round in 0..6i64 {
            let mut p = pgsans::Pipeline::new();
            for _ in 0..20 {
                p.query("SELECT g::int8 FROM generate_series(1, 5000) g", &[]);
            }
            let results = c.pipeline(p).await.unwrap();
            assert_eq!(results.len(), 20);
            for r in results {
                assert_eq!(r.unwrap().rows.len(), 5000, "round {round}");
            }
            R::sleep(Duration::from_millis(3)).await;
        }
    };
    must_finish::<R, _>("pipelines with pauses", HANG, work).await;
}

pub async fn notifications_taken_with_pauses<R: TestRt>() {
    let mut listener = trust::<R>("").await;
    listener.set_autocommit(true).await.unwrap();
    let channel = format!("pause_{}", R::NAME.replace('-', "_"));
    listener.batch_execute(&format!("LISTEN {channel}")).await.unwrap();
    let sender_conninfo = TestServer::shared().conninfo(AuthMethod::Trust);
    let channel_for_sender = channel.clone();
    // Another connection sends 3,000 notifications in 30 transactions from a thread.
    let sender = std::thread::spawn(move || {
        let mut s = pgsans_std::Connection::connect(&sender_conninfo).unwrap();
        s.set_autocommit(true).unwrap();
        for batch in 0..30 {
            let sql = format!(
                "DO $$ BEGIN FOR i IN 1..100 LOOP PERFORM pg_notify('{channel_for_sender}', ({batch} * 100 + i)::text); END LOOP; END $$"
            );
            s.batch_execute(&sql).unwrap();
        }
    });
    let work = async {
        let mut p = Pauses::new(3);
        let mut seen = Vec::new();
        while seen.len() < 3000 {
            let got = listener.wait_for_notifications(Some(Duration::from_secs(30))).await.unwrap();
            assert!(!got.is_empty(), "notifications stopped after {}", seen.len());
            for n in got {
                seen.push(n.payload.parse::<u32>().unwrap());
                pause::<R>(&mut p, 200).await;
            }
        }
        seen
    };
    let seen = must_finish::<R, _>("notifications taken with pauses", HANG, work).await;
    sender.join().unwrap();
    assert_eq!(seen, (1..=3000).collect::<Vec<_>>(), "every notification, in order");
}

pub async fn tls_reads_with_pauses<R: TestRt>() {
    let server = TestServer::shared();
    let conninfo = format!(
        "host=localhost port={} user=postgres dbname=postgres sslmode=verify-full sslrootcert={}",
        server.port,
        server.tls.ca.display()
    );
    let mut c = Conn::<R>::connect(&conninfo).await.unwrap();
    assert!(c.engine().ssl_in_use());
    for seed in 10..12 {
        let chunks = must_finish::<R, _>("COPY OUT over TLS with pauses", HANG, copy_out_pausing(&mut c, seed)).await;
        assert_eq!(chunks, 100_000);
    }
    let work = async {
        let mut p = Pauses::new(5);
        let mut stream = c.query_raw("SELECT g::int8 FROM generate_series(1, 100000) g", &[]).await.unwrap();
        let mut n = 0;
        while stream.next().await.unwrap().is_some() {
            n += 1;
            pause::<R>(&mut p, 600).await;
        }
        n
    };
    assert_eq!(must_finish::<R, _>("rows over TLS with pauses", HANG, work).await, 100_000);
}
