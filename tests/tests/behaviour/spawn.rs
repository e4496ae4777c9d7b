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
