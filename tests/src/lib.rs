//! One client interface over every transport, so one behavioural suite runs over all of them.
//!
//! Each async transport is driven by its own runtime's `block_on`: Tokio (current-thread
//! runtime), smol, and async-std (which runs the smol transport on its own executor).

use std::time::Duration;

use pgsans::{Error, OwnedRow, Params, RecoveredXid, ResultSet, SessionChange, SimpleBatch, Statement, Xid};

/// How a transaction scope ends in a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeEnd {
    Commit,
    Rollback,
    /// The guard is dropped without commit or rollback.
    Drop,
}

pub use pgsans_harness::{AuthMethod, TestServer};

/// The operations the suite exercises, the same on every transport.
pub trait Client: Sized {
    const NAME: &'static str;
    fn connect(conninfo: &str) -> Result<Self, Error>;
    fn simple_query(&mut self, sql: &str) -> Result<Vec<ResultSet>, Error>;
    fn simple_query_batch(&mut self, sql: &str) -> Result<SimpleBatch, Error>;
    fn batch_execute(&mut self, sql: &str) -> Result<(), Error>;
    fn close(&mut self) -> Result<(), Error>;
    fn engine(&self) -> &pgsans::Connection;
    fn take_notifications(&mut self) -> Vec<pgsans::Notification>;
    fn take_notices(&mut self) -> Vec<pgsans::Notice>;
    fn commit(&mut self) -> Result<(), Error>;
    fn rollback(&mut self) -> Result<(), Error>;
    fn set_session(&mut self, change: SessionChange) -> Result<(), Error>;
    fn set_autocommit(&mut self, on: bool) -> Result<(), Error>;
    fn tpc_begin(&mut self, xid: Xid) -> Result<(), Error>;
    fn tpc_prepare(&mut self) -> Result<(), Error>;
    fn tpc_commit(&mut self, xid: Option<&Xid>) -> Result<(), Error>;
    fn tpc_rollback(&mut self, xid: Option<&Xid>) -> Result<(), Error>;
    fn tpc_recover(&mut self) -> Result<Vec<RecoveredXid>, Error>;
    fn reset(&mut self) -> Result<(), Error>;
    fn set_client_encoding(&mut self, enc: &str) -> Result<(), Error>;
    fn wait_for_notifications(&mut self, timeout: Option<Duration>) -> Result<Vec<pgsans::Notification>, Error>;
    /// Opens a transaction scope, runs `sql` in it, ends it as told.
    fn in_scope(&mut self, sql: &str, end: ScopeEnd) -> Result<(), Error>;
    /// A scope with a nested scope inside.
    fn in_nested_scope(
        &mut self,
        outer: &str,
        inner: &str,
        inner_end: ScopeEnd,
        outer_end: ScopeEnd,
    ) -> Result<(), Error>;
    fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<OwnedRow>, Error>;
    fn query_stmt(&mut self, stmt: &Statement, params: Params<'_>) -> Result<Vec<OwnedRow>, Error>;
    fn query_result(&mut self, sql: &str, params: Params<'_>) -> Result<pgsans::QueryResult, Error>;
    /// Every row of `sql` fetched through a portal in batches of `batch`.
    fn portal_rows(&mut self, sql: &str, batch: i32) -> Result<Vec<OwnedRow>, Error>;
    fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<OwnedRow, Error>;
    fn query_opt(&mut self, sql: &str, params: Params<'_>) -> Result<Option<OwnedRow>, Error>;
    fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, Error>;
    fn prepare(&mut self, sql: &str) -> Result<Statement, Error>;
    fn set_prepare_threshold(&mut self, t: Option<usize>);
    fn set_statement_cache_capacity(&mut self, n: usize);
    fn set_spin_wait(&mut self, limit: Duration);
    /// Streams `sql` and returns (rows seen, sum of column 0 as i64, rows_affected); stops
    /// after `limit` rows if given (dropping the stream).
    fn stream_sum(
        &mut self,
        sql: &str,
        params: Params<'_>,
        limit: Option<usize>,
    ) -> Result<(u64, i64, Option<u64>), Error>;
    fn pipeline(&mut self, p: &pgsans::Pipeline<'_>) -> Result<Vec<Result<pgsans::QueryResult, Error>>, Error>;
    /// Fetches `sql` through a portal in batches of `batch` rows: the batch sizes and the sum of
    /// column 0. With `stop_after`, stops after that many batches (closing the portal if
    /// `close`, else dropping it).
    fn portal_batches(
        &mut self,
        sql: &str,
        batch: i32,
        stop_after: Option<usize>,
        close: bool,
    ) -> Result<(Vec<usize>, i64), Error>;
    /// Starts `sql` and drops the operation after `after` (a dropped future on the async
    /// transports): `Some(finished in time)`; `None` where an operation is not a future (the
    /// blocking client; tests that need this are instantiated only for async transports).
    fn abandon_after(&mut self, _sql: &str, _after: Duration) -> Option<bool> {
        None
    }
    /// Fires this connection's cancel token from another thread after `delay`.
    fn cancel_after(&self, delay: Duration) -> std::thread::JoinHandle<Result<(), Error>>;

    /// The first column of the first row of `sql`.
    fn scalar(&mut self, sql: &str) -> Result<Option<String>, Error> {
        let results = self.simple_query(sql)?;
        Ok(results.first().and_then(|r| r.rows().first()).and_then(|r| r.text(0)).map(str::to_owned))
    }
}

impl Client for pgsans_std::Connection {
    const NAME: &'static str = "std";
    fn connect(conninfo: &str) -> Result<Self, Error> {
        pgsans_std::Connection::connect(conninfo)
    }
    fn simple_query(&mut self, sql: &str) -> Result<Vec<ResultSet>, Error> {
        pgsans_std::Connection::simple_query(self, sql)
    }
    fn simple_query_batch(&mut self, sql: &str) -> Result<SimpleBatch, Error> {
        pgsans_std::Connection::simple_query_batch(self, sql)
    }
    fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        pgsans_std::Connection::batch_execute(self, sql)
    }
    fn close(&mut self) -> Result<(), Error> {
        pgsans_std::Connection::close(self)
    }
    fn engine(&self) -> &pgsans::Connection {
        pgsans_std::Connection::engine(self)
    }
    fn take_notifications(&mut self) -> Vec<pgsans::Notification> {
        pgsans_std::Connection::take_notifications(self)
    }
    fn take_notices(&mut self) -> Vec<pgsans::Notice> {
        pgsans_std::Connection::take_notices(self)
    }
    fn commit(&mut self) -> Result<(), Error> {
        pgsans_std::Connection::commit(self)
    }
    fn rollback(&mut self) -> Result<(), Error> {
        pgsans_std::Connection::rollback(self)
    }
    fn set_session(&mut self, change: SessionChange) -> Result<(), Error> {
        pgsans_std::Connection::set_session(self, change)
    }
    fn set_autocommit(&mut self, on: bool) -> Result<(), Error> {
        pgsans_std::Connection::set_autocommit(self, on)
    }
    fn tpc_begin(&mut self, xid: Xid) -> Result<(), Error> {
        pgsans_std::Connection::tpc_begin(self, xid)
    }
    fn tpc_prepare(&mut self) -> Result<(), Error> {
        pgsans_std::Connection::tpc_prepare(self)
    }
    fn tpc_commit(&mut self, xid: Option<&Xid>) -> Result<(), Error> {
        pgsans_std::Connection::tpc_commit(self, xid)
    }
    fn tpc_rollback(&mut self, xid: Option<&Xid>) -> Result<(), Error> {
        pgsans_std::Connection::tpc_rollback(self, xid)
    }
    fn tpc_recover(&mut self) -> Result<Vec<RecoveredXid>, Error> {
        pgsans_std::Connection::tpc_recover(self)
    }
    fn reset(&mut self) -> Result<(), Error> {
        pgsans_std::Connection::reset(self)
    }
    fn set_client_encoding(&mut self, enc: &str) -> Result<(), Error> {
        pgsans_std::Connection::set_client_encoding(self, enc)
    }
    fn wait_for_notifications(&mut self, timeout: Option<Duration>) -> Result<Vec<pgsans::Notification>, Error> {
        pgsans_std::Connection::wait_for_notifications(self, timeout)
    }
    fn in_scope(&mut self, sql: &str, end: ScopeEnd) -> Result<(), Error> {
        let mut tx = self.transaction()?;
        tx.batch_execute(sql)?;
        match end {
            ScopeEnd::Commit => tx.commit(),
            ScopeEnd::Rollback => tx.rollback(),
            ScopeEnd::Drop => {
                drop(tx);
                Ok(())
            }
        }
    }
    fn in_nested_scope(
        &mut self,
        outer: &str,
        inner: &str,
        inner_end: ScopeEnd,
        outer_end: ScopeEnd,
    ) -> Result<(), Error> {
        let mut tx = self.transaction()?;
        tx.batch_execute(outer)?;
        {
            let mut sp = tx.transaction()?;
            sp.batch_execute(inner)?;
            match inner_end {
                ScopeEnd::Commit => sp.commit()?,
                ScopeEnd::Rollback => sp.rollback()?,
                ScopeEnd::Drop => drop(sp),
            }
        }
        match outer_end {
            ScopeEnd::Commit => tx.commit(),
            ScopeEnd::Rollback => tx.rollback(),
            ScopeEnd::Drop => {
                drop(tx);
                Ok(())
            }
        }
    }
    fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<OwnedRow>, Error> {
        pgsans_std::Connection::query(self, sql, params)
    }
    fn query_stmt(&mut self, stmt: &Statement, params: Params<'_>) -> Result<Vec<OwnedRow>, Error> {
        pgsans_std::Connection::query(self, stmt, params)
    }
    fn query_result(&mut self, sql: &str, params: Params<'_>) -> Result<pgsans::QueryResult, Error> {
        pgsans_std::Connection::query_result(self, sql, params)
    }
    fn portal_rows(&mut self, sql: &str, batch: i32) -> Result<Vec<OwnedRow>, Error> {
        let mut portal = self.portal(sql, &[], batch)?;
        let mut all = Vec::new();
        loop {
            let rows = portal.fetch()?;
            if rows.is_empty() {
                return Ok(all);
            }
            all.extend(rows);
        }
    }
    fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<OwnedRow, Error> {
        pgsans_std::Connection::query_one(self, sql, params)
    }
    fn query_opt(&mut self, sql: &str, params: Params<'_>) -> Result<Option<OwnedRow>, Error> {
        pgsans_std::Connection::query_opt(self, sql, params)
    }
    fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, Error> {
        pgsans_std::Connection::execute(self, sql, params)
    }
    fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        pgsans_std::Connection::prepare(self, sql)
    }
    fn set_prepare_threshold(&mut self, t: Option<usize>) {
        pgsans_std::Connection::set_prepare_threshold(self, t)
    }
    fn set_statement_cache_capacity(&mut self, n: usize) {
        pgsans_std::Connection::set_statement_cache_capacity(self, n)
    }
    fn set_spin_wait(&mut self, limit: Duration) {
        pgsans_std::Connection::set_spin_wait(self, limit)
    }
    fn stream_sum(
        &mut self,
        sql: &str,
        params: Params<'_>,
        limit: Option<usize>,
    ) -> Result<(u64, i64, Option<u64>), Error> {
        let mut stream = self.query_raw(sql, params)?;
        let (mut n, mut sum) = (0u64, 0i64);
        while let Some(row) = stream.next()? {
            sum += row.get::<i64, _>(0)?;
            n += 1;
            if limit.is_some_and(|l| n as usize >= l) {
                return Ok((n, sum, None));
            }
        }
        Ok((n, sum, stream.rows_affected()))
    }
    fn pipeline(&mut self, p: &pgsans::Pipeline<'_>) -> Result<Vec<Result<pgsans::QueryResult, Error>>, Error> {
        pgsans_std::Connection::pipeline(self, p)
    }
    fn portal_batches(
        &mut self,
        sql: &str,
        batch: i32,
        stop_after: Option<usize>,
        close: bool,
    ) -> Result<(Vec<usize>, i64), Error> {
        let mut portal = self.portal(sql, &[], batch)?;
        let (mut sizes, mut sum) = (Vec::new(), 0i64);
        loop {
            let rows = portal.fetch()?;
            if rows.is_empty() {
                break;
            }
            sizes.push(rows.len());
            for r in &rows {
                sum += r.get::<i64, _>(0)?;
            }
            if stop_after.is_some_and(|n| sizes.len() >= n) {
                if close {
                    portal.close()?;
                }
                break;
            }
        }
        Ok((sizes, sum))
    }
    fn cancel_after(&self, delay: Duration) -> std::thread::JoinHandle<Result<(), Error>> {
        let token = self.cancel_token().expect("cancel token");
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            token.cancel()
        })
    }
}

/// A way to run a future to completion from blocking code.
pub trait BlockOn {
    fn new() -> Self;
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output;
    /// Runs `f` for at most `d`; `None` (and `f` dropped mid-flight) if the timer fires first.
    fn timeout<F: std::future::Future>(&self, f: F, d: Duration) -> Option<F::Output>;
}

/// A Tokio current-thread runtime; a Tokio socket lives as long as the runtime it was made on.
pub struct TokioRt(tokio::runtime::Runtime);
impl BlockOn for TokioRt {
    fn new() -> Self {
        TokioRt(tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime"))
    }
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.0.block_on(f)
    }
    fn timeout<F: std::future::Future>(&self, f: F, d: Duration) -> Option<F::Output> {
        self.0.block_on(async { tokio::time::timeout(d, f).await.ok() })
    }
}

pub struct SmolRt;
impl BlockOn for SmolRt {
    fn new() -> Self {
        SmolRt
    }
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        smol::block_on(f)
    }
    fn timeout<F: std::future::Future>(&self, f: F, d: Duration) -> Option<F::Output> {
        smol::block_on(smol::future::or(async { Some(f.await) }, async {
            smol::Timer::after(d).await;
            None
        }))
    }
}

pub struct AsyncStdRt;
impl BlockOn for AsyncStdRt {
    fn new() -> Self {
        AsyncStdRt
    }
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        async_std::task::block_on(f)
    }
    fn timeout<F: std::future::Future>(&self, f: F, d: Duration) -> Option<F::Output> {
        async_std::task::block_on(async_std::future::timeout(d, f)).ok()
    }
}

/// Implements [`Client`] for an async transport by blocking on each call.
macro_rules! async_client {
    ($name:ident, $conn:ty, $rt:ty, $label:literal) => {
        pub struct $name {
            pub rt: $rt,
            pub conn: $conn,
        }
        impl Client for $name {
            const NAME: &'static str = $label;
            fn connect(conninfo: &str) -> Result<Self, Error> {
                let rt = <$rt>::new();
                let conn = rt.block_on(<$conn>::connect(conninfo))?;
                Ok($name { rt, conn })
            }
            fn simple_query(&mut self, sql: &str) -> Result<Vec<ResultSet>, Error> {
                self.rt.block_on(self.conn.simple_query(sql))
            }
            fn simple_query_batch(&mut self, sql: &str) -> Result<SimpleBatch, Error> {
                self.rt.block_on(self.conn.simple_query_batch(sql))
            }
            fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
                self.rt.block_on(self.conn.batch_execute(sql))
            }
            fn close(&mut self) -> Result<(), Error> {
                self.rt.block_on(self.conn.close())
            }
            fn engine(&self) -> &pgsans::Connection {
                self.conn.engine()
            }
            fn take_notifications(&mut self) -> Vec<pgsans::Notification> {
                self.conn.take_notifications()
            }
            fn take_notices(&mut self) -> Vec<pgsans::Notice> {
                self.conn.take_notices()
            }
            fn commit(&mut self) -> Result<(), Error> {
                self.rt.block_on(self.conn.commit())
            }
            fn rollback(&mut self) -> Result<(), Error> {
                self.rt.block_on(self.conn.rollback())
            }
            fn set_session(&mut self, change: SessionChange) -> Result<(), Error> {
                self.rt.block_on(self.conn.set_session(change))
            }
            fn set_autocommit(&mut self, on: bool) -> Result<(), Error> {
                self.rt.block_on(self.conn.set_autocommit(on))
            }
            fn tpc_begin(&mut self, xid: Xid) -> Result<(), Error> {
                self.rt.block_on(self.conn.tpc_begin(xid))
            }
            fn tpc_prepare(&mut self) -> Result<(), Error> {
                self.rt.block_on(self.conn.tpc_prepare())
            }
            fn tpc_commit(&mut self, xid: Option<&Xid>) -> Result<(), Error> {
                self.rt.block_on(self.conn.tpc_commit(xid))
            }
            fn tpc_rollback(&mut self, xid: Option<&Xid>) -> Result<(), Error> {
                self.rt.block_on(self.conn.tpc_rollback(xid))
            }
            fn tpc_recover(&mut self) -> Result<Vec<RecoveredXid>, Error> {
                self.rt.block_on(self.conn.tpc_recover())
            }
            fn reset(&mut self) -> Result<(), Error> {
                self.rt.block_on(self.conn.reset())
            }
            fn set_client_encoding(&mut self, enc: &str) -> Result<(), Error> {
                self.rt.block_on(self.conn.set_client_encoding(enc))
            }
            fn wait_for_notifications(
                &mut self,
                timeout: Option<Duration>,
            ) -> Result<Vec<pgsans::Notification>, Error> {
                self.rt.block_on(self.conn.wait_for_notifications(timeout))
            }
            fn in_scope(&mut self, sql: &str, end: ScopeEnd) -> Result<(), Error> {
                self.rt.block_on(async {
                    let mut tx = self.conn.transaction().await?;
                    tx.batch_execute(sql).await?;
                    match end {
                        ScopeEnd::Commit => tx.commit().await,
                        ScopeEnd::Rollback => tx.rollback().await,
                        ScopeEnd::Drop => {
                            drop(tx);
                            Ok(())
                        }
                    }
                })
            }
            fn in_nested_scope(
                &mut self,
                outer: &str,
                inner: &str,
                inner_end: ScopeEnd,
                outer_end: ScopeEnd,
            ) -> Result<(), Error> {
                self.rt.block_on(async {
                    let mut tx = self.conn.transaction().await?;
                    tx.batch_execute(outer).await?;
                    {
                        let mut sp = tx.transaction().await?;
                        sp.batch_execute(inner).await?;
                        match inner_end {
                            ScopeEnd::Commit => sp.commit().await?,
                            ScopeEnd::Rollback => sp.rollback().await?,
                            ScopeEnd::Drop => drop(sp),
                        }
                    }
                    match outer_end {
                        ScopeEnd::Commit => tx.commit().await,
                        ScopeEnd::Rollback => tx.rollback().await,
                        ScopeEnd::Drop => {
                            drop(tx);
                            Ok(())
                        }
                    }
                })
            }
            fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<OwnedRow>, Error> {
                self.rt.block_on(self.conn.query(sql, params))
            }
            fn query_stmt(&mut self, stmt: &Statement, params: Params<'_>) -> Result<Vec<OwnedRow>, Error> {
                self.rt.block_on(self.conn.query(stmt, params))
            }
            fn query_result(&mut self, sql: &str, params: Params<'_>) -> Result<pgsans::QueryResult, Error> {
                self.rt.block_on(self.conn.query_result(sql, params))
            }
            fn portal_rows(&mut self, sql: &str, batch: i32) -> Result<Vec<OwnedRow>, Error> {
                self.rt.block_on(async {
                    let mut portal = self.conn.portal(sql, &[], batch).await?;
                    let mut all = Vec::new();
                    loop {
                        let rows = portal.fetch().await?;
                        if rows.is_empty() {
                            return Ok(all);
                        }
                        all.extend(rows);
                    }
                })
            }
            fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<OwnedRow, Error> {
                self.rt.block_on(self.conn.query_one(sql, params))
            }
            fn query_opt(&mut self, sql: &str, params: Params<'_>) -> Result<Option<OwnedRow>, Error> {
                self.rt.block_on(self.conn.query_opt(sql, params))
            }
            fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, Error> {
                self.rt.block_on(self.conn.execute(sql, params))
            }
            fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
                self.rt.block_on(self.conn.prepare(sql))
            }
            fn set_prepare_threshold(&mut self, t: Option<usize>) {
                self.conn.set_prepare_threshold(t)
            }
            fn set_statement_cache_capacity(&mut self, n: usize) {
                self.conn.set_statement_cache_capacity(n)
            }
            fn set_spin_wait(&mut self, limit: Duration) {
                self.conn.set_spin_wait(limit)
            }
            fn stream_sum(
                &mut self,
                sql: &str,
                params: Params<'_>,
                limit: Option<usize>,
            ) -> Result<(u64, i64, Option<u64>), Error> {
                self.rt.block_on(async {
                    let mut stream = self.conn.query_raw(sql, params).await?;
                    let (mut n, mut sum) = (0u64, 0i64);
                    while let Some(row) = stream.next().await? {
                        sum += row.get::<i64, _>(0)?;
                        n += 1;
                        if limit.is_some_and(|l| n as usize >= l) {
                            return Ok((n, sum, None));
                        }
                    }
                    Ok((n, sum, stream.rows_affected()))
                })
            }
            fn pipeline(&mut self, p: &pgsans::Pipeline<'_>) -> Result<Vec<Result<pgsans::QueryResult, Error>>, Error> {
                self.rt.block_on(self.conn.pipeline(p))
            }
            fn abandon_after(&mut self, sql: &str, after: Duration) -> Option<bool> {
                // The runtime's timer drops the query future when it fires first.
                Some(self.rt.timeout(self.conn.simple_query(sql), after).is_some())
            }
            fn portal_batches(
                &mut self,
                sql: &str,
                batch: i32,
                stop_after: Option<usize>,
                close: bool,
            ) -> Result<(Vec<usize>, i64), Error> {
                self.rt.block_on(async {
                    let mut portal = self.conn.portal(sql, &[], batch).await?;
                    let (mut sizes, mut sum) = (Vec::new(), 0i64);
                    loop {
                        let rows = portal.fetch().await?;
                        if rows.is_empty() {
                            break;
                        }
                        sizes.push(rows.len());
                        for r in &rows {
                            sum += r.get::<i64, _>(0)?;
                        }
                        if stop_after.is_some_and(|n| sizes.len() >= n) {
                            if close {
                                portal.close().await?;
                            }
                            break;
                        }
                    }
                    Ok((sizes, sum))
                })
            }
            fn cancel_after(&self, delay: Duration) -> std::thread::JoinHandle<Result<(), Error>> {
                let token = self.conn.cancel_token().expect("cancel token");
                std::thread::spawn(move || {
                    std::thread::sleep(delay);
                    <$rt>::new().block_on(token.cancel())
                })
            }
        }
    };
}

async_client!(TokioClient, pgsans_tokio::Connection, TokioRt, "tokio");
async_client!(SmolClient, pgsans_smol::Connection, SmolRt, "smol");
async_client!(AsyncStdClient, pgsans_smol::Connection, AsyncStdRt, "async-std");
