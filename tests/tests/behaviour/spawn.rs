//! The async connections' futures are `Send`: they can be spawned onto multi-threaded runtimes.

use pgsans_tests::{AuthMethod, TestServer};

#[test]
fn tokio_connections_run_in_spawned_tasks_on_a_multi_threaded_runtime() {
    let conninfo = TestServer::shared().conninfo(AuthMethod::Scram);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let total: i64 = rt.block_on(async move {
        let mut tasks = Vec::new();
        for i in 0..8i64 {
            let conninfo = conninfo.clone();
            tasks.push(tokio::spawn(async move {
                let mut conn = pgsans_tokio::Connection::connect(&conninfo).await.unwrap();
                conn.set_autocommit(true).await.unwrap();
                let row = conn.query_one("SELECT $1::int8 * 2", &[&i]).await.unwrap();
                let mut p = pgsans::Pipeline::new();
                p.query("SELECT $1::int8 + 1", &[&i]);
                let piped = conn.pipeline(p).await.unwrap();
                let mut stream = conn.query_raw("SELECT generate_series(1, 10)::int8", &[]).await.unwrap();
                let mut streamed = 0i64;
                while let Some(r) = stream.next().await.unwrap() {
                    streamed += r.get::<i64, _>(0).unwrap();
                }
                drop(stream);
                conn.close().await.unwrap();
                row.get::<i64, _>(0).unwrap() + piped[0].as_ref().unwrap().rows[0].get::<i64, _>(0).unwrap() + streamed
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    });
    // sum over i of (2i + (i + 1) + 55)
    assert_eq!(total, (0..8).map(|i| 2 * i + i + 1 + 55).sum::<i64>());
}

#[test]
fn smol_connections_run_on_the_smol_executor_threads() {
    let conninfo = TestServer::shared().conninfo(AuthMethod::Scram);
    let ex = smol::Executor::new();
    let total: i64 = smol::block_on(ex.run(async {
        let tasks: Vec<_> = (0..4i64)
            .map(|i| {
                let conninfo = conninfo.clone();
                ex.spawn(async move {
                    let mut conn = pgsans_smol::Connection::connect(&conninfo).await.unwrap();
                    let row = conn.query_one("SELECT $1::int8 * 3", &[&i]).await.unwrap();
                    row.get::<i64, _>(0).unwrap()
                })
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await;
        }
        total
    }));
    assert_eq!(total, 18);
}

const ROWS_CSV_HEADER: &str = "a,b\n";

fn csv_rows() -> String {
    let mut s = String::from(ROWS_CSV_HEADER);
    for i in 0..30_000 {
        s.push_str(&format!("{i},\"text, {i}\"\n"));
    }
    s
}

#[test]
fn tokio_copy_with_async_read_and_write() {
    let conninfo = TestServer::shared().conninfo(AuthMethod::Trust);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        // In a spawned task: the adapters are Send.
        tokio::spawn(async move {
            let mut c = pgsans_tokio::Connection::connect(&conninfo).await.unwrap();
            c.set_autocommit(true).await.unwrap();
            c.batch_execute("CREATE TEMP TABLE io_copy (a int, b text)").await.unwrap();
            let data = csv_rows();
            // What copy_in returns is Tokio's AsyncWrite, and Send.
            let mut w = c.copy_in("COPY io_copy FROM STDIN (FORMAT csv, HEADER)").await.unwrap();
            tokio::io::copy(&mut data.as_bytes(), &mut w).await.unwrap();
            assert_eq!(w.finish().await.unwrap(), 30_000);
            let mut r =
                c.copy_out("COPY (SELECT * FROM io_copy ORDER BY a) TO STDOUT (FORMAT csv, HEADER)").await.unwrap();
            let mut back = Vec::new();
            tokio::io::copy(&mut r, &mut back).await.unwrap();
            assert_eq!(r.rows(), Some(30_000));
            assert_eq!(String::from_utf8(back).unwrap(), data);
        })
        .await
        .unwrap();
    });
}

/// The defect report's reproduction: on `#[tokio::main]`'s multi-thread runtime, a 100k-row
/// COPY OUT copied into a `tokio::fs::File` (each write a trip to the blocking pool, so the
/// reader pauses between chunks) hung every time, the server stuck in `ClientWrite`.
#[test]
fn tokio_copy_out_into_a_file_on_the_multi_thread_runtime() {
    let conninfo = TestServer::shared().conninfo(AuthMethod::Trust);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = std::env::temp_dir().join(format!("pgsans-copy-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.txt");
    let written = rt.block_on(async {
        let mut c = pgsans_tokio::Connection::connect(&conninfo).await.unwrap();
        let mut total = 0;
        for _ in 0..3 {
            let mut file = tokio::fs::File::create(&path).await.unwrap();
            let mut r = c
                .copy_out("COPY (SELECT g, repeat('x', 40) FROM generate_series(1, 100000) g) TO STDOUT")
                .await
                .unwrap();
            let copied = tokio::time::timeout(std::time::Duration::from_secs(60), tokio::io::copy(&mut r, &mut file))
                .await
                .expect("tokio::io::copy into a file hung")
                .unwrap();
            tokio::io::AsyncWriteExt::flush(&mut file).await.unwrap();
            assert_eq!(r.rows(), Some(100_000));
            total = copied;
        }
        total
    });
    let on_disk = std::fs::read(&path).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(on_disk.len() as u64, written);
    assert_eq!(on_disk.iter().filter(|&&b| b == b'\n').count(), 100_000);
}

#[test]
fn smol_copy_with_futures_io() {
    let conninfo = TestServer::shared().conninfo(AuthMethod::Trust);
    smol::block_on(async {
        let mut c = pgsans_smol::Connection::connect(&conninfo).await.unwrap();
        c.set_autocommit(true).await.unwrap();
        c.batch_execute("CREATE TEMP TABLE io_copy (a int, b text)").await.unwrap();
        let data = csv_rows();
        let mut w = c.copy_in("COPY io_copy FROM STDIN (FORMAT csv, HEADER)").await.unwrap();
        smol::io::copy(data.as_bytes(), &mut w).await.unwrap();
        assert_eq!(w.finish().await.unwrap(), 30_000);
        let mut r = c.copy_out("COPY (SELECT * FROM io_copy ORDER BY a) TO STDOUT (FORMAT csv, HEADER)").await.unwrap();
        let mut back = String::new();
        smol::io::AsyncReadExt::read_to_string(&mut r, &mut back).await.unwrap();
        assert_eq!(back, data);
        // Lines through AsyncBufRead.
        drop(r);
        let r = c.copy_out("COPY (SELECT a FROM io_copy WHERE a < 3 ORDER BY a) TO STDOUT").await.unwrap();
        let lines: Vec<String> =
            smol::stream::StreamExt::try_collect(smol::io::AsyncBufReadExt::lines(r)).await.unwrap();
        assert_eq!(lines, ["0", "1", "2"]);
    });
}
