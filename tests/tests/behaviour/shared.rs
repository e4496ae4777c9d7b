//! The shared client: many callers on one connection, each getting exactly its own results,
//! errors and dropped futures confined to their caller, transactions that have the connection
//! to themselves and end (committed or rolled back) however their scope is left.

use pgsans::SqlState;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use pgsans::{Error, TransactionStatus};
use pgsans_client::Client;
use pgsans_tests::*;

async fn client<R: TestRt>() -> Client<R> {
    Client::<R>::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap()
}

type Caller<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Runs every future to its end, all at once on this task.
async fn join_all<T>(futures: Vec<Caller<'_, T>>) -> Vec<T> {
    let mut futures: Vec<_> = futures.into_iter().map(Some).collect();
    let mut out: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (f, o) in futures.iter_mut().zip(out.iter_mut()) {
            if let Some(fut) = f {
                if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                    *o = Some(v);
                    *f = None;
                }
            }
        }
        if futures.iter().all(Option::is_none) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    out.into_iter().map(|o| o.expect("finished")).collect()
}

async fn observer<R: TestRt>() -> Conn<R> {
    let mut o = Conn::<R>::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap();
    o.set_autocommit(true).await.unwrap();
    o
}

async fn table<R: TestRt>(o: &mut Conn<R>, name: &str) -> String {
    let t = format!("shared_{name}_{}", R::NAME.replace('-', "_"));
    o.batch_execute(&format!("DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (v int)")).await.unwrap();
    t
}

async fn committed<R: TestRt>(o: &mut Conn<R>, t: &str) -> String {
    scalar(o, &format!("SELECT coalesce(string_agg(v::text, ',' ORDER BY v), '') FROM {t}"))
        .await
        .unwrap()
        .unwrap_or_default()
}

/// The server's view of the client's backend, once it has settled (what a dropped scope
/// queued has been written at once, but the server takes a moment to run it).
async fn settled_state<R: TestRt>(o: &mut Conn<R>, pid: i32) -> String {
    let mut state = String::new();
    for _ in 0..200 {
        let row = o.query_one("SELECT state FROM pg_stat_activity WHERE pid = $1", &[&pid]).await.unwrap();
        state = row.get::<String, _>(0).unwrap();
        if state == "idle" {
            break;
        }
        R::sleep(Duration::from_millis(5)).await;
    }
    state
}

pub async fn concurrent_callers_each_get_their_own_results<R: TestRt>() {
    let c = client::<R>().await;
    let statement = c.prepare("SELECT $1::int4 * 2, $2::text").await.unwrap();
    let callers: Vec<Caller<'_, Result<(), String>>> = (0..40)
        .map(|caller: i32| {
            let (c, statement) = (&c, &statement);
            Box::pin(async move {
                for i in 0..15 {
                    let n = caller * 1000 + i;
                    let label = format!("caller {caller} call {i}");
                    // Alternate text SQL (cached statements, shared by every caller), a prepared
                    // statement, a simple query, an execute, and a failing statement.
                    match i % 5 {
                        0 => {
                            let row = c
                                .query_one("SELECT $1::int4 * 2, $2::text", &[&n, &label])
                                .await
                                .map_err(|e| e.to_string())?;
                            if (row.get::<i32, _>(0).unwrap(), row.get::<String, _>(1).unwrap())
                                != (n * 2, label.clone())
                            {
                                return Err(format!("{label}: got another caller's row"));
                            }
                        }
                        1 => {
                            let row = c.query_one(statement, &[&n, &label]).await.map_err(|e| e.to_string())?;
                            if row.get::<i32, _>(0).unwrap() != n * 2 || row.get::<&str, _>(1).unwrap() != label {
                                return Err(format!("{label}: got another caller's row"));
                            }
                        }
                        2 => {
                            let r = c.simple_query(&format!("SELECT {n}")).await.map_err(|e| e.to_string())?;
                            if r[0].rows()[0].text(0).unwrap().as_deref() != Some(n.to_string().as_str()) {
                                return Err(format!("{label}: wrong simple query result"));
                            }
                        }
                        3 => {
                            let affected = c
                                .execute("SELECT generate_series(1, $1)", &[&(i + caller)])
                                .await
                                .map_err(|e| e.to_string())?;
                            if affected != u64::try_from(i + caller).unwrap() {
                                return Err(format!("{label}: {affected} rows"));
                            }
                        }
                        _ => match c.query("SELECT 1 / ($1::int4 - $1::int4)", &[&n]).await {
                            Err(Error::Db(e)) if e.code() == SqlState::DIVISION_BY_ZERO => {}
                            other => return Err(format!("{label}: its own error expected, got {other:?}")),
                        },
                    }
                }
                Ok(())
            }) as Caller<'_, _>
        })
        .collect();
    for r in join_all(callers).await {
        r.unwrap();
    }
    assert_eq!(c.transaction_status(), TransactionStatus::Idle);
}

pub async fn a_transaction_has_the_connection_to_itself<R: TestRt>() {
    let mut o = observer::<R>().await;
    let t = table(&mut o, "exclusive").await;
    let c = client::<R>().await;
    let tx = c.transaction().await.unwrap();
    tx.execute(format!("INSERT INTO {t} VALUES (1)").as_str(), &[]).await.unwrap();
    // Another caller's statement waits for the transaction: it must not run inside it.
    let count = format!("SELECT count(*)::int4 FROM {t}");
    let mut other = std::pin::pin!(c.query_one(count.as_str(), &[]));
    for _ in 0..5 {
        assert!(
            futures_lite::future::poll_once(other.as_mut()).await.is_none(),
            "ran inside another caller's transaction"
        );
        R::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(committed(&mut o, &t).await, "", "nothing committed yet");
    tx.execute(format!("INSERT INTO {t} VALUES (2)").as_str(), &[]).await.unwrap();
    tx.commit().await.unwrap();
    // It ran after the commit: it sees both rows.
    assert_eq!(other.await.unwrap().get::<i32, _>(0).unwrap(), 2);
    assert_eq!(committed(&mut o, &t).await, "1,2");
    // Nested scopes are savepoints.
    let mut tx = c.transaction().await.unwrap();
    tx.execute(format!("INSERT INTO {t} VALUES (3)").as_str(), &[]).await.unwrap();
    let inner = tx.transaction().await.unwrap();
    inner.execute(format!("INSERT INTO {t} VALUES (4)").as_str(), &[]).await.unwrap();
    inner.rollback().await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(committed(&mut o, &t).await, "1,2,3");
}

/// A scope left by `?`.
async fn failing_scope<R: TestRt>(c: &Client<R>, t: &str) -> Result<(), Error> {
    let tx = c.transaction().await?;
    tx.execute(format!("INSERT INTO {t} VALUES (1)").as_str(), &[]).await?;
    tx.execute("SELECT 1/0", &[]).await?;
    tx.commit().await
}

pub async fn scopes_and_calls_dropped_anywhere_leave_a_clean_connection<R: TestRt>() {
    let mut o = observer::<R>().await;
    let t = table(&mut o, "dropped").await;
    let c = client::<R>().await;
    let pid = c.backend_pid();
    assert!(failing_scope(&c, &t).await.is_err());
    assert_eq!(c.transaction_status(), TransactionStatus::Idle);
    assert_eq!(settled_state(&mut o, pid).await, "idle", "a scope left by ? rolled back");
    assert_eq!(committed(&mut o, &t).await, "");
    for polls in 0..10 {
        let what = format!("dropped after {polls} polls");
        // A whole scope, dropped at some await point.
        let reached_commit = std::cell::Cell::new(false);
        let scope = async {
            let tx = c.transaction().await?;
            tx.execute(format!("INSERT INTO {t} VALUES (1)").as_str(), &[]).await?;
            tx.query("SELECT pg_sleep(0.002)", &[]).await?;
            reached_commit.set(true);
            tx.commit().await
        };
        let finished = poll_then_drop::<R, _>(scope, polls).await;
        // A call of another caller, dropped too.
        let _ = poll_then_drop::<R, _>(c.query("SELECT pg_sleep(0.002)", &[]), polls).await;
        // The connection is clean: the next statement commits by itself and nothing is left
        // idle in a transaction on the server.
        c.execute(format!("INSERT INTO {t} VALUES (100 + {polls})").as_str(), &[])
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(c.transaction_status(), TransactionStatus::Idle, "{what}");
        assert_eq!(settled_state(&mut o, pid).await, "idle", "{what}");
        let seen = committed(&mut o, &t).await;
        let (with, without) = (format!("1,{}", 100 + polls), format!("{}", 100 + polls));
        match finished {
            Some(Ok(())) => assert_eq!(seen, with, "{what}"),
            // A COMMIT once sent commits, whether or not its future was there to see it.
            None if reached_commit.get() => assert!(seen == with || seen == without, "{what}: {seen}"),
            _ => assert_eq!(seen, without, "{what}: rolled back"),
        }
        o.batch_execute(&format!("DELETE FROM {t}")).await.unwrap();
    }
}

/// 50 tasks on worker threads share one client (it is `Send + Sync`); a third of them are
/// aborted at random points meanwhile. Every finished task got exactly its own rows, and the
/// client works afterwards.
#[test]
fn tasks_on_worker_threads_share_one_client_and_survive_aborted_neighbours() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    rt.block_on(async {
        let c = pgsans_tokio::Client::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap();
        let tasks: Vec<_> = (0..50i32)
            .map(|task| {
                let c = c.clone();
                tokio::spawn(async move {
                    for i in 0..100i32 {
                        let n = task * 1000 + i;
                        let row = c.query_one("SELECT $1::int4, pg_backend_pid()", &[&n]).await?;
                        assert_eq!(row.get::<i32, _>(0)?, n, "task {task} got another task's row");
                        if i % 10 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                    Ok::<_, Error>(())
                })
            })
            .collect();
        for (i, t) in tasks.iter().enumerate() {
            if i % 3 == 0 {
                tokio::time::sleep(Duration::from_micros(300)).await;
                t.abort();
            }
        }
        let mut finished = 0;
        for t in tasks {
            match t.await {
                Ok(r) => {
                    r.unwrap();
                    finished += 1;
                }
                Err(e) => assert!(e.is_cancelled()),
            }
        }
        assert!(finished >= 33, "only {finished} tasks finished");
        assert_eq!(c.query_one("SELECT 'after'::text", &[]).await.unwrap().get::<String, _>(0).unwrap(), "after");
        assert_eq!(c.transaction_status(), TransactionStatus::Idle);
    });
}

/// The same on smol's executor threads.
#[test]
fn smol_tasks_share_one_client() {
    smol::block_on(async {
        let c = pgsans_smol::Client::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap();
        let tasks: Vec<_> = (0..20i32)
            .map(|task| {
                let c = c.clone();
                smol::spawn(async move {
                    for i in 0..50i32 {
                        let n = task * 1000 + i;
                        let row = c.query_one("SELECT $1::int4", &[&n]).await.unwrap();
                        assert_eq!(row.get::<i32, _>(0).unwrap(), n);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
    });
}

/// COPY in both directions and a row stream through a lease, while other callers keep
/// querying: they wait for the lease, then go on with exactly their own results; a lease
/// dropped mid-COPY or inside a transaction leaves the client clean.
pub async fn a_lease_has_every_method_and_gives_the_connection_back_clean<R: TestRt>() {
    let mut o = observer::<R>().await;
    let t = table(&mut o, "lease").await;
    let c = client::<R>().await;
    let work = async {
        let mut lease = c.lease().await.unwrap();
        let mut copy = lease.copy_in(&format!("COPY {t} FROM STDIN")).await.unwrap();
        for i in 0..1000 {
            copy.write(format!("{i}\n").as_bytes()).await.unwrap();
        }
        assert_eq!(copy.finish().await.unwrap(), 1000);
        let mut out = lease.copy_out(&format!("COPY (SELECT v FROM {t} ORDER BY v) TO STDOUT")).await.unwrap();
        let mut bytes = 0;
        while let Some(chunk) = out.next().await.unwrap() {
            bytes += chunk.len();
        }
        assert_eq!(bytes, (0..1000).map(|i: i32| i.to_string().len() + 1).sum::<usize>());
        drop(out);
        let mut rows = lease.query_raw(format!("SELECT v FROM {t}").as_str(), &[]).await.unwrap();
        let mut n = 0;
        while rows.next().await.unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 1000);
    };
    let others = async {
        for i in 0..50i32 {
            let row = c.query_one("SELECT $1::int4", &[&i]).await.unwrap();
            assert_eq!(row.get::<i32, _>(0).unwrap(), i);
        }
    };
    futures_lite::future::zip(work, others).await;
    assert_eq!(committed(&mut o, &format!("(SELECT count(*) AS v FROM {t}) c")).await, "1000");

    // Dropped mid-COPY and inside a transaction: rolled back, drained, the client goes on.
    let pid = c.backend_pid();
    {
        let mut lease = c.lease().await.unwrap();
        lease.batch_execute(&format!("BEGIN; INSERT INTO {t} VALUES (-1)")).await.unwrap();
        let mut copy = lease.copy_in(&format!("COPY {t} FROM STDIN")).await.unwrap();
        copy.write(b"-2\n").await.unwrap();
    }
    assert_eq!(c.query_one("SELECT 7::int4", &[]).await.unwrap().get::<i32, _>(0).unwrap(), 7);
    assert_eq!(c.transaction_status(), TransactionStatus::Idle);
    assert_eq!(settled_state(&mut o, pid).await, "idle");
    assert_eq!(committed(&mut o, &format!("(SELECT count(*) AS v FROM {t} WHERE v < 0) c")).await, "0");
    // A lease future dropped while it waits for others' calls: nothing is held.
    let _ = poll_then_drop::<R, _>(c.lease(), 1).await;
    assert_eq!(c.query_one("SELECT 8::int4", &[]).await.unwrap().get::<i32, _>(0).unwrap(), 8);
}
