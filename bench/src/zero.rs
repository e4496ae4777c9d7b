//! zero-postgres 0.9, sync and Tokio (another sans-IO client), on the workloads it expresses:
//! it has no COPY and its TLS is native-tls only, so the COPY and TLS workloads leave it out.
//!
//! Its connections upgrade themselves from loopback TCP to the server's Unix socket by default
//! (`upgrade_to_unix_socket`); the bench turns that off so that every client uses the same
//! transport. It asks for protocol 3.2, which PostgreSQL 18 speaks.

use zero_postgres::conversion::FromRow;
use zero_postgres::handler::{ExtendedHandler, SimpleHandler};
use zero_postgres::protocol::backend::query::{DataRow, RowDescription};

use crate::{measure, measure_async, Measured, CONCURRENT, FETCH_SQL, PER_CONNECTION};

/// The `key=value` conninfo of the harness as zero-postgres' options (it reads URLs only).
pub fn opts(conninfo: &str) -> zero_postgres::Opts {
    let field =
        |k: &str| conninfo.split_whitespace().find_map(|kv| kv.strip_prefix(k)?.strip_prefix('=')).map(str::to_owned);
    zero_postgres::Opts {
        host: field("host").unwrap_or_else(|| "127.0.0.1".into()),
        port: field("port").and_then(|p| p.parse().ok()).unwrap_or(5432),
        user: field("user").unwrap_or_default(),
        password: field("password"),
        database: field("dbname"),
        ssl_mode: zero_postgres::SslMode::Disable,
        upgrade_to_unix_socket: false,
        ..Default::default()
    }
}

/// Sums the decoded columns of each row, borrowing the text (zero-postgres' fastest typed path:
/// `FromRow` on a tuple with `&str`).
#[derive(Default)]
struct SumRows {
    sum: i64,
    text: bool,
}

impl SumRows {
    fn add(&mut self, cols: RowDescription<'_>, row: DataRow<'_>) -> zero_postgres::Result<()> {
        // Its decoding checks the column types: the text of an int4 decodes as an i32 only.
        let (i, md5, f): (i32, &str, f64) = if self.text {
            FromRow::from_row_text(cols.fields(), row)?
        } else {
            FromRow::from_row_binary(cols.fields(), row)?
        };
        self.sum += i as i64 + md5.len() as i64 + f as i64;
        Ok(())
    }
}

impl ExtendedHandler for SumRows {
    fn row(&mut self, cols: RowDescription<'_>, row: DataRow<'_>) -> zero_postgres::Result<()> {
        self.add(cols, row)
    }
}

impl SimpleHandler for SumRows {
    fn row(&mut self, cols: RowDescription<'_>, row: DataRow<'_>) -> zero_postgres::Result<()> {
        self.add(cols, row)
    }
}

fn insert_values() -> Vec<(i32, String)> {
    (0..50_000).map(|i| (i, format!("value {i}"))).collect()
}

fn backend_pid_sync(conn: &mut zero_postgres::sync::Conn) -> i32 {
    conn.query_first::<(i32,)>("SELECT pg_backend_pid()").unwrap().unwrap().0
}

pub fn sync_run(workload: &str, conninfo: &str) -> Measured {
    use zero_postgres::sync::Conn;
    let opts = opts(conninfo);
    if workload == "connect" {
        return measure(&[], || {
            for _ in 0..300 {
                Conn::new(opts.clone()).unwrap().close().unwrap();
            }
            300
        });
    }
    if workload == "roundtrip-8" {
        let mut conns: Vec<_> = (0..CONCURRENT)
            .map(|_| {
                let mut c = Conn::new(opts.clone()).unwrap();
                let stmt = c.prepare("SELECT $1::int4").unwrap();
                let pid = backend_pid_sync(&mut c);
                (c, stmt, pid)
            })
            .collect();
        let pids: Vec<i32> = conns.iter().map(|c| c.2).collect();
        return measure(&pids, || {
            std::thread::scope(|s| {
                let threads: Vec<_> = conns
                    .iter_mut()
                    .map(|(c, stmt, _)| {
                        s.spawn(move || {
                            (0..PER_CONNECTION)
                                .map(|i| c.exec_first::<(i32,), _, _>(&*stmt, (i,)).unwrap().unwrap().0 as i64)
                                .sum::<i64>()
                        })
                    })
                    .collect();
                threads.into_iter().map(|t| t.join().unwrap()).sum()
            })
        });
    }
    let mut conn = Conn::new(opts).unwrap();
    let pid = backend_pid_sync(&mut conn);
    match workload {
        "roundtrip" => {
            let stmt = conn.prepare("SELECT $1::int4").unwrap();
            measure(&[pid], || {
                let mut sum = 0i64;
                for i in 0..20_000i32 {
                    sum += conn.exec_first::<(i32,), _, _>(&stmt, (i,)).unwrap().unwrap().0 as i64;
                }
                sum
            })
        }
        "fetch-binary" => measure(&[pid], || {
            let mut rows = SumRows::default();
            conn.exec(FETCH_SQL, (), &mut rows).unwrap();
            rows.sum
        }),
        // Collected first, as the other clients' simple_query; its typed collect owns the text.
        "fetch-text" => measure(&[pid], || {
            let rows: Vec<(i32, String, f64)> = conn.query_collect(FETCH_SQL).unwrap();
            rows.iter().map(|(i, md5, f)| *i as i64 + md5.len() as i64 + *f as i64).sum()
        }),
        "fetch-text-stream" => measure(&[pid], || {
            let mut rows = SumRows { sum: 0, text: true };
            conn.query(FETCH_SQL, &mut rows).unwrap();
            rows.sum
        }),
        // Its batch API: the prepared INSERT bound and executed per row, pipelined in chunks of
        // 1,000 with a Sync each (its default), inside one transaction.
        "pipeline-insert" => {
            let values = insert_values();
            measure(&[pid], || {
                let params: Vec<(i32, &str)> = values.iter().map(|(a, b)| (*a, b.as_str())).collect();
                conn.query_drop("BEGIN").unwrap();
                let stmt = conn.prepare("INSERT INTO t(a, b) VALUES ($1, $2)").unwrap();
                conn.exec_batch(&stmt, &params).unwrap();
                conn.query_drop("COMMIT").unwrap();
                params.len() as i64
            })
        }
        other => panic!("zero-postgres has no {other} workload"),
    }
}

pub async fn tokio_run(workload: &str, conninfo: &str) -> Measured {
    use zero_postgres::tokio::Conn;
    let opts = opts(conninfo);
    if workload == "connect" {
        return measure_async(&[], async {
            for _ in 0..300 {
                Conn::new(opts.clone()).await.unwrap().close().await.unwrap();
            }
            300
        })
        .await;
    }
    async fn pid_of(c: &mut Conn) -> i32 {
        c.query_first::<(i32,)>("SELECT pg_backend_pid()").await.unwrap().unwrap().0
    }
    if workload == "roundtrip-8" {
        let mut conns = Vec::new();
        for _ in 0..CONCURRENT {
            let mut c = Conn::new(opts.clone()).await.unwrap();
            let stmt = c.prepare("SELECT $1::int4").await.unwrap();
            let pid = pid_of(&mut c).await;
            conns.push((c, stmt, pid));
        }
        let pids: Vec<i32> = conns.iter().map(|c| c.2).collect();
        return measure_async(&pids, async {
            let tasks = conns.iter_mut().map(|(c, stmt, _)| async move {
                let mut sum = 0i64;
                for i in 0..PER_CONNECTION {
                    sum += c.exec_first::<(i32,), _, _>(&*stmt, (i,)).await.unwrap().unwrap().0 as i64;
                }
                sum
            });
            futures_util::future::join_all(tasks).await.into_iter().sum()
        })
        .await;
    }
    let mut conn = Conn::new(opts).await.unwrap();
    let pid = pid_of(&mut conn).await;
    match workload {
        "roundtrip" => {
            let stmt = conn.prepare("SELECT $1::int4").await.unwrap();
            measure_async(&[pid], async {
                let mut sum = 0i64;
                for i in 0..20_000i32 {
                    sum += conn.exec_first::<(i32,), _, _>(&stmt, (i,)).await.unwrap().unwrap().0 as i64;
                }
                sum
            })
            .await
        }
        "fetch-binary" => {
            measure_async(&[pid], async {
                let mut rows = SumRows::default();
                conn.exec(FETCH_SQL, (), &mut rows).await.unwrap();
                rows.sum
            })
            .await
        }
        "fetch-text" => {
            measure_async(&[pid], async {
                let rows: Vec<(i32, String, f64)> = conn.query_collect(FETCH_SQL).await.unwrap();
                rows.iter().map(|(i, md5, f)| *i as i64 + md5.len() as i64 + *f as i64).sum()
            })
            .await
        }
        "fetch-text-stream" => {
            measure_async(&[pid], async {
                let mut rows = SumRows { sum: 0, text: true };
                conn.query(FETCH_SQL, &mut rows).await.unwrap();
                rows.sum
            })
            .await
        }
        "pipeline-insert" => {
            let values = insert_values();
            measure_async(&[pid], async {
                let params: Vec<(i32, &str)> = values.iter().map(|(a, b)| (*a, b.as_str())).collect();
                conn.query_drop("BEGIN").await.unwrap();
                let stmt = conn.prepare("INSERT INTO t(a, b) VALUES ($1, $2)").await.unwrap();
                conn.exec_batch(&stmt, &params).await.unwrap();
                conn.query_drop("COMMIT").await.unwrap();
                params.len() as i64
            })
            .await
        }
        other => panic!("zero-postgres has no {other} workload"),
    }
}
